"""Ticket facts shown on the workspace's organization and contact pages (read only).

Everything goes through the queue layer (``queues.tickets`` / ``queues.page``): the same
visibility rule, filters (the SLA app's registered ``breached``) and keyset pages as the
queues, so a page shows exactly the tickets its viewer may see.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from caseline.timesource import now

from . import queries, queues

SEV1_WINDOW_DAYS = 90
PAGE_SIZE = 25
DONE = "solved,closed"


def _scope(organization: int | None, requester: int | None) -> dict[str, str]:
    if (organization is None) == (requester is None):
        raise ValueError("give exactly one of organization, requester")
    if organization is not None:
        return {"organization": str(organization)}
    return {"requester": str(requester)}


def counts(
    user: Any, *, organization: int | None = None, requester: int | None = None
) -> dict[str, int]:
    """open: unsolved tickets; breached: unsolved with a running SLA clock past due;
    sev1_90d: Sev-1 tickets opened in the last 90 days (any status)."""
    scope = _scope(organization, requester)
    unsolved = {**scope, "status": queues.UNSOLVED}
    out = {"open": queues.tickets(user, unsolved).count()}
    if "breached" in queries.LIST_FILTERS:
        out["breached"] = queues.tickets(user, {**unsolved, "breached": "true"}).count()
    else:
        out["breached"] = 0
    since = now() - timedelta(days=SEV1_WINDOW_DAYS)
    sev1 = queues.tickets(user, {**scope, "severity": "1"}).filter(created_at__gte=since)
    out["sev1_90d"] = sev1.count()
    return out


def open_page(
    user: Any,
    *,
    organization: int | None = None,
    requester: int | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> queues.Page:
    """Unsolved tickets, next SLA deadline first (those without a running clock last)."""
    sort = "deadline" if "deadline" in queries.LIST_ORDERS else "newest"
    qs = queues.tickets(user, {**_scope(organization, requester), "status": queues.UNSOLVED})
    return queues.page(qs, sort, cursor, limit or PAGE_SIZE)


def done_page(
    user: Any,
    *,
    organization: int | None = None,
    requester: int | None = None,
    cursor: str | None = None,
    limit: int | None = None,
) -> queues.Page:
    """Solved and closed tickets, newest first."""
    qs = queues.tickets(user, {**_scope(organization, requester), "status": DONE})
    return queues.page(qs, "newest", cursor, limit or PAGE_SIZE)
