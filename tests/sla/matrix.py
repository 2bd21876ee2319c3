"""Requests of the SLA rows of docs/permissions.md (used by
tests/api/test_permissions_matrix.py)."""

from __future__ import annotations

import itertools

from caseline.sla.models import Calendar, Policy

_seq = itertools.count(1)


def _name(prefix: str) -> str:
    return f"{prefix}-{next(_seq)}"


def _calendar() -> Calendar:
    return Calendar.objects.create(
        name=_name("matrix-cal"), time_zone="Europe/Berlin", hours="Mon-Fri 09:00-17:00"
    )


def _policy() -> Policy:
    return Policy.objects.create(name=_name("Matrix policy"), position=900, severities=[4])


def b_list_calendars(w, col, foreign):
    return "get", "/api/v1/sla/calendars", None


def b_create_calendar(w, col, foreign):
    body = {"name": _name("cal"), "time_zone": "Europe/Berlin", "hours": "Mon-Fri 09:00-17:00"}
    return "post", "/api/v1/sla/calendars", body


def b_get_calendar(w, col, foreign):
    return "get", f"/api/v1/sla/calendars/{_calendar().pk}", None


def b_patch_calendar(w, col, foreign):
    return "patch", f"/api/v1/sla/calendars/{_calendar().pk}", {"hours": "Mon-Fri 08:00-16:00"}


def b_delete_calendar(w, col, foreign):
    return "delete", f"/api/v1/sla/calendars/{_calendar().pk}", None


def b_list_policies(w, col, foreign):
    return "get", "/api/v1/sla/policies", None


def b_create_policy(w, col, foreign):
    body = {
        "name": _name("Policy"),
        "severities": [4],
        "targets": [{"kind": "resolution", "seconds": 3600, "business": False}],
    }
    return "post", "/api/v1/sla/policies", body


def b_get_policy(w, col, foreign):
    return "get", f"/api/v1/sla/policies/{_policy().pk}", None


def b_patch_policy(w, col, foreign):
    return "patch", f"/api/v1/sla/policies/{_policy().pk}", {"position": 901}


def b_delete_policy(w, col, foreign):
    return "delete", f"/api/v1/sla/policies/{_policy().pk}", None


def b_ticket_sla(w, col, foreign):
    return "get", f"/api/v1/tickets/{w.ticket_a.id}/sla", None


BUILDERS = {
    "GET /sla/calendars": b_list_calendars,
    "POST /sla/calendars": b_create_calendar,
    "GET /sla/calendars/{id}": b_get_calendar,
    "PATCH /sla/calendars/{id}": b_patch_calendar,
    "DELETE /sla/calendars/{id}": b_delete_calendar,
    "GET /sla/policies": b_list_policies,
    "POST /sla/policies": b_create_policy,
    "GET /sla/policies/{id}": b_get_policy,
    "PATCH /sla/policies/{id}": b_patch_policy,
    "DELETE /sla/policies/{id}": b_delete_policy,
    "GET /tickets/{id}/sla": b_ticket_sla,
}
