"""The escalation room's "Executive summaries" panel (htmx fragment, caseline/web/panels.py):
the schedule, next steps and risks, the current draft (edit, generate, send) and every
sent summary. Each action calls one service and answers with the panel again."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET, require_POST

from caseline.errors import DomainError, NotFound
from caseline.web.auth import staff_required

from . import services, summaries
from .summaries_api import schedule_out

READ = "accounts.view_all_tickets"
MANAGE = "accounts.manage_escalations"


def _escalation(escalation_id: int):
    try:
        return summaries.get_escalation(escalation_id)
    except NotFound as exc:
        raise Http404(str(exc)) from exc


def _ctx(request: HttpRequest, escalation_id: int, err: dict | None = None) -> dict:
    esc = _escalation(escalation_id)
    sched = summaries.schedule_of(esc)
    return {
        "esc": esc,
        "schedule": schedule_out(esc, sched),
        "draft": summaries.draft_of(esc),
        "sent": list(summaries.sent_of(esc)[:50]),
        "can_manage": request.user.has_perm(MANAGE),
        "live": esc.status in services.LIVE_STATUSES,
        "recipients": services.internal_emails(esc),
        "err": err,
    }


@require_GET
@staff_required(perm=READ)
def panel(request: HttpRequest, escalation_id: int) -> HttpResponse:
    return render(request, "escalations/summaries_panel.html", _ctx(request, escalation_id))


def _act(request: HttpRequest, escalation_id: int, form: str, call) -> HttpResponse:
    err = None
    try:
        call()
    except DomainError as exc:
        _escalation(escalation_id)  # an unknown escalation: 404
        err = {
            "form": form,
            "message": exc.message,
            "fields": getattr(exc, "fields", None) or {},
            "status": exc.status,
        }
    if request.headers.get("HX-Request") != "true":
        try:
            return redirect(
                reverse("escalation_room", kwargs={"escalation_id": escalation_id})
                + "#panel-summaries"
            )
        except NoReverseMatch:
            pass
    # Answered 200 so htmx swaps the panel with the refusal shown next to the form.
    return render(request, "escalations/summaries_panel.html", _ctx(request, escalation_id, err))


def _int(value: str | None):
    try:
        return int(value or "")
    except ValueError:
        return value


@require_POST
@staff_required(perm=MANAGE)
def schedule(request: HttpRequest, escalation_id: int) -> HttpResponse:
    p = request.POST
    return _act(
        request,
        escalation_id,
        "schedule",
        lambda: summaries.set_schedule(
            escalation_id,
            request.user,
            active=p.get("active", "1") == "1",
            send_time=p.get("send_time", "17:00"),
            time_zone=p.get("time_zone", ""),
            lead_minutes=_int(p.get("lead_minutes", "60")),
        ),
    )


@require_POST
@staff_required(perm=MANAGE)
def notes(request: HttpRequest, escalation_id: int) -> HttpResponse:
    p = request.POST
    return _act(
        request,
        escalation_id,
        "notes",
        lambda: summaries.set_notes(
            escalation_id,
            request.user,
            next_steps=p.get("next_steps", ""),
            risks=p.get("risks", ""),
        ),
    )


@require_POST
@staff_required(perm=MANAGE)
def generate(request: HttpRequest, escalation_id: int) -> HttpResponse:
    return _act(
        request,
        escalation_id,
        "draft",
        lambda: summaries.generate(escalation_id, request.user),
    )


@require_POST
@staff_required(perm=MANAGE)
def edit(request: HttpRequest, escalation_id: int, summary_id: int) -> HttpResponse:
    p = request.POST
    return _act(
        request,
        escalation_id,
        "draft",
        lambda: summaries.edit_draft(
            escalation_id,
            summary_id,
            request.user,
            subject=p.get("subject", ""),
            text=p.get("text", ""),
        ),
    )


@require_POST
@staff_required(perm=MANAGE)
def send(request: HttpRequest, escalation_id: int) -> HttpResponse:
    return _act(
        request,
        escalation_id,
        "send",
        lambda: summaries.send_now(escalation_id, request.user),
    )


@require_GET
@staff_required(perm=READ)
def view(request: HttpRequest, escalation_id: int, summary_id: int) -> HttpResponse:
    """One summary as it was sent (its HTML part, and the text part)."""
    try:
        s = summaries.get_summary(escalation_id, summary_id)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    return render(request, "escalations/summaries_panel_view.html", {"s": s})
