"""/api/v1 calls and visits of escalations (docs/escalations.md "Calls and visits").

Reading needs ``view_all_tickets``; every change needs ``manage_escalations``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema, Status

from caseline.api.core import require

from . import calls
from .models import ActionItem, Call, CallAttendee

router = Router(tags=["escalation calls"])

READ = "view_all_tickets"
MANAGE = "manage_escalations"


# --- schemas --------------------------------------------------------------------------------


class AttendeeIn(Schema):
    contact_id: int | None = Field(None, description="a contact of the escalation's organization")
    user_id: int | None = Field(None, description="an active staff user")
    email: str | None = Field(None, description="any other address")
    name: str = ""


class CallIn(Schema):
    kind: str = Field("customer_call", description="customer_call, internal_call, onsite_visit")
    title: str
    starts_at: datetime
    ends_at: datetime
    attendees: list[AttendeeIn]
    agenda: str = ""
    location: str = Field("", description="address, room or dial-in")


class CallPatch(Schema):
    kind: str | None = None
    title: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    attendees: list[AttendeeIn] | None = Field(None, description="the full new list")
    agenda: str | None = None
    location: str | None = None
    notes: str | None = None


class HeldIn(Schema):
    notes: str | None = None


class CancelIn(Schema):
    reason: str = ""


class ActionItemIn(Schema):
    what: str
    owner_id: int
    due_at: datetime


class ActionItemPatch(Schema):
    what: str | None = None
    owner_id: int | None = None
    due_at: datetime | None = None
    done: bool | None = None


class AttendeeOut(Schema):
    id: int
    side: str = Field(description="customer, internal or guest")
    contact_id: int | None
    user_id: int | None
    email: str
    name: str


class ActionItemOut(Schema):
    id: int
    call_id: int
    escalation_id: int
    what: str
    owner_id: int
    owner: str
    due_at: datetime
    created_at: datetime
    done: bool
    done_at: datetime | None
    done_by_id: int | None
    overdue_at: datetime | None


class CallOut(Schema):
    id: int
    escalation_id: int
    kind: str
    title: str
    agenda: str
    location: str
    starts_at: datetime
    ends_at: datetime
    status: str
    notes: str
    uid: str
    sequence: int
    created_by_id: int | None
    created_at: datetime
    updated_at: datetime
    held_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str
    attendees: list[AttendeeOut]
    action_items: list[ActionItemOut]


class CallList(Schema):
    results: list[CallOut]


def attendee_out(a: CallAttendee) -> dict[str, Any]:
    return {
        "id": a.pk,
        "side": a.side,
        "contact_id": a.contact_id,
        "user_id": a.user_id,
        "email": a.email,
        "name": a.name,
    }


def item_out(i: ActionItem) -> dict[str, Any]:
    return {
        "id": i.pk,
        "call_id": i.call_id,
        "escalation_id": i.escalation_id,
        "what": i.what,
        "owner_id": i.owner_id,
        "owner": str(i.owner),
        "due_at": i.due_at,
        "created_at": i.created_at,
        "done": i.done_at is not None,
        "done_at": i.done_at,
        "done_by_id": i.done_by_id,
        "overdue_at": i.overdue_at,
    }


def call_out(c: Call) -> dict[str, Any]:
    return {
        "id": c.pk,
        "escalation_id": c.escalation_id,
        "kind": c.kind,
        "title": c.title,
        "agenda": c.agenda,
        "location": c.location,
        "starts_at": c.starts_at,
        "ends_at": c.ends_at,
        "status": c.status,
        "notes": c.notes,
        "uid": c.uid,
        "sequence": c.sequence,
        "created_by_id": c.created_by_id,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
        "held_at": c.held_at,
        "cancelled_at": c.cancelled_at,
        "cancel_reason": c.cancel_reason,
        "attendees": [attendee_out(a) for a in c.attendees.all()],
        "action_items": [item_out(i) for i in c.action_items.all()],
    }


def _attendees(items: list[AttendeeIn] | None) -> list[dict[str, Any]] | None:
    return None if items is None else [a.dict() for a in items]


# --- endpoints ------------------------------------------------------------------------------


@router.get("/escalations/{escalation_id}/calls", response=CallList)
def list_calls(request: HttpRequest, escalation_id: int):
    """The escalation's calls and visits, by start time, with attendees and action items."""
    require(request, READ)
    return {"results": [call_out(c) for c in calls.calls_of(escalation_id)]}


