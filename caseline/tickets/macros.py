"""Macros: saved replies with actions (SPEC §2).

A macro has a body with placeholders and a small set of actions. Applying one to a ticket
runs the actions through ``services.update_ticket`` (so the state machine, the solve rules
and the audit timeline apply exactly as for a manual change), records ``macro.applied``,
and returns the rendered body for the composer -- nothing is sent until the agent sends.

Placeholders (unknown ones are left as written): ``{requester_name}``,
``{requester_first_name}``, ``{ticket_ref}``, ``{subject}``, ``{organization}``,
``{agent_name}``, ``{agent_first_name}``.

Actions (all optional): ``status`` (a status value), ``priority``, ``severity`` (1-4),
``add_tags`` / ``remove_tags`` (lists of names), ``assign_to_me`` (true).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet

from caseline.accounts.models import User
from caseline.audit.services import record
from caseline.errors import NotFound, PermissionDenied, ValidationFailed
from caseline.timesource import now

from . import services
from .models import Macro, Priority, Ticket
from .states import Status

NAME_MAX = 120
BODY_MAX = 20_000
ACTION_KEYS = ("status", "priority", "severity", "add_tags", "remove_tags", "assign_to_me")


class _Safe(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def clean_actions(actions: Any) -> dict[str, Any]:
    """The validated actions (422 naming each bad key)."""
    if actions in (None, ""):
        return {}
    if not isinstance(actions, dict):
        raise ValidationFailed("actions must be an object", fields={"actions": "an object"})
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    for key, value in actions.items():
        if key not in ACTION_KEYS:
            errors[f"actions.{key}"] = f"unknown action; use {', '.join(ACTION_KEYS)}"
        elif value in (None, "", []):
            continue
        elif key == "status":
            if value not in Status.values:
                errors["actions.status"] = f"must be one of {', '.join(Status.values)}"
            else:
                out[key] = value
        elif key == "priority":
            if value not in Priority.values:
                errors["actions.priority"] = f"must be one of {', '.join(Priority.values)}"
            else:
                out[key] = value
        elif key == "severity":
            try:
                sev = int(value)
            except (TypeError, ValueError):
                sev = 0
            if sev not in (1, 2, 3, 4):
                errors["actions.severity"] = "must be between 1 and 4"
            else:
                out[key] = sev
        elif key in ("add_tags", "remove_tags"):
            if isinstance(value, str):
                value = [v for v in value.replace(",", " ").split() if v]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                errors[f"actions.{key}"] = "a list of tag names"
            else:
                # The ticket's own tag rules, so a macro never saves a tag it cannot apply.
                tag_errors = services._Errors()
                names = services.clean_tags(tag_errors, value)
                if tag_errors.fields:
                    errors[f"actions.{key}"] = tag_errors.fields["tags"]
                else:
                    out[key] = sorted(names)
        elif key == "assign_to_me":
            out[key] = bool(value)
    if errors:
        raise ValidationFailed("the macro's actions are not valid", fields=errors)
    return out


def _clean(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    if "name" in data or not partial:
        name = " ".join(str(data.get("name") or "").split())
        if not name:
            errors["name"] = "required"
        elif len(name) > NAME_MAX:
            errors["name"] = f"at most {NAME_MAX} characters"
        out["name"] = name
    if "body" in data:
        body = str(data.get("body") or "")
        if len(body) > BODY_MAX:
            errors["body"] = f"at most {BODY_MAX} characters"
        out["body"] = body
    if "shared" in data:
        out["shared"] = bool(data["shared"])
    if "active" in data:
        out["active"] = bool(data["active"])
    if "actions" in data:
        try:
            out["actions"] = clean_actions(data["actions"])
        except ValidationFailed as exc:
            errors.update(exc.fields)
    unknown = set(data) - {"name", "body", "shared", "active", "actions"}
    for key in sorted(unknown):
        errors[key] = "unknown field"
    if errors:
        raise ValidationFailed("the macro is not valid", fields=errors)
    return out


def _staff(actor: Any) -> None:
    if actor is None or getattr(actor, "kind", None) != User.Kind.STAFF:
        raise PermissionDenied("only staff use macros")


def create_macro(*, actor: User, **data: Any) -> Macro:
    """A new macro; ``shared`` defaults to True; a personal one belongs to ``actor``."""
    _staff(actor)
    cleaned = _clean(data, partial=False)
    with transaction.atomic():
        at = now()
        macro = Macro.objects.create(
            owner=actor,
            created_at=at,
            updated_at=at,
            **{"shared": True, **cleaned},
        )
        record(
            "macro.changed",
            "macro",
            macro.pk,
            actor=actor,
            at=at,
            data={"action": "created", "name": macro.name},
        )
    return macro


def _editable(actor: User, macro_id: int) -> Macro:
    macro = Macro.objects.select_for_update().filter(pk=macro_id).first()
    if macro is None:
        raise NotFound(f"no macro {macro_id}")
    if macro.owner_id != actor.pk and not actor.has_perm("accounts.manage_triage"):
        raise PermissionDenied("only the owner or a lead changes this macro")
    return macro


def update_macro(macro: Macro | int, *, actor: User, **data: Any) -> Macro:
    _staff(actor)
    cleaned = _clean(data, partial=True)
    with transaction.atomic():
        m = _editable(actor, macro.pk if isinstance(macro, Macro) else int(macro))
        changes = {k: (getattr(m, k), v) for k, v in cleaned.items() if getattr(m, k) != v}
        if "shared" in changes and not cleaned["shared"] and m.owner_id is None:
            m.owner = actor
        if not changes:
            return m
        at = now()
        for key, (_old, new) in changes.items():
            setattr(m, key, new)
        m.updated_at = at
        m.save()
        record("macro.changed", "macro", m.pk, actor=actor, at=at, changes=changes)
    return m


def delete_macro(macro: Macro | int, *, actor: User) -> None:
    _staff(actor)
    with transaction.atomic():
        m = _editable(actor, macro.pk if isinstance(macro, Macro) else int(macro))
        pk, name = m.pk, m.name
        m.delete()
        record("macro.changed", "macro", pk, actor=actor, data={"action": "deleted", "name": name})


def macros_for(user: Any) -> QuerySet[Macro]:
    """Active macros ``user`` may apply: the shared ones and their own."""
    if getattr(user, "kind", None) != User.Kind.STAFF:
        return Macro.objects.none()
    return Macro.objects.filter(Q(shared=True) | Q(owner_id=user.pk), active=True)


def _first(name: str) -> str:
    parts = (name or "").split()
    return parts[0] if parts else ""


def render_body(macro: Macro, ticket: Ticket, agent: Any) -> str:
    """The macro's body with the ticket's and the agent's values filled in."""
    requester = ticket.requester
    agent_name = str(agent) if agent is not None else ""
    values = _Safe(
        requester_name=requester.name,
        requester_first_name=_first(requester.name),
        ticket_ref=ticket.reference,
        subject=ticket.subject,
        organization=ticket.organization.name if ticket.organization_id else "",
        agent_name=agent_name,
        agent_first_name=_first(getattr(agent, "display_name", "") or agent_name),
    )
    try:
        return macro.body.format_map(values)
    except (ValueError, IndexError, AttributeError, KeyError):
        return macro.body  # a stray brace: the text as written


