"""/api/v1 escalations: escalations, the request queue (intake), escalation types, the
stakeholder map, cadences, commitments (docs/escalations.md).

Reading escalations needs ``view_all_tickets`` (every staff role); requesting one needs
``request_escalation`` (every staff role; a requester sees their own requests);
everything else needs ``manage_escalations`` (escalation manager, support manager, admin).
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Status

from caseline.api.core import page, require
from caseline.tickets.schemas import TimelinePage, timeline_out

from . import queries, services
from .schemas import (
    AcceptIn,
    CadenceIn,
    CadenceOut,
    CommitmentIn,
    CommitmentOut,
    CommitmentPatch,
    DeclineIn,
    EntryOut,
    EscalationIn,
    EscalationList,
    EscalationOut,
    EscalationPatch,
    FromTicketIn,
    RequestIn,
    RequestList,
    RequestOut,
    StakeholderIn,
    StakeholderOut,
    StepIn,
    StepOut,
    SuggestionsOut,
    TicketsIn,
    TransitionIn,
    TypeIn,
    TypeList,
    TypeOut,
    TypePatch,
    UpdateIn,
    cadence_out,
    commitment_out,
    entry_out,
    escalation_out,
    request_out,
    stakeholder_out,
    step_out,
    summary_out,
    type_out,
)

router = Router(tags=["escalations"])

READ = "view_all_tickets"
REQUEST = "request_escalation"
MANAGE = "manage_escalations"


def _detail(escalation_id: int) -> dict:
    esc = queries.get_escalation(escalation_id)
    entries = {c.pk: queries.cadence_entries(c) for c in esc.cadences.all()}
    return escalation_out(esc, entries)


# --- escalations ---------------------------------------------------------------------------


@router.get("/escalations", response=EscalationList)
def list_escalations(
    request: HttpRequest,
    status: str | None = None,
    organization: int | None = None,
    owner: str | None = None,
    ticket: int | None = None,
    limit: int = 25,
    cursor: str | None = None,
):
    """Escalations, newest first; ``status`` = ``live`` or a comma list, ``owner`` = id or
    ``none`` (waiting for an owner)."""
    require(request, READ)
    qs = queries.list_escalations(
        status=status, organization=organization, owner=owner, ticket=ticket
    )
    return page(request, qs, summary_out, limit=limit, cursor=cursor)


@router.post("/escalations", response={201: EscalationOut})
def create_escalation(request: HttpRequest, payload: EscalationIn):
    user = require(request, MANAGE)
    esc = services.open_escalation(user, **payload.dict())
    return Status(201, _detail(esc.pk))


@router.post("/tickets/{ticket_id}/escalation", response={201: EscalationOut})
def escalate_ticket(request: HttpRequest, ticket_id: int, payload: FromTicketIn):
    """Open an escalation from the ticket (409 ``already_escalated`` when it has a live one)."""
    user = require(request, MANAGE)
    esc = services.open_from_ticket(ticket_id, user, **payload.dict())
    return Status(201, _detail(esc.pk))


@router.get("/escalations/{escalation_id}", response=EscalationOut)
def get_escalation(request: HttpRequest, escalation_id: int):
    require(request, READ)
    return _detail(escalation_id)


@router.get("/escalations/{escalation_id}/timeline", response=TimelinePage)
def escalation_timeline(
    request: HttpRequest, escalation_id: int, limit: int = 50, cursor: str | None = None
):
    """Every change of the escalation (audit events, oldest first): who, when, what."""
    require(request, READ)
    qs = queries.timeline(escalation_id)
    return page(request, qs, timeline_out, limit=limit, cursor=cursor, descending=False)


@router.patch("/escalations/{escalation_id}", response=EscalationOut)
def patch_escalation(request: HttpRequest, escalation_id: int, payload: EscalationPatch):
    user = require(request, MANAGE)
    services.update_escalation(escalation_id, user, **payload.dict(exclude_unset=True))
    return _detail(escalation_id)


@router.post("/escalations/{escalation_id}/transition", response=EscalationOut)
def transition(request: HttpRequest, escalation_id: int, payload: TransitionIn):
    """Move the status; an illegal move answers 409 ``illegal_transition`` naming the
    allowed ones; resolving without ``root_cause`` answers 422."""
    user = require(request, MANAGE)
    services.transition(
        escalation_id, user, payload.status, root_cause=payload.root_cause, note=payload.note
    )
    return _detail(escalation_id)


@router.post("/escalations/{escalation_id}/tickets", response=EscalationOut)
def link_tickets(request: HttpRequest, escalation_id: int, payload: TicketsIn):
    user = require(request, MANAGE)
    services.link_tickets(escalation_id, user, payload.ticket_ids)
    return _detail(escalation_id)


@router.post("/escalations/{escalation_id}/steps/{step_id}", response=StepOut)
def tick_step(request: HttpRequest, escalation_id: int, step_id: int, payload: StepIn):
    """Tick (``done: true``) or untick a checklist step; who and when are recorded."""
    user = require(request, MANAGE)
    return step_out(services.tick_step(escalation_id, step_id, user, done=payload.done))


# --- stakeholders --------------------------------------------------------------------------


@router.post("/escalations/{escalation_id}/stakeholders", response={201: StakeholderOut})
def add_stakeholder(request: HttpRequest, escalation_id: int, payload: StakeholderIn):
    user = require(request, MANAGE)
    row = services.add_stakeholder(escalation_id, user, **payload.dict())
    return Status(201, stakeholder_out(row))


@router.post(
    "/escalations/{escalation_id}/stakeholders/{stakeholder_id}/renounce",
    response=StakeholderOut,
)
def renounce_stakeholder(request: HttpRequest, escalation_id: int, stakeholder_id: int):
    user = require(request, MANAGE)
    return stakeholder_out(services.renounce_stakeholder(escalation_id, stakeholder_id, user))


@router.get("/escalations/{escalation_id}/sme-suggestions", response=SuggestionsOut)
def sme_suggestions(request: HttpRequest, escalation_id: int, product_area: int | None = None):
    """SMEs of the product area (default: the linked tickets' areas) in backup order,
    people off shift, away or inactive skipped (and listed with why)."""
    require(request, READ)
    esc = queries.get_escalation(escalation_id)
    return queries.sme_suggestions(esc, product_area)


# --- cadence -------------------------------------------------------------------------------


@router.put("/escalations/{escalation_id}/cadence", response=CadenceOut)
def set_cadence(request: HttpRequest, escalation_id: int, payload: CadenceIn):
    """Set one cadence (``customer_update`` or ``internal_sync``); the next update is due
    one interval from now (business time on ``calendar`` when ``business``)."""
    user = require(request, MANAGE)
    cad = services.set_cadence(escalation_id, user, **payload.dict())
    return cadence_out(cad, queries.cadence_entries(cad))


@router.post("/escalations/{escalation_id}/updates", response={201: EntryOut})
def record_update(request: HttpRequest, escalation_id: int, payload: UpdateIn):
    """Record a customer update / internal sync: the cadence resets and the answer's
    ``next_due_at`` states the next update time."""
    user = require(request, MANAGE)
    entry = services.record_update(escalation_id, user, **payload.dict())
    return Status(201, entry_out(entry))


# --- commitments ---------------------------------------------------------------------------


@router.post("/escalations/{escalation_id}/commitments", response={201: CommitmentOut})
def add_commitment(request: HttpRequest, escalation_id: int, payload: CommitmentIn):
    user = require(request, MANAGE)
    c = services.add_commitment(escalation_id, user, **payload.dict())
    return Status(201, commitment_out(queries.get_commitment(c.pk)))


@router.patch("/escalation-commitments/{commitment_id}", response=CommitmentOut)
def patch_commitment(request: HttpRequest, commitment_id: int, payload: CommitmentPatch):
    """Change status or text; moving ``due_at`` needs a ``reason`` and records a slip with
    a drafted customer notice."""
    user = require(request, MANAGE)
    services.update_commitment(commitment_id, user, **payload.dict(exclude_unset=True))
    return commitment_out(queries.get_commitment(commitment_id))


# --- intake --------------------------------------------------------------------------------


@router.get("/escalation-requests", response=RequestList)
def list_requests(
    request: HttpRequest, status: str | None = None, limit: int = 25, cursor: str | None = None
):
    """The queue (escalation managers: every request; anyone else: their own)."""
    user = require(request, REQUEST)
    qs = queries.visible_requests(user, status=status)
    return page(request, qs, request_out, limit=limit, cursor=cursor)


@router.post("/escalation-requests", response={201: RequestOut})
def create_request(request: HttpRequest, payload: RequestIn):
    user = require(request, REQUEST)
    req = services.request_escalation(user, **payload.dict())
    return Status(201, request_out(queries.visible_request(user, req.pk)))


@router.get("/escalation-requests/{request_id}", response=RequestOut)
def get_request(request: HttpRequest, request_id: int):
    user = require(request, REQUEST)
    return request_out(queries.visible_request(user, request_id))


@router.post("/escalation-requests/{request_id}/accept", response={201: EscalationOut})
def accept_request(request: HttpRequest, request_id: int, payload: AcceptIn):
    user = require(request, MANAGE)
    esc = services.accept_request(request_id, user, **payload.dict())
    return Status(201, _detail(esc.pk))


@router.post("/escalation-requests/{request_id}/decline", response=RequestOut)
def decline_request(request: HttpRequest, request_id: int, payload: DeclineIn):
    user = require(request, MANAGE)
    req = services.decline_request(request_id, user, reason=payload.reason)
    return request_out(queries.visible_request(user, req.pk))


# --- escalation types ----------------------------------------------------------------------


@router.get("/escalation-types", response=TypeList)
def list_types(request: HttpRequest):
    require(request, READ)
    return {"results": [type_out(t) for t in queries.types()]}


@router.post("/escalation-types", response={201: TypeOut})
def create_type(request: HttpRequest, payload: TypeIn):
    user = require(request, MANAGE)
    return Status(201, type_out(services.create_type(user, **payload.dict())))


@router.patch("/escalation-types/{type_id}", response=TypeOut)
def patch_type(request: HttpRequest, type_id: int, payload: TypePatch):
    user = require(request, MANAGE)
    return type_out(services.update_type(type_id, user, **payload.dict(exclude_unset=True)))
