"""Web pages of escalations (docs/escalations.md, "The escalation room (web)").

* ``/escalations/`` the list with filters; ``/escalations/<id>/`` the escalation room and
  its htmx actions (status, checklist, stakeholders, cadence and updates, commitments);
* ``/escalations/request/`` the intake form with "my requests";
  ``/escalations/requests/`` the escalation managers' queue (accept, decline);
* ``/escalations/ticket/<ticket_id>/panel`` the ticket page's escalation panel and its
  one-click "Escalate".

Views parse the input, call one service or query, and render. A refusal of a service
(422 with field messages, 409 with its reason) is shown inline next to the form, with the
service's HTTP status (the pages' ``htmx-config`` meta swaps 4xx answers); nothing changed.
Without htmx every action redirects back to the room with a flash message.

Permissions: reading (list, room, panel) ``view_all_tickets``; the intake form
``request_escalation``; every change and the request queue ``manage_escalations``.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages as flash
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from caseline.errors import DomainError, NotFound, ValidationFailed
from caseline.web import panels
from caseline.web.auth import staff_required
from caseline.web.formparse import form_id as _id
from caseline.web.formparse import form_number as _number
from caseline.web.formparse import local_datetime as _local_dt
from caseline.web.formparse import ticket_ids as _ticket_ids

from . import queries, services
from .models import Cadence, Commitment, Stakeholder

READ = "accounts.view_all_tickets"
REQUEST = "accounts.request_escalation"
MANAGE = "accounts.manage_escalations"

ROLE_LABELS = {
    "decision_maker": "Decision maker",
    "executive_sponsor": "Executive sponsor",
    "technical_lead": "Technical lead",
    "day_to_day": "Day-to-day contact",
    "sme": "Subject-matter expert",
    "engineering_lead": "Engineering lead",
    "field_leadership": "Field / sales leadership",
}
UNITS = {"minutes": 60, "hours": 3600, "days": 86400}


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    if _is_htmx(request):
        resp = HttpResponse(status=204)
        resp["HX-Redirect"] = url
        return resp
    return redirect(url)


def _err(form: str, exc: DomainError) -> dict[str, Any]:
    return {
        "form": form,
        "message": exc.message,
        "fields": dict(getattr(exc, "fields", None) or {}),
        "status": exc.status,
    }


# --- parsing -------------------------------------------------------------------------------------


# --- the list ---------------------------------------------------------------------------------------


@require_GET
@staff_required
def escalation_list(request: HttpRequest) -> HttpResponse:
    g = request.GET
    filters = {
        "status": g.get("status", "live"),
        "owner": g.get("owner", ""),
        "organization": g.get("organization", ""),
        "severity": g.get("severity", ""),
        "source": g.get("source", ""),
    }
    owner = filters["owner"]
    args: dict[str, Any] = {
        "status": None if filters["status"] in ("", "all") else filters["status"],
        "owner": str(request.user.pk) if owner == "mine" else (owner or None),
        "source": filters["source"] or None,
    }
    error = None
    try:
        for key in ("organization", "severity", "after"):
            raw = (g.get(key) or "").strip()
            if raw and not raw.isdigit():
                raise ValidationFailed("the request is not valid", fields={key: "a number"})
            args[key] = int(raw) if raw else None
        rows, next_after = queries.list_rows(**args)
    except ValidationFailed as exc:
        rows, next_after, error = [], None, _err("filters", exc)
    query = urlencode({k: v for k, v in filters.items() if v})
    ctx = {
        "nav_active": "escalations",
        "rows": rows,
        "next_after": next_after,
        "filters": filters,
        "query": query,
        "err": error,
        "options": queries.list_filter_options(),
        "can_manage": request.user.has_perm(MANAGE),
        "can_request": request.user.has_perm(REQUEST),
    }
    return render(request, "escalations/list.html", ctx, status=error["status"] if error else 200)


# --- the room ---------------------------------------------------------------------------------------

SECTIONS = {
    "header": "escalations/room_header.html",
    "checklist": "escalations/room_checklist.html",
    "stakeholders": "escalations/room_stakeholders.html",
    "cadence": "escalations/room_cadence.html",
    "commitments": "escalations/room_commitments.html",
}


def _room_ctx(request: HttpRequest, escalation_id: int, **extra: Any) -> dict[str, Any]:
    try:
        data = queries.room(escalation_id)
    except NotFound as exc:
        raise Http404(exc.message) from None
    user = request.user
    for s in data["customer_stakeholders"] + data["internal_stakeholders"]:
        s.role_label = ROLE_LABELS.get(s.role, s.role)
    if data["suggestions"]:
        names = {u.pk: str(u) for u in data["staff"]}
        for k in data["suggestions"]["skipped"]:
            k["name"] = names.get(k["user_id"], f"user {k['user_id']}")
    return {
        **data,
        "nav_active": "escalations",
        "can_manage": user.has_perm(MANAGE),
        "customer_roles": [(r, ROLE_LABELS[r]) for r in Stakeholder.CUSTOMER_ROLES],
        "internal_roles": [(r, ROLE_LABELS[r]) for r in Stakeholder.INTERNAL_ROLES],
        "role_labels": ROLE_LABELS,
        "cadence_rows": [
            {"kind": k, "label": label, "cadence": data["cadence_by_kind"].get(k)}
            for k, label in Cadence.Kind.choices
        ],
        "commitment_statuses": Commitment.Status.choices,
        "units": list(UNITS),
        "managers": queries.escalation_managers() if user.has_perm(MANAGE) else [],
        "tz_name": timezone.get_current_timezone_name(),
        "panels": panels.panels_for("escalation", user, escalation_id),
        **extra,
    }


@require_GET
@staff_required
def room(request: HttpRequest, escalation_id: int) -> HttpResponse:
    return render(request, "escalations/room.html", _room_ctx(request, escalation_id))


def _act(request: HttpRequest, escalation_id: int, section: str, form: str, call) -> HttpResponse:
    """Run one service call; answer with the section (and the header and the timeline as
    out-of-band swaps), the refusal shown next to ``form``."""
    error = None
    try:
        call()
    except DomainError as exc:  # an unknown escalation: the room below answers 404
        error = _err(form, exc)
    if not _is_htmx(request):
        if error:
            fields = "; ".join(f"{k}: {v}" for k, v in error["fields"].items())
            flash.error(request, error["message"] + (f" — {fields}" if fields else ""))
        return redirect(reverse("escalation_room", args=[escalation_id]) + f"#esc-{section}")
    ctx = _room_ctx(request, escalation_id, err=error, section=section)
    ctx["section_template"] = SECTIONS[section]
    return render(
        request, "escalations/room_section.html", ctx, status=error["status"] if error else 200
    )


@require_POST
@staff_required(perm=MANAGE)
def set_status(request: HttpRequest, escalation_id: int) -> HttpResponse:
    p = request.POST
    return _act(
        request,
        escalation_id,
        "header",
        "status",
        lambda: services.transition(
            escalation_id,
            request.user,
            p.get("status", ""),
            root_cause=p.get("root_cause"),
            note=p.get("note", ""),
        ),
    )


@require_POST
@staff_required(perm=MANAGE)
def edit_escalation(request: HttpRequest, escalation_id: int) -> HttpResponse:
    """Title, severity, business impact, owner (only the fields the form sent)."""
    p = request.POST
    changes: dict[str, Any] = {k: p[k] for k in ("title", "business_impact") if k in p}
    if "severity" in p:
        changes["severity"] = _number(p["severity"])
    if "owner_id" in p:
        changes["owner_id"] = _id(p["owner_id"])
    return _act(
        request,
        escalation_id,
        "header",
        "edit",
        lambda: services.update_escalation(escalation_id, request.user, **changes),
    )


@require_POST
@staff_required(perm=MANAGE)
def link_tickets(request: HttpRequest, escalation_id: int) -> HttpResponse:
    def call():
        services.link_tickets(escalation_id, request.user, _ticket_ids(request.POST.get("tickets")))

    return _act(request, escalation_id, "header", "link", call)


@require_POST
@staff_required(perm=MANAGE)
def tick_step(request: HttpRequest, escalation_id: int, step_id: int) -> HttpResponse:
    done = request.POST.get("done", "1") not in ("0", "false", "")
    return _act(
        request,
        escalation_id,
        "checklist",
        "checklist",
        lambda: services.tick_step(escalation_id, step_id, request.user, done=done),
    )


@require_POST
@staff_required(perm=MANAGE)
def add_stakeholder(request: HttpRequest, escalation_id: int) -> HttpResponse:
    p = request.POST
    side = "customer" if p.get("side") == "customer" else "internal"
    fields: dict[str, Any] = {"role": p.get("role", "")}
    if side == "customer":
        fields["contact_id"] = _id(p.get("contact_id")) or 0
    else:
        fields["user_id"] = _id(p.get("user_id")) or 0
        fields["involvement"] = p.get("involvement", "")
        fields["approved_by_id"] = _id(p.get("approved_by_id"))
    return _act(
        request,
        escalation_id,
        "stakeholders",
        side,
        lambda: services.add_stakeholder(escalation_id, request.user, **fields),
    )


@require_POST
@staff_required(perm=MANAGE)
def renounce_stakeholder(
    request: HttpRequest, escalation_id: int, stakeholder_id: int
) -> HttpResponse:
    return _act(
        request,
        escalation_id,
        "stakeholders",
        "renounce",
        lambda: services.renounce_stakeholder(escalation_id, stakeholder_id, request.user),
    )


@require_POST
@staff_required(perm=MANAGE)
def set_cadence(request: HttpRequest, escalation_id: int) -> HttpResponse:
    p = request.POST
    kind = p.get("kind", "")
    unit = UNITS.get(p.get("unit", "hours"), 3600)
    every = _number(p.get("every"))
    reminder = _number(p.get("reminder_minutes", "30"))
    return _act(
        request,
        escalation_id,
        "cadence",
        f"cadence-{kind}",
        lambda: services.set_cadence(
            escalation_id,
            request.user,
            kind=kind,
            every_seconds=every * unit if isinstance(every, int) else every,
            business=p.get("business") == "1",
            calendar=(p.get("calendar") or "24x7").strip(),
            reminder_seconds=reminder * 60 if isinstance(reminder, int) else reminder,
            active=p.get("active", "1") == "1",
        ),
    )


@require_POST
@staff_required(perm=MANAGE)
def record_update(request: HttpRequest, escalation_id: int) -> HttpResponse:
    p = request.POST
    return _act(
        request,
        escalation_id,
        "cadence",
        "update",
        lambda: services.record_update(
            escalation_id,
            request.user,
            kind=p.get("kind", ""),
            text=p.get("text", ""),
            send=p.get("send") == "1",
            via=p.get("via", "stakeholders"),
        ),
    )


@require_POST
@staff_required(perm=MANAGE)
def add_commitment(request: HttpRequest, escalation_id: int) -> HttpResponse:
    p = request.POST
    return _act(
        request,
        escalation_id,
        "commitments",
        "add-commitment",
        lambda: services.add_commitment(
            escalation_id,
            request.user,
            what=p.get("what", ""),
            to_whom=p.get("to_whom", ""),
            owner_id=_id(p.get("owner_id")) or 0,
            due_at=_local_dt(p.get("due_at")) or "",
        ),
    )


@require_POST
@staff_required(perm=MANAGE)
def edit_commitment(request: HttpRequest, escalation_id: int, commitment_id: int) -> HttpResponse:
    p = request.POST
    # the date only moves when the field changed (datetime-local has minute precision)
    moved = (p.get("due_at") or "").strip() != (p.get("due_was") or "").strip()
    changes: dict[str, Any] = {
        "due_at": _local_dt(p.get("due_at")) if moved else None,
        "reason": p.get("reason", ""),
        "status": p.get("status") or None,
        "what": p.get("what") if "what" in p else None,
    }
    if moved and changes["due_at"] is None:
        changes["due_at"] = ""  # emptied: the service refuses it (422 due_at)

    def call():
        if queries.get_commitment(commitment_id).escalation_id != escalation_id:
            raise NotFound(f"no commitment {commitment_id} on ESC-{escalation_id}")
        services.update_commitment(commitment_id, request.user, **changes)

    return _act(request, escalation_id, "commitments", f"commitment-{commitment_id}", call)


# --- intake -------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@staff_required(perm=REQUEST)
def request_form(request: HttpRequest) -> HttpResponse:
    values = {
        "organization_id": request.GET.get("organization", ""),
        "tickets": request.GET.get("ticket", ""),
        "severity": "2",
        "business_impact": "",
        "reason": "",
    }
    error = None
    if request.method == "POST":
        p = request.POST
        values = {k: p.get(k, "") for k in values}
        try:
            req = services.request_escalation(
                request.user,
                organization_id=_id(values["organization_id"]),
                ticket_ids=_ticket_ids(values["tickets"]),
                severity=_number(values["severity"]),
                business_impact=values["business_impact"],
                reason=values["reason"],
            )
        except DomainError as exc:
            error = _err("request", exc)
        else:
            flash.success(
                request,
                f"Request #{req.pk} filed: an escalation manager will accept or decline it.",
            )
            return redirect("escalation_request")
    ctx = {
        "nav_active": "escalations",
        "values": values,
        "err": error,
        "mine": queries.my_requests(request.user),
        "severities": [(1, "1 critical"), (2, "2 high"), (3, "3 medium"), (4, "4 low")],
        "can_manage": request.user.has_perm(MANAGE),
        **queries.request_form_options(),
    }
    return render(
        request, "escalations/request.html", ctx, status=error["status"] if error else 200
    )


def _queue(request: HttpRequest, error: dict | None = None) -> HttpResponse:
    ctx = {
        "nav_active": "escalations",
        "pending": list(queries.visible_requests(request.user, status="pending")),
        "decided": list(queries.visible_requests(request.user).exclude(status="pending")[:30]),
        "managers": queries.escalation_managers(),
        "types": list(queries.types(active_only=True)),
        "err": error,
    }
    return render(
        request, "escalations/requests.html", ctx, status=error["status"] if error else 200
    )


@require_GET
@staff_required(perm=MANAGE)
def request_queue(request: HttpRequest) -> HttpResponse:
    return _queue(request)


@require_POST
@staff_required(perm=MANAGE)
def accept_request(request: HttpRequest, request_id: int) -> HttpResponse:
    p = request.POST
    try:
        esc = services.accept_request(
            request_id,
            request.user,
            owner_id=_id(p.get("owner_id")),
            type_id=_id(p.get("type_id")),
            title=p.get("title", ""),
        )
    except DomainError as exc:
        return _queue(request, _err(f"request-{request_id}", exc))
    flash.success(request, f"Request #{request_id} accepted: {esc.reference} opened.")
    return redirect("escalation_room", escalation_id=esc.pk)


@require_POST
@staff_required(perm=MANAGE)
def decline_request(request: HttpRequest, request_id: int) -> HttpResponse:
    try:
        services.decline_request(request_id, request.user, reason=request.POST.get("reason", ""))
    except DomainError as exc:
        return _queue(request, _err(f"request-{request_id}", exc))
    flash.success(request, f"Request #{request_id} declined; the requester sees your reason.")
    return redirect("escalation_requests")


# --- the ticket page's panel ------------------------------------------------------------------------


def _panel(request: HttpRequest, ticket_id: int, error: dict | None = None) -> HttpResponse:
    try:
        data = queries.ticket_panel(ticket_id)
    except NotFound as exc:
        raise Http404(exc.message) from None
    ctx = {
        **data,
        "err": error,
        "can_manage": request.user.has_perm(MANAGE),
        "can_request": request.user.has_perm(REQUEST),
    }
    return render(
        request, "escalations/ticket_panel.html", ctx, status=error["status"] if error else 200
    )


@require_GET
@staff_required
def ticket_panel(request: HttpRequest, ticket_id: int) -> HttpResponse:
    return _panel(request, ticket_id)


@require_POST
@staff_required(perm=MANAGE)
def escalate_ticket(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """One click on a ticket: open the escalation and go to its room."""
    try:
        esc = services.open_from_ticket(ticket_id, request.user)
    except NotFound as exc:
        raise Http404(exc.message) from None
    except DomainError as exc:
        if not _is_htmx(request):
            flash.error(request, exc.message)
            return redirect("ticket", ticket_id)
        return _panel(request, ticket_id, _err("escalate", exc))
    return _redirect(request, reverse("escalation_room", args=[esc.pk]))
