"""Web pages of follow-the-sun handoffs: the "Hand-offs" page (to give, to acknowledge,
recent) and the panels on the escalation room and the ticket page (htmx fragments,
caseline/web/panels.py). Each action calls one service and answers with the handoff's
card (or the panel) again, the refusal shown next to the form."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_GET, require_POST

from caseline.errors import DomainError, NotFound
from caseline.web.auth import staff_required

from . import handoffs
from .models import Escalation, Handoff

READ = "accounts.view_all_tickets"


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _int(value: Any) -> Any:
    try:
        return int(value)
    except (TypeError, ValueError):
        return value if value not in ("", None) else None


def _cards(user, rows: list[Handoff]) -> list[dict[str, Any]]:
    """Each handoff with what the user may do and who may receive it (options per region)."""
    options: dict[int, list] = {}
    out = []
    for h in rows:
        may_hand = handoffs.can_hand(user, h)
        if may_hand and h.to_region_id not in options:
            options[h.to_region_id] = handoffs.receiver_options(h.to_region)
        out.append(
            {
                "h": h,
                "can_hand": may_hand,
                "can_ack": handoffs.can_acknowledge(user, h),
                "options": options.get(h.to_region_id, []) if may_hand else [],
                "chosen": h.receiver_id or h.suggested_receiver_id,
            }
        )
    return out


@require_GET
@staff_required(perm=READ)
def page(request: HttpRequest) -> HttpResponse:
    user = request.user
    region = request.GET.get("region") or None
    try:
        recent = list(handoffs.list_handoffs(user, region=region)[:30])
    except DomainError:
        region, recent = None, list(handoffs.list_handoffs(user)[:30])
    from caseline.accounts.models import Region

    ctx = {
        "nav_active": "handoffs",
        "to_give": _cards(user, list(handoffs.list_handoffs(user, mine="give")[:50])),
        "to_ack": _cards(user, list(handoffs.list_handoffs(user, mine="acknowledge")[:50])),
        "recent": _cards(user, recent),
        "regions": list(Region.objects.all()),
        "region": region,
        "note_minutes": handoffs.note_minutes(),
        "ack_minutes": handoffs.ack_minutes(),
    }
    return render(request, "escalations/handoffs.html", ctx)


def _card(request: HttpRequest, handoff_id: int, err: dict | None = None) -> HttpResponse:
    try:
        h = handoffs.get_handoff(handoff_id)
    except NotFound as exc:
        raise Http404(exc.message) from None
    if not _is_htmx(request):
        return redirect("handoffs")
    card = _cards(request.user, [h])[0]
    return render(request, "escalations/handoffs_item.html", {"c": card, "err": err})


def _error(exc: DomainError) -> dict[str, Any]:
    return {"message": exc.message, "fields": exc.fields or {}, "status": exc.status}


@require_POST
@staff_required(perm=READ)
def hand(request: HttpRequest, handoff_id: int) -> HttpResponse:
    err = None
    try:
        handoffs.hand(
            handoff_id,
            request.user,
            receiver_id=_int(request.POST.get("receiver_id")),
            note=request.POST.get("note", ""),
        )
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise Http404(exc.message) from None
        err = _error(exc)
    return _card(request, handoff_id, err)


@require_POST
@staff_required(perm=READ)
def acknowledge(request: HttpRequest, handoff_id: int) -> HttpResponse:
    err = None
    try:
        handoffs.acknowledge(handoff_id, request.user)
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise Http404(exc.message) from None
        err = _error(exc)
    return _card(request, handoff_id, err)


# --- panels ------------------------------------------------------------------------------------


def _panel_ctx(request: HttpRequest, *, escalation_id=None, ticket_id=None, err=None) -> dict:
    user = request.user
    rows = handoffs.for_item(escalation_id=escalation_id, ticket_id=ticket_id)
    if escalation_id:
        item = (
            Escalation.objects.select_related("owner", "acting_owner__region")
            .filter(pk=escalation_id)
            .first()
        )
        if item is None:
            raise Http404(f"no escalation ESC-{escalation_id}")
        holder = item.acting_owner or item.owner
        is_open = item.status in handoffs.LIVE_ESCALATION
        severity = item.severity
    else:
        from caseline.tickets import queries as ticket_queries

        try:
            item = ticket_queries.visible_ticket(user, ticket_id)
        except NotFound as exc:
            raise Http404(exc.message) from None
        holder = item.assignee
        is_open = item.status in handoffs.OPEN_STATUSES
        severity = item.severity
    has_open = any(
        h.status in handoffs.OPEN_STATUSES_HANDOFF and h.acknowledged_at is None for h in rows
    )
    may_start = (
        is_open
        and not has_open
        and holder is not None
        and holder.region_id is not None
        and (user.pk == holder.pk or user.has_perm(handoffs.MANAGE))
    )
    return {
        "cards": _cards(user, rows),
        "escalation_id": escalation_id,
        "ticket_id": ticket_id,
        "item": item,
        "holder": holder,
        "acting_owner": getattr(item, "acting_owner", None),
        "may_start": may_start,
        "severity": severity,
        "err": err,
    }


@require_GET
@staff_required(perm=READ)
def escalation_panel(request: HttpRequest, escalation_id: int) -> HttpResponse:
    ctx = _panel_ctx(request, escalation_id=escalation_id)
    return render(request, "escalations/handoffs_panel.html", ctx)


@require_GET
@staff_required(perm=READ)
def ticket_panel(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """Nothing for a ticket without handoffs (unless it is an open Sev-1 ticket the user
    may start one for)."""
    ctx = _panel_ctx(request, ticket_id=ticket_id)
    if not ctx["cards"] and not (ctx["may_start"] and ctx["severity"] == 1):
        return HttpResponse("")
    return render(request, "escalations/handoffs_panel.html", ctx)


@require_POST
@staff_required(perm=READ)
def start(request: HttpRequest) -> HttpResponse:
    escalation_id = _int(request.POST.get("escalation_id"))
    ticket_id = _int(request.POST.get("ticket_id"))
    err = None
    try:
        handoffs.start(
            request.user,
            escalation_id=escalation_id,
            ticket_id=ticket_id,
            receiver_id=_int(request.POST.get("receiver_id")),
            note=request.POST.get("note") or None,
        )
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise Http404(exc.message) from None
        err = _error(exc)
    if not _is_htmx(request):
        return redirect("handoffs")
    if isinstance(escalation_id, int):
        ctx = _panel_ctx(request, escalation_id=escalation_id, err=err)
    elif isinstance(ticket_id, int):
        ctx = _panel_ctx(request, ticket_id=ticket_id, err=err)
    else:
        raise Http404("no item")
    return render(request, "escalations/handoffs_panel.html", ctx)


urlpatterns = [
    path("handoffs/", page, name="handoffs"),
    path("handoffs/start", start, name="handoff_start"),
    path("handoffs/<int:handoff_id>/hand", hand, name="handoff_hand"),
    path("handoffs/<int:handoff_id>/acknowledge", acknowledge, name="handoff_acknowledge"),
    path(
        "escalations/<int:escalation_id>/handoffs/panel",
        escalation_panel,
        name="escalation_handoffs_panel",
    ),
    path("handoffs/ticket/<int:ticket_id>/panel", ticket_panel, name="ticket_handoffs_panel"),
]