@dataclass(frozen=True)
class Applied:
    macro: Macro
    body: str
    changes: dict[str, Any]


def changes_for(macro: Macro, ticket: Ticket, actor: User) -> dict[str, Any]:
    """The ``update_ticket`` arguments the macro's actions mean for ``ticket``."""
    actions = clean_actions(macro.actions)
    changes: dict[str, Any] = {}
    for key in ("status", "priority", "severity"):
        if key in actions and getattr(ticket, key) != actions[key]:
            changes[key] = actions[key]
    if actions.get("add_tags") or actions.get("remove_tags"):
        current = set(ticket.tags.values_list("name", flat=True))
        new = (current | set(actions.get("add_tags", []))) - set(actions.get("remove_tags", []))
        if new != current:
            changes["tags"] = sorted(new)
    if actions.get("assign_to_me") and ticket.assignee_id != actor.pk:
        changes["assignee"] = actor
    return changes


def apply_macro(ticket: Ticket | int, macro: Macro | int, *, actor: User) -> Applied:
    """Run the macro's actions on the ticket (one transaction with the audit event
    ``macro.applied``) and return the rendered body for the composer. A refused action
    (an illegal status change, solving without an assignee ...) refuses the whole macro
    and changes nothing."""
    _staff(actor)
    macro_id = macro.pk if isinstance(macro, Macro) else int(macro)
    m = macros_for(actor).filter(pk=macro_id).first()
    if m is None:
        raise NotFound(f"no macro {macro_id}")
    ticket_id = ticket.pk if isinstance(ticket, Ticket) else int(ticket)
    with transaction.atomic():
        t = (
            Ticket.objects.select_for_update(of=("self",))
            .select_related("requester", "organization")
            .filter(pk=ticket_id)
            .first()
        )
        if t is None:
            raise NotFound(f"no ticket CL-{ticket_id}")
        changes = changes_for(m, t, actor)
        if changes:
            services.update_ticket(t, actor=actor, **changes)
        record(
            "macro.applied",
            "ticket",
            t.pk,
            actor=actor,
            ticket_id=t.pk,
            data={
                "macro_id": m.pk,
                "name": m.name,
                "changed": sorted(changes),
            },
        )
        body = render_body(m, t, actor)
    return Applied(m, body, changes)
