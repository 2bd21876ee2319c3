from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse

from caseline import __version__
from caseline.timesource import now

from . import queries
from .auth import staff_required


def home(request: HttpRequest) -> HttpResponse:
    """Staff who may work tickets land on their queue, customers on the portal; everyone
    else sees the links."""
    user = request.user
    if user.is_authenticated and user.is_customer:
        return redirect(reverse("portal:tickets"))
    if user.is_authenticated and user.has_perm("accounts.view_all_tickets"):
        return redirect(reverse("queue"))
    return render(request, "web/home.html", {"version": __version__})


def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"ok": True, "version": __version__, "now": now().isoformat()})


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h {rest // 60:02d}m" if hours else f"{rest // 60}m {rest % 60:02d}s"


@staff_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """The support dashboard: backlog by team and severity, SLA achievement this week,
    first reply time median, breaches today (charts drawn by Chart.js)."""
    data = queries.dashboard()
    chart = {
        "backlog": data["backlog"],
        "achievement": data["achievement"],
        "breaches": data["breaches_per_day"],
    }
    return render(
        request,
        "web/dashboard.html",
        {
            "nav_active": "dashboard",
            "d": data,
            "first_reply": _duration(data["first_reply_median"]),
            "chart": chart,
        },
    )
