"""Web pages of the learning app (docs/learning.md):

* ``/postmortems/`` the list; ``/postmortems/<id>/`` the editor (sections, timeline,
  action items, review meeting, status, export links) and its form actions;
* ``/trends/`` the trends page (Chart.js, vendored);
* the post-mortem panels of the escalation room and the incident room.

Views parse input, call one service or query, render. A refusal of a service is shown as
a flash message after the redirect back to the editor (nothing changed). Reading needs
``view_all_tickets``; every change ``manage_postmortems``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages as flash
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from caseline.accounts.models import ProductArea, User
from caseline.errors import DomainError
from caseline.web.auth import staff_required
from caseline.web.formparse import form_id as _id
from caseline.web.formparse import local_datetime as _local_dt

from . import queries, services
from .models import PostMortem

READ = "accounts.view_all_tickets"
WRITE = "accounts.manage_postmortems"


def _refused(request: HttpRequest, exc: DomainError) -> None:
    detail = "; ".join(f"{k}: {v}" for k, v in (exc.fields or {}).items())
    flash.error(request, f"{exc.message}" + (f" ({detail})" if detail else ""))


def _back(pm_id: int) -> HttpResponse:
    return redirect(reverse("postmortem_detail", kwargs={"pm_id": pm_id}))


# --- pages ---------------------------------------------------------------------------------


@require_GET
@staff_required(perm=READ)
def postmortem_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status") or None
    qs = queries.list_postmortems(status=status, q=request.GET.get("q") or None)
    return render(
        request,
        "learning/list.html",
        {
            "nav_active": "postmortems",
            "rows": list(qs.order_by("-id")[:200]),
            "status": status or "",
            "statuses": PostMortem.Status.choices,
        },
    )


@require_GET
@staff_required(perm=READ)
def postmortem_detail(request: HttpRequest, pm_id: int) -> HttpResponse:
    pm = queries.get_postmortem(pm_id)
    sections = [
        (key, label, getattr(pm, key))
        for key, label in (
            ("summary", "Summary"),
            ("customer_impact", "Customer impact"),
            ("root_cause", "Root cause"),
            ("contributing_factors", "Contributing factors"),
            ("went_well", "What went well"),
            ("went_badly", "What went badly"),
            ("process_improvements", "Process improvements"),
        )
    ]
    return render(
        request,
        "learning/detail.html",
        {
            "nav_active": "postmortems",
            "pm": pm,
            "review": queries.review_of(pm),
            "sections": sections,
            "categories": queries.categories(),
            "areas": ProductArea.objects.all(),
            "staff": User.objects.filter(kind=User.Kind.STAFF, is_active=True).order_by("email"),
            "can_edit": request.user.has_perm(WRITE) and pm.status != "published",
            "can_write": request.user.has_perm(WRITE),
            "next_status": services.TRANSITIONS[pm.status],
        },
    )


@require_GET
@staff_required(perm=READ)
def trends(request: HttpRequest) -> HttpResponse:
    data = queries.trends()
    chart = {
        "by_month": data["by_month"],
        "by_product_area": data["by_product_area"][:12],
        "by_root_cause_category": data["by_root_cause_category"],
        "by_organization": data["by_organization"][:12],
    }

    def hours(v: float | None) -> str:
        return "—" if v is None else f"{v / 3600:.1f} h"

    return render(
        request,
        "learning/trends.html",
        {
            "nav_active": "trends",
            "d": data,
            "chart": chart,
            "mtta": {k: hours(data["mtta"][k]) for k in ("escalations", "incidents")},
            "mttr": {k: hours(data["mttr"][k]) for k in ("escalations", "incidents")},
        },
    )


# --- panels --------------------------------------------------------------------------------


@require_GET
@staff_required(perm=READ)
def escalation_postmortem_panel(request: HttpRequest, escalation_id: int) -> HttpResponse:
    pm = queries.for_escalation(escalation_id)
    return render(request, "learning/panel.html", {"pm": pm, "review": _review(pm)})


@require_GET
@staff_required(perm=READ)
def incident_postmortem_panel(request: HttpRequest, incident_id: int) -> HttpResponse:
    pm = queries.for_incident(incident_id)
    return render(request, "learning/panel.html", {"pm": pm, "review": _review(pm)})


def _review(pm: PostMortem | None):
    return queries.review_of(pm) if pm is not None else None


# --- actions -------------------------------------------------------------------------------


def _act(request: HttpRequest, pm_id: int, fn, *args, ok: str, **kwargs) -> HttpResponse:
    try:
        fn(*args, **kwargs)
    except DomainError as exc:
        _refused(request, exc)
    else:
        flash.success(request, ok)
    return _back(pm_id)


@require_POST
@staff_required(perm=WRITE)
def edit_sections(request: HttpRequest, pm_id: int) -> HttpResponse:
    fields: dict[str, Any] = {
        k: request.POST[k] for k in (*services.SECTIONS, "title") if k in request.POST
    }
    if "root_cause_category_id" in request.POST:
        fields["root_cause_category_id"] = _id(request.POST.get("root_cause_category_id"))
    if "product_area_id" in request.POST:
        fields["product_area_id"] = _id(request.POST.get("product_area_id"))
    if "author_ids" in request.POST:
        fields["author_ids"] = [_id(v) for v in request.POST.getlist("author_ids") if v]
    return _act(
        request, pm_id, services.update_postmortem, pm_id, request.user, ok="Saved.", **fields
    )


@require_POST
@staff_required(perm=WRITE)
def change_status(request: HttpRequest, pm_id: int) -> HttpResponse:
    status = request.POST.get("status", "")
    return _act(
        request, pm_id, services.set_status, pm_id, request.user, status, ok=f"Now {status}."
    )


@require_POST
@staff_required(perm=WRITE)
def add_timeline(request: HttpRequest, pm_id: int) -> HttpResponse:
    return _act(
        request,
        pm_id,
        services.add_timeline_item,
        pm_id,
        request.user,
        at=_local_dt(request.POST.get("at")) or "",
        text=request.POST.get("text", ""),
        ok="Timeline entry added.",
    )


@require_POST
@staff_required(perm=WRITE)
def edit_timeline(request: HttpRequest, pm_id: int, item_id: int) -> HttpResponse:
    if request.POST.get("delete"):
        return _act(
            request,
            pm_id,
            services.delete_timeline_item,
            pm_id,
            item_id,
            request.user,
            ok="Timeline entry removed.",
        )
    return _act(
        request,
        pm_id,
        services.edit_timeline_item,
        pm_id,
        item_id,
        request.user,
        at=_local_dt(request.POST.get("at")),
        text=request.POST.get("text"),
        ok="Timeline entry saved.",
    )


@require_POST
@staff_required(perm=WRITE)
def add_action(request: HttpRequest, pm_id: int) -> HttpResponse:
    return _act(
        request,
        pm_id,
        services.add_action_item,
        pm_id,
        request.user,
        what=request.POST.get("what", ""),
        owner_id=_id(request.POST.get("owner_id")),
        due_at=_local_dt(request.POST.get("due_at")) or "",
        ticket_id=_id(request.POST.get("ticket_id")),
        ok="Action item added.",
    )


@require_POST
@staff_required(perm=WRITE)
def edit_action(request: HttpRequest, pm_id: int, item_id: int) -> HttpResponse:
    fields: dict[str, Any] = {}
    if request.POST.get("status"):
        fields["status"] = request.POST["status"]
    if request.POST.get("reason"):
        fields["reason"] = request.POST["reason"]
    if request.POST.get("due_at"):
        fields["due_at"] = _local_dt(request.POST.get("due_at"))
    return _act(
        request,
        pm_id,
        services.update_action_item,
        item_id,
        request.user,
        ok="Action item updated.",
        **fields,
    )


@require_POST
@staff_required(perm=WRITE)
def move_review(request: HttpRequest, pm_id: int) -> HttpResponse:
    fields: dict[str, Any] = {}
    if request.POST.get("scheduled_at"):
        fields["scheduled_at"] = _local_dt(request.POST.get("scheduled_at"))
    if "reason" in request.POST:
        fields["reason"] = request.POST.get("reason", "")
    if "location" in request.POST:
        fields["location"] = request.POST.get("location", "")
    if "attendee_ids" in request.POST:
        fields["attendee_ids"] = [_id(v) for v in request.POST.getlist("attendee_ids") if v]
    return _act(
        request, pm_id, services.move_review, pm_id, request.user, ok="Review updated.", **fields
    )
