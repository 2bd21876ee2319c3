"""GET /api/v1/search: full-text search over tickets, messages, organizations and
contacts (see docs/search.md). Parses the query string, calls one query, renders."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router

from caseline.api.core import actor

from . import queries
from .schemas import SearchResponse, hit_out

router = Router(tags=["search"])


@router.get("/search", response=SearchResponse)
def search(
    request: HttpRequest,
    q: str = "",
    type: str | None = None,  # noqa: A002  (the public parameter name)
    limit: int = queries.DEFAULT_LIMIT,
):
    """The best hits for ``q`` (every word must match; "quoted phrases"; no operators),
    best first, with highlighted snippets (``snippet_html``: escaped, ``<mark>`` around
    the matches). ``type``: ticket, message, organization or contact (default: all the
    caller may search, merged). Customers find their organization's tickets and public
    messages only; organizations and contacts need ``view_directory`` (403 otherwise).
    422 for an empty query, one over 200 characters or 16 terms, an unknown type, or a
    limit outside 1-50."""
    hits = queries.search(actor(request), q, kind=type or None, limit=limit)
    return {
        "results": [hit_out(h) for h in hits],
        "meta": {"query": q, "type": type or None, "limit": limit, "count": len(hits)},
    }
