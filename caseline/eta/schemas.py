from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema

from .models import ETA


class EtaOut(Schema):
    id: int
    ticket_id: int
    message_id: int | None
    owner_id: int | None
    owner_name: str
    due_at: datetime
    status: str = Field(description="pending, met, missed or superseded")
    created_at: datetime
    reminded_at: datetime | None
    met_at: datetime | None
    missed_at: datetime | None
    superseded_at: datetime | None


class EtaCounts(Schema):
    total: int
    pending: int
    met: int
    missed: int
    superseded: int


class TicketEtas(Schema):
    ticket_id: int
    current: EtaOut | None = Field(description="the pending ETA, if any")
    counts: EtaCounts
    results: list[EtaOut]


class AgentMisses(Schema):
    agent_id: int | None
    name: str
    email: str
    total: int
    pending: int
    met: int
    missed: int
    superseded: int


class TicketMisses(Schema):
    ticket_id: int
    missed: int


class MissReport(Schema):
    agents: list[AgentMisses]
    tickets: list[TicketMisses]


def eta_out(e: ETA) -> dict[str, Any]:
    return {
        "id": e.pk,
        "ticket_id": e.ticket_id,
        "message_id": e.message_id,
        "owner_id": e.owner_id,
        "owner_name": str(e.owner) if e.owner_id else "",
        "due_at": e.due_at,
        "status": e.status,
        "created_at": e.created_at,
        "reminded_at": e.reminded_at,
        "met_at": e.met_at,
        "missed_at": e.missed_at,
        "superseded_at": e.superseded_at,
    }
