"""The escalation room's "Calls and visits" panel (htmx fragment; caseline/web/panels.py).

``GET /escalations/<escalation_id>/calls/panel`` renders the list of calls (times in the
viewer's zone) with attendees, agenda, notes and action items, and - for escalation
managers - the forms to schedule, reschedule, cancel, mark held, edit notes, add and
tick action items. Every form posts to its own URL, which calls ONE service of
``calls.py`` and answers the re-rendered panel; a refusal re-renders it with the reason
next to the form and the service's status (422/409), nothing changed.

Permissions: reading ``view_all_tickets``; every change ``manage_escalations``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from caseline.accounts.models import Contact, User
from caseline.errors import DomainError, ValidationFailed
from caseline.timesource import now
from caseline.web.auth import staff_required
from caseline.web.formparse import local_datetime as _local

from . import calls
from .models import ActionItem, Call, Escalation

READ = "accounts.view_all_tickets"
MANAGE = "accounts.manage_escalations"


# --- parsing --------------------------------------------------------------------------------


def _int(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() else None


def _attendees(post) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    out += [{"contact_id": int(v)} for v in post.getlist("contact") if v.isdigit()]
    out += [{"user_id": int(v)} for v in post.getlist("user") if v.isdigit()]
    for line in (post.get("emails") or "").replace(",", "\n").splitlines():
        if line.strip():
            out.append({"email": line.strip()})
    return out


def _times(post) -> tuple[datetime | None, datetime | None]:
    starts = _local(post.get("starts_at"), "starts_at")
    minutes = _int(post.get("minutes"))
    if minutes is None:
        raise ValidationFailed("the duration is not valid", fields={"minutes": "whole minutes"})
    return starts, (starts + timedelta(minutes=minutes)) if starts else None


# --- rendering ------------------------------------------------------------------------------


def _escalation(escalation_id: int) -> Escalation:
    esc = Escalation.objects.select_related("organization", "owner").filter(pk=escalation_id)
    found = esc.first()
    if found is None:
        raise Http404(f"no escalation ESC-{escalation_id}")
    return found


def _panel(
    request: HttpRequest, esc: Escalation, *, error: dict[str, Any] | None = None, status: int = 200
) -> HttpResponse:
    rows = list(calls.calls_of(esc.pk))
    for c in rows:
        c.minutes = int((c.ends_at - c.starts_at).total_seconds() // 60)
    current = now()
    upcoming = [c for c in rows if c.status == Call.Status.SCHEDULED]
    past = [c for c in rows if c.status != Call.Status.SCHEDULED][::-1]
    can_manage = request.user.has_perm(MANAGE)
    context = {
        "esc": esc,
        "upcoming": upcoming,
        "past": past,
        "now": current,
        "can_manage": can_manage,
        "error": error,
        "kinds": Call.Kind.choices,
        "zone": timezone.get_current_timezone_name(),
        "default_start": (
            timezone.localtime(current + timedelta(days=1))
            .replace(minute=0, second=0, microsecond=0)
            .strftime("%Y-%m-%dT%H:%M")
        ),
    }
    if can_manage:
        context["contacts"] = list(
            Contact.objects.filter(organization_id=esc.organization_id).order_by("name")[:200]
        )
        context["staff"] = list(
            User.objects.filter(kind=User.Kind.STAFF, is_active=True).order_by(
                "display_name", "email"
            )[:500]
        )
    return render(request, "escalations/calls_panel.html", context, status=status)


def _act(
    request: HttpRequest, esc: Escalation, form: str, obj: int | None, fn: Callable[[], Any]
) -> HttpResponse:
    try:
        fn()
    except DomainError as exc:
        error = {"form": form, "obj": obj, "message": exc.message, "fields": dict(exc.fields or {})}
        return _panel(request, esc, error=error, status=exc.status)
    return _panel(request, esc)


def _call_escalation(call_id: int) -> Escalation:
    esc_id = Call.objects.filter(pk=call_id).values_list("escalation_id", flat=True).first()
    if esc_id is None:
        raise Http404(f"no call {call_id}")
    return _escalation(esc_id)


# --- views ----------------------------------------------------------------------------------


@require_GET
@staff_required(perm=READ)
def panel(request: HttpRequest, escalation_id: int) -> HttpResponse:
    return _panel(request, _escalation(escalation_id))


@require_POST
@staff_required(perm=MANAGE)
def schedule(request: HttpRequest, escalation_id: int) -> HttpResponse:
    esc = _escalation(escalation_id)
    post = request.POST

    def run() -> None:
        starts, ends = _times(post)
        calls.schedule_call(
            esc.pk,
            request.user,
            kind=post.get("kind", ""),
            title=post.get("title", ""),
            agenda=post.get("agenda", ""),
            location=post.get("location", ""),
            starts_at=starts,
            ends_at=ends,
            attendees=_attendees(post),
        )

    return _act(request, esc, "schedule", None, run)


@require_POST
@staff_required(perm=MANAGE)
def reschedule(request: HttpRequest, call_id: int) -> HttpResponse:
    esc = _call_escalation(call_id)

    def run() -> None:
        starts, ends = _times(request.POST)
        calls.update_call(
            call_id,
            request.user,
            starts_at=starts,
            ends_at=ends,
            location=request.POST.get("location", ""),
        )

    return _act(request, esc, "reschedule", call_id, run)


@require_POST
@staff_required(perm=MANAGE)
def notes(request: HttpRequest, call_id: int) -> HttpResponse:
    esc = _call_escalation(call_id)
    text = request.POST.get("notes", "")
    if request.POST.get("held"):
        return _act(
            request,
            esc,
            "notes",
            call_id,
            lambda: calls.mark_held(call_id, request.user, notes=text),
        )
    return _act(
        request, esc, "notes", call_id, lambda: calls.update_call(call_id, request.user, notes=text)
    )


@require_POST
@staff_required(perm=MANAGE)
def cancel(request: HttpRequest, call_id: int) -> HttpResponse:
    esc = _call_escalation(call_id)
    reason = request.POST.get("reason", "")
    return _act(
        request,
        esc,
        "cancel",
        call_id,
        lambda: calls.cancel_call(call_id, request.user, reason=reason),
    )


@require_POST
@staff_required(perm=MANAGE)
def add_item(request: HttpRequest, call_id: int) -> HttpResponse:
    esc = _call_escalation(call_id)
    post = request.POST

    def run() -> None:
        calls.add_action_item(
            call_id,
            request.user,
            what=post.get("what", ""),
            owner_id=_int(post.get("owner_id")),
            due_at=_local(post.get("due_at"), "due_at"),
        )

    return _act(request, esc, "item", call_id, run)


@require_POST
@staff_required(perm=MANAGE)
def tick_item(request: HttpRequest, item_id: int) -> HttpResponse:
    esc_id = ActionItem.objects.filter(pk=item_id).values_list("escalation_id", flat=True).first()
    if esc_id is None:
        raise Http404(f"no action item {item_id}")
    esc = _escalation(esc_id)
    done = request.POST.get("done") == "1"
    return _act(
        request,
        esc,
        "tick",
        item_id,
        lambda: calls.update_action_item(item_id, request.user, done=done),
    )
