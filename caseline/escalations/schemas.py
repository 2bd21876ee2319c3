"""API shapes of escalations (never mixed with the models)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema

from .models import (
    Cadence,
    CadenceEntry,
    ChecklistStep,
    Commitment,
    Escalation,
    EscalationRequest,
    EscalationType,
    Stakeholder,
)

# --- input ---------------------------------------------------------------------------------


class EscalationIn(Schema):
    ticket_ids: list[int] = Field(default_factory=list, description="tickets of one organization")
    organization_id: int | None = Field(None, description="default: the tickets' organization")
    title: str = ""
    severity: int | None = Field(None, description="1-4; default: the tickets' highest")
    business_impact: str = ""
    owner_id: int | None = Field(
        None, description="an escalation manager; default: the caller if they are one"
    )
    type_id: int | None = Field(None, description="escalation type; default: Standard")


class FromTicketIn(Schema):
    ticket_ids: list[int] = Field(default_factory=list, description="more tickets to link")
    title: str = ""
    severity: int | None = None
    business_impact: str = ""
    owner_id: int | None = None
    type_id: int | None = None


class EscalationPatch(Schema):
    title: str | None = None
    severity: int | None = None
    business_impact: str | None = None
    owner_id: int | None = None


class TransitionIn(Schema):
    status: str = Field(description="open, active, monitoring, resolved, closed")
    root_cause: str | None = Field(None, description="required to resolve")
    note: str = ""


class TicketsIn(Schema):
    ticket_ids: list[int]


class RequestIn(Schema):
    organization_id: int | None = None
    ticket_ids: list[int] = Field(default_factory=list)
    severity: int = 2
    business_impact: str
    reason: str = Field(description="why an escalation is needed")


class AcceptIn(Schema):
    owner_id: int | None = None
    type_id: int | None = None
    title: str = ""


class DeclineIn(Schema):
    reason: str


class TypeIn(Schema):
    name: str
    description: str = ""
    checklist: list[str] = Field(default_factory=list)


class TypePatch(Schema):
    name: str | None = None
    description: str | None = None
    checklist: list[str] | None = None
    active: bool | None = None


class StepIn(Schema):
    done: bool = True


class StakeholderIn(Schema):
    role: str = Field(
        description="customer: decision_maker, executive_sponsor, technical_lead, day_to_day; "
        "internal: sme, engineering_lead, field_leadership, executive_sponsor"
    )
    contact_id: int | None = None
    user_id: int | None = None
    involvement: str = Field("", description='committed involvement, e.g. "4 h/day"')
    approved_by_id: int | None = None


class CadenceIn(Schema):
    kind: str = Field(description="customer_update or internal_sync")
    every_seconds: int
    business: bool = False
    calendar: str = Field("24x7", description="stored calendar name for business time")
    reminder_seconds: int = 1800
    active: bool = True


class UpdateIn(Schema):
    kind: str = Field(description="customer_update or internal_sync")
    text: str = ""
    send: bool = Field(False, description="send a customer update (see via)")
    via: str = Field(
        "stakeholders",
        description="stakeholders: email the customer stakeholders; tickets: a public reply "
        "on each linked ticket (its email thread; counts on the tickets' SLA clocks)",
    )


class CommitmentIn(Schema):
    what: str
    to_whom: str
    owner_id: int
    due_at: datetime


class CommitmentPatch(Schema):
    due_at: datetime | None = None
    reason: str | None = Field(None, description="required when due_at moves")
    status: str | None = None
    what: str | None = None


# --- output --------------------------------------------------------------------------------


class Person(Schema):
    id: int
    name: str
    email: str


class StepOut(Schema):
    id: int
    position: int
    title: str
    done_at: datetime | None
    done_by: Person | None


class StakeholderOut(Schema):
    id: int
    side: str
    role: str
    contact_id: int | None
    user_id: int | None
    name: str
    involvement: str
    approved_by: Person | None
    assumed_at: datetime
    renounced_at: datetime | None


class EntryOut(Schema):
    id: int
    kind: str
    cycle: int
    due_at: datetime | None
    at: datetime
    by_id: int | None
    text: str
    next_due_at: datetime | None
    delivery: dict[str, Any] = Field(
        default_factory=dict, description="where a sent customer update went"
    )


class CadenceOut(Schema):
    id: int
    kind: str
    every_seconds: int
    business: bool
    calendar: str
    reminder_seconds: int
    active: bool
    next_due_at: datetime | None
    last_done_at: datetime | None
    missed_count: int
    recent: list[EntryOut] = Field(default_factory=list)


class SlipOut(Schema):
    id: int
    old_due_at: datetime
    new_due_at: datetime
    reason: str
    by_id: int | None
    at: datetime
    draft_notice: str


class CommitmentOut(Schema):
    id: int
    escalation_id: int
    what: str
    to_whom: str
    owner: Person
    due_at: datetime
    status: str
    overdue: bool
    created_at: datetime
    done_at: datetime | None
    slips: list[SlipOut]


class EscalationSummary(Schema):
    id: int
    reference: str
    title: str
    organization_id: int
    organization: str
    severity: int
    status: str
    source: str
    owner: Person | None
    acting_owner: Person | None = Field(
        None, description="who holds it on this shift (the receiver of the last hand-off)"
    )
    next_steps: str = ""
    risks: str = ""
    opened_at: datetime
    updated_at: datetime


class EscalationOut(EscalationSummary):
    type_id: int | None
    business_impact: str
    root_cause: str
    opened_by_id: int | None
    active_at: datetime | None
    monitoring_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    allowed_transitions: list[str]
    ticket_ids: list[int]
    checklist: list[StepOut]
    stakeholders: list[StakeholderOut] = Field(description="every role, with its history")
    cadences: list[CadenceOut]
    commitments: list[CommitmentOut]


class EscalationList(Schema):
    results: list[EscalationSummary]
    meta: dict[str, Any]
    links: dict[str, Any]


class RequestOut(Schema):
    id: int
    organization_id: int
    organization: str
    ticket_ids: list[int]
    severity: int
    business_impact: str
    reason: str
    status: str
    requested_by: Person
    requested_at: datetime
    decided_by: Person | None
    decided_at: datetime | None
    decline_reason: str
    escalation_id: int | None


class RequestList(Schema):
    results: list[RequestOut]
    meta: dict[str, Any]
    links: dict[str, Any]


class TypeOut(Schema):
    id: int
    name: str
    description: str
    checklist: list[str]
    active: bool


class TypeList(Schema):
    results: list[TypeOut]


class Suggestion(Schema):
    user_id: int
    name: str
    email: str
    product_area_id: int
    product_area: str
    position: int


class SuggestionsOut(Schema):
    at: datetime
    suggestions: list[Suggestion]
    skipped: list[dict[str, Any]]


# --- serializers -----------------------------------------------------------------------------


def person(u) -> dict[str, Any] | None:
    if u is None:
        return None
    return {"id": u.pk, "name": str(u), "email": u.email}


def step_out(s: ChecklistStep) -> dict[str, Any]:
    return {
        "id": s.pk,
        "position": s.position,
        "title": s.title,
        "done_at": s.done_at,
        "done_by": person(s.done_by),
    }


def stakeholder_out(s: Stakeholder) -> dict[str, Any]:
    return {
        "id": s.pk,
        "side": s.side,
        "role": s.role,
        "contact_id": s.contact_id,
        "user_id": s.user_id,
        "name": str(s.contact or s.user),
        "involvement": s.involvement,
        "approved_by": person(s.approved_by),
        "assumed_at": s.assumed_at,
        "renounced_at": s.renounced_at,
    }


def entry_out(e: CadenceEntry) -> dict[str, Any]:
    return {
        "id": e.pk,
        "kind": e.kind,
        "cycle": e.cycle,
        "due_at": e.due_at,
        "at": e.at,
        "by_id": e.by_id,
        "text": e.text,
        "next_due_at": e.next_due_at,
        "delivery": e.delivery,
    }


def cadence_out(c: Cadence, entries: list[CadenceEntry] | None = None) -> dict[str, Any]:
    return {
        "id": c.pk,
        "kind": c.kind,
        "every_seconds": c.every_seconds,
        "business": c.business,
        "calendar": c.calendar,
        "reminder_seconds": c.reminder_seconds,
        "active": c.active,
        "next_due_at": c.next_due_at,
        "last_done_at": c.last_done_at,
        "missed_count": c.missed_count,
        "recent": [entry_out(e) for e in entries or []],
    }


def commitment_out(c: Commitment) -> dict[str, Any]:
    return {
        "id": c.pk,
        "escalation_id": c.escalation_id,
        "what": c.what,
        "to_whom": c.to_whom,
        "owner": person(c.owner),
        "due_at": c.due_at,
        "status": c.status,
        "overdue": c.overdue_at is not None and c.status == Commitment.Status.OPEN,
        "created_at": c.created_at,
        "done_at": c.done_at,
        "slips": [
            {
                "id": s.pk,
                "old_due_at": s.old_due_at,
                "new_due_at": s.new_due_at,
                "reason": s.reason,
                "by_id": s.by_id,
                "at": s.at,
                "draft_notice": s.draft_notice,
            }
            for s in c.slips.all()
        ],
    }


def summary_out(e: Escalation) -> dict[str, Any]:
    return {
        "id": e.pk,
        "reference": e.reference,
        "title": e.title,
        "organization_id": e.organization_id,
        "organization": e.organization.name,
        "severity": e.severity,
        "status": e.status,
        "source": e.source,
        "owner": person(e.owner),
        "acting_owner": person(e.acting_owner),
        "next_steps": e.next_steps,
        "risks": e.risks,
        "opened_at": e.opened_at,
        "updated_at": e.updated_at,
    }


def escalation_out(e: Escalation, entries: dict[int, list] | None = None) -> dict[str, Any]:
    from .services import TRANSITIONS

    entries = entries or {}
    return {
        **summary_out(e),
        "type_id": e.type_id,
        "business_impact": e.business_impact,
        "root_cause": e.root_cause,
        "opened_by_id": e.opened_by_id,
        "active_at": e.active_at,
        "monitoring_at": e.monitoring_at,
        "resolved_at": e.resolved_at,
        "closed_at": e.closed_at,
        "allowed_transitions": list(TRANSITIONS[e.status]),
        "ticket_ids": sorted(t.pk for t in e.tickets.all()),
        "checklist": [step_out(s) for s in e.steps.all()],
        "stakeholders": [stakeholder_out(s) for s in e.stakeholders.all()],
        "cadences": [cadence_out(c, entries.get(c.pk)) for c in e.cadences.all()],
        "commitments": [commitment_out(c) for c in e.commitments.all()],
    }


def request_out(r: EscalationRequest) -> dict[str, Any]:
    return {
        "id": r.pk,
        "organization_id": r.organization_id,
        "organization": r.organization.name,
        "ticket_ids": sorted(t.pk for t in r.tickets.all()),
        "severity": r.severity,
        "business_impact": r.business_impact,
        "reason": r.reason,
        "status": r.status,
        "requested_by": person(r.requested_by),
        "requested_at": r.requested_at,
        "decided_by": person(r.decided_by),
        "decided_at": r.decided_at,
        "decline_reason": r.decline_reason,
        "escalation_id": r.escalation_id,
    }


def type_out(t: EscalationType) -> dict[str, Any]:
    return {
        "id": t.pk,
        "name": t.name,
        "description": t.description,
        "checklist": list(t.checklist or []),
        "active": t.active,
    }
