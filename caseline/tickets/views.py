"""Agent workspace: the queues (built-in and saved views), saved-view editing and bulk
actions. Views parse input, call one query or service, render; the filters, orders and
pages come from ``queues`` (the ticket list's query layer), changes from the services."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from caseline.accounts.models import Team, User
from caseline.errors import DomainError, ValidationFailed, body
from caseline.web.auth import staff_required

from . import bulk, queues, savedviews
from .models import Priority, Severity
from .states import Status


def _breaching_minutes() -> int:
    return int(getattr(settings, "CASELINE_BREACHING_SOON_MINUTES", 120))


def _builtin() -> dict[str, queues.Queue]:
    return {q.key: q for q in queues.builtin_queues(_breaching_minutes())}


def _error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    """A refusal as JSON {"error": {code, message, fields}} with its 4xx status."""
    return JsonResponse(body(exc.code, exc.message, exc.fields), status=exc.status)


def ticket_url(ticket_id: int) -> str:
    return reverse("ticket", args=[ticket_id])


def _filters_from_query(request: HttpRequest) -> dict[str, str]:
    skip = {"cursor", "sort", "limit", "name", "shared", "csrfmiddlewaretoken"}
    out: dict[str, str] = {}
    for key in request.GET:
        if key in skip:
            continue
        values = [v for v in request.GET.getlist(key) if v.strip()]
        if values:
            out[key] = ",".join(values)
    return out


def _render_queue(
    request: HttpRequest,
    *,
    key: str,
    title: str,
    description: str,
    filters: dict[str, Any],
    sort: str,
    saved=None,
) -> HttpResponse:
    user = request.user
    try:
        qs = queues.tickets(user, filters)
        page = queues.page(qs, sort, request.GET.get("cursor") or None, queues.DEFAULT_LIMIT)
    except DomainError as exc:
        return _error(request, exc)
    for row in page.rows:
        row["url"] = ticket_url(row["id"])
    context = {
        "nav_active": "queues",
        "queue_key": key,
        "queue_title": title,
        "queue_description": description,
        "filters": filters,
        "filters_json": json.dumps(filters),
        "sort": sort,
        "page": page,
        "rows": page.rows,
        "saved": saved,
        "builtin": list(_builtin().values()),
        "saved_views": list(savedviews.visible_saved_views(user)),
        "can_update": user.has_perm("accounts.update_ticket"),
        "staff": User.objects.staff().filter(is_active=True).order_by("display_name", "email"),
        "statuses": Status.choices,
        "severities": Severity.choices,
        "priorities": Priority.choices,
        "teams": Team.objects.order_by("name"),
        "known_filters": queues.known_filters(),
        "known_sorts": queues.known_sorts(),
        "next_url": _with_cursor(request, page.next_cursor) if page.next_cursor else None,
        "first_url": request.path if request.GET.get("cursor") else None,
    }
    template = (
        "tickets/queue_list.html" if request.headers.get("HX-Request") else "tickets/queue.html"
    )
    return render(request, template, context)


def _with_cursor(request: HttpRequest, cursor: str) -> str:
    params = request.GET.copy()
    params["cursor"] = cursor
    return f"{request.path}?{params.urlencode()}"


@staff_required
def queue(request: HttpRequest, key: str = "mine") -> HttpResponse:
    """A built-in view: mine, unassigned, breaching, breached, pending, sev1."""
    found = _builtin().get(key)
    if found is None:
        return JsonResponse(
            body("not_found", f"no view {key!r}", {"view": f"one of {', '.join(_builtin())}"}),
            status=404,
        )
    return _render_queue(
        request,
        key=found.key,
        title=found.label,
        description=found.description,
        filters=found.filters,
        sort=found.sort,
    )


@staff_required
def saved_queue(request: HttpRequest, view_id: int) -> HttpResponse:
    try:
        view = savedviews.get_saved_view(request.user, view_id)
    except DomainError as exc:
        return _error(request, exc)
    owner = "" if view.owner_id == request.user.pk else f" · shared by {view.owner}"
    return _render_queue(
        request,
        key=f"v{view.pk}",
        title=view.name,
        description=f"Saved view{owner}",
        filters=view.filters,
        sort=view.sort,
        saved=view,
    )


@staff_required
def custom_queue(request: HttpRequest) -> HttpResponse:
    """An ad-hoc view from the query string (?status=open&severity=1&sort=deadline), the
    starting point of a new saved view. Unknown filters are a 422 naming them."""
    filters = _filters_from_query(request)
    sort = request.GET.get("sort") or "newest"
    try:
        filters = queues.check(request.user, filters, sort)
    except DomainError as exc:
        return _error(request, exc)
    return _render_queue(
        request,
        key="custom",
        title="Custom view",
        description="Filters from the form; save them as a view.",
        filters=filters,
        sort=sort,
    )


def _posted_filters(request: HttpRequest) -> dict[str, Any] | None:
    raw = request.POST.get("filters")
    if raw is None:
        return None
    try:
        return json.loads(raw or "{}")
    except ValueError:
        raise ValidationFailed(
            "the filters are not valid", fields={"filters": "must be a JSON object"}
        ) from None


@staff_required
@require_POST
def saved_view_create(request: HttpRequest) -> HttpResponse:
    """Create a saved view from name, filters (JSON object) and sort."""
    try:
        view = savedviews.create_saved_view(
            actor=request.user,
            name=request.POST.get("name"),
            filters=_posted_filters(request) or {},
            sort=request.POST.get("sort") or "newest",
            shared=request.POST.get("shared") in ("1", "on", "true"),
        )
    except DomainError as exc:
        return _error(request, exc)
    messages.success(request, f"Saved view “{view.name}” created.")
    target = reverse("saved_queue", args=[view.pk])
    if request.headers.get("HX-Request"):
        return HttpResponse(status=204, headers={"HX-Redirect": target})
    return redirect(target)


@staff_required
@require_POST
def saved_view_update(request: HttpRequest, view_id: int) -> HttpResponse:
    changes: dict[str, Any] = {}
    for key in ("name", "sort"):
        if key in request.POST:
            changes[key] = request.POST[key]
    if "shared" in request.POST:
        changes["shared"] = request.POST.get("shared") in ("1", "on", "true")
    try:
        if "filters" in request.POST:
            changes["filters"] = _posted_filters(request)
        view = savedviews.update_saved_view(view_id, actor=request.user, **changes)
    except DomainError as exc:
        return _error(request, exc)
    messages.success(request, f"Saved view “{view.name}” updated.")
    return redirect(reverse("saved_queue", args=[view.pk]))


@staff_required
@require_POST
def saved_view_delete(request: HttpRequest, view_id: int) -> HttpResponse:
    try:
        savedviews.delete_saved_view(view_id, actor=request.user)
    except DomainError as exc:
        return _error(request, exc)
    messages.success(request, "Saved view deleted.")
    return redirect(reverse("queue"))


@staff_required
@require_POST
def queue_bulk(request: HttpRequest) -> HttpResponse:
    """Bulk assign / status / tag the selected tickets (ids) through update_ticket."""
    try:
        outcomes = bulk.bulk_update(
            actor=request.user,
            ids=request.POST.getlist("ids"),
            action=request.POST.get("action", ""),
            value=request.POST.get("value"),
        )
    except DomainError as exc:
        return _error(request, exc)
    done = [o for o in outcomes if o.ok]
    failed = [o for o in outcomes if not o.ok]
    if request.headers.get("HX-Request"):
        response = render(
            request, "tickets/queue_bulk_result.html", {"done": done, "failed": failed}
        )
        response["HX-Trigger"] = "queue-changed"
        return response
    if done:
        messages.success(request, f"{len(done)} ticket(s) changed.")
    for o in failed:
        messages.error(request, f"CL-{o.ticket_id}: {o.message}")
    target = request.POST.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("queue")
    return redirect(target)
