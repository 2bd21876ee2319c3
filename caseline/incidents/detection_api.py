"""/api/v1 multi-customer detection (docs/incident-detection.md).

``GET /tickets/{id}/similar`` (``view_all_tickets``): the ticket's cluster — tickets of
other organizations that look like it, with scores, and the incidents they are linked to.
``GET /detection-proposals`` and ``GET /detection-proposals/{id}`` (``view_all_tickets``);
``POST /detection-proposals/{id}/link`` ``{incident_id?, title?, severity?}`` and
``POST /detection-proposals/{id}/dismiss`` (``declare_incident``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from caseline.api.core import require

from . import detection
from .models import DetectionProposal, Incident

router = Router(tags=["incidents"])

READ = "view_all_tickets"
DECLARE = "declare_incident"


class IncidentRef(Schema):
    id: int
    reference: str
    title: str
    severity: int
    status: str


class SimilarTicketOut(Schema):
    id: int
    subject: str
    organization_id: int | None
    organization: str | None
    created_at: datetime
    status: str
    score: float
    direct: bool
    incidents: list[IncidentRef]


class ProposalRef(Schema):
    id: int
    status: str
    incident_id: int | None


class SimilarOut(Schema):
    ticket_id: int
    fault_report: bool
    threshold: float
    window_hours: float
    organizations: int
    tickets: list[SimilarTicketOut]
    incidents: list[IncidentRef]
    proposal: ProposalRef | None


class MatchOut(Schema):
    ticket_id: int
    subject: str
    organization_id: int | None
    organization: str | None
    score: float
    direct: bool


class ProposalOut(Schema):
    id: int
    ticket_id: int
    subject: str
    organization_id: int | None
    organization: str | None
    status: str
    organizations_count: int
    top_score: float
    threshold: float
    incident_id: int | None
    created_at: datetime
    decided_at: datetime | None
    decided_by_id: int | None
    matches: list[MatchOut]


class ProposalList(Schema):
    results: list[ProposalOut]


class LinkIn(Schema):
    incident_id: int | None = None
    title: str = ""
    severity: int | None = None


class LinkOut(Schema):
    proposal: ProposalOut
    incident: IncidentRef
    ticket_ids: list[int]


def incident_ref(inc: Incident) -> dict[str, Any]:
    return {
        "id": inc.pk,
        "reference": inc.reference,
        "title": inc.title,
        "severity": inc.severity,
        "status": inc.status,
    }


def similar_out(cluster: detection.Cluster) -> dict[str, Any]:
    p = cluster.proposal
    return {
        "ticket_id": cluster.ticket.pk,
        "fault_report": cluster.fault,
        "threshold": cluster.config.threshold,
        "window_hours": cluster.config.window_hours,
        "organizations": cluster.organizations,
        "tickets": [
            {
                "id": c.ticket.pk,
                "subject": c.ticket.subject,
                "organization_id": c.ticket.organization_id,
                "organization": c.ticket.organization.name if c.ticket.organization else None,
                "created_at": c.ticket.created_at,
                "status": c.ticket.status,
                "score": c.score,
                "direct": c.direct,
                "incidents": [incident_ref(i) for i in c.incidents],
            }
            for c in cluster.tickets
        ],
        "incidents": [incident_ref(i) for i in cluster.incidents],
        "proposal": ({"id": p.pk, "status": p.status, "incident_id": p.incident_id} if p else None),
    }


def proposal_out(p: DetectionProposal) -> dict[str, Any]:
    t = p.ticket
    return {
        "id": p.pk,
        "ticket_id": t.pk,
        "subject": t.subject,
        "organization_id": t.organization_id,
        "organization": t.organization.name if t.organization else None,
        "status": p.status,
        "organizations_count": p.organizations_count,
        "top_score": p.top_score,
        "threshold": p.threshold,
        "incident_id": p.incident_id,
        "created_at": p.created_at,
        "decided_at": p.decided_at,
        "decided_by_id": p.decided_by_id,
        "matches": [
            {
                "ticket_id": m.ticket_id,
                "subject": m.ticket.subject,
                "organization_id": m.ticket.organization_id,
                "organization": m.ticket.organization.name if m.ticket.organization else None,
                "score": m.score,
                "direct": m.direct,
            }
            for m in p.matches.all()
        ],
    }


@router.get("/tickets/{ticket_id}/similar", response=SimilarOut)
def similar_tickets(request: HttpRequest, ticket_id: int):
    """Tickets of other organizations opened from the window before this one until now
    that look like it (best first), with the incidents they are linked to."""
    require(request, READ)
    return similar_out(detection.similar_for_ticket(ticket_id))


@router.get("/detection-proposals", response=ProposalList)
def list_proposals(request: HttpRequest, status: str = "open", limit: int = 50):
    """Proposals, newest first (``status``: open (default), linked, dismissed, all)."""
    require(request, READ)
    qs = DetectionProposal.objects.select_related("ticket__organization").prefetch_related(
        "matches__ticket__organization"
    )
    if status != "all":
        qs = qs.filter(status=status)
    limit = max(1, min(limit, 100))
    return {"results": [proposal_out(p) for p in qs.order_by("-id")[:limit]]}


@router.get("/detection-proposals/{proposal_id}", response=ProposalOut)
def get_proposal(request: HttpRequest, proposal_id: int):
    require(request, READ)
    return proposal_out(detection.get_proposal(proposal_id))


@router.post("/detection-proposals/{proposal_id}/link", response=LinkOut)
def link_proposal(request: HttpRequest, proposal_id: int, payload: LinkIn):
    """One action: every ticket of the proposal joins ``incident_id``, or a new incident
    (source ``detection``) is declared with all of them. 409 when already decided."""
    user = require(request, DECLARE)
    inc = detection.link_proposal(
        proposal_id,
        user,
        incident_id=payload.incident_id,
        title=payload.title,
        severity=payload.severity,
    )
    proposal = detection.get_proposal(proposal_id)
    return {
        "proposal": proposal_out(proposal),
        "incident": incident_ref(inc),
        "ticket_ids": detection.proposal_ticket_ids(proposal),
    }


@router.post("/detection-proposals/{proposal_id}/dismiss", response=ProposalOut)
def dismiss_proposal(request: HttpRequest, proposal_id: int):
    user = require(request, DECLARE)
    detection.dismiss_proposal(proposal_id, user)
    return proposal_out(detection.get_proposal(proposal_id))
