"""/api/v1/handoffs: follow-the-sun handoffs (docs/escalations.md, "Follow-the-sun handoffs").

Reading needs ``view_all_tickets`` (every staff role). Starting, handing and acknowledging
need ``view_all_tickets`` too, on your own handoffs (the holder starts, the giver hands,
the receiver acknowledges); ``manage_escalations`` acts on anyone's. The services refuse
the rest with 403.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from caseline.api.core import page, require
from caseline.tickets.schemas import TimelineEventOut, timeline_out

from . import handoffs
from .models import Handoff

router = Router(tags=["handoffs"])

READ = "view_all_tickets"


# --- shapes --------------------------------------------------------------------------------


class PersonOut(Schema):
    id: int
    name: str
    email: str
    region: str | None = None


class ItemOut(Schema):
    type: str = Field(description="escalation or ticket")
    id: int
    reference: str
    title: str
    status: str
    severity: int


class HandoffOut(Schema):
    id: int
    item: ItemOut
    status: str = Field(description="pending, handed, acknowledged, escalated, cancelled")
    source: str = Field(description="shift_end or manual")
    from_user: PersonOut | None
    from_region: str
    to_region: str
    suggested_receiver: PersonOut | None
    receiver: PersonOut | None
    note: str
    shift_end_at: datetime
    created_at: datetime
    note_due_at: datetime | None
    handed_at: datetime | None
    handed_by: PersonOut | None
    hand_count: int
    ack_due_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: PersonOut | None
    escalated_at: datetime | None
    escalated_stage: str = Field(description="note or ack (what was late); empty if never")
    cancelled_at: datetime | None
    cancel_reason: str
    can_hand: bool = Field(description="the caller may hand it (note + receiver)")
    can_acknowledge: bool = Field(description="the caller may acknowledge it")


class HandoffDetail(HandoffOut):
    receiver_options: list[PersonOut] = Field(
        description="who may receive it: staff of the next region or on its rotas"
    )
    history: list[TimelineEventOut]


class HandoffList(Schema):
    results: list[HandoffOut]
    meta: dict[str, Any]
    links: dict[str, Any]


class StartIn(Schema):
    escalation_id: int | None = Field(None, description="a live escalation, or")
    ticket_id: int | None = Field(None, description="an open ticket")
    receiver_id: int | None = Field(None, description="hand at once (with note)")
    note: str | None = None


class HandIn(Schema):
    receiver_id: int | None = Field(None, description="staff of the next region or its rota")
    note: str | None = Field(None, description="what the next region must know")


def _person(u) -> dict | None:
    if u is None:
        return None
    return {
        "id": u.pk,
        "name": str(u),
        "email": u.email,
        "region": u.region.code if getattr(u, "region_id", None) and u.region else None,
    }


def _item(h: Handoff) -> dict:
    if h.escalation_id:
        e = h.escalation
        return {
            "type": "escalation",
            "id": e.pk,
            "reference": e.reference,
            "title": e.title,
            "status": e.status,
            "severity": e.severity,
        }
    t = h.ticket
    return {
        "type": "ticket",
        "id": t.pk,
        "reference": t.reference,
        "title": t.subject,
        "status": t.status,
        "severity": t.severity,
    }


def handoff_out(h: Handoff, user) -> dict:
    return {
        "id": h.pk,
        "item": _item(h),
        "status": h.status,
        "source": h.source,
        "from_user": _person(h.from_user),
        "from_region": h.from_region.code,
        "to_region": h.to_region.code,
        "suggested_receiver": _person(h.suggested_receiver),
        "receiver": _person(h.receiver),
        "note": h.note,
        "shift_end_at": h.shift_end_at,
        "created_at": h.created_at,
        "note_due_at": h.note_due_at,
        "handed_at": h.handed_at,
        "handed_by": _person(h.handed_by),
        "hand_count": h.hand_count,
        "ack_due_at": h.ack_due_at,
        "acknowledged_at": h.acknowledged_at,
        "acknowledged_by": _person(h.acknowledged_by),
        "escalated_at": h.escalated_at,
        "escalated_stage": h.escalated_stage,
        "cancelled_at": h.cancelled_at,
        "cancel_reason": h.cancel_reason,
        "can_hand": handoffs.can_hand(user, h),
        "can_acknowledge": handoffs.can_acknowledge(user, h),
    }


def _detail(handoff_id: int, user) -> dict:
    h = handoffs.get_handoff(handoff_id)
    out = handoff_out(h, user)
    out["receiver_options"] = [_person(u) for u in handoffs.receiver_options(h.to_region)]
    out["history"] = [timeline_out(e) for e in handoffs.history(h)]
    return out


# --- endpoints -------------------------------------------------------------------------------


@router.get("/handoffs", response=HandoffList)
def list_handoffs(
    request: HttpRequest,
    mine: str | None = None,
    region: str | None = None,
    status: str | None = None,
    escalation: int | None = None,
    ticket: int | None = None,
    limit: int = 25,
    cursor: str | None = None,
):
    """Handoffs, newest first. ``mine=give`` (yours to hand over) or ``mine=acknowledge``
    (handed to you); ``region`` (code or id, from or to); ``status`` (``open`` or a comma
    list of pending, handed, acknowledged, escalated, cancelled); ``escalation``, ``ticket``."""
    user = require(request, READ)
    qs = handoffs.list_handoffs(
        user, mine=mine, region=region, status=status, escalation=escalation, ticket=ticket
    )
    return page(request, qs, lambda h: handoff_out(h, user), limit=limit, cursor=cursor)


@router.post("/handoffs", response={201: HandoffDetail})
def start_handoff(request: HttpRequest, payload: StartIn):
    """Start a handoff by hand before the shift end (the holder, or an escalation
    manager); with ``receiver_id`` and ``note`` it is handed at once. 409
    ``handoff_open`` when the item has an open one."""
    user = require(request, READ)
    h = handoffs.start(user, **payload.dict())
    return Status(201, _detail(h.pk, user))


@router.get("/handoffs/{handoff_id}", response=HandoffDetail)
def get_handoff(request: HttpRequest, handoff_id: int):
    """One handoff with who may receive it and its history."""
    user = require(request, READ)
    return _detail(handoff_id, user)


@router.post("/handoffs/{handoff_id}/hand", response=HandoffDetail)
def hand_handoff(request: HttpRequest, handoff_id: int, payload: HandIn):
    """The giver writes the note and names the receiver (422 naming the field; 409
    ``handoff_closed`` / ``item_closed``)."""
    user = require(request, READ)
    handoffs.hand(handoff_id, user, receiver_id=payload.receiver_id, note=payload.note)
    return _detail(handoff_id, user)


@router.post("/handoffs/{handoff_id}/acknowledge", response=HandoffDetail)
def acknowledge_handoff(request: HttpRequest, handoff_id: int):
    """The receiver acknowledges and becomes the holder (409 ``not_handed``,
    ``already_acknowledged``)."""
    user = require(request, READ)
    handoffs.acknowledge(handoff_id, user)
    return _detail(handoff_id, user)
