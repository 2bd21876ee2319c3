"""Web views of broadcasts: the incident room's "Broadcasts" panel (compose, list with the
delivery state per recipient) and the executive feed (docs/broadcasts.md)."""

from __future__ import annotations

from datetime import UTC, datetime

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from caseline.errors import DomainError
from caseline.web.auth import staff_required

from . import broadcasts, statuspage
from .models import Broadcast, StatusComponent

PANEL_BROADCASTS = 10


def _panel_ctx(request: HttpRequest, incident_id: int, **extra) -> dict:
    inc = broadcasts.get_incident(incident_id)
    items = list(
        Broadcast.objects.filter(incident=inc)
        .select_related("author")
        .order_by("-created_at", "-id")[:PANEL_BROADCASTS]
    )
    show = request.GET.get("show")
    rows = []
    for b in items:
        detail = broadcasts.deliveries(b, limit=500) if show == str(b.pk) else None
        rows.append({"b": b, "summary": broadcasts.delivery_summary(b), "deliveries": detail})
    impacts = dict(inc.impacts.values_list("component_id", "status"))
    components = [{"c": c, "impact": impacts.get(c.pk, "")} for c in StatusComponent.objects.all()]
    return {
        "inc": inc,
        "rows": rows,
        "components": components,
        "impact_choices": [
            (v, label) for v, label in StatusComponent.Status.choices if v != "operational"
        ],
        "can_manage": request.user.has_perm("accounts.manage_incidents"),
        "channels": broadcasts.CHANNELS,
        "cadence": broadcasts.cadence_seconds(inc),
        "live": inc.status not in broadcasts.FINISHED,
        **extra,
    }


def _parse_local(value: str) -> datetime | str | None:
    """The form's ``datetime-local`` value, read as UTC (the form says so)."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value  # the service answers with the field error
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@staff_required
@require_http_methods(["GET", "POST"])
def incident_broadcasts_panel(request: HttpRequest, incident_id: int) -> HttpResponse:
    """GET: the panel; POST (manage_incidents): send a broadcast, then the panel again."""
    if request.method == "POST":
        if not request.user.has_perm("accounts.manage_incidents"):
            return HttpResponse("you may not send broadcasts", status=403)
        if request.POST.get("action") == "status_page":
            return _status_page(request, incident_id)
        form = {
            "body": request.POST.get("body", ""),
            "next_update_at": request.POST.get("next_update_at", ""),
            "public": request.POST.get("public") == "1",
            "channels": request.POST.getlist("channels"),
        }
        try:
            broadcasts.send_broadcast(
                incident_id,
                request.user,
                body=form["body"],
                next_update_at=_parse_local(form["next_update_at"]),
                public=form["public"],
                channels=form["channels"],
            )
        except DomainError as exc:
            ctx = _panel_ctx(request, incident_id, errors=exc.fields or {}, error=exc.message)
            ctx["form"] = form
            return render(request, "incidents/broadcast_panel.html", ctx, status=exc.status)
        return render(
            request,
            "incidents/broadcast_panel.html",
            _panel_ctx(request, incident_id, sent=True),
        )
    return render(request, "incidents/broadcast_panel.html", _panel_ctx(request, incident_id))


def _status_page(request: HttpRequest, incident_id: int) -> HttpResponse:
    """The panel's "status page" form: on or off, the public title, the impact per
    component (empty: not affected) — ``statuspage.set_status_page``."""
    components = {
        key.removeprefix("component_"): value
        for key, value in request.POST.items()
        if key.startswith("component_") and value
    }
    try:
        statuspage.set_status_page(
            incident_id,
            request.user,
            public=request.POST.get("public") == "1",
            public_title=request.POST.get("public_title", ""),
            components=components,
        )
    except DomainError as exc:
        ctx = _panel_ctx(request, incident_id, sp_errors=exc.fields or {}, sp_error=exc.message)
        return render(request, "incidents/broadcast_panel.html", ctx, status=exc.status)
    ctx = _panel_ctx(request, incident_id, sp_saved=True)
    return render(request, "incidents/broadcast_panel.html", ctx)


@staff_required
def executive_feed(request: HttpRequest) -> HttpResponse:
    """Every incident's broadcasts, newest first (``?format=json`` for JSON)."""
    before = request.GET.get("before")
    before_id = int(before) if before and before.isdigit() and len(before) < 19 else None
    items = list(broadcasts.feed(limit=50, before_id=before_id))
    if request.GET.get("format") == "json":
        return JsonResponse(
            {
                "results": [
                    {
                        "id": b.pk,
                        "incident": b.incident.reference,
                        "incident_id": b.incident_id,
                        "title": b.incident.title,
                        "severity": b.incident.severity,
                        "status": b.incident_status,
                        "body": b.body,
                        "next_update_at": b.next_update_at.isoformat(),
                        "public": b.public,
                        "tickets": b.ticket_count,
                        "author": str(b.author) if b.author_id else "",
                        "created_at": b.created_at.isoformat(),
                    }
                    for b in items
                ]
            }
        )
    return render(
        request,
        "incidents/feed.html",
        {
            "items": items,
            "next_before": items[-1].pk if len(items) == 50 else None,
            "nav_active": "incidents",
        },
    )
