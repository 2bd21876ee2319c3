"""Requests of the multi-customer detection rows of docs/permissions.md (used by
tests/api/test_permissions_matrix.py)."""

from __future__ import annotations

import itertools

from caseline.incidents.models import DetectionMatch, DetectionProposal

_seq = itertools.count(1)


def _proposal(w) -> DetectionProposal:
    """A fresh open proposal: a new ticket of the first organization that looks like one
    of the second (rows written directly: the matrix checks permissions, not detection)."""
    a = w.ticket(w.org_a, w.contact_a)
    b = w.ticket(w.org_b, w.contact_b)
    p = DetectionProposal.objects.create(ticket=a, organizations_count=1, top_score=0.5)
    DetectionMatch.objects.create(proposal=p, ticket=b, score=0.5)
    return p


def _shared(w) -> DetectionProposal:
    p = getattr(w, "_detection_proposal", None)
    if p is None:
        p = w._detection_proposal = _proposal(w)
    return p


def b_similar(w, col, foreign):
    return "get", f"/api/v1/tickets/{w.ticket_a.id}/similar", None


def b_list(w, col, foreign):
    _shared(w)
    return "get", "/api/v1/detection-proposals", None


def b_get(w, col, foreign):
    return "get", f"/api/v1/detection-proposals/{_shared(w).pk}", None


def b_link(w, col, foreign):
    return "post", f"/api/v1/detection-proposals/{_proposal(w).pk}/link", {"severity": 3}


def b_dismiss(w, col, foreign):
    return "post", f"/api/v1/detection-proposals/{_proposal(w).pk}/dismiss", None


BUILDERS = {
    "GET /tickets/{id}/similar": b_similar,
    "GET /detection-proposals": b_list,
    "GET /detection-proposals/{id}": b_get,
    "POST /detection-proposals/{id}/link": b_link,
    "POST /detection-proposals/{id}/dismiss": b_dismiss,
}