@router.post("/escalations/{escalation_id}/calls", response={201: CallOut})
def schedule_call(request: HttpRequest, escalation_id: int, payload: CallIn):
    """Schedule a call or visit; every attendee gets an invitation email with an ``.ics``."""
    user = require(request, MANAGE)
    data = payload.dict()
    data["attendees"] = _attendees(payload.attendees)
    call = calls.schedule_call(escalation_id, user, **data)
    return Status(201, call_out(calls.get_call(call.pk)))


@router.get("/escalation-calls/{call_id}", response=CallOut)
def get_call(request: HttpRequest, call_id: int):
    require(request, READ)
    return call_out(calls.get_call(call_id))


@router.get("/escalation-calls/{call_id}/invite.ics")
def call_ics(request: HttpRequest, call_id: int):
    """The call's calendar file as it stands (``METHOD:CANCEL`` once cancelled)."""
    require(request, READ)
    call = calls.get_call(call_id)
    resp = HttpResponse(calls.current_ics(call), content_type="text/calendar; charset=utf-8")
    resp["Content-Disposition"] = f'attachment; filename="{calls.ics_filename(call)}"'
    return resp


@router.patch("/escalation-calls/{call_id}", response=CallOut)
def patch_call(request: HttpRequest, call_id: int, payload: CallPatch):
    """Change a call: moving ``starts_at`` / ``ends_at`` (or the place, agenda, attendees)
    raises its SEQUENCE and sends the updated invitation; ``notes`` change silently."""
    user = require(request, MANAGE)
    changes = payload.dict(exclude_unset=True)
    if "attendees" in changes:
        changes["attendees"] = _attendees(payload.attendees)
    calls.update_call(call_id, user, **changes)
    return call_out(calls.get_call(call_id))


@router.post("/escalation-calls/{call_id}/held", response=CallOut)
def mark_held(request: HttpRequest, call_id: int, payload: HeldIn):
    """The call took place (409 ``call_not_started`` before its start)."""
    user = require(request, MANAGE)
    calls.mark_held(call_id, user, notes=payload.notes)
    return call_out(calls.get_call(call_id))


@router.post("/escalation-calls/{call_id}/cancel", response=CallOut)
def cancel_call(request: HttpRequest, call_id: int, payload: CancelIn):
    """Cancel: the attendees get a ``METHOD:CANCEL`` invitation."""
    user = require(request, MANAGE)
    calls.cancel_call(call_id, user, reason=payload.reason)
    return call_out(calls.get_call(call_id))


@router.post("/escalation-calls/{call_id}/action-items", response={201: ActionItemOut})
def add_action_item(request: HttpRequest, call_id: int, payload: ActionItemIn):
    user = require(request, MANAGE)
    item = calls.add_action_item(call_id, user, **payload.dict())
    return Status(201, item_out(calls.get_action_item(item.pk)))


@router.patch("/escalation-action-items/{item_id}", response=ActionItemOut)
def patch_action_item(request: HttpRequest, item_id: int, payload: ActionItemPatch):
    """Tick ``done`` (who and when kept), move ``due_at`` (re-arms the reminder), change
    ``what`` or ``owner_id``."""
    user = require(request, MANAGE)
    calls.update_action_item(item_id, user, **payload.dict(exclude_unset=True))
    return item_out(calls.get_action_item(item_id))
