"""Requests of the escalation rows of docs/permissions.md (used by
tests/api/test_permissions_matrix.py)."""

from __future__ import annotations

import itertools
from datetime import timedelta

from caseline.escalations import services
from caseline.escalations.models import Escalation
from caseline.timesource import now

_seq = itertools.count(1)


def _fresh(w) -> Escalation:
    """A new open escalation on a new ticket of the first organization (owner: the EM)."""
    t = w.ticket(w.org_a, w.contact_a)
    return services.open_escalation(None, ticket_ids=[t.pk], owner_id=w.users["EM"].pk)


def _shared(w) -> Escalation:
    esc = getattr(w, "_escalation", None)
    if esc is None:
        esc = w._escalation = _fresh(w)
    return esc


def b_list(w, col, foreign):
    _shared(w)
    return "get", "/api/v1/escalations?status=live", None


def b_create(w, col, foreign):
    t = w.ticket(w.org_a, w.contact_a)
    return "post", "/api/v1/escalations", {"ticket_ids": [t.pk], "owner_id": w.users["EM"].pk}


def b_from_ticket(w, col, foreign):
    t = w.ticket(w.org_a, w.contact_a)
    return "post", f"/api/v1/tickets/{t.pk}/escalation", {"owner_id": w.users["EM"].pk}


def b_get(w, col, foreign):
    return "get", f"/api/v1/escalations/{_shared(w).pk}", None


def b_timeline(w, col, foreign):
    return "get", f"/api/v1/escalations/{_shared(w).pk}/timeline", None


def b_patch(w, col, foreign):
    return "patch", f"/api/v1/escalations/{_shared(w).pk}", {"title": f"Renamed {next(_seq)}"}


def b_transition(w, col, foreign):
    return "post", f"/api/v1/escalations/{_fresh(w).pk}/transition", {"status": "active"}


def b_link(w, col, foreign):
    t = w.ticket(w.org_a, w.contact_a)
    return "post", f"/api/v1/escalations/{_shared(w).pk}/tickets", {"ticket_ids": [t.pk]}


def b_step(w, col, foreign):
    esc = _fresh(w)
    step = esc.steps.order_by("position").first()
    return "post", f"/api/v1/escalations/{esc.pk}/steps/{step.pk}", {"done": True}


def b_add_stakeholder(w, col, foreign):
    return (
        "post",
        f"/api/v1/escalations/{_fresh(w).pk}/stakeholders",
        {"contact_id": w.contact_a.pk, "role": "technical_lead"},
    )


def b_renounce(w, col, foreign):
    esc = _fresh(w)
    row = services.add_stakeholder(esc.pk, None, user_id=w.users["SE"].pk, role="sme")
    return "post", f"/api/v1/escalations/{esc.pk}/stakeholders/{row.pk}/renounce", None


def b_sme(w, col, foreign):
    return "get", f"/api/v1/escalations/{_shared(w).pk}/sme-suggestions", None


def b_cadence(w, col, foreign):
    return (
        "put",
        f"/api/v1/escalations/{_shared(w).pk}/cadence",
        {"kind": "internal_sync", "every_seconds": 86400},
    )


def b_update(w, col, foreign):
    esc = _fresh(w)
    services.set_cadence(esc.pk, None, kind="internal_sync", every_seconds=86400)
    return "post", f"/api/v1/escalations/{esc.pk}/updates", {"kind": "internal_sync"}


def _due(days: int = 2) -> str:
    return (now() + timedelta(days=days)).isoformat()


def b_add_commitment(w, col, foreign):
    return (
        "post",
        f"/api/v1/escalations/{_shared(w).pk}/commitments",
        {"what": "Hotfix", "to_whom": "Ann", "owner_id": w.users["SE"].pk, "due_at": _due()},
    )


def b_patch_commitment(w, col, foreign):
    c = services.add_commitment(
        _shared(w).pk, None, what="Patch", to_whom="Ann", owner_id=w.users["SE"].pk, due_at=_due()
    )
    return (
        "patch",
        f"/api/v1/escalation-commitments/{c.pk}",
        {"due_at": _due(3), "reason": "QA found a regression"},
    )


def _request(w, by):
    return services.request_escalation(
        by, organization_id=w.org_a.pk, business_impact="Go-live blocked", reason="Asked"
    )


def b_list_requests(w, col, foreign):
    return "get", "/api/v1/escalation-requests", None


def b_create_request(w, col, foreign):
    return (
        "post",
        "/api/v1/escalation-requests",
        {"organization_id": w.org_a.pk, "business_impact": "Outage", "reason": "CEO asked"},
    )


def b_get_request(w, col, foreign):
    # Anyone who may request sees their own request (others' answer 404).
    by = w.users[col] if col != "Cust" else w.users["SE"]
    return "get", f"/api/v1/escalation-requests/{_request(w, by).pk}", None


def b_accept(w, col, foreign):
    return (
        "post",
        f"/api/v1/escalation-requests/{_request(w, w.users['SE']).pk}/accept",
        {"owner_id": w.users["EM"].pk},
    )


def b_decline(w, col, foreign):
    return (
        "post",
        f"/api/v1/escalation-requests/{_request(w, w.users['SE']).pk}/decline",
        {"reason": "A lead handles it"},
    )


def b_list_types(w, col, foreign):
    return "get", "/api/v1/escalation-types", None


def b_create_type(w, col, foreign):
    return "post", "/api/v1/escalation-types", {"name": f"Type {next(_seq)}", "checklist": ["x"]}


def b_patch_type(w, col, foreign):
    t = services.create_type(None, name=f"Editable {next(_seq)}", checklist=["a"])
    return "patch", f"/api/v1/escalation-types/{t.pk}", {"checklist": ["a", "b"]}


BUILDERS = {
    "GET /escalations": b_list,
    "POST /escalations": b_create,
    "POST /tickets/{id}/escalation": b_from_ticket,
    "GET /escalations/{id}": b_get,
    "GET /escalations/{id}/timeline": b_timeline,
    "PATCH /escalations/{id}": b_patch,
    "POST /escalations/{id}/transition": b_transition,
    "POST /escalations/{id}/tickets": b_link,
    "POST /escalations/{id}/steps/{id}": b_step,
    "POST /escalations/{id}/stakeholders": b_add_stakeholder,
    "POST /escalations/{id}/stakeholders/{id}/renounce": b_renounce,
    "GET /escalations/{id}/sme-suggestions": b_sme,
    "PUT /escalations/{id}/cadence": b_cadence,
    "POST /escalations/{id}/updates": b_update,
    "POST /escalations/{id}/commitments": b_add_commitment,
    "PATCH /escalation-commitments/{id}": b_patch_commitment,
    "GET /escalation-requests": b_list_requests,
    "POST /escalation-requests": b_create_request,
    "GET /escalation-requests/{id}": b_get_request,
    "POST /escalation-requests/{id}/accept": b_accept,
    "POST /escalation-requests/{id}/decline": b_decline,
    "GET /escalation-types": b_list_types,
    "POST /escalation-types": b_create_type,
    "PATCH /escalation-types/{id}": b_patch_type,
}

# Calls and visits (tests/escalations/calls_matrix.py).
from .calls_matrix import BUILDERS as _CALLS_BUILDERS  # noqa: E402

BUILDERS.update(_CALLS_BUILDERS)

# Executive summaries (tests/escalations/summaries_matrix.py).
from .summaries_matrix import BUILDERS as _SUMMARY_BUILDERS  # noqa: E402

BUILDERS.update(_SUMMARY_BUILDERS)
