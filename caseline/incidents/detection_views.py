"""Web pages of multi-customer detection: the proposals list (``/incidents/proposals/``)
and the ticket page's "Similar tickets elsewhere" panel, each with the one-action link
buttons (docs/incident-detection.md). Views parse input, call one service, render."""

from __future__ import annotations

from django.contrib import messages as flash
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from caseline.errors import DomainError
from caseline.tickets.models import Ticket
from caseline.web.auth import staff_required

from . import detection
from .models import DetectionProposal, Incident

READ = "accounts.view_all_tickets"
DECLARE = "accounts.declare_incident"


def _why(exc: DomainError) -> str:
    fields = getattr(exc, "fields", None) or {}
    extra = "; ".join(f"{k}: {v}" for k, v in fields.items())
    return f"{exc}" + (f" ({extra})" if extra else "")


def _int(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isdigit() else None


def _live_incidents() -> list[Incident]:
    return list(
        Incident.objects.filter(status__in=["investigating", "identified", "monitoring"]).order_by(
            "-id"
        )[:50]
    )


# --- the ticket page's panel --------------------------------------------------------------


def _panel(request: HttpRequest, ticket_id: int, error: str | None = None) -> HttpResponse:
    cluster = detection.similar_for_ticket(ticket_id)
    return render(
        request,
        "incidents/detection_panel.html",
        {
            "cluster": cluster,
            "ticket": cluster.ticket,
            "can_link": request.user.has_perm(DECLARE),
            "live_incidents": _live_incidents(),
            "error": error,
        },
    )


@require_GET
@staff_required(perm=READ)
def ticket_similar_panel(request: HttpRequest, ticket_id: int) -> HttpResponse:
    if not Ticket.objects.filter(pk=ticket_id).exists():
        raise Http404("no such ticket")
    return _panel(request, ticket_id)


@require_POST
@staff_required(perm=DECLARE)
def ticket_similar_link(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """One action from the panel: declare a new incident with the whole cluster, or link
    it to the chosen incident."""
    if not Ticket.objects.filter(pk=ticket_id).exists():
        raise Http404("no such ticket")
    try:
        inc = detection.link_cluster(
            ticket_id,
            request.user,
            incident_id=_int(request.POST.get("incident_id")),
            title=request.POST.get("title", ""),
            severity=_int(request.POST.get("severity")),
        )
    except DomainError as exc:
        return _panel(request, ticket_id, _why(exc))
    if request.headers.get("HX-Request") != "true":
        return redirect(reverse("incident_room", args=[inc.pk]))
    return _panel(request, ticket_id)


# --- the proposals page --------------------------------------------------------------------


@require_GET
@staff_required(perm=READ)
def proposal_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "incidents/detection_list.html",
        {
            "open": detection.open_proposals(),
            "decided": detection.recent_proposals(),
            "live_incidents": _live_incidents(),
            "can_link": request.user.has_perm(DECLARE),
            "config": detection.config(),
            "nav_active": "incidents",
        },
    )


@require_POST
@staff_required(perm=DECLARE)
def proposal_link(request: HttpRequest, proposal_id: int) -> HttpResponse:
    if not DetectionProposal.objects.filter(pk=proposal_id).exists():
        raise Http404("no such proposal")
    try:
        inc = detection.link_proposal(
            proposal_id,
            request.user,
            incident_id=_int(request.POST.get("incident_id")),
            title=request.POST.get("title", ""),
            severity=_int(request.POST.get("severity")),
        )
    except DomainError as exc:
        flash.error(request, _why(exc))
        return redirect(reverse("detection_proposals"))
    flash.success(request, f"Linked the cluster to {inc.reference}.")
    return redirect(reverse("incident_room", args=[inc.pk]))


@require_POST
@staff_required(perm=DECLARE)
def proposal_dismiss(request: HttpRequest, proposal_id: int) -> HttpResponse:
    if not DetectionProposal.objects.filter(pk=proposal_id).exists():
        raise Http404("no such proposal")
    try:
        detection.dismiss_proposal(proposal_id, request.user)
        flash.success(request, "Proposal dismissed.")
    except DomainError as exc:
        flash.error(request, _why(exc))
    return redirect(reverse("detection_proposals"))
