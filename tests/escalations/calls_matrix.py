"""Requests of the calls-and-visits rows of docs/permissions.md (merged into
tests/escalations/matrix.py's BUILDERS for tests/api/test_permissions_matrix.py)."""

from __future__ import annotations

import itertools
from datetime import timedelta

from caseline.escalations import calls
from caseline.escalations.models import Call
from caseline.timesource import now

from .matrix import _fresh, _shared

_seq = itertools.count(1)


def _when(hours: int = 48) -> tuple[str, str]:
    start = now() + timedelta(hours=hours)
    return start.isoformat(), (start + timedelta(hours=1)).isoformat()


def _call(w) -> Call:
    start, end = _when()
    return calls.schedule_call(
        _shared(w).pk,
        None,
        title=f"Status call {next(_seq)}",
        starts_at=start,
        ends_at=end,
        attendees=[{"contact_id": w.contact_a.pk}, {"user_id": w.users["SE"].pk}],
    )


def b_list_calls(w, col, foreign):
    _call(w)
    return "get", f"/api/v1/escalations/{_shared(w).pk}/calls", None


def b_schedule(w, col, foreign):
    start, end = _when()
    return (
        "post",
        f"/api/v1/escalations/{_fresh(w).pk}/calls",
        {
            "title": "Customer call",
            "starts_at": start,
            "ends_at": end,
            "attendees": [{"contact_id": w.contact_a.pk}],
        },
    )


def b_get_call(w, col, foreign):
    return "get", f"/api/v1/escalation-calls/{_call(w).pk}", None


def b_call_ics(w, col, foreign):
    return "get", f"/api/v1/escalation-calls/{_call(w).pk}/invite.ics", None


def b_patch_call(w, col, foreign):
    start, end = _when(72)
    return "patch", f"/api/v1/escalation-calls/{_call(w).pk}", {"starts_at": start, "ends_at": end}


def b_held(w, col, foreign):
    call = _call(w)
    Call.objects.filter(pk=call.pk).update(starts_at=now() - timedelta(minutes=5))
    return "post", f"/api/v1/escalation-calls/{call.pk}/held", {"notes": "Went well"}


def b_cancel(w, col, foreign):
    return "post", f"/api/v1/escalation-calls/{_call(w).pk}/cancel", {"reason": "Not needed"}


def b_add_item(w, col, foreign):
    due, _ = _when(96)
    return (
        "post",
        f"/api/v1/escalation-calls/{_call(w).pk}/action-items",
        {"what": "Send logs", "owner_id": w.users["SE"].pk, "due_at": due},
    )


def b_patch_item(w, col, foreign):
    due, _ = _when(96)
    item = calls.add_action_item(
        _call(w).pk, None, what="Send logs", owner_id=w.users["SE"].pk, due_at=due
    )
    return "patch", f"/api/v1/escalation-action-items/{item.pk}", {"done": True}


BUILDERS = {
    "GET /escalations/{id}/calls": b_list_calls,
    "POST /escalations/{id}/calls": b_schedule,
    "GET /escalation-calls/{id}": b_get_call,
    "GET /escalation-calls/{id}/invite.ics": b_call_ics,
    "PATCH /escalation-calls/{id}": b_patch_call,
    "POST /escalation-calls/{id}/held": b_held,
    "POST /escalation-calls/{id}/cancel": b_cancel,
    "POST /escalation-calls/{id}/action-items": b_add_item,
    "PATCH /escalation-action-items/{id}": b_patch_item,
}
