"""POST /api/v1/tickets/{id}/reply-check: the reply checker over the API.

Reads the customer's public messages since our last public reply (tickets.queries), the
team's reply style (accounts.Team.reply_greeting_required / reply_closing_required) and
runs the pure checker (caseline.text.replycheck). Nothing is stored; the answer only
advises, it never blocks sending. docs/reply-checker.md.
"""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest
from ninja import Router, Schema

from caseline.api.core import require_staff
from caseline.errors import ValidationFailed
from caseline.text.replycheck import MAX_DRAFT_CHARS

from . import queries
from .replycheck import check_ticket_draft

router = Router(tags=["tickets"])


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
    similarity: float | None = None


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
    method: str = "lexical"


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
