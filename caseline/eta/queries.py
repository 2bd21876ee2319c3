"""Reading ETAs: a ticket's ETAs and miss counts per ticket and per agent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Count, Q, QuerySet

from .models import ETA


def for_ticket(ticket_id: int) -> QuerySet[ETA]:
    return (
        ETA.objects.filter(ticket_id=ticket_id)
        .select_related("owner")
        .order_by("-created_at", "-id")
    )


def counts(qs: QuerySet[ETA]) -> dict[str, int]:
    row = qs.aggregate(
        total=Count("id"),
        **{s: Count("id", filter=Q(status=s)) for s in ETA.Status.values},
    )
    return {k: int(v or 0) for k, v in row.items()}


def misses(
    *,
    agent: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> dict[str, Any]:
    """Per agent (owner): missed / met / pending / superseded / total; per ticket: the
    tickets with the most missed ETAs (of ``agent`` when given). ``since``/``until``
    bound the ETA's due time."""
    qs = ETA.objects.all()
    if agent is not None:
        qs = qs.filter(owner_id=agent)
    if since is not None:
        qs = qs.filter(due_at__gte=since)
    if until is not None:
        qs = qs.filter(due_at__lt=until)
    per_agent = (
        qs.values("owner_id", "owner__email", "owner__display_name")
        .annotate(
            total=Count("id"),
            **{s: Count("id", filter=Q(status=s)) for s in ETA.Status.values},
        )
        .order_by("-missed", "owner_id")
    )
    per_ticket = (
        qs.filter(status=ETA.Status.MISSED)
        .values("ticket_id")
        .annotate(missed=Count("id"))
        .order_by("-missed", "ticket_id")[:limit]
    )
    return {
        "agents": [
            {
                "agent_id": r["owner_id"],
                "name": r["owner__display_name"] or r["owner__email"] or "",
                "email": r["owner__email"] or "",
                "total": r["total"],
                **{s: r[s] for s in ETA.Status.values},
            }
            for r in per_agent
        ],
        "tickets": [{"ticket_id": r["ticket_id"], "missed": r["missed"]} for r in per_ticket],
    }


def pending_due(ticket_ids: list[int]) -> dict[int, datetime]:
    """{ticket id: due time} of each ticket's pending ETA (one query)."""
    if not ticket_ids:
        return {}
    return dict(
        ETA.objects.filter(ticket_id__in=ticket_ids, status=ETA.Status.PENDING).values_list(
            "ticket_id", "due_at"
        )
    )


def queue_row_eta(ticket_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The queue pages' ``eta_due`` column (registered on ``tickets.queues.ROW_EXTRAS``)."""
    return {tid: {"eta_due": due} for tid, due in pending_due(ticket_ids).items()}
