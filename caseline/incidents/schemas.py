"""API shapes of the incident core (never mixed with the models)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema

from .models import Incident, IncidentRole, IncidentTask, OwnerHandoff, Page, TimelineEntry

# --- input ---------------------------------------------------------------------------------


class DeclareIn(Schema):
    title: str = Field("", description="default: the first ticket's subject")
    severity: int = Field(1, description="1 (critical) to 4")
    summary: str = ""
    ticket_ids: list[int] = Field(default_factory=list)
    product_area_ids: list[int] = Field(default_factory=list)
    organization_ids: list[int] = Field(default_factory=list)
    incident_manager_id: int | None = Field(
        None, description="default: the caller when they run incidents"
    )


class FromTicketIn(Schema):
    title: str = ""
    severity: int | None = Field(None, description="default 1")
    summary: str = ""
    ticket_ids: list[int] = Field(default_factory=list, description="more tickets to link")
    product_area_ids: list[int] = Field(default_factory=list)
    organization_ids: list[int] = Field(default_factory=list)
    incident_manager_id: int | None = None


class IncidentPatch(Schema):
    title: str | None = None
    summary: str | None = None
    severity: int | None = None
    organization_ids: list[int] | None = None
    product_area_ids: list[int] | None = None


class TicketsIn(Schema):
    ticket_ids: list[int]


class TransitionIn(Schema):
    status: str = Field(description="investigating, identified, monitoring, resolved, closed")
    note: str = ""


class RoleIn(Schema):
    role: str = Field(description="incident_manager, communications_lead, sme")
    user_id: int
    note: str = ""


class OwnerIn(Schema):
    user_id: int
    note: str = ""


class TaskIn(Schema):
    title: str
    assignee_id: int | None = None
    due_at: datetime | None = None


class TaskPatch(Schema):
    title: str | None = None
    assignee_id: int | None = None
    due_at: datetime | None = None
    done: bool | None = None


class NoteIn(Schema):
    text: str
    pinned: bool = False


class PinIn(Schema):
    pinned: bool = True


class PagingTargetIn(Schema):
    name: str
    url: str
    secret: str | None = Field(None, description="16-128 characters; generated when absent")


# --- output --------------------------------------------------------------------------------


class IncidentSummary(Schema):
    id: int
    reference: str
    title: str
    severity: int
    status: str
    source: str
    incident_manager: dict[str, Any] | None
    case_owner: dict[str, Any] | None
    declared_at: datetime
    updated_at: datetime


class IncidentList(Schema):
    results: list[IncidentSummary]
    meta: dict[str, Any]
    links: dict[str, Any]


class IncidentOut(IncidentSummary):
    summary: str
    declared_by: dict[str, Any] | None
    identified_at: datetime | None
    monitoring_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    allowed_transitions: list[str]
    tickets: list[dict[str, Any]]
    organizations: list[dict[str, Any]]
    product_areas: list[dict[str, Any]]
    roles: list[dict[str, Any]]
    pending_handoff: dict[str, Any] | None
    owner_target: dict[str, Any] | None
    tasks: list[dict[str, Any]]
    pages: list[dict[str, Any]]


class RoleOut(Schema):
    id: int
    role: str
    user: dict[str, Any] | None
    assumed_at: datetime
    renounced_at: datetime | None
    note: str


class TaskOut(Schema):
    id: int
    title: str
    assignee: dict[str, Any] | None
    due_at: datetime | None
    done: bool
    done_at: datetime | None


class EntryOut(Schema):
    id: int
    kind: str
    event_type: str
    text: str
    author: dict[str, Any] | None
    at: datetime
    pinned: bool


class EntryList(Schema):
    results: list[EntryOut]
    meta: dict[str, Any]
    links: dict[str, Any]


class PageOut(Schema):
    id: int
    chain: int
    level: int
    reason: str
    recipient: dict[str, Any] | None
    state: str
    sent_at: datetime
    ack_due_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: dict[str, Any] | None
    escalated_at: datetime | None


class PagingTargetOut(Schema):
    id: int
    name: str
    url: str
    active: bool
    secret: str | None = None


# --- serializers -----------------------------------------------------------------------------


def person(user) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.pk, "name": str(user), "email": user.email}


def summary_out(inc: Incident) -> dict[str, Any]:
    return {
        "id": inc.pk,
        "reference": inc.reference,
        "title": inc.title,
        "severity": inc.severity,
        "status": inc.status,
        "source": inc.source,
        "incident_manager": person(inc.incident_manager),
        "case_owner": person(inc.case_owner),
        "declared_at": inc.declared_at,
        "updated_at": inc.updated_at,
    }


def role_out(r: IncidentRole) -> dict[str, Any]:
    return {
        "id": r.pk,
        "role": r.role,
        "user": person(r.user),
        "assumed_at": r.assumed_at,
        "renounced_at": r.renounced_at,
        "note": r.note,
    }


def handoff_out(h: OwnerHandoff | None) -> dict[str, Any] | None:
    if h is None:
        return None
    return {
        "id": h.pk,
        "state": h.state,
        "to": person(h.to_user),
        "from": person(h.from_user),
        "requested_at": h.requested_at,
        "acknowledged_at": h.acknowledged_at,
    }


def task_out(t: IncidentTask) -> dict[str, Any]:
    return {
        "id": t.pk,
        "title": t.title,
        "assignee": person(t.assignee),
        "due_at": t.due_at,
        "done": t.done,
        "done_at": t.done_at,
    }


def entry_out(e: TimelineEntry) -> dict[str, Any]:
    return {
        "id": e.pk,
        "kind": e.kind,
        "event_type": e.event_type,
        "text": e.text,
        "author": person(e.author),
        "at": e.at,
        "pinned": e.pinned,
    }


def page_out(p: Page) -> dict[str, Any]:
    return {
        "id": p.pk,
        "chain": p.chain,
        "level": p.level,
        "reason": p.reason,
        "recipient": person(p.recipient),
        "state": p.state,
        "sent_at": p.sent_at,
        "ack_due_at": p.ack_due_at,
        "acknowledged_at": p.acknowledged_at,
        "acknowledged_by": person(p.acknowledged_by),
        "escalated_at": p.escalated_at,
    }


def incident_out(inc: Incident) -> dict[str, Any]:
    from . import queries
    from .services import TRANSITIONS

    return {
        **summary_out(inc),
        "summary": inc.summary,
        "declared_by": person(inc.declared_by),
        "identified_at": inc.identified_at,
        "monitoring_at": inc.monitoring_at,
        "resolved_at": inc.resolved_at,
        "closed_at": inc.closed_at,
        "allowed_transitions": list(TRANSITIONS[inc.status]),
        "tickets": [
            {
                "id": t.pk,
                "reference": t.reference,
                "subject": t.subject,
                "status": t.status,
                "organization_id": t.organization_id,
            }
            for t in sorted(inc.tickets.all(), key=lambda t: t.pk)
        ],
        "organizations": [
            {"id": o.pk, "name": o.name}
            for o in sorted(inc.organizations.all(), key=lambda o: o.pk)
        ],
        "product_areas": [
            {"id": a.pk, "name": a.name}
            for a in sorted(inc.product_areas.all(), key=lambda a: a.pk)
        ],
        "roles": [role_out(r) for r in inc.roles.all()],
        "pending_handoff": handoff_out(queries.pending_handoff(inc)),
        "owner_target": queries.owner_target(inc),
        "tasks": [task_out(t) for t in inc.tasks.all()],
        "pages": [page_out(p) for p in inc.pages.all()],
    }
