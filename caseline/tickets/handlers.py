"""Domain-event handlers of the tickets app (subscribed in TicketsConfig.ready()).

They run inside the publishing transaction and only do cheap writes (set-based queryset
updates, bulk inserts) to the same database. Every ticket they touch gets its audit rows
(actor, time, field, old, new) and its domain event, like a change made by a service.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from caseline.accounts.models import Organization, User
from caseline.audit.models import AuditEvent
from caseline.events import DomainEvent, publish

from .models import Message, Ticket
from .states import OPEN_STATUSES

CHUNK = 500

Change = tuple[Any, Any]


def _chunks(ids: Sequence[int], size: int = CHUNK) -> Iterable[list[int]]:
    for i in range(0, len(ids), size):
        yield list(ids[i : i + size])


def _actor_label(actor_id: int | None) -> str:
    if actor_id is None:
        return "system"
    email = User.objects.filter(pk=actor_id).values_list("email", flat=True).first()
    return email or f"user #{actor_id}"


def record_many(
    event_type: str,
    entries: Sequence[tuple[int, dict[str, Change]]],
    *,
    actor_id: int | None,
    at: datetime,
    data: dict[str, Any],
) -> int:
    """Audit rows and one domain event per ticket, for set-based changes of many
    tickets: ``entries`` are (ticket_id, {field: (old, new)}). The rows go in with one
    INSERT per chunk instead of one per ticket. Returns the number of audit rows."""
    label = _actor_label(actor_id)
    written = 0
    for start in range(0, len(entries), CHUNK):
        batch = entries[start : start + CHUNK]
        rows = [
            AuditEvent(
                subject_type="ticket",
                subject_id=ticket_id,
                ticket_id=ticket_id,
                type=event_type,
                actor_id=actor_id,
                actor_label=label,
                at=at,
                field=field,
                old=old,
                new=new,
                data=data,
            )
            for ticket_id, changes in batch
            for field, (old, new) in changes.items()
        ]
        AuditEvent.objects.bulk_create(rows)
        written += len(rows)
        first_row: dict[int, int | None] = {}
        for row in rows:
            first_row.setdefault(row.subject_id, row.pk)
        for ticket_id, changes in batch:
            publish(
                DomainEvent(
                    type=event_type,
                    subject_type="ticket",
                    subject_id=ticket_id,
                    at=at,
                    actor_id=actor_id,
                    data={**data, "changes": {f: [o, n] for f, (o, n) in changes.items()}},
                    audit_id=first_row.get(ticket_id),
                )
            )
    return written


# --- contact merged -----------------------------------------------------------------------


def contact_merged(event: DomainEvent) -> None:
    """A contact was merged: its tickets (as requester), messages (as author) and CCs
    now belong to the surviving contact. Each ticket touched records ticket.updated
    with the fields that changed (requester, ccs, message_author)."""
    source_id = event.data.get("source_id")
    target_id = event.data.get("target_id")
    if not source_id or not target_id or source_id == target_id:
        return
    at = event.at
    touched: dict[int, dict[str, Change]] = {}

    requested = list(
        Ticket.objects.filter(requester_id=source_id).order_by("id").values_list("id", flat=True)
    )
    for ids in _chunks(requested):
        Ticket.objects.filter(pk__in=ids, requester_id=source_id).update(
            requester_id=target_id, updated_at=at
        )
    for tid in requested:
        touched.setdefault(tid, {})["requester"] = (source_id, target_id)

    authored = list(
        Message.objects.filter(author_contact_id=source_id)
        .order_by("ticket_id")
        .values_list("ticket_id", flat=True)
        .distinct()
    )
    Message.objects.filter(author_contact_id=source_id).update(author_contact_id=target_id)
    for tid in authored:
        touched.setdefault(tid, {})["message_author"] = (source_id, target_id)

    through = Ticket.ccs.through
    cc_tickets = list(
        through.objects.filter(contact_id=source_id).values_list("ticket_id", flat=True)
    )
    if cc_tickets:
        already = set(
            through.objects.filter(contact_id=target_id, ticket_id__in=cc_tickets).values_list(
                "ticket_id", flat=True
            )
        )
        # A ticket whose requester is now the survivor does not CC them as well.
        survivor_requests = set(
            Ticket.objects.filter(pk__in=cc_tickets, requester_id=target_id).values_list(
                "id", flat=True
            )
        )
        dropped = already | survivor_requests
        moved = [t for t in cc_tickets if t not in dropped]
        for ids in _chunks(moved):
            through.objects.filter(contact_id=source_id, ticket_id__in=ids).update(
                contact_id=target_id
            )
        through.objects.filter(contact_id=source_id).delete()
        for tid in cc_tickets:
            touched.setdefault(tid, {})["ccs"] = (
                source_id,
                None if tid in dropped else target_id,
            )
        for ids in _chunks(sorted(set(cc_tickets) | set(authored))):
            Ticket.objects.filter(pk__in=ids).update(updated_at=at)

    if touched:
        record_many(
            "ticket.updated",
            sorted(touched.items()),
            actor_id=event.actor_id,
            at=at,
            data={"reason": "contact_merged", "source_id": source_id, "target_id": target_id},
        )


# --- the organization's sales consultant follows its open tickets ----------------------


def organization_updated(event: DomainEvent) -> None:
    """The organization's SC or its include_sc switch changed: its open tickets follow."""
    changes = event.data.get("changes") or {}
    if "sales_consultant" not in changes and "include_sc" not in changes:
        return
    previous = changes.get("sales_consultant")
    org = Organization.objects.filter(pk=event.subject_id).first()
    if org is None:
        return
    previous_sc = previous[0] if previous else org.sales_consultant_id
    sync_sc_followers(org, previous_sc_id=previous_sc, actor_id=event.actor_id, at=event.at)


