"""/api/v1 endpoints of the SLA engine: stored calendars, policies, a ticket's clocks.

Reading calendars and policies needs ``view_all_tickets`` (every staff role); changing
them ``manage_sla`` (Lead, SM, Admin). ``GET /tickets/{id}/sla`` is for staff who
may see the ticket.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status

from caseline.api.core import page, require, require_staff
from caseline.errors import NotFound

from . import config, services
from .models import Calendar, Policy

router = Router(tags=["sla"])

READ, WRITE = "view_all_tickets", "manage_sla"


# --- schemas -----------------------------------------------------------------------------------


class CalendarIn(Schema):
    name: str
    description: str = ""
    kind: str = "hours"
    time_zone: str = "UTC"
    hours: str = "Mon-Fri 08:00-17:00"
    holidays: list[Any] = []
    closed_dates: list[str] = []
    extra_open: list[dict[str, str]] = []
    members: list[str] = []


class CalendarPatch(Schema):
    name: str | None = None
    description: str | None = None
    kind: str | None = None
    time_zone: str | None = None
    hours: str | None = None
    holidays: list[Any] | None = None
    closed_dates: list[str] | None = None
    extra_open: list[dict[str, str]] | None = None
    members: list[str] | None = None


class CalendarOut(Schema):
    id: int
    name: str
    description: str
    kind: str
    time_zone: str
    hours: str
    holidays: list[dict[str, Any]]
    closed_dates: list[str]
    extra_open: list[dict[str, str]]
    members: list[str]
    version: int
    updated_at: datetime


class CalendarPage(Schema):
    results: list[CalendarOut]
    meta: dict[str, Any]
    links: dict[str, Any]


class RuleIO(Schema):
    order: int = 0
    threshold: str
    value: int
    action: str
    params: dict[str, Any] = {}
    active: bool = True


class TargetIO(Schema):
    kind: str
    seconds: int
    business: bool = True
    calendar: str | None = None
    after_hours_calendar: str | None = None
    rules: list[RuleIO] = []


class PolicyIn(Schema):
    name: str
    description: str = ""
    position: int = 100
    active: bool = True
    role: str = "support_engineer"
    tiers: list[str] = []
    severities: list[int] = []
    channels: list[str] = []
    product_areas: list[int] = []
    pause_statuses: list[str] = ["pending"]
    targets: list[TargetIO] = []


class PolicyPatch(Schema):
    name: str | None = None
    description: str | None = None
    position: int | None = None
    active: bool | None = None
    role: str | None = None
    tiers: list[str] | None = None
    severities: list[int] | None = None
    channels: list[str] | None = None
    product_areas: list[int] | None = None
    pause_statuses: list[str] | None = None
    targets: list[TargetIO] | None = None


class TargetOut(TargetIO):
    id: int


class PolicyOut(Schema):
    id: int
    name: str
    description: str
    position: int
    active: bool
    role: str
    tiers: list[str]
    severities: list[int]
    channels: list[str]
    product_areas: list[int]
    pause_statuses: list[str]
    targets: list[TargetOut]
    updated_at: datetime


class PolicyPage(Schema):
    results: list[PolicyOut]
    meta: dict[str, Any]
    links: dict[str, Any]


class ClockOut(Schema):
    key: str
    role: str
    target: str
    state: str
    cycle: int
    seconds: int
    calendar: str
    after_hours: bool
    started_at: datetime
    due_at: datetime | None
    elapsed: int
    remaining: int
    paused_at: datetime | None
    fulfilled_at: datetime | None
    breached_at: datetime | None


class TicketSlaOut(Schema):
    ticket_id: int
    next_deadline: datetime | None
    clocks: list[ClockOut]


# --- serializers ---------------------------------------------------------------------------------


def calendar_out(c: Calendar) -> dict[str, Any]:
    return {
        "id": c.pk,
        "name": c.name,
        "description": c.description,
        "kind": c.kind,
        "time_zone": c.time_zone,
        "hours": c.hours,
        "holidays": c.holidays,
        "closed_dates": c.closed_dates,
        "extra_open": c.extra_open,
        "members": sorted(m.name for m in c.members.all()),
        "version": c.version,
        "updated_at": c.updated_at,
    }


def policy_out(p: Policy) -> dict[str, Any]:
    targets = []
    for t in p.targets.select_related("calendar", "after_hours_calendar").order_by("kind"):
        targets.append(
            {
                "id": t.pk,
                "kind": t.kind,
                "seconds": t.seconds,
                "business": t.business,
                "calendar": t.calendar.name if t.calendar_id else None,
                "after_hours_calendar": (
                    t.after_hours_calendar.name if t.after_hours_calendar_id else None
                ),
                "rules": [
                    {
                        "order": r.order,
                        "threshold": r.threshold,
                        "value": r.value,
                        "action": r.action,
                        "params": r.params,
                        "active": r.active,
                    }
                    for r in t.rules.all()
                ],
            }
        )
    return {
        "id": p.pk,
        "name": p.name,
        "description": p.description,
        "position": p.position,
        "active": p.active,
        "role": p.role,
        "tiers": list(p.tiers),
        "severities": list(p.severities),
        "channels": list(p.channels),
        "product_areas": list(p.product_areas),
        "pause_statuses": list(p.pause_statuses),
        "targets": targets,
        "updated_at": p.updated_at,
    }


def _calendar(cal_id: int) -> Calendar:
    cal = Calendar.objects.filter(pk=cal_id).first()
    if cal is None:
        raise NotFound(f"no calendar with id {cal_id}")
    return cal


def _policy(policy_id: int) -> Policy:
    p = Policy.objects.filter(pk=policy_id).first()
    if p is None:
        raise NotFound(f"no SLA policy with id {policy_id}")
    return p


def _targets(items) -> list[dict[str, Any]]:
    return [t.dict() if hasattr(t, "dict") else t for t in items]


# --- calendars -----------------------------------------------------------------------------------


@router.get("/sla/calendars", response=CalendarPage)
def list_calendars(request: HttpRequest, limit: int = 25, cursor: str | None = None):
    require(request, READ)
    qs = Calendar.objects.prefetch_related("members")
    return page(request, qs, calendar_out, limit=limit, cursor=cursor, descending=False)


@router.post("/sla/calendars", response={201: CalendarOut})
def create_calendar(request: HttpRequest, payload: CalendarIn):
    user = require(request, WRITE)
    data = payload.dict()
    if data["kind"] != Calendar.Kind.UNION:
        data.pop("members")
    return Status(201, calendar_out(config.create_calendar(user, **data)))


@router.get("/sla/calendars/{cal_id}", response=CalendarOut)
def get_calendar(request: HttpRequest, cal_id: int):
    require(request, READ)
    return calendar_out(_calendar(cal_id))


@router.patch("/sla/calendars/{cal_id}", response=CalendarOut)
def update_calendar(request: HttpRequest, cal_id: int, payload: CalendarPatch):
    user = require(request, WRITE)
    cal = config.update_calendar(_calendar(cal_id), user, **payload.dict(exclude_unset=True))
    return calendar_out(cal)


@router.delete("/sla/calendars/{cal_id}", response={204: None})
def delete_calendar(request: HttpRequest, cal_id: int):
    user = require(request, WRITE)
    config.delete_calendar(_calendar(cal_id), user)
    return Status(204, None)


# --- policies ------------------------------------------------------------------------------------


@router.get("/sla/policies", response=PolicyPage)
def list_policies(request: HttpRequest, limit: int = 25, cursor: str | None = None):
    """Policies by id; each carries its evaluation ``position``."""
    require(request, READ)
    return page(
        request, Policy.objects.all(), policy_out, limit=limit, cursor=cursor, descending=False
    )


@router.post("/sla/policies", response={201: PolicyOut})
def create_policy(request: HttpRequest, payload: PolicyIn):
    user = require(request, WRITE)
    data = payload.dict()
    data["targets"] = _targets(payload.targets)
    return Status(201, policy_out(config.create_policy(user, **data)))


@router.get("/sla/policies/{policy_id}", response=PolicyOut)
def get_policy(request: HttpRequest, policy_id: int):
    require(request, READ)
    return policy_out(_policy(policy_id))


@router.patch("/sla/policies/{policy_id}", response=PolicyOut)
def update_policy(request: HttpRequest, policy_id: int, payload: PolicyPatch):
    """Partial update; ``targets``, when given, replaces every target (and its rules)."""
    user = require(request, WRITE)
    data = payload.dict(exclude_unset=True)
    if payload.targets is not None:
        data["targets"] = _targets(payload.targets)
    return policy_out(config.update_policy(_policy(policy_id), user, **data))


@router.delete("/sla/policies/{policy_id}", response={204: None})
def delete_policy(request: HttpRequest, policy_id: int):
    user = require(request, WRITE)
    config.delete_policy(_policy(policy_id), user)
    return Status(204, None)


# --- a ticket's clocks ---------------------------------------------------------------------------


@router.get("/tickets/{ticket_id}/sla", response=TicketSlaOut)
def ticket_sla(request: HttpRequest, ticket_id: int):
    """Every SLA clock of the ticket: target, state, due time, elapsed and remaining
    business seconds (negative remaining = over the target)."""
    user = require_staff(request)
    from caseline.tickets.queries import visible_ticket

    ticket = visible_ticket(user, ticket_id)
    from .models import TicketSla

    sla = TicketSla.objects.filter(ticket_id=ticket.pk).first()
    clocks = services.clocks_of(ticket.pk)
    return {
        "ticket_id": ticket.pk,
        "next_deadline": sla.next_deadline if sla else None,
        "clocks": [
            {
                "key": c.key,
                "role": c.role,
                "target": c.kind,
                "state": c.state,
                "cycle": c.cycle,
                "seconds": c.seconds,
                "calendar": c.calendar,
                "after_hours": c.after_hours,
                "started_at": c.started_at,
                "due_at": c.due_at,
                "elapsed": c.elapsed,
                "remaining": c.remaining,
                "paused_at": c.paused_at,
                "fulfilled_at": c.fulfilled_at,
                "breached_at": c.breached_at,
            }
            for c in clocks
        ],
    }
