"""POST /api/v1/tickets/{id}/reply-check: the reply checker over the API.

Reads the customer's public messages since our last public reply (tickets.queries), the
team's reply style (accounts.Team.reply_greeting_required / reply_closing_required) and
runs the pure checker (caseline.text.replycheck). Nothing is stored; the answer only
advises, it never blocks sending. docs/reply-checker.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from caseline.api.core import require_staff
from caseline.errors import ValidationFailed
from caseline.text.replycheck import MAX_DRAFT_CHARS, ReplyCheck, ReplyStyle, check_reply

from . import queries
from .models import Ticket
from .states import Status

router = Router(tags=["tickets"])

#: Statuses after which a reply leaves the ticket open, so it should promise a time
#: (pending = waiting on the customer: no ETA owed).
STAYS_OPEN = frozenset({Status.NEW, Status.OPEN, Status.ON_HOLD})


class ReplyCheckIn(Schema):
    draft: str
    eta: datetime | None = None
    keep_open: bool | None = None


class AskOut(Schema):
    text: str
    kind: str
    message_id: int | None
    start: int
    end: int
    number: int | None
    addressed: bool
    score: float
    evidence: str


class FindingOut(Schema):
    kind: str
    message: str
    ask: AskOut | None


class StyleOut(Schema):
    greeting_required: bool
    closing_required: bool


class ReplyCheckOut(Schema):
    ticket_id: int
    findings: list[FindingOut]
    asks: list[AskOut]
    has_eta: bool
    has_greeting: bool
    has_closing: bool
    keep_open: bool
    style: StyleOut
    threshold: float


def team_reply_style(ticket: Ticket) -> ReplyStyle:
    """The reply style of the ticket's team (none required without a team)."""
    team = ticket.team
    if team is None:
        return ReplyStyle()
    return ReplyStyle(
        greeting_required=team.reply_greeting_required,
        closing_required=team.reply_closing_required,
    )


def check_ticket_draft(
    ticket: Ticket,
    draft: str,
    *,
    eta: datetime | None = None,
    keep_open: bool | None = None,
) -> dict[str, Any]:
    """The reply check of ``draft`` on ``ticket`` as the API answers it. ``keep_open``
    defaults to "the ticket stays open" (status new, open or on hold)."""
    messages = queries.customer_messages_since_last_reply(ticket)
    ids = [pk for pk, _ in messages]
    stays_open = ticket.status in STAYS_OPEN if keep_open is None else keep_open
    style = team_reply_style(ticket)
    result = check_reply(
        [text for _, text in messages], draft, keep_open=stays_open, eta=eta, style=style
    )
    return serialize(ticket.pk, result, ids, stays_open, style)


def serialize(
    ticket_id: int, result: ReplyCheck, message_ids: list[int], keep_open: bool, style: ReplyStyle
) -> dict[str, Any]:
    asks = {}
    for r in result.asks:
        asks[id(r.ask)] = {
            "text": r.ask.text,
            "kind": r.ask.kind,
            "message_id": message_ids[r.ask.message_index]
            if r.ask.message_index < len(message_ids)
            else None,
            "start": r.ask.start,
            "end": r.ask.end,
            "number": r.ask.number,
            "addressed": r.addressed,
            "score": r.score,
            "evidence": r.evidence,
        }
    return {
        "ticket_id": ticket_id,
        "findings": [
            {
                "kind": f.kind,
                "message": f.message,
                "ask": asks.get(id(f.ask)) if f.ask is not None else None,
            }
            for f in result.findings
        ],
        "asks": list(asks.values()),
        "has_eta": result.has_eta,
        "has_greeting": result.has_greeting,
        "has_closing": result.has_closing,
        "keep_open": keep_open,
        "style": {
            "greeting_required": style.greeting_required,
            "closing_required": style.closing_required,
        },
        "threshold": result.threshold,
    }


@router.post("/tickets/{ticket_id}/reply-check", response=ReplyCheckOut)
def reply_check(request: HttpRequest, ticket_id: int, payload: ReplyCheckIn):
    """Check a draft reply: which of the customer's questions and requests since our last
    public reply it leaves unanswered, a missing ETA while the ticket stays open, a
    missing greeting/closing when the team's style requires them. Advice only: nothing
    is stored and sending is never blocked. Staff who can see the ticket."""
    user = require_staff(request)
    if not payload.draft.strip():
        raise ValidationFailed("the draft is empty", fields={"draft": "must contain text to check"})
    if len(payload.draft) > MAX_DRAFT_CHARS:
        raise ValidationFailed(
            f"the draft is longer than {MAX_DRAFT_CHARS} characters",
            fields={"draft": f"at most {MAX_DRAFT_CHARS} characters"},
        )
    ticket = queries.visible_ticket(user, ticket_id)
    return check_ticket_draft(ticket, payload.draft, eta=payload.eta, keep_open=payload.keep_open)
