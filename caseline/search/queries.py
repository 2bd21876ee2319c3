"""Search over tickets, messages, organizations and contacts: the read path the API and
the web search page call.

    from caseline.search.queries import search
    hits = search(user, "sso-okta login", kind=None, limit=20)   # list[Hit]

``Hit`` (caseline.search.backends.Hit): kind, id, title, snippet_html (HTML-escaped,
<mark> around matches: safe to render as is), ticket_id, org_id, org, updated_at, score.

Who finds what (the filter is part of the search SQL, not applied afterwards):
- staff with ``view_all_tickets``: every ticket and message; internal notes only with
  ``add_internal_note``; organizations and contacts with ``view_directory``;
- customers: their organization's tickets (their own requests when they have no
  organization) and those tickets' public messages; never organizations or contacts;
- anyone else: nothing.
"""

from __future__ import annotations

import heapq
import itertools
from typing import Any

from caseline.accounts.models import User
from caseline.errors import PermissionDenied, ValidationFailed
from caseline.tickets.queries import can_read_internal, can_see_all

from .backends import KINDS, Hit, Scope, backend_for
from .syntax import QueryError, parse

__all__ = ["DEFAULT_LIMIT", "KINDS", "MAX_LIMIT", "Hit", "scope_for", "search"]

DEFAULT_LIMIT = 20
MAX_LIMIT = 50


def scope_for(user: Any) -> Scope:
    if user is None or not getattr(user, "is_active", False):
        return Scope(tickets=False)
    kind = getattr(user, "kind", None)
    if kind == User.Kind.CUSTOMER:
        contact = user.contact if user.contact_id else None
        if contact is None:
            return Scope(tickets=False)
        if contact.organization_id:
            return Scope(tickets=True, org_id=contact.organization_id)
        return Scope(tickets=True, requester_id=contact.pk)
    if kind == User.Kind.STAFF:
        return Scope(
            tickets=can_see_all(user),
            internal=can_read_internal(user),
            directory=user.has_perm("accounts.view_directory"),
        )
    return Scope(tickets=False)


def search(user: Any, q: str, kind: str | None = None, limit: int = DEFAULT_LIMIT) -> list[Hit]:
    """The best ``limit`` hits for ``q`` that ``user`` may see, best first.

    ``kind`` None searches every kind the user may search and interleaves the lists by
    score (scores of different kinds are only roughly comparable). Tickets and messages
    are searched newest first in recency bands (see ``backends.RECENT_WINDOWS``). Raises ValidationFailed
    (empty or too long query, unknown kind, bad limit) and PermissionDenied (a kind the
    user may not search, e.g. a customer asking for organizations).
    """
    errors: dict[str, str] = {}
    try:
        query = parse(q)
    except QueryError as exc:
        errors["q"] = str(exc)
        query = None
    if kind is not None and kind not in KINDS:
        errors["type"] = f"unknown type {kind!r}; use one of {', '.join(KINDS)}"
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        errors["limit"] = f"must be between 1 and {MAX_LIMIT}"
    if errors:
        raise ValidationFailed("the search is not valid", fields=errors)
    assert query is not None
    scope = scope_for(user)
    if kind in ("organization", "contact") and not scope.directory:
        raise PermissionDenied(
            f"you may not search {kind}s", fields={"type": "needs view_directory"}
        )
    backend = backend_for()
    kinds = [kind] if kind else list(KINDS)
    windowed = scope.tickets and not query.empty and kind in (None, "ticket", "message")
    floors = backend.floors() if windowed else {}
    per_kind = [backend.search(k, query, scope, limit, floors.get(k, ())) for k in kinds]
    # Interleave by score, keeping each kind's own order (newer recency bands first).
    merged = heapq.merge(*per_kind, key=lambda h: -h.score)
    return list(itertools.islice(merged, limit))
