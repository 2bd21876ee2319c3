"""API shapes of the email channel, and the functions that turn rows into them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema

from .models import InboundMessage, Mailbox


class PageMeta(Schema):
    has_more: bool
    next_cursor: str | None = None


class PageLinks(Schema):
    next: str | None = None


class MailboxIn(Schema):
    name: str
    address: str = Field(..., description="customers write here; replies are sent from it")
    kind: str = Field("imap", description="imap (polled) or smtp (caseline smtpd)")
    team: int | None = None
    product_area: int | None = None
    imap_host: str = ""
    imap_port: int | None = None
    imap_security: str = Field("ssl", description="ssl, starttls or none")
    imap_user: str = ""
    imap_password: str = Field("", description="write-only: never returned")
    imap_folder: str = "INBOX"
    delete_after_import: bool = False
    send_acknowledgement: bool = True
    active: bool = True


class MailboxPatch(Schema):
    name: str | None = None
    address: str | None = None
    kind: str | None = None
    team: int | None = None
    product_area: int | None = None
    imap_host: str | None = None
    imap_port: int | None = None
    imap_security: str | None = None
    imap_user: str | None = None
    imap_password: str | None = None
    imap_folder: str | None = None
    delete_after_import: bool | None = None
    send_acknowledgement: bool | None = None
    active: bool | None = None


class MailboxOut(Schema):
    id: int
    name: str
    address: str
    kind: str
    team_id: int | None
    product_area_id: int | None
    imap_host: str
    imap_port: int | None
    imap_security: str
    imap_user: str
    imap_password_set: bool
    imap_folder: str
    delete_after_import: bool
    send_acknowledgement: bool
    active: bool
    last_polled_at: datetime | None
    last_error: str
    created_at: datetime


class MailboxPage(Schema):
    results: list[MailboxOut]
    meta: PageMeta
    links: PageLinks


class InboundOut(Schema):
    id: int
    mailbox_id: int
    status: str
    reason: str
    message_id: str
    dedupe_key: str
    sha256: str
    size: int
    source: str
    from_address: str
    subject: str
    ticket_id: int | None
    ticket_message_id: int | None
    threaded_by: str
    flags: list[str]
    received_at: datetime
    raw_url: str


class InboundDetailOut(InboundOut):
    full_text: str
    quoted_text: str
    signature: str


class InboundPage(Schema):
    results: list[InboundOut]
    meta: PageMeta
    links: PageLinks


class DeliveryOut(Schema):
    message_id: int
    outbox_id: int
    status: str = Field(..., description="pending, sent or failed (permanently)")
    attempts: int
    last_error: str
    next_attempt_at: datetime | None
    sent_at: datetime | None


class DeliveryList(Schema):
    results: list[DeliveryOut]


def mailbox_out(box: Mailbox) -> dict[str, Any]:
    return {
        "id": box.pk,
        "name": box.name,
        "address": box.address,
        "kind": box.kind,
        "team_id": box.team_id,
        "product_area_id": box.product_area_id,
        "imap_host": box.imap_host,
        "imap_port": box.imap_port,
        "imap_security": box.imap_security,
        "imap_user": box.imap_user,
        "imap_password_set": bool(box.imap_password),
        "imap_folder": box.imap_folder,
        "delete_after_import": box.delete_after_import,
        "send_acknowledgement": box.send_acknowledgement,
        "active": box.active,
        "last_polled_at": box.last_polled_at,
        "last_error": box.last_error,
        "created_at": box.created_at,
    }


def inbound_out(row: InboundMessage, *, detail: bool = False) -> dict[str, Any]:
    out = {
        "id": row.pk,
        "mailbox_id": row.mailbox_id,
        "status": row.status,
        "reason": row.reason,
        "message_id": row.message_id,
        "dedupe_key": row.dedupe_key,
        "sha256": row.sha256,
        "size": row.size,
        "source": row.source,
        "from_address": row.from_address,
        "subject": row.subject,
        "ticket_id": row.ticket_id,
        "ticket_message_id": row.ticket_message_id,
        "threaded_by": row.threaded_by,
        "flags": list(row.flags or []),
        "received_at": row.received_at,
        "raw_url": f"/api/v1/mail/inbound/{row.pk}/raw",
    }
    if detail:
        out.update(full_text=row.full_text, quoted_text=row.quoted_text, signature=row.signature)
    return out
