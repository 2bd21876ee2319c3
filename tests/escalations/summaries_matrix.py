"""Requests of the executive-summary rows of docs/permissions.md (plugged into
tests/escalations/matrix.py, used by tests/api/test_permissions_matrix.py)."""

from __future__ import annotations

from caseline.escalations import summaries

from .matrix import _fresh, _shared


def _draft(w):
    esc = _fresh(w)
    return esc, summaries.generate(esc.pk, None)


def b_get_schedule(w, col, foreign):
    return "get", f"/api/v1/escalations/{_shared(w).pk}/summary-schedule", None


def b_put_schedule(w, col, foreign):
    return (
        "put",
        f"/api/v1/escalations/{_shared(w).pk}/summary-schedule",
        {"send_time": "17:00", "lead_minutes": 60},
    )


def b_notes(w, col, foreign):
    return "patch", f"/api/v1/escalations/{_shared(w).pk}/summary-notes", {"risks": "Vendor"}


def b_list(w, col, foreign):
    return "get", f"/api/v1/escalations/{_shared(w).pk}/summaries", None


def b_generate(w, col, foreign):
    return "post", f"/api/v1/escalations/{_fresh(w).pk}/summaries", None


def b_send(w, col, foreign):
    return "post", f"/api/v1/escalations/{_fresh(w).pk}/summaries/send", None


def b_get(w, col, foreign):
    esc, draft = _draft(w)
    return "get", f"/api/v1/escalations/{esc.pk}/summaries/{draft.pk}", None


def b_edit(w, col, foreign):
    esc, draft = _draft(w)
    return (
        "patch",
        f"/api/v1/escalations/{esc.pk}/summaries/{draft.pk}",
        {"text": "Edited for the board."},
    )


BUILDERS = {
    "GET /escalations/{id}/summary-schedule": b_get_schedule,
    "PUT /escalations/{id}/summary-schedule": b_put_schedule,
    "PATCH /escalations/{id}/summary-notes": b_notes,
    "GET /escalations/{id}/summaries": b_list,
    "POST /escalations/{id}/summaries": b_generate,
    "POST /escalations/{id}/summaries/send": b_send,
    "GET /escalations/{id}/summaries/{id}": b_get,
    "PATCH /escalations/{id}/summaries/{id}": b_edit,
}
