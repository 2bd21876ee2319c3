"""API shapes of webhooks and the outbox, and the functions that turn rows into them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema

from .models import OutboxMessage, Webhook


class PageMeta(Schema):
    has_more: bool
    next_cursor: str | None = None


class PageLinks(Schema):
    next: str | None = None


class WebhookIn(Schema):
    name: str
    url: str = Field(..., description="http:// or https:// URL that receives signed POSTs")
    event_types: list[str] = Field(
        ..., description='event types (caseline/events.py, docs/webhooks.md), or ["*"] for all'
    )
    secret: str | None = Field(
        None, description="HMAC-SHA256 signing secret (16-128 chars); generated when omitted"
    )
    active: bool = True


class WebhookPatch(Schema):
    name: str | None = None
    url: str | None = None
    event_types: list[str] | None = None
    secret: str | None = Field(None, description="set a new signing secret (not returned)")
    active: bool | None = None


class WebhookOut(Schema):
    id: int
    name: str
    url: str
    event_types: list[str]
    active: bool
    created_at: datetime
    created_by_id: int | None = None


class WebhookCreatedOut(WebhookOut):
    secret: str = Field(..., description="shown only once, in this response")


class WebhookPage(Schema):
    results: list[WebhookOut]
    meta: PageMeta
    links: PageLinks


class OutboxOut(Schema):
    id: int
    kind: str
    status: str
    idempotency_key: str
    event_type: str
    webhook_id: int | None = None
    subject_type: str
    subject_id: int | None = None
    attempts: int
    next_attempt_at: datetime
    last_error: str
    created_at: datetime
    sent_at: datetime | None = None


class OutboxPage(Schema):
    results: list[OutboxOut]
    meta: PageMeta
    links: PageLinks


def webhook_out(hook: Webhook) -> dict[str, Any]:
    return {
        "id": hook.pk,
        "name": hook.name,
        "url": hook.url,
        "event_types": list(hook.event_types or []),
        "active": hook.active,
        "created_at": hook.created_at,
        "created_by_id": hook.created_by_id,
    }


def outbox_out(row: OutboxMessage) -> dict[str, Any]:
    return {
        "id": row.pk,
        "kind": row.kind,
        "status": row.status,
        "idempotency_key": row.idempotency_key,
        "event_type": row.event_type,
        "webhook_id": row.webhook_id,
        "subject_type": row.subject_type,
        "subject_id": row.subject_id,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at,
        "last_error": row.last_error,
        "created_at": row.created_at,
        "sent_at": row.sent_at,
    }
