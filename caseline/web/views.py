from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from caseline import __version__
from caseline.timesource import now


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "web/home.html", {"version": __version__})


def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"ok": True, "version": __version__, "now": now().isoformat()})
