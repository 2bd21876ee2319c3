"""The reply check of a draft on a ticket: the customer's public messages since our last
public reply (tickets.queries), the team's reply style (accounts.Team) and the pure
checker (caseline.text.replycheck). Read-only; used by the API
(``POST /api/v1/tickets/{id}/reply-check``) and the ticket page's composer, which answer
the same. docs/reply-checker.md."""

from __future__ import annotations

import logging
import os
from datetime import datetime
from typing import Any

from django.conf import settings

from caseline.text.replycheck import ReplyCheck, ReplyStyle
from caseline.text.replycheck_semantic import METHODS, check_reply

from . import queries
from .models import Ticket
from .states import Status

log = logging.getLogger(__name__)

#: Statuses after which a reply leaves the ticket open, so it should promise a time
#: (pending = waiting on the customer: no ETA owed).
STAYS_OPEN = frozenset({Status.NEW, Status.OPEN, Status.ON_HOLD})


def team_reply_style(ticket: Ticket) -> ReplyStyle:
    """The reply style of the ticket's team (none required without a team)."""
    team = ticket.team
    if team is None:
        return ReplyStyle()
    return ReplyStyle(
        greeting_required=team.reply_greeting_required,
        closing_required=team.reply_closing_required,
    )


def reply_check_method() -> str:
    """``settings.REPLYCHECK_METHOD`` (environment ``REPLYCHECK_METHOD``): ``auto``
    (default: the semantic matcher when the ``[semantic]`` extra is installed, else
    lexical), ``lexical`` or ``semantic`` (falls back to lexical without the extra)."""
    method = str(
        getattr(settings, "REPLYCHECK_METHOD", None)
        or os.environ.get("REPLYCHECK_METHOD")
        or "auto"
    ).lower()
    if method not in METHODS:
        # advice must never fail because of a typo in the configuration
        log.warning("REPLYCHECK_METHOD=%r is not one of %s; using auto", method, METHODS)
        return "auto"
    return method


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
        [text for _, text in messages],
        draft,
        keep_open=stays_open,
        eta=eta,
        style=style,
        method=reply_check_method(),
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
            "similarity": r.similarity,
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
        "method": result.method,
    }
