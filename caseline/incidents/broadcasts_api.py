"""/api/v1 broadcasts, chat webhooks, the status page and its subscriptions
(docs/broadcasts.md).

Reading broadcasts and components needs ``view_all_tickets``; sending broadcasts and
configuring chat webhooks, components, an incident's status-page fields and its cadence
needs ``manage_incidents``. The status page and the subscription endpoints are public
(no token): ``GET /status``, ``POST /status/subscriptions`` (rate limited),
``POST /status/subscriptions/confirm`` and ``/unsubscribe`` (with the mailed token).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status

from caseline.api.core import page, require

from . import broadcasts, statuspage
from .models import Broadcast, ChatWebhook, StatusComponent

router = Router(tags=["broadcasts and status page"])

READ = "view_all_tickets"
MANAGE = "manage_incidents"


# --- schemas -------------------------------------------------------------------------------


class BroadcastIn(Schema):
    body: str
    next_update_at: datetime | None = None
    public: bool = False
    channels: list[str] | None = None


class DeliveryOut(Schema):
    channel: str
    recipient: str
    ticket_id: int | None
    status: str
    attempts: int
    last_error: str
    sent_at: datetime | None
    outbox_id: int | None


class BroadcastOut(Schema):
    id: int
    incident_id: int
    incident_reference: str
    body: str
    next_update_at: datetime
    public: bool
    channels: list[str]
    incident_status: str
    author_id: int | None
    author: str
    created_at: datetime
    ticket_count: int
    delivery: dict[str, int]
    deliveries: list[DeliveryOut] | None = None


class BroadcastList(Schema):
    results: list[BroadcastOut]
    meta: dict[str, Any]
    links: dict[str, Any]


class CadenceIn(Schema):
    every_seconds: int | None


class CadenceOut(Schema):
    incident_id: int
    every_seconds: int
    configured: int | None
    next_update_at: datetime | None


class StatusPageIn(Schema):
    public: bool | None = None
    public_title: str | None = None
    components: dict[str, str] | None = None


class StatusPageOut(Schema):
    incident_id: int
    public: bool
    public_title: str
    components: dict[str, str]


class ChatWebhookIn(Schema):
    name: str
    url: str
    active: bool = True


class ChatWebhookPatch(Schema):
    name: str | None = None
    url: str | None = None
    active: bool | None = None


class ChatWebhookOut(Schema):
    id: int
    name: str
    url: str
    active: bool
    created_at: datetime


class ComponentIn(Schema):
    name: str
    group: str = ""
    description: str = ""
    position: int = 0


class ComponentPatch(Schema):
    name: str | None = None
    group: str | None = None
    description: str | None = None
    position: int | None = None


class ComponentOut(Schema):
    id: int
    name: str
    group: str
    description: str
    position: int
    status: str
    updated_at: datetime


class SubscribeIn(Schema):
    email: str


class TokenIn(Schema):
    token: str


class MessageOut(Schema):
    detail: str


def broadcast_out(b: Broadcast, *, with_deliveries: bool = False) -> dict[str, Any]:
    return {
        "id": b.pk,
        "incident_id": b.incident_id,
        "incident_reference": f"INC-{b.incident_id}",
        "body": b.body,
        "next_update_at": b.next_update_at,
        "public": b.public,
        "channels": list(b.channels or []),
        "incident_status": b.incident_status,
        "author_id": b.author_id,
        "author": str(b.author) if b.author_id else "",
        "created_at": b.created_at,
        "ticket_count": b.ticket_count,
        "delivery": broadcasts.delivery_summary(b),
        "deliveries": broadcasts.deliveries(b) if with_deliveries else None,
    }


def _chat_out(h: ChatWebhook) -> dict[str, Any]:
    return {
        "id": h.pk,
        "name": h.name,
        "url": h.url,
        "active": h.active,
        "created_at": h.created_at,
    }


def _component_out(c: StatusComponent) -> dict[str, Any]:
    return {
        "id": c.pk,
        "name": c.name,
        "group": c.group,
        "description": c.description,
        "position": c.position,
        "status": c.status,
        "updated_at": c.updated_at,
    }


def _client(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"


# --- broadcasts ----------------------------------------------------------------------------


@router.post("/incidents/{incident_id}/broadcasts", response={201: BroadcastOut})
def send_broadcast(request: HttpRequest, incident_id: int, payload: BroadcastIn):
    """Send one update to every linked ticket (a public message emailed in its thread),
    the executive feed, chat webhooks and, when ``public``, the status page and its
    subscribers. The text always states ``next_update_at`` (default: now + cadence)."""
    user = require(request, MANAGE)
    b = broadcasts.send_broadcast(incident_id, user, **payload.dict())
    return Status(201, broadcast_out(b))


@router.get("/incidents/{incident_id}/broadcasts", response=BroadcastList)
def list_broadcasts(
    request: HttpRequest, incident_id: int, limit: int = 25, cursor: str | None = None
):
    """The incident's broadcasts, newest first, each with its delivery counts."""
    require(request, READ)
    inc = broadcasts.get_incident(incident_id)
    qs = Broadcast.objects.filter(incident=inc).select_related("author")
    return page(request, qs, broadcast_out, limit=limit, cursor=cursor)