def _desired_sc(org: Organization) -> int | None:
    if not org.include_sc or org.sales_consultant_id is None:
        return None
    ok = User.objects.filter(
        pk=org.sales_consultant_id, is_active=True, kind=User.Kind.STAFF
    ).exists()
    return org.sales_consultant_id if ok else None


def sync_sc_followers(
    org: Organization,
    *,
    previous_sc_id: int | None,
    actor_id: int | None = None,
    at: datetime,
) -> dict[str, int]:
    """Make the organization's SC (when ``include_sc``) follow every open ticket of the
    organization, and the previous SC stop following them (except tickets they are
    assigned to). Set-based: a few statements whatever the number of tickets, plus one
    audit row and one ticket.follower_added / _removed event per ticket touched.
    Returns {"added": n, "removed": m}."""
    desired = _desired_sc(org)
    through = Ticket.followers.through
    open_tickets = Ticket.objects.filter(organization_id=org.pk, status__in=OPEN_STATUSES)
    data = {"kind": "follower", "reason": "sales_consultant"}
    removed: list[int] = []
    if previous_sc_id is not None and previous_sc_id != desired:
        removed = list(
            through.objects.filter(user_id=previous_sc_id, ticket_id__in=open_tickets.values("id"))
            .exclude(ticket__assignee_id=previous_sc_id)
            .order_by("ticket_id")
            .values_list("ticket_id", flat=True)
        )
        for ids in _chunks(removed):
            through.objects.filter(user_id=previous_sc_id, ticket_id__in=ids).delete()
            Ticket.objects.filter(pk__in=ids).update(updated_at=at)
        record_many(
            "ticket.follower_removed",
            [(tid, {"followers": (previous_sc_id, None)}) for tid in removed],
            actor_id=actor_id,
            at=at,
            data={**data, "user_id": previous_sc_id},
        )
    added: list[int] = []
    if desired is not None:
        added = list(
            open_tickets.exclude(followers__id=desired).order_by("id").values_list("id", flat=True)
        )
        for ids in _chunks(added):
            through.objects.bulk_create(
                [through(ticket_id=tid, user_id=desired) for tid in ids], ignore_conflicts=True
            )
            Ticket.objects.filter(pk__in=ids).update(updated_at=at)
        record_many(
            "ticket.follower_added",
            [(tid, {"followers": (None, desired)}) for tid in added],
            actor_id=actor_id,
            at=at,
            data={**data, "user_id": desired},
        )
    return {"added": len(added), "removed": len(removed)}
