"""Collision detection: who else has this ticket open, and who is typing a reply.

The ticket page sends a heartbeat every few seconds (htmx polling); each heartbeat upserts
one ``Presence`` row (ticket, user) with the state and an expiry, in ONE statement
(``INSERT ... ON CONFLICT (ticket_id, user_id) DO UPDATE`` on SQLite and PostgreSQL), and
reads back the other live rows of the ticket. The rows live in the database, so every
server process (and every machine) sees the same viewers; a closed tab simply stops
sending heartbeats and its row expires after ``TTL``.

Presence is ephemeral and deliberately not written to the audit timeline (a heartbeat
every few seconds per viewer would drown the ticket's history); it publishes no event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from caseline.errors import ValidationFailed
from caseline.timesource import now

from .models import Presence

HEARTBEAT_SECONDS = 5


def ttl() -> timedelta:
    """How long a heartbeat counts (three missed beats and the viewer is gone)."""
    return timedelta(seconds=float(getattr(settings, "PRESENCE_TTL_SECONDS", 15)))


@dataclass(frozen=True)
class Viewer:
    user_id: int
    name: str
    email: str
    state: str
    since: datetime


def heartbeat(ticket_id: int, user: Any, state: str = Presence.State.VIEWING) -> None:
    """``user`` has ticket ``ticket_id`` open (``state``: viewing or typing)."""
    if state not in Presence.State.values:
        raise ValidationFailed(
            "unknown presence state", fields={"state": "must be viewing or typing"}
        )
    at = now()
    Presence.objects.bulk_create(
        [
            Presence(
                ticket_id=ticket_id,
                user_id=user.pk,
                state=state,
                expires_at=at + ttl(),
                updated_at=at,
            )
        ],
        update_conflicts=True,
        unique_fields=["ticket", "user"],
        update_fields=["state", "expires_at", "updated_at"],
    )


def leave(ticket_id: int, user: Any) -> None:
    """``user`` closed the ticket (best effort; expiry covers a lost goodbye)."""
    Presence.objects.filter(ticket_id=ticket_id, user_id=user.pk).delete()


def others(ticket_id: int, user: Any) -> list[Viewer]:
    """The other users with a live heartbeat on the ticket, typists first."""
    rows = (
        Presence.objects.filter(ticket_id=ticket_id, expires_at__gt=now())
        .exclude(user_id=getattr(user, "pk", None))
        .select_related("user")
        .order_by("-state", "user_id")  # "viewing" < "typing": typing first
    )
    return [
        Viewer(
            user_id=r.user_id,
            name=str(r.user),
            email=r.user.email,
            state=r.state,
            since=r.updated_at,
        )
        for r in rows
    ]


def purge(before: datetime | None = None) -> int:
    """Delete rows expired before ``before`` (default: a minute ago); returns how many."""
    cutoff = before or (now() - timedelta(minutes=1))
    deleted, _ = Presence.objects.filter(expires_at__lt=cutoff).delete()
    return deleted
