"""The workspace search page, /search/?q=…&kind=… over the search app's read path
(``caseline.search.queries.search``, docs/search.md).

The permission filter is part of the search query itself; this view only parses, calls
``search`` once and renders. Snippets are rendered as HTML because the search backend
HTML-escapes the text and adds only <mark> tags (``backends.mark_html``).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from caseline.errors import DomainError
from caseline.search import queries as search_queries
from caseline.web.auth import staff_required

KIND_LABELS = {
    "ticket": "Tickets",
    "message": "Messages",
    "organization": "Organizations",
    "contact": "Contacts",
}
LIMIT = search_queries.MAX_LIMIT


def _ticket_url(ticket_id: int) -> str:
    return reverse("ticket", args=[ticket_id])


def _href(hit) -> str:
    if hit.kind == "ticket":
        return _ticket_url(hit.ticket_id or hit.id)
    if hit.kind == "message":
        return f"{_ticket_url(hit.ticket_id)}#m{hit.id}"
    if hit.kind == "organization":
        return reverse("organization", args=[hit.id])
    return reverse("contact", args=[hit.id])


@staff_required
@require_GET
def search(request: HttpRequest) -> HttpResponse:
    q = (request.GET.get("q") or "").strip()
    kind = request.GET.get("kind") or None
    can_directory = request.user.has_perm("accounts.view_directory")
    kinds = [
        (k, label)
        for k, label in KIND_LABELS.items()
        if can_directory or k not in ("organization", "contact")
    ]
    context = {
        "nav_active": "search",
        "q": q,
        "kind": kind,
        "kinds": kinds,
        "hits": [],
        "searched": False,
        "error": None,
        "limit": LIMIT,
    }
    status = 200
    if q:
        try:
            hits = search_queries.search(request.user, q, kind=kind, limit=LIMIT)
        except DomainError as exc:
            status = exc.status
            fields = "; ".join(f"{k}: {v}" for k, v in exc.fields.items())
            context["error"] = f"{exc.message}" + (f" — {fields}" if fields else "")
        else:
            context["searched"] = True
            context["hits"] = [
                {"hit": h, "href": _href(h), "label": KIND_LABELS[h.kind][:-1]} for h in hits
            ]
    return render(request, "web/search.html", context, status=status)
