"""Escalation actions, run when an SLA escalation rule's threshold is reached.

The SLA engine's threshold timer handler calls::

    actions.run(action, ticket=ticket, target="resolution", params={...}, at=due, rule_id=7)

inside the clock's claiming transaction. Built-in actions (``ACTION_NAMES``; higher apps
add theirs with ``register_action``, e.g. escalations' ``open_escalation``):

* ``notify`` -- ``params {"to": ["assignee", "team_lead", "manager", "escalation_manager",
  "on_duty"]}`` (default: assignee and team lead): one outbox email to those people;
  ``on_duty`` = the engineers on duty now on the rota of the ticket's region
  (``caseline.oncall.queries.on_duty``; the assignee's, else the team's, else the
  organization's region; without a region or nobody on duty there: every region's);
* ``raise_priority`` -- one step up (low -> normal -> high -> urgent), or ``{"to": "urgent"}``
  (never lowers);
* ``reassign_next_region`` -- to the on-duty engineer of the next region of the
  follow-the-sun chain (``caseline.oncall.queries.next_region_on_shift``) after the region
  of the assignee (or of the team, or of the organization);
* ``hand_to_sme`` -- to the first SME of the ticket's product area in roster order
  (``SMERosterEntry.position``) who is active, not away and on shift
  (``caseline.oncall.queries.is_on_shift``).

Changes go through the ticket services (``update_ticket``: its own audit events and domain
events); every run appends one ``sla.action_fired`` audit event on the ticket with the
outcome (``done``, ``unchanged`` or ``no_candidate``). A run is idempotent per (ticket,
rule, target, cycle, action): ``params["cycle"]`` names the clock cycle (e.g. the n-th
"next reply" cycle); without it the threshold moment ``at`` stands for the cycle.

Besides the escalation rules, any code may run an action at a time with a timer of kind
``sla.action`` (``schedule_action``); its handler calls ``run`` with the timer's payload.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db import transaction

ACTION_NAMES: tuple[str, ...] = ("notify", "raise_priority", "reassign_next_region", "hand_to_sme")
NOTIFY_ROLES: tuple[str, ...] = (
    "assignee",
    "team_lead",
    "manager",
    "escalation_manager",
    "on_duty",
)
# An escalation rule's ``params["when"]``: the clock cycles it runs for.
WHEN_VALUES: tuple[str, ...] = ("always", "after_hours", "business_hours")
DEFAULT_NOTIFY: tuple[str, ...] = ("assignee", "team_lead")
PRIORITY_ORDER: tuple[str, ...] = ("low", "normal", "high", "urgent")
EVENT = "sla.action_fired"
TIMER_KIND = "sla.action"


def fire_key(ticket_id: int, *, action: str, target: str, rule_id: int | None, cycle: Any) -> str:
    return f"{ticket_id}:{rule_id}:{target}:{cycle}:{action}"


def already_fired(ticket_id: int, key: str) -> bool:
    from caseline.audit.models import AuditEvent

    return AuditEvent.objects.filter(ticket_id=ticket_id, type=EVENT, data__fire_key=key).exists()


def run(
    action: str,
    *,
    ticket: Any,
    target: str,
    params: dict,
    at: datetime,
    rule_id: int | None,
) -> None:
    """Run one escalation action on ``ticket`` (unknown action -> ValueError)."""
    if action not in _ACTIONS:
        raise ValueError(
            f"unknown escalation action {action!r}; one of {', '.join(action_names())}"
        )
    from caseline.audit.services import record
    from caseline.tickets.models import Ticket
    from caseline.timesource import now

    params = dict(params or {})
    cycle = params.get("cycle", at.isoformat())
    ticket_id = ticket.pk if hasattr(ticket, "pk") else int(ticket)
    key = fire_key(ticket_id, action=action, target=target, rule_id=rule_id, cycle=cycle)
    with transaction.atomic():
        t = Ticket.objects.select_for_update().filter(pk=ticket_id).first()
        if t is None:
            return  # the ticket is gone: nothing to escalate
        if already_fired(t.pk, key):
            return
        if t.status == "closed" and action != "notify":
            result: dict[str, Any] = {"outcome": "unchanged", "reason": "ticket closed"}
        else:
            result = _ACTIONS[action](t, target=target, params=params, at=at, key=key)
        record(
            EVENT,
            "ticket",
            t.pk,
            ticket_id=t.pk,
            at=now(),
            data={
                "action": action,
                "target": target,
                "rule_id": rule_id,
                "cycle": cycle,
                "threshold_at": at.isoformat(),
                "fire_key": key,
                **result,
            },
        )
    if hasattr(ticket, "refresh_from_db") and hasattr(ticket, "pk"):
        ticket.refresh_from_db()


# --- the actions --------------------------------------------------------------------------


def _region_of(t) -> Any:
    for candidate in (
        t.assignee.region if t.assignee_id else None,
        t.team.region if t.team_id else None,
        t.organization.region if t.organization_id else None,
    ):
        if candidate is not None:
            return candidate
    return None


def _staff_in_role(role: str, region) -> list:
    from caseline.accounts.models import User

    qs = User.objects.filter(groups__name=role, is_active=True, kind=User.Kind.STAFF).order_by("id")
    if region is not None:
        local = list(qs.filter(region=region))
        if local:
            return local
    return list(qs)


def recipients(t, roles: list[str]) -> dict[str, list]:
    """role -> users for a notify action (assignee, team lead, managers, escalation
    managers; managers of the ticket's region when there are any, else all)."""
    from caseline.accounts import roles as R

    out: dict[str, list] = {}
    region = _region_of(t)
    for role in roles:
        if role == "assignee":
            out[role] = [t.assignee] if t.assignee_id and t.assignee.is_active else []
        elif role == "team_lead":
            lead = t.team.lead if t.team_id else None
            out[role] = [lead] if lead is not None and lead.is_active else []
        elif role == "manager":
            out[role] = _staff_in_role(R.SUPPORT_MANAGER, region)
        elif role == "escalation_manager":
            out[role] = _staff_in_role(R.ESCALATION_MANAGER, region)
        elif role == "on_duty":
            out[role] = _on_duty(region)
    return out


def _on_duty(region) -> list:
    """Who is on duty now on the rota of ``region`` (else of any region)."""
    from caseline.accounts.models import Region
    from caseline.oncall import queries as oncall
    from caseline.timesource import now

    moment = now()
    people = [u for u in oncall.on_duty(region, moment) if u.is_active] if region else []
    if people:
        return people
    seen: list = []
    for r in Region.objects.order_by("handoff_order", "code"):
        for u in oncall.on_duty(r, moment):
            if u.is_active and u not in seen:
                seen.append(u)
    return seen


def _notify(t, *, target: str, params: dict, at: datetime, key: str) -> dict[str, Any]:
    roles = params.get("to") or list(DEFAULT_NOTIFY)
    if isinstance(roles, str):
        roles = [roles]
    unknown = [r for r in roles if r not in NOTIFY_ROLES]
    if unknown:
        raise ValueError(f"notify: unknown recipients {unknown}; one of {', '.join(NOTIFY_ROLES)}")
    by_role = recipients(t, list(roles))
    emails: list[str] = []
    for users in by_role.values():
        for u in users:
            if u.email and u.email not in emails:
                emails.append(u.email)
    if not emails:
        return {"outcome": "no_candidate", "to": list(roles), "emails": []}
    from caseline.notify.services import enqueue_email

    label = params.get("label") or params.get("threshold") or "threshold"
    assignee = str(t.assignee) if t.assignee_id else "nobody"
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    enqueue_email(
        key=f"sla-action-{t.pk}-{digest}",
        to=emails,
        subject=f"[{t.reference}] SLA {target}: {label} reached",
        text=(
            f"The {target} target of {t.reference} reached {label} at "
            f"{at:%Y-%m-%d %H:%M} UTC.\n\n"
            f"Subject:  {t.subject}\n"
            f"Severity: Sev-{t.severity}   Priority: {t.priority}   Status: {t.status}\n"
            f"Assignee: {assignee}\n\n"
            f"You receive this as {', '.join(r for r, us in by_role.items() if us)} of the "
            "ticket.\n"
        ),
        subject_type="ticket",
        subject_id=t.pk,
    )
    return {"outcome": "done", "to": list(roles), "emails": emails}


def _raise_priority(t, *, target: str, params: dict, at: datetime, key: str) -> dict[str, Any]:
    from caseline.tickets.services import update_ticket

    current = t.priority if t.priority in PRIORITY_ORDER else "normal"
    idx = PRIORITY_ORDER.index(current)
    wanted = params.get("to")
    if wanted is not None:
        if wanted not in PRIORITY_ORDER:
            raise ValueError(f"raise_priority: {wanted!r} is not a priority")
        new = wanted if PRIORITY_ORDER.index(wanted) > idx else current
    else:
        new = PRIORITY_ORDER[min(idx + 1, len(PRIORITY_ORDER) - 1)]
    if new == current:
        return {"outcome": "unchanged", "priority": current}
    update_ticket(t.pk, actor=None, priority=new)
    return {"outcome": "done", "priority": [current, new]}


def _reassign(t, user, extra: dict[str, Any]) -> dict[str, Any]:
    from caseline.tickets.services import update_ticket

    old = t.assignee_id
    if user.pk == old:
        return {"outcome": "unchanged", "assignee": old, **extra}
    update_ticket(t.pk, actor=None, assignee=user.pk)
    return {"outcome": "done", "assignee": [old, user.pk], **extra}


def _reassign_next_region(t, *, target: str, params: dict, at: datetime, key: str) -> dict:
    from caseline.accounts.models import Region
    from caseline.oncall import queries as oncall
    from caseline.timesource import now

    moment = now()
    region = _region_of(t)
    if region is None:
        region = Region.objects.order_by("-handoff_order", "-code").first()
    if region is None:
        return {"outcome": "no_candidate", "reason": "no regions"}
    nxt = oncall.next_region_on_shift(region, moment)
    if nxt is None:
        return {"outcome": "no_candidate", "from_region": region.code, "reason": "nobody on duty"}
    people = [u for u in oncall.on_duty(nxt, moment) if not u.is_away and u.pk != t.assignee_id]
    if not people:
        return {"outcome": "no_candidate", "from_region": region.code, "region": nxt.code}
    return _reassign(t, people[0], {"from_region": region.code, "region": nxt.code})


def _hand_to_sme(t, *, target: str, params: dict, at: datetime, key: str) -> dict[str, Any]:
    from caseline.accounts.models import SMERosterEntry
    from caseline.oncall import queries as oncall
    from caseline.timesource import now

    if t.product_area_id is None:
        return {"outcome": "no_candidate", "reason": "no product area"}
    moment = now()
    skipped: list[dict[str, Any]] = []
    entries = SMERosterEntry.objects.filter(product_area_id=t.product_area_id).select_related(
        "user__region"
    )
    for entry in entries.order_by("position"):
        user = entry.user
        if not user.is_active or user.is_away:
            skipped.append({"user": user.pk, "why": "away" if user.is_away else "inactive"})
            continue
        if not oncall.is_on_shift(user, moment):
            skipped.append({"user": user.pk, "why": "off shift"})
            continue
        return _reassign(
            t,
            user,
            {
                "product_area": t.product_area_id,
                "roster_position": entry.position,
                "skipped": skipped,
            },
        )
    return {"outcome": "no_candidate", "product_area": t.product_area_id, "skipped": skipped}


_ACTIONS: dict[str, Callable[..., dict[str, Any]]] = {
    "notify": _notify,
    "raise_priority": _raise_priority,
    "reassign_next_region": _reassign_next_region,
    "hand_to_sme": _hand_to_sme,
}


# --- actions of higher apps ------------------------------------------------------------------
# Higher apps add actions from their AppConfig.ready() (sla must not import them), e.g.
# caseline.escalations registers ``open_escalation``. ``fn(ticket, *, target, params, at,
# key) -> result dict`` runs like the built-ins (inside ``run``'s transaction, once per
# fire key); ``params`` names the rule parameters a policy may give it (besides ``when``).
REGISTERED_PARAMS: dict[str, frozenset[str]] = {}
# ``check(params) -> {param: problem}``: the values a policy gives the action, checked
# when the policy is saved (a bad value is a 422 then, not a surprise at firing time).
REGISTERED_CHECKS: dict[str, Callable[[dict[str, Any]], dict[str, str]]] = {}


def register_action(
    name: str,
    fn: Callable[..., dict[str, Any]],
    *,
    params: tuple[str, ...] = (),
    check: Callable[[dict[str, Any]], dict[str, str]] | None = None,
) -> None:
    """Register the action ``name`` of a higher app (again with the same function: no-op)."""
    if name in ACTION_NAMES:
        raise ValueError(f"{name!r} is a built-in action")
    if _ACTIONS.get(name, fn) is not fn:
        raise ValueError(f"the action {name!r} is already registered by another function")
    _ACTIONS[name] = fn
    REGISTERED_PARAMS[name] = frozenset(params)
    if check is not None:
        REGISTERED_CHECKS[name] = check


def action_names() -> tuple[str, ...]:
    """The built-in actions (``ACTION_NAMES``), then the registered ones: what a rule may
    name (``_ACTIONS`` keeps that order)."""
    return tuple(_ACTIONS)


# --- a timer kind that runs an action at a time ---------------------------------------------


def schedule_action(
    ticket_id: int,
    action: str,
    *,
    due_at: datetime,
    target: str = "manual",
    params: dict | None = None,
    rule_id: int | None = None,
    key: str | None = None,
):
    """Schedule ``action`` on the ticket at ``due_at`` (a ``sla.action`` timer; inside the
    caller's transaction). Returns the Timer."""
    if action not in _ACTIONS:
        raise ValueError(f"unknown escalation action {action!r}")
    from caseline.sla import timers

    key = key or f"sla-action:{ticket_id}:{action}:{target}:{rule_id}:{due_at.isoformat()}"
    return timers.schedule(
        TIMER_KIND,
        "ticket",
        ticket_id,
        due_at,
        key=key,
        payload={"action": action, "target": target, "params": params or {}, "rule_id": rule_id},
    )


def _register() -> None:
    from caseline.sla import timers

    @timers.handler(TIMER_KIND)
    def fire_action(timer) -> None:
        p = timer.payload
        run(
            p["action"],
            ticket=timer.subject_id,
            target=p.get("target", "manual"),
            params=p.get("params") or {},
            at=timer.due_at,
            rule_id=p.get("rule_id"),
        )


_register()
