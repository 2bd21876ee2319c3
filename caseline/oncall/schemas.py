"""API shapes of the on-call rota."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from ninja import Field, Schema

from .models import Layer, Override, Schedule


class RestrictionIO(Schema):
    days: list[int] = Field(description="weekdays, 0 = Monday ... 6 = Sunday")
    start: str = Field(description="HH:MM in the schedule's time zone")
    end: str = Field(description="HH:MM; at or before start = crosses midnight")


class ScheduleIn(Schema):
    region: str = Field(description="region code (AMER, EMEA, APAC) or id")
    name: str
    time_zone: str | None = Field(None, description="IANA zone; default: the region's")
    description: str = ""
    active: bool = True


class SchedulePatch(Schema):
    region: str | None = None
    name: str | None = None
    time_zone: str | None = None
    description: str | None = None
    active: bool | None = None


class LayerIn(Schema):
    name: str = "Layer"
    position: int | None = Field(None, description="higher wins; default: on top")
    start_date: date = Field(description="first shift's date (schedule zone)")
    handoff_time: str = Field(description="HH:MM local handoff time")
    rotation_days: int = Field(7, description="length of one shift in days")
    member_ids: list[int] = Field(default_factory=list, description="staff ids, in turn order")
    restrictions: list[RestrictionIO] = Field(default_factory=list)
    ends_at: datetime | None = None


class LayerPatch(Schema):
    name: str | None = None
    position: int | None = None
    start_date: date | None = None
    handoff_time: str | None = None
    rotation_days: int | None = None
    member_ids: list[int] | None = None
    restrictions: list[RestrictionIO] | None = None
    ends_at: datetime | None = None


class OverrideIn(Schema):
    user_id: int
    start: datetime
    end: datetime
    reason: str = ""


class PersonOut(Schema):
    id: int
    name: str
    email: str


class LayerOut(Schema):
    id: int
    name: str
    position: int
    start_date: date
    handoff_time: str
    rotation_days: int
    members: list[PersonOut]
    restrictions: list[RestrictionIO]
    ends_at: datetime | None


class OverrideOut(Schema):
    id: int
    schedule_id: int
    user: PersonOut
    start: datetime
    end: datetime
    reason: str


class ScheduleOut(Schema):
    id: int
    region: str
    name: str
    time_zone: str
    description: str
    active: bool
    layers: list[LayerOut]
    overrides: list[OverrideOut] = Field(description="current and future overrides")


class ScheduleList(Schema):
    results: list[ScheduleOut]


class ShiftOut(Schema):
    start: datetime
    end: datetime
    users: list[PersonOut]
    source: str = Field(description='"override", "layer:<id>" or "" (nobody on duty)')


class ShiftList(Schema):
    schedule_id: int
    start: datetime
    end: datetime
    results: list[ShiftOut]


class RegionDutyOut(Schema):
    region: str
    on_duty: list[PersonOut]
    on_shift_by_calendar: bool | None = Field(
        None, description="the region's shift calendar is open (null: no calendar known)"
    )


class OnDutyOut(Schema):
    at: datetime
    regions: list[RegionDutyOut]
    next_region_on_shift: str | None = Field(
        None, description="with ?region=: the next region of the chain with someone on duty"
    )


def person_out(u) -> dict[str, Any]:
    return {"id": u.pk, "name": str(u), "email": u.email}


def _restrictions(items) -> list[dict[str, Any]]:
    return [{"days": r["days"], "start": r["start"][:5], "end": r["end"][:5]} for r in items or []]


def layer_out(la: Layer) -> dict[str, Any]:
    return {
        "id": la.pk,
        "name": la.name,
        "position": la.position,
        "start_date": la.start_date,
        "handoff_time": la.handoff_time.strftime("%H:%M"),
        "rotation_days": la.rotation_days,
        "members": [
            person_out(m.user) for m in la.memberships.select_related("user").order_by("position")
        ],
        "restrictions": _restrictions(la.restrictions),
        "ends_at": la.ends_at,
    }


def override_out(o: Override) -> dict[str, Any]:
    return {
        "id": o.pk,
        "schedule_id": o.schedule_id,
        "user": person_out(o.user),
        "start": o.start,
        "end": o.end,
        "reason": o.reason,
    }


def schedule_out(s: Schedule, *, since: datetime) -> dict[str, Any]:
    return {
        "id": s.pk,
        "region": s.region.code,
        "name": s.name,
        "time_zone": s.time_zone,
        "description": s.description,
        "active": s.active,
        "layers": [layer_out(la) for la in s.layers.order_by("position", "id")],
        "overrides": [
            override_out(o)
            for o in s.overrides.filter(end__gt=since).select_related("user").order_by("start")
        ],
    }


class FeedOut(Schema):
    url: str
    path: str
