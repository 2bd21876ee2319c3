"""/api/v1 executive summaries of escalations (docs/escalations.md, "Executive summaries").

Reading needs ``view_all_tickets``; changing (schedule, notes, generate, edit, send) needs
``manage_escalations``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from caseline.api.core import page, require
from caseline.errors import ValidationFailed

from . import summaries
from .models import ExecutiveSummary, SummarySchedule

router = Router(tags=["escalations"])

READ = "view_all_tickets"
MANAGE = "manage_escalations"


# --- shapes --------------------------------------------------------------------------------


class ScheduleIn(Schema):
    active: bool = True
    send_time: str = Field("17:00", description="local time HH:MM")
    time_zone: str = Field("", description="IANA zone; blank: the owner's (region) zone")
    lead_minutes: int = Field(60, description="the draft is generated this long before")


class ScheduleOut(Schema):
    active: bool
    send_time: str
    time_zone: str
    zone: str = Field(description="the zone in effect")
    lead_minutes: int
    next_send_at: datetime | None
    next_draft_at: datetime | None


class NotesIn(Schema):
    next_steps: str | None = None
    risks: str | None = None


class NotesOut(Schema):
    next_steps: str
    risks: str


class EditIn(Schema):
    subject: str | None = None
    text: str | None = None


class Who(Schema):
    id: int
    name: str


class SummaryOut(Schema):
    id: int
    escalation_id: int
    status: str
    subject: str
    text: str
    html: str
    since: datetime | None
    generated_at: datetime
    edited_at: datetime | None
    edited_by: Who | None
    sent_at: datetime | None
    sent_by: Who | None
    recipients: list[str]
    scheduled: bool = Field(description="sent by the schedule (not by hand)")


class SummaryPage(Schema):
    results: list[SummaryOut]
    meta: dict[str, Any]
    links: dict[str, Any]


def _who(u) -> dict[str, Any] | None:
    return None if u is None else {"id": u.pk, "name": str(u)}


def summary_out(s: ExecutiveSummary) -> dict[str, Any]:
    return {
        "id": s.pk,
        "escalation_id": s.escalation_id,
        "status": s.status,
        "subject": s.subject,
        "text": s.text,
        "html": s.html,
        "since": s.since,
        "generated_at": s.generated_at,
        "edited_at": s.edited_at,
        "edited_by": _who(s.edited_by),
        "sent_at": s.sent_at,
        "sent_by": _who(s.sent_by),
        "recipients": s.recipients,
        "scheduled": s.occurrence is not None,
    }


def schedule_out(esc, sched: SummarySchedule | None) -> dict[str, Any]:
    from datetime import timedelta

    if sched is None:
        return {
            "active": False,
            "send_time": summaries.DEFAULT_SEND_TIME.strftime("%H:%M"),
            "time_zone": "",
            "zone": summaries.zone_for(esc),
            "lead_minutes": summaries.DEFAULT_LEAD_MINUTES,
            "next_send_at": None,
            "next_draft_at": None,
        }
    nxt = sched.next_send_at
    return {
        "active": sched.active,
        "send_time": sched.send_time.strftime("%H:%M"),
        "time_zone": sched.time_zone,
        "zone": summaries.zone_for(esc, sched),
        "lead_minutes": sched.lead_minutes,
        "next_send_at": nxt,
        "next_draft_at": nxt - timedelta(minutes=sched.lead_minutes) if nxt else None,
    }


# --- endpoints -----------------------------------------------------------------------------


@router.get("/escalations/{escalation_id}/summary-schedule", response=ScheduleOut)
def get_schedule(request: HttpRequest, escalation_id: int):
    require(request, READ)
    esc = summaries.get_escalation(escalation_id)
    return schedule_out(esc, summaries.schedule_of(esc))


@router.put("/escalations/{escalation_id}/summary-schedule", response=ScheduleOut)
def put_schedule(request: HttpRequest, escalation_id: int, payload: ScheduleIn):
    """Send the executive summary daily at a local time (default 17:00 in the owner's
    zone), its draft ``lead_minutes`` before; ``active: false`` stops it."""
    user = require(request, MANAGE)
    sched = summaries.set_schedule(escalation_id, user, **payload.dict())
    return schedule_out(summaries.get_escalation(escalation_id), sched)


@router.patch("/escalations/{escalation_id}/summary-notes", response=NotesOut)
def patch_notes(request: HttpRequest, escalation_id: int, payload: NotesIn):
    """The next steps and risks the summaries show."""
    user = require(request, MANAGE)
    esc = summaries.set_notes(escalation_id, user, **payload.dict())
    return {"next_steps": esc.next_steps, "risks": esc.risks}


@router.get("/escalations/{escalation_id}/summaries", response=SummaryPage)
def list_summaries(
    request: HttpRequest,
    escalation_id: int,
    status: str | None = None,
    limit: int = 25,
    cursor: str | None = None,
):
    """The draft and every sent summary, newest first (``status`` = draft or sent)."""
    require(request, READ)
    esc = summaries.get_escalation(escalation_id)
    qs = esc.executive_summaries.select_related("edited_by", "sent_by")
    if status is not None:
        if status not in ExecutiveSummary.Status.values:
            raise ValidationFailed("the request is not valid", fields={"status": "draft or sent"})
        qs = qs.filter(status=status)
    return page(request, qs, summary_out, limit=limit, cursor=cursor)


@router.post("/escalations/{escalation_id}/summaries", response={201: SummaryOut})
def generate_summary(request: HttpRequest, escalation_id: int):
    """Generate the draft now (replaces the current draft, edits included)."""
    user = require(request, MANAGE)
    return Status(201, summary_out(summaries.generate(escalation_id, user)))


@router.post("/escalations/{escalation_id}/summaries/send", response=SummaryOut)
def send_summary(request: HttpRequest, escalation_id: int):
    """Send the current draft now (generated first if there is none)."""
    user = require(request, MANAGE)
    return summary_out(summaries.send_now(escalation_id, user))


@router.get("/escalations/{escalation_id}/summaries/{summary_id}", response=SummaryOut)
def get_summary(request: HttpRequest, escalation_id: int, summary_id: int):
    require(request, READ)
    return summary_out(summaries.get_summary(escalation_id, summary_id))


@router.patch("/escalations/{escalation_id}/summaries/{summary_id}", response=SummaryOut)
def edit_summary(request: HttpRequest, escalation_id: int, summary_id: int, payload: EditIn):
    """Edit the draft before it is sent (409 ``summary_sent`` afterwards)."""
    user = require(request, MANAGE)
    return summary_out(summaries.edit_draft(escalation_id, summary_id, user, **payload.dict()))
