"""Queryset helpers for ticket lists: next SLA deadline, breached, due within N minutes.

Each takes and returns a ``Ticket`` queryset; they read ``sla_ticket.next_deadline``
(the earliest due time of a running clock, indexed), one join, no per-row work.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import F, QuerySet

from caseline.timesource import now

NEXT_DEADLINE = "sla_state__next_deadline"


def with_next_deadline(qs: QuerySet) -> QuerySet:
    """Annotate ``sla_next_deadline`` (None: no running clock)."""
    return qs.annotate(sla_next_deadline=F(NEXT_DEADLINE))


def filter_breached(qs: QuerySet) -> QuerySet:
    """Tickets with a running clock past its due time (breached and still unanswered)."""
    return qs.filter(**{f"{NEXT_DEADLINE}__lte": now()})


def filter_due_within(qs: QuerySet, minutes: int) -> QuerySet:
    """Tickets whose next deadline falls in the next ``minutes`` (not yet breached)."""
    current = now()
    return qs.filter(
        **{
            f"{NEXT_DEADLINE}__gt": current,
            f"{NEXT_DEADLINE}__lte": current + timedelta(minutes=int(minutes)),
        }
    )


def order_by_deadline(qs: QuerySet, *, descending: bool = False) -> QuerySet:
    """Earliest deadline first; tickets without a running clock last; then by id."""
    field = F(NEXT_DEADLINE)
    if descending:
        return qs.order_by(field.desc(nulls_last=True), "-id")
    return qs.order_by(field.asc(nulls_last=True), "id")