@router.get("/incidents/{incident_id}/broadcasts/{broadcast_id}", response=BroadcastOut)
def get_broadcast(request: HttpRequest, incident_id: int, broadcast_id: int):
    """One broadcast with the delivery state per recipient and channel."""
    require(request, READ)
    return broadcast_out(broadcasts.get_broadcast(incident_id, broadcast_id), with_deliveries=True)


@router.get("/broadcasts", response=BroadcastList)
def executive_feed(request: HttpRequest, limit: int = 25, cursor: str | None = None):
    """The executive feed: every incident's broadcasts, newest first."""
    require(request, READ)
    qs = Broadcast.objects.select_related("author")
    return page(request, qs, broadcast_out, limit=limit, cursor=cursor)


@router.put("/incidents/{incident_id}/broadcast-cadence", response=CadenceOut)
def set_cadence(request: HttpRequest, incident_id: int, payload: CadenceIn):
    """Every how many seconds an update is due (0: off; null: the severity's default,
    1 h for Sev-1). The communications lead is reminded before, a miss is recorded."""
    user = require(request, MANAGE)
    inc = broadcasts.set_cadence(incident_id, user, every_seconds=payload.every_seconds)
    return {
        "incident_id": inc.pk,
        "every_seconds": broadcasts.cadence_seconds(inc),
        "configured": inc.update_every_seconds,
        "next_update_at": inc.next_update_at,
    }


@router.patch("/incidents/{incident_id}/status-page", response=StatusPageOut)
def set_status_page(request: HttpRequest, incident_id: int, payload: StatusPageIn):
    """Show the incident on the public status page (``public``, ``public_title``) and
    the impact it declares per component (``{"<component id>": "major_outage"}``)."""
    user = require(request, MANAGE)
    inc = statuspage.set_status_page(incident_id, user, **payload.dict(exclude_unset=True))
    impacts = {str(i.component_id): i.status for i in inc.impacts.all()}
    return {
        "incident_id": inc.pk,
        "public": inc.public,
        "public_title": inc.public_title,
        "components": impacts,
    }


# --- chat webhooks -------------------------------------------------------------------------


@router.get("/chat-webhooks", response=list[ChatWebhookOut])
def list_chat_webhooks(request: HttpRequest):
    """Chat webhooks (their URLs carry the channel's secret: managers only)."""
    require(request, MANAGE)
    return [_chat_out(h) for h in ChatWebhook.objects.all()]


@router.post("/chat-webhooks", response={201: ChatWebhookOut})
def create_chat_webhook(request: HttpRequest, payload: ChatWebhookIn):
    user = require(request, MANAGE)
    return Status(201, _chat_out(broadcasts.create_chat_webhook(user, **payload.dict())))


@router.patch("/chat-webhooks/{hook_id}", response=ChatWebhookOut)
def update_chat_webhook(request: HttpRequest, hook_id: int, payload: ChatWebhookPatch):
    user = require(request, MANAGE)
    data = payload.dict(exclude_unset=True)
    return _chat_out(broadcasts.update_chat_webhook(hook_id, user, **data))


@router.delete("/chat-webhooks/{hook_id}", response={204: None})
def delete_chat_webhook(request: HttpRequest, hook_id: int):
    user = require(request, MANAGE)
    broadcasts.delete_chat_webhook(hook_id, user)
    return Status(204, None)


# --- status components ---------------------------------------------------------------------


@router.get("/status/components", response=list[ComponentOut])
def list_components(request: HttpRequest):
    require(request, READ)
    return [_component_out(c) for c in StatusComponent.objects.all()]


@router.post("/status/components", response={201: ComponentOut})
def create_component(request: HttpRequest, payload: ComponentIn):
    user = require(request, MANAGE)
    return Status(201, _component_out(statuspage.create_component(user, **payload.dict())))


@router.patch("/status/components/{component_id}", response=ComponentOut)
def update_component(request: HttpRequest, component_id: int, payload: ComponentPatch):
    user = require(request, MANAGE)
    data = payload.dict(exclude_unset=True)
    return _component_out(statuspage.update_component(component_id, user, **data))


@router.delete("/status/components/{component_id}", response={204: None})
def delete_component(request: HttpRequest, component_id: int):
    user = require(request, MANAGE)
    statuspage.delete_component(component_id, user)
    return Status(204, None)


# --- the public status page ----------------------------------------------------------------


@router.get("/status", auth=None)
def public_status(request: HttpRequest):
    """The public status page as JSON (no token): overall status, components by group,
    current public incidents with their public updates, 14 days of history."""
    return statuspage.snapshot()


@router.post("/status/subscriptions", auth=None, response={202: MessageOut})
def subscribe(request: HttpRequest, payload: SubscribeIn):
    """Subscribe an email address (no token): a confirmation link is mailed first."""
    statuspage.subscribe(payload.email, client=_client(request))
    return Status(202, {"detail": "check your mailbox for the confirmation link"})


@router.post("/status/subscriptions/confirm", auth=None, response=MessageOut)
def confirm(request: HttpRequest, payload: TokenIn):
    statuspage.confirm(payload.token)
    return {"detail": "subscribed: you will receive our public status updates"}


@router.post("/status/subscriptions/unsubscribe", auth=None, response=MessageOut)
def unsubscribe(request: HttpRequest, payload: TokenIn):
    statuspage.unsubscribe(payload.token)
    return {"detail": "unsubscribed"}
