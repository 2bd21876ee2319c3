"""/api/v1 endpoints for webhooks and the outbox (permission ``manage_webhooks``).

Handlers parse input, check the permission, call one service or query, and return.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Status

from caseline.api.core import page, require
from caseline.errors import ValidationFailed

from . import services
from .models import OutboxMessage, Webhook
from .schemas import (
    OutboxOut,
    OutboxPage,
    WebhookCreatedOut,
    WebhookIn,
    WebhookOut,
    WebhookPage,
    WebhookPatch,
    outbox_out,
    webhook_out,
)

router = Router(tags=["webhooks"])

PERM = "manage_webhooks"
OUTBOX_FIELDS = (
    "id",
    "kind",
    "status",
    "idempotency_key",
    "event_type",
    "webhook_id",
    "subject_type",
    "subject_id",
    "attempts",
    "next_attempt_at",
    "last_error",
    "created_at",
    "sent_at",
)


@router.get("/webhooks", response=WebhookPage)
def list_webhooks(
    request: HttpRequest, active: bool | None = None, limit: int = 25, cursor: str | None = None
):
    require(request, PERM)
    qs = Webhook.objects.all()
    if active is not None:
        qs = qs.filter(active=active)
    return page(request, qs, webhook_out, limit=limit, cursor=cursor)


@router.post("/webhooks", response={201: WebhookCreatedOut})
def create_webhook(request: HttpRequest, payload: WebhookIn):
    user = require(request, PERM)
    hook, secret = services.create_webhook(actor=user, **payload.dict())
    return Status(201, {**webhook_out(hook), "secret": secret})


@router.get("/webhooks/{webhook_id}", response=WebhookOut)
def get_webhook(request: HttpRequest, webhook_id: int):
    require(request, PERM)
    return webhook_out(services.get_webhook(webhook_id))


@router.patch("/webhooks/{webhook_id}", response=WebhookOut)
def update_webhook(request: HttpRequest, webhook_id: int, payload: WebhookPatch):
    user = require(request, PERM)
    fields = payload.dict(exclude_unset=True)
    for name in ("name", "url", "event_types", "active"):
        if name in fields and fields[name] is None:
            raise ValidationFailed(f"{name} cannot be null", fields={name: "cannot be null"})
    hook = services.update_webhook(webhook_id, actor=user, **fields)
    return webhook_out(hook)


@router.delete("/webhooks/{webhook_id}", response={204: None})
def delete_webhook(request: HttpRequest, webhook_id: int):
    user = require(request, PERM)
    services.delete_webhook(webhook_id, actor=user)
    return Status(204, None)


@router.get("/webhooks/{webhook_id}/deliveries", response=OutboxPage)
def list_deliveries(
    request: HttpRequest,
    webhook_id: int,
    status: str | None = None,
    limit: int = 25,
    cursor: str | None = None,
):
    require(request, PERM)
    services.get_webhook(webhook_id)
    qs = OutboxMessage.objects.filter(webhook_id=webhook_id).only(*OUTBOX_FIELDS)
    if status:
        qs = qs.filter(status=_status(status))
    return page(request, qs, outbox_out, limit=limit, cursor=cursor)


@router.post("/webhooks/{webhook_id}/test", response={202: OutboxOut})
def test_webhook(request: HttpRequest, webhook_id: int):
    user = require(request, PERM)
    row = services.send_test_ping(webhook_id, actor=user)
    row.refresh_from_db()
    return Status(202, outbox_out(row))


def _status(value: str) -> str:
    if value not in OutboxMessage.Status.values:
        raise ValidationFailed(
            f"status must be one of {', '.join(OutboxMessage.Status.values)}",
            fields={"status": "unknown status"},
        )
    return value


@router.get("/outbox", response=OutboxPage, tags=["outbox"])
def list_outbox(
    request: HttpRequest,
    status: str | None = None,
    kind: str | None = None,
    limit: int = 25,
    cursor: str | None = None,
):
    require(request, PERM)
    qs = OutboxMessage.objects.only(*OUTBOX_FIELDS)
    if status:
        qs = qs.filter(status=_status(status))
    if kind:
        if kind not in OutboxMessage.Kind.values:
            raise ValidationFailed("kind must be email or webhook", fields={"kind": "unknown"})
        qs = qs.filter(kind=kind)
    return page(request, qs, outbox_out, limit=limit, cursor=cursor)


@router.post("/outbox/{row_id}/retry", response=OutboxOut, tags=["outbox"])
def retry_outbox(request: HttpRequest, row_id: int):
    user = require(request, PERM)
    return outbox_out(services.retry_outbox(row_id, actor=user))
