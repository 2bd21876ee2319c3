"""Requests of the ETA rows of docs/permissions.md (used by
tests/api/test_permissions_matrix.py)."""

from __future__ import annotations


def b_ticket_etas(w, col, foreign):
    ticket = w.ticket_b if foreign else w.ticket_a
    return "get", f"/api/v1/tickets/{ticket.id}/etas", None


def b_misses(w, col, foreign):
    return "get", f"/api/v1/eta/misses?agent={w.users['SE'].id}", None


BUILDERS = {
    "GET /tickets/{id}/etas": b_ticket_etas,
    "GET /eta/misses": b_misses,
}
