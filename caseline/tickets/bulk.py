"""Bulk actions of the queues: assign, set status, add a tag to many tickets.

Each ticket goes through ``services.update_ticket`` in its own transaction (with its audit
event and domain events), so one refusal (an illegal transition, a missing required field)
does not undo the others; the result lists every ticket's outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from caseline.errors import DomainError, PermissionDenied, ValidationFailed

from . import queries, services

ACTIONS = ("assign", "status", "tag")
MAX_TICKETS = 200


@dataclass(frozen=True)
class Outcome:
    ticket_id: int
    ok: bool
    message: str = ""


def _ids(raw: Any) -> list[int]:
    out: list[int] = []
    for value in raw or []:
        try:
            n = int(value)
        except (TypeError, ValueError):
            raise ValidationFailed("invalid ticket ids", fields={"ids": "must be ticket ids"})
        if n not in out:
            out.append(n)
    return out


def bulk_update(*, actor: Any, ids: Any, action: str, value: Any) -> list[Outcome]:
    if actor is None or actor.is_customer or not actor.has_perm("accounts.update_ticket"):
        raise PermissionDenied("you may not change tickets", fields={"action": "not allowed"})
    ticket_ids = _ids(ids)
    errors: dict[str, str] = {}
    if not ticket_ids:
        errors["ids"] = "select at least one ticket"
    elif len(ticket_ids) > MAX_TICKETS:
        errors["ids"] = f"at most {MAX_TICKETS} tickets at once"
    if action not in ACTIONS:
        errors["action"] = f"one of {', '.join(ACTIONS)}"
    value = "" if value is None else str(value).strip()
    if action == "assign":
        if value.lower() == "me":
            value = str(actor.pk)
        change: dict[str, Any] = {"assignee": None if value.lower() in ("", "none") else value}
    elif action == "status":
        if not value:
            errors["value"] = "choose a status"
        change = {"status": value}
    else:
        if not value:
            errors["value"] = "name the tag"
        change = {}
    if errors:
        raise ValidationFailed("invalid bulk action", fields=errors)
    visible = set(
        queries.visible_tickets(actor).filter(pk__in=ticket_ids).values_list("pk", flat=True)
    )
    results: list[Outcome] = []
    for pk in ticket_ids:
        if pk not in visible:
            results.append(Outcome(pk, False, f"no ticket CL-{pk}"))
            continue
        try:
            if action == "tag":
                services.change_tags(pk, actor=actor, add=[value])
            else:
                services.update_ticket(pk, actor=actor, **change)
            results.append(Outcome(pk, True))
        except DomainError as exc:
            detail = "; ".join(f"{k}: {v}" for k, v in exc.fields.items()) or exc.message
            results.append(Outcome(pk, False, detail))
    return results
