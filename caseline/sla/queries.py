"""Queryset helpers for ticket lists: next SLA deadline, breached, due within N minutes.

Each takes and returns a ``Ticket`` queryset. The next deadline is read from the ticket
row (``tickets_ticket.next_due_at``, which the SLA services keep equal to
``sla_ticket.next_deadline``): no join for sorting, the "unassigned" queue's partial index
applies. The "due within" filter joins ``sla_ticket.upcoming_deadline``.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import F, QuerySet

from caseline.timesource import now

NEXT_DEADLINE = "next_due_at"
UPCOMING_DEADLINE = "sla_state__upcoming_deadline"


def with_next_deadline(qs: QuerySet) -> QuerySet:
    """Annotate ``sla_next_deadline`` (None: no running clock)."""
    return qs.annotate(sla_next_deadline=F(NEXT_DEADLINE))


def filter_breached(qs: QuerySet) -> QuerySet:
    """Tickets with a running clock past its due time (breached and still unanswered)."""
    return qs.filter(**{f"{NEXT_DEADLINE}__lte": now()})


def filter_due_within(qs: QuerySet, minutes: int) -> QuerySet:
    """Tickets with a running, not breached clock due in the next ``minutes`` (also when
    another clock of the ticket breached earlier: ``upcoming_deadline``)."""
    current = now()
    return qs.filter(
        **{
            f"{UPCOMING_DEADLINE}__gt": current,
            f"{UPCOMING_DEADLINE}__lte": current + timedelta(minutes=int(minutes)),
        }
    )


def order_by_deadline(qs: QuerySet, *, descending: bool = False) -> QuerySet:
    """Earliest deadline first; tickets without a running clock last; then by id."""
    field = F(NEXT_DEADLINE)
    if descending:
        return qs.order_by(field.desc(nulls_last=True), "-id")
    return qs.order_by(field.asc(nulls_last=True), "id")


def _breached_filter(qs: QuerySet, raw: str) -> QuerySet:
    value = raw.strip().lower()
    if value in ("true", "1", "yes"):
        return filter_breached(qs)
    if value in ("false", "0", "no"):
        return qs.exclude(**{f"{NEXT_DEADLINE}__lte": now()})
    raise ValueError("true or false")


def _due_within_filter(qs: QuerySet, raw: str) -> QuerySet:
    try:
        minutes = int(raw.strip())
    except ValueError:
        raise ValueError("a number of minutes") from None
    if not 1 <= minutes <= 60 * 24 * 31:
        raise ValueError("between 1 and 44640 minutes")
    return filter_due_within(qs, minutes)


def register_ticket_list_extensions() -> None:
    """The ticket list's SLA filters (``breached``, ``due_within``), its ``next_deadline``
    column and ``order=deadline`` (called from SlaConfig.ready())."""
    from caseline.tickets import queries as ticket_queries

    ticket_queries.register_list_filter("breached", _breached_filter)
    ticket_queries.register_list_filter("due_within", _due_within_filter)
    ticket_queries.register_list_column(
        "next_deadline", lambda qs: qs.annotate(next_deadline=F(NEXT_DEADLINE))
    )
    ticket_queries.register_list_order(
        "deadline", "next_deadline", lambda qs: qs.annotate(next_deadline=F(NEXT_DEADLINE))
    )


# Target kinds whose due time is "when we will answer" in an acknowledgement mail.
ANSWER_KINDS = ("acknowledge", "actionable")


def answer_due(ticket_id: int):
    """The earliest due time of a running support-engineer acknowledge/actionable clock of
    the ticket (None when none runs): the "we will answer by" of an acknowledgement."""
    from .services import clocks_of

    due = [
        c.due_at
        for c in clocks_of(ticket_id)
        if c.state == "active" and c.kind in ANSWER_KINDS and c.due_at is not None
    ]
    return min(due) if due else None


def answer_eta_text(ticket) -> str | None:
    """ "by Tuesday 3 March, 10:00 EST" in the requester's time zone (else the ticket's
    organization region's, else UTC): the ETA placeholder of acknowledgement templates."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    due = answer_due(ticket.pk)
    if due is None:
        return None
    zone_name = getattr(ticket.requester, "time_zone", "") or ""
    if not zone_name and ticket.organization_id and ticket.organization.region_id:
        zone_name = ticket.organization.region.time_zone
    try:
        zone = ZoneInfo(zone_name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    local = due.astimezone(zone)
    return f"by {local:%A} {local.day} {local:%B}, {local:%H:%M %Z}"
