"""Rows of docs/permissions.md for /mail endpoints (merged into the matrix test)."""

from __future__ import annotations

import itertools

_seq = itertools.count(1)


def _box(**fields):
    from caseline.mail.models import Mailbox

    n = next(_seq)
    defaults = dict(name=f"Matrix box {n}", address=f"box{n}@matrix-mail.test", kind="smtp")
    defaults.update(fields)
    return Mailbox.objects.create(**defaults)


def _inbound(status="processed"):
    from caseline.mail.ingest import ingest

    n = next(_seq)
    raw = (
        f"From: Ann <ann{n}@acme-matrix.test>\r\nTo: x@matrix-mail.test\r\n"
        f"Subject: matrix {n}\r\nMessage-ID: <matrix-{n}@acme-matrix.test>\r\n\r\nhello\r\n"
    ).encode()
    if status == "quarantined":
        raw = b"\x00 not a message " + str(n).encode()
    return ingest(raw, _box()).inbound


def b_list_boxes(w, col, foreign):
    return "get", "/api/v1/mail/mailboxes", None


def b_create_box(w, col, foreign):
    n = next(_seq)
    return (
        "post",
        "/api/v1/mail/mailboxes",
        {"name": f"New box {n}", "address": f"new{n}@matrix-mail.test", "kind": "smtp"},
    )


def b_get_box(w, col, foreign):
    return "get", f"/api/v1/mail/mailboxes/{_box().id}", None


def b_patch_box(w, col, foreign):
    return "patch", f"/api/v1/mail/mailboxes/{_box().id}", {"active": False}


def b_delete_box(w, col, foreign):
    return "delete", f"/api/v1/mail/mailboxes/{_box().id}", None


def b_list_inbound(w, col, foreign):
    return "get", "/api/v1/mail/inbound?status=quarantined", None


def b_get_inbound(w, col, foreign):
    return "get", f"/api/v1/mail/inbound/{_inbound().id}", None


def b_raw(w, col, foreign):
    return "get", f"/api/v1/mail/inbound/{_inbound().id}/raw", None


def b_release(w, col, foreign):
    return "post", f"/api/v1/mail/inbound/{_inbound('quarantined').id}/release", None


def b_deliveries(w, col, foreign):
    return "get", f"/api/v1/mail/tickets/{w.ticket_a.id}/deliveries", None


BUILDERS = {
    "GET /mail/mailboxes": b_list_boxes,
    "POST /mail/mailboxes": b_create_box,
    "GET /mail/mailboxes/{id}": b_get_box,
    "PATCH /mail/mailboxes/{id}": b_patch_box,
    "DELETE /mail/mailboxes/{id}": b_delete_box,
    "GET /mail/inbound": b_list_inbound,
    "GET /mail/inbound/{id}": b_get_inbound,
    "GET /mail/inbound/{id}/raw": b_raw,
    "POST /mail/inbound/{id}/release": b_release,
    "GET /mail/tickets/{id}/deliveries": b_deliveries,
}
