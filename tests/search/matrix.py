"""Requests of the search row of docs/permissions.md (used by
tests/api/test_permissions_matrix.py). A customer's "foreign" request asks for
organizations (other customers' directory data): refused with 403."""

from __future__ import annotations


def b_search(w, col, foreign):
    if foreign:
        return "get", "/api/v1/search?q=Globex&type=organization", None
    return "get", "/api/v1/search?q=Matrix+ticket", None


BUILDERS = {"GET /search": b_search}
