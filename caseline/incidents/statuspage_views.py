"""The public status page (no login): ``/status/``, ``/status.json``, the subscription
form and the confirm / unsubscribe links (docs/broadcasts.md)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from caseline.errors import DomainError

from . import statuspage

LABELS = {
    "operational": "Operational",
    "degraded": "Degraded performance",
    "partial_outage": "Partial outage",
    "major_outage": "Major outage",
}


def _ctx(**extra) -> dict:
    data = statuspage.snapshot()
    return {"page": data, "labels": LABELS, "overall": LABELS[data["status"]], **extra}


def status_page(request: HttpRequest) -> HttpResponse:
    response = render(request, "incidents/status.html", _ctx())
    response["Cache-Control"] = f"public, max-age={statuspage.cache_seconds()}"
    return response


def status_json(request: HttpRequest) -> HttpResponse:
    response = JsonResponse(statuspage.snapshot())
    response["Cache-Control"] = f"public, max-age={statuspage.cache_seconds()}"
    response["Access-Control-Allow-Origin"] = "*"
    return response


@require_http_methods(["POST"])
def status_subscribe(request: HttpRequest) -> HttpResponse:
    email = request.POST.get("email", "")
    try:
        statuspage.subscribe(email, client=request.META.get("REMOTE_ADDR", "") or "unknown")
    except DomainError as exc:
        return render(
            request,
            "incidents/status.html",
            _ctx(subscribe_error=exc.message, email=email),
            status=exc.status,
        )
    return render(request, "incidents/status.html", _ctx(subscribed=True))


@csrf_exempt  # the token in the link is the authorisation
@require_http_methods(["GET", "POST"])
def status_confirm(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button (mail scanners follow links; only the POST confirms)."""
    if request.method == "GET":
        return render(request, "incidents/status_link.html", {"action": "confirm"})
    try:
        statuspage.confirm(token)
    except DomainError as exc:
        return render(
            request, "incidents/status_link.html", {"error": exc.message}, status=exc.status
        )
    return render(request, "incidents/status_link.html", {"done": "confirm"})


@csrf_exempt  # the token in the link is the authorisation (one-click from mail clients)
@require_http_methods(["GET", "POST"])
def status_unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button; POST (also RFC 8058 one-click from the mail client) unsubscribes."""
    if request.method == "GET":
        return render(request, "incidents/status_link.html", {"action": "unsubscribe"})
    try:
        statuspage.unsubscribe(token)
    except DomainError as exc:
        return render(
            request, "incidents/status_link.html", {"error": exc.message}, status=exc.status
        )
    return render(request, "incidents/status_link.html", {"done": "unsubscribe"})
