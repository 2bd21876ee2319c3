"""/api/v1: a ticket's ETAs, and missed-ETA counts per ticket and per agent.

A ticket's ETAs are visible to whoever sees the ticket (customers on their own tickets:
the ETA was promised to them in a public reply). Miss counts need ``view_all_tickets``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.http import HttpRequest
from ninja import Router

from caseline.api.core import actor as api_actor
from caseline.api.core import require
from caseline.errors import ValidationFailed
from caseline.tickets import queries as ticket_queries

from . import queries
from .models import ETA
from .schemas import MissReport, TicketEtas, eta_out

router = Router(tags=["eta"])


@router.get("/tickets/{ticket_id}/etas", response=TicketEtas)
def ticket_etas(request: HttpRequest, ticket_id: int):
    """Every ETA of the ticket, newest first, the pending one, and counts by status."""
    ticket = ticket_queries.visible_ticket(api_actor(request), ticket_id)
    rows = list(queries.for_ticket(ticket.pk))
    current = next((e for e in rows if e.status == ETA.Status.PENDING), None)
    return {
        "ticket_id": ticket.pk,
        "current": eta_out(current) if current else None,
        "counts": queries.counts(ETA.objects.filter(ticket_id=ticket.pk)),
        "results": [eta_out(e) for e in rows],
    }


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValidationFailed("the request is not valid", fields={field: "give a UTC offset"})
    return value.astimezone(UTC)


@router.get("/eta/misses", response=MissReport)
def eta_misses(
    request: HttpRequest,
    agent: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
):
    """ETA outcomes per agent (the owner who promised) and the tickets with the most
    missed ETAs; ``agent`` narrows both to one person, ``since``/``until`` bound due times."""
    require(request, "view_all_tickets")
    return queries.misses(agent=agent, since=_aware(since, "since"), until=_aware(until, "until"))
