"""SLA use-cases: ticket clocks kept from domain events, threshold timers, breach
handling, and the set-based recompute after a policy or calendar edit.

Each domain event of a ticket is applied with the pure ``clockstate.step`` to the state
loaded from ``sla_ticket`` + ``sla_clock``; only the clocks that changed are written and
only their timers (``sla.breach``, ``sla.threshold``) are moved or cancelled. Handlers run
inside the publishing transaction: a few indexed reads and writes per event.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import numpy as np
from django.db import connection, transaction

from caseline.audit.services import record
from caseline.clock import epoch_of, utc_of
from caseline.errors import NotFound
from caseline.events import DomainEvent
from caseline.tickets.models import Ticket
from caseline.timesource import now

from . import clockstate as cs
from . import policies, timers
from .calendars import ALWAYS_OPEN, get_calendar
from .models import Clock, EscalationRule, Target, TicketSla

log = logging.getLogger(__name__)

BREACH_KIND = "sla.breach"
THRESHOLD_KIND = "sla.threshold"
BREACH_STEP = "breach"
TRACKED_FIELDS = ("severity", "product_area", "organization")


# --- facts and state -------------------------------------------------------------------------


def facts_of(ticket: Any) -> cs.Facts:
    org = ticket.organization
    return cs.Facts(
        severity=int(ticket.severity),
        channel=str(ticket.channel),
        tier=str(org.tier) if org is not None else "",
        product_area_id=ticket.product_area_id,
        status=str(ticket.status),
        has_assignee=ticket.assignee_id is not None,
        has_sc=bool(org is not None and org.sales_consultant_id),
        has_csm=bool(org is not None and org.success_manager_id),
        owner_calendar=_owner_calendar(ticket),
    )


def _owner_calendar(ticket: Any) -> str:
    """The shift calendar named by the assignee's region ("" without one)."""
    if ticket.assignee_id is None:
        return ""
    from caseline.accounts.models import Region, User

    assignee = _cached_relation(ticket, "assignee")
    if assignee is not None and assignee.pk == ticket.assignee_id:
        # The assignee row the caller holds (e.g. just chosen by auto-assignment).
        if assignee.region_id is None:
            return ""
        region = _cached_relation(assignee, "region")
        if region is not None:
            return region.shift_calendar or ""
        name = (
            Region.objects.filter(pk=assignee.region_id)
            .values_list("shift_calendar", flat=True)
            .first()
        )
        return name or ""
    region_id = User.objects.filter(pk=ticket.assignee_id).values_list("region_id", flat=True)
    name = Region.objects.filter(pk__in=region_id).values_list("shift_calendar", flat=True).first()
    return name or ""


def _cached_relation(obj: Any, name: str) -> Any:
    """The related row ``obj.<name>`` if it is already loaded on ``obj``, else None."""
    descriptor = getattr(type(obj), name, None)
    is_cached = getattr(descriptor, "is_cached", None)
    if is_cached is None or not is_cached(obj):
        return None
    return getattr(obj, name)


def _facts_json(state: cs.TicketState) -> dict[str, Any]:
    f = state.facts
    return {
        "severity": f.severity,
        "channel": f.channel,
        "tier": f.tier,
        "product_area_id": f.product_area_id,
        "status": f.status,
        "has_assignee": f.has_assignee,
        "has_sc": f.has_sc,
        "has_csm": f.has_csm,
        "owner_calendar": f.owner_calendar,
        "replied": sorted(state.replied),
    }


def _ts(dt: datetime | None) -> int | None:
    return None if dt is None else epoch_of(dt)


def _dt(ts: int | None) -> datetime | None:
    return None if ts is None else utc_of(ts)


def _calendar_of(row: Clock):
    try:
        return get_calendar(row.calendar)
    except NotFound:
        if row.fulfilled_at is None:
            raise
        # A stopped clock whose calendar was deleted since (allowed: it no longer counts).
        return get_calendar(ALWAYS_OPEN)


def _clock_state(row: Clock) -> cs.ClockState:
    return cs.ClockState(
        key=row.key,
        role=row.role,
        kind=row.kind,
        seconds=row.seconds,
        calendar=_calendar_of(row),
        calendar_name=row.calendar,
        pause_statuses=frozenset(row.pause_statuses or []),
        cycle=row.cycle,
        started_at=epoch_of(row.started_at),
        running_since=_ts(row.running_since),
        consumed=int(row.consumed),
        due=_ts(row.due_at),
        after_hours=row.after_hours,
        paused_at=_ts(row.paused_at),
        fulfilled_at=_ts(row.fulfilled_at),
        breached_at=_ts(row.breached_at),
        policy_id=row.policy_id,
        target_id=row.target_id,
        suspended=row.suspended,
    )


def load_state(
    ticket_id: int, *, lock: bool = False
) -> tuple[TicketSla | None, cs.TicketState | None, dict[str, Clock]]:
    """The ticket's stored SLA state. ``lock``: inside a transaction, lock the ticket's
    clock rows (``SELECT ... FOR UPDATE``) so a breach timer firing at the same moment and
    this event are applied one after the other, each on the other's committed result."""
    sla = TicketSla.objects.filter(ticket_id=ticket_id).first()
    if sla is None:
        return None, None, {}
    qs = Clock.objects.filter(ticket_id=ticket_id)
    if lock and connection.in_atomic_block:
        qs = qs.select_for_update().order_by("id")
    rows = {c.key: c for c in qs}
    f = dict(sla.facts)
    replied = frozenset(f.pop("replied", []))
    facts = cs.Facts(**{k: v for k, v in f.items() if k in cs.Facts.__dataclass_fields__})
    state = cs.TicketState(
        facts=facts,
        replied=replied,
        clocks={k: _clock_state(r) for k, r in rows.items()},
    )
    return sla, state, rows


def _state_of(c: cs.ClockState, at: int) -> str:
    if c.breached_at is not None or (c.running and c.due is not None and at >= c.due):
        return Clock.State.BREACHED
    if c.done:
        return Clock.State.FULFILLED
    if c.suspended:
        return Clock.State.SUSPENDED
    return Clock.State.ACTIVE if c.running else Clock.State.PAUSED


def _clock_values(c: cs.ClockState, at: int, step: str) -> dict[str, Any]:
    return {
        "role": c.role,
        "kind": c.kind,
        "policy_id": c.policy_id,
        "target_id": c.target_id,
        "cycle": c.cycle,
        "seconds": c.seconds,
        "calendar": c.calendar_name,
        "pause_statuses": sorted(c.pause_statuses),
        "after_hours": c.after_hours,
        "suspended": c.suspended,
        "state": _state_of(c, at),
        "started_at": _dt(c.started_at),
        "running_since": _dt(c.running_since),
        "consumed": c.consumed,
        "due_at": _dt(c.due),
        "paused_at": _dt(c.paused_at),
        "fulfilled_at": _dt(c.fulfilled_at),
        "breached_at": _dt(c.breached_at),
        "step": step,
        "updated_at": _dt(at),
    }


def _write_clock(
    ticket_id: int, c: cs.ClockState, row: Clock | None, at: int, step: str = ""
) -> Clock:
    values = _clock_values(c, at, step)
    if row is None:
        return Clock.objects.create(ticket_id=ticket_id, key=c.key, **values)
    for k, v in values.items():
        setattr(row, k, v)
    row.save(update_fields=list(values))
    return row


def save_state(
    ticket_id: int,
    sla: TicketSla | None,
    old: cs.TicketState | None,
    new: cs.TicketState,
    rows: dict[str, Clock],
    at: int,
) -> None:
    """Write the clocks that changed, their timers, and the ticket's next deadline."""
    old_clocks = old.clocks if old is not None else {}
    for key, c in new.clocks.items():
        if old_clocks.get(key) == c and key in rows:
            continue
        prev = old_clocks.get(key)
        if prev is not None and prev.cycle != c.cycle:
            _cancel_timers(ticket_id, prev)
        step = _sync_timers(ticket_id, c)
        row = _write_clock(ticket_id, c, rows.get(key), at, step)
        if c.breached_at is not None and (prev is None or prev.breached_at is None):
            # Breached by this event (a late reply, a pause or solve after the due time, a
            # re-match onto a shorter target) before the breach timer fired: publish here;
            # the timer is cancelled or finds the clock breached, so it publishes nothing.
            publish_breach(row, detected_by="event")
    for key in set(old_clocks) - set(new.clocks):
        _cancel_timers(ticket_id, old_clocks[key])
        if key in rows:
            rows[key].delete()
    deadline = cs.next_deadline(new)
    upcoming = cs.upcoming_deadline(new)
    facts = _facts_json(new)
    if sla is None:
        TicketSla.objects.create(
            ticket_id=ticket_id,
            facts=facts,
            next_deadline=deadline,
            upcoming_deadline=upcoming,
            updated_at=_dt(at),
        )
        _copy_deadline_to_ticket(ticket_id, deadline)
    elif sla.facts != facts or sla.next_deadline != deadline or sla.upcoming_deadline != upcoming:
        TicketSla.objects.filter(ticket_id=ticket_id).update(
            facts=facts, next_deadline=deadline, upcoming_deadline=upcoming, updated_at=_dt(at)
        )
        if sla.next_deadline != deadline:
            _copy_deadline_to_ticket(ticket_id, deadline)


def _copy_deadline_to_ticket(ticket_id: int, deadline: datetime | None) -> None:
    """``tickets_ticket.next_due_at`` mirrors ``sla_ticket.next_deadline`` (the queues sort
    on the ticket row); written in the same transaction, only when it changed."""
    Ticket.objects.filter(pk=ticket_id).update(next_due_at=deadline)


def copy_next_deadlines_to_tickets(ticket_ids: list[int] | None = None) -> int:
    """Set ``tickets_ticket.next_due_at`` from ``sla_ticket.next_deadline`` where they differ
    (all tickets, or ``ticket_ids``): after bulk loads that wrote ``sla_ticket`` directly."""
    distinct = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
    where = ""
    params: list[int] = []
    if ticket_ids is not None:
        if not ticket_ids:
            return 0
        where = f" AND s.ticket_id IN ({', '.join(['%s'] * len(ticket_ids))})"
        params = list(ticket_ids)
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE tickets_ticket SET next_due_at = s.next_deadline FROM sla_ticket s "
            f"WHERE s.ticket_id = tickets_ticket.id AND tickets_ticket.next_due_at {distinct} "
            f"s.next_deadline{where}",
            params,
        )
        return cur.rowcount


def insert_new_state(ticket_id: int, new: cs.TicketState, at: int) -> None:
    """``save_state`` for a ticket the SLA engine has not tracked yet (no ``sla_ticket``
    row, hence no clock rows and no ``sla:<ticket>:...`` timers): the clocks, their
    first timers and the ticket row are each written with one INSERT (instead of a
    read, a savepoint and an insert per timer and an insert per clock). The timers'
    unique keys hold: a key names this ticket, and it had none."""
    from .models import Timer

    created = now()
    clocks: list[Clock] = []
    timer_rows: list[Timer] = []
    soon = False
    for c in new.clocks.values():
        step = ""
        nxt = next_step(c) if (c.running and not c.done and c.due is not None) else None
        if nxt is not None:
            step, _rule, due = nxt
            due_dt = _dt(due)
            timer_rows.append(
                Timer(
                    kind=_kind_of(step),
                    subject_type="ticket",
                    subject_id=ticket_id,
                    due_at=due_dt,
                    key=timer_key(ticket_id, c.key, c.cycle, step),
                    payload=_payload(ticket_id, c.key, c.cycle, step),
                    created_at=created,
                )
            )
            soon = soon or due_dt <= created + timers.NOTIFY_HORIZON
        clocks.append(Clock(ticket_id=ticket_id, key=c.key, **_clock_values(c, at, step)))
    if timer_rows:
        Timer.objects.bulk_create(timer_rows)
        if soon:
            timers.notify_clock_loop()
    if clocks:
        Clock.objects.bulk_create(clocks)
    for row in clocks:
        if row.breached_at is not None:
            publish_breach(row, detected_by="event")
    deadline = cs.next_deadline(new)
    TicketSla.objects.create(
        ticket_id=ticket_id,
        facts=_facts_json(new),
        next_deadline=deadline,
        upcoming_deadline=cs.upcoming_deadline(new),
        updated_at=_dt(at),
    )
    if deadline is not None:  # a new ticket's next_due_at is None
        _copy_deadline_to_ticket(ticket_id, deadline)


# --- timers: one pending timer per clock, chained ------------------------------------------
#
# Each running clock has ONE pending timer: its next *step* -- a threshold rule
# ("r<rule id>") or the breach ("breach"). When it fires, its handler schedules the
# following step (``_chain``). The steps of a target, in order: percent rules below 100 %
# (by percent), the breach, percent-100 rules, after-breach rules (by seconds); ties by the
# rule's order and id. The pending step is always the first step of that order that has
# not fired in this clock cycle and applies to the running period (a percent threshold the
# clock had already consumed when it last resumed is skipped). Keys stay one per ticket,
# clock, cycle and step, so each firing happens once; a recompute moves one row per clock.


def timer_key(ticket_id: int, clock_key: str, cycle: int, what: str) -> str:
    return f"sla:{ticket_id}:{clock_key}:{cycle}:{what}"


def threshold_seconds(seconds: int, percent: int) -> int:
    return math.ceil(seconds * percent / 100)


def _step_pos(rule: policies.RuleSpec | None) -> tuple[int, int, int, int]:
    if rule is None:
        return (1, 0, 0, 0)
    if rule.threshold == EscalationRule.Threshold.PERCENT:
        return (0 if rule.value < 100 else 2, rule.value, rule.order, rule.id)
    return (3, rule.value, rule.order, rule.id)


def steps_for(target_id: int | None) -> list[tuple[str, policies.RuleSpec | None]]:
    """The chained steps of a target's clock, in firing order."""
    items: list[tuple[str, policies.RuleSpec | None]] = [(BREACH_STEP, None)]
    items += [(f"r{r.id}", r) for r in policies.rules_for(target_id)]
    items.sort(key=lambda item: _step_pos(item[1]))
    return items


def _step_due(c: cs.ClockState, rule: policies.RuleSpec | None) -> int | None:
    """When a step fires for the running clock ``c`` (None: not in this running period)."""
    if rule is None:
        return c.due if c.breached_at is None else None
    when = rule.params.get("when", "always")
    if (when == "after_hours" and not c.after_hours) or (
        when == "business_hours" and c.after_hours
    ):
        return None  # a rule for the other kind of cycle: not a step of this one
    if rule.threshold == EscalationRule.Threshold.PERCENT:
        if rule.value >= 100:
            return c.due
        need = threshold_seconds(c.seconds, rule.value)
        if c.running_since is None or c.consumed >= need:
            return None
        return c.calendar.add_ts(c.running_since, need - c.consumed)
    return None if c.due is None else c.due + rule.value


def next_step(
    c: cs.ClockState, fired: set[str] | frozenset[str] = frozenset()
) -> tuple[str, policies.RuleSpec | None, int] | None:
    """(step, rule, due epoch) of the clock's next pending timer, or None."""
    if not c.running or c.done or c.due is None:
        return None
    for name, rule in steps_for(c.target_id):
        if name in fired:
            continue
        due = _step_due(c, rule)
        if due is not None:
            return name, rule, due
    return None


def _kind_of(step: str) -> str:
    return BREACH_KIND if step == BREACH_STEP else THRESHOLD_KIND


def _payload(ticket_id: int, c_key: str, cycle: int, step: str) -> dict[str, Any]:
    payload: dict[str, Any] = {"ticket_id": ticket_id, "key": c_key, "cycle": cycle, "step": step}
    if step != BREACH_STEP:
        payload["rule_id"] = int(step[1:])
    return payload


def _cycle_timers(ticket_id: int, c_key: str, cycle: int) -> list[tuple]:
    from .models import Timer

    return list(
        Timer.objects.filter(
            subject_type="ticket",
            subject_id=ticket_id,
            key__startswith=timer_key(ticket_id, c_key, cycle, ""),
        ).values_list("key", "due_at", "fired_at", "cancelled_at", "failed_at")
    )


def _arm(ticket_id: int, c: cs.ClockState, fired: set[str], existing: list[tuple]) -> str:
    """Schedule the clock's next step, cancel any other pending timer of its cycle; returns
    the step ("" when none)."""
    from .models import Timer

    prefix = timer_key(ticket_id, c.key, c.cycle, "")
    nxt = next_step(c, fired)
    keep = prefix + nxt[0] if nxt else None
    stale = [
        k for k, _d, f, ca, fa in existing if k != keep and f is None and ca is None and fa is None
    ]
    if stale:
        _skip_firing(Timer.objects.filter(key__in=stale, fired_at__isnull=True)).update(
            cancelled_at=now(), claimed_until=None
        )
    if nxt is None:
        return ""
    name, _rule, due = nxt
    due_dt = _dt(due)
    for k, d, f, ca, fa in existing:
        if k == keep and f is None and ca is None and fa is None and d == due_dt:
            return name  # already pending at that moment
    timers.schedule(
        _kind_of(name), "ticket", ticket_id, due_dt, keep, _payload(ticket_id, c.key, c.cycle, name)
    )  # type: ignore[arg-type]
    return name


def _sync_timers(ticket_id: int, c: cs.ClockState) -> str:
    """Bring the clock's one pending timer in line with its state; returns its step."""
    if not c.running or c.done or c.due is None:
        _cancel_timers(ticket_id, c)
        return ""
    existing = _cycle_timers(ticket_id, c.key, c.cycle)
    prefix_len = len(timer_key(ticket_id, c.key, c.cycle, ""))
    fired = {k[prefix_len:] for k, _d, f, _c, _x in existing if f is not None}
    return _arm(ticket_id, c, fired, existing)


def _cancel_timers(ticket_id: int, c: cs.ClockState) -> None:
    prefix = timer_key(ticket_id, c.key, c.cycle, "")
    from .models import Timer

    _skip_firing(
        Timer.objects.filter(
            subject_type="ticket",
            subject_id=ticket_id,
            key__startswith=prefix,
            fired_at__isnull=True,
            cancelled_at__isnull=True,
        )
    ).update(cancelled_at=now(), claimed_until=None)


def _skip_firing(qs):
    """``qs`` without the timers a clock process is firing right now (locked by its batch).

    An event holds the ticket's clock rows locked while it cancels timers; the firing
    batch holds its timer rows and waits for the clock row, so waiting here would
    deadlock. A skipped timer's handler runs after this event commits and finds the clock
    fulfilled, paused or moved on (``_live_clock``), so it does nothing."""
    if not (connection.features.has_select_for_update_skip_locked and connection.in_atomic_block):
        return qs
    from .models import Timer

    ids = list(qs.select_for_update(skip_locked=True).values_list("pk", flat=True))
    return Timer.objects.filter(pk__in=ids)


# --- applying events -------------------------------------------------------------------------


def apply(ticket_id: int, event: cs.Event) -> cs.TicketState | None:
    """Apply one timeline event to the ticket's stored clocks (inside a transaction)."""
    sla, state, rows = load_state(ticket_id, lock=True)
    if state is None and event.type != "created":
        return None  # a ticket the SLA engine does not track (created before it existed)
    new = cs.step(state, event, policies.matcher)
    save_state(ticket_id, sla, state, new, rows, event.ts)
    return new


def _apply_built(ticket_id: int, build) -> cs.TicketState | None:
    """``apply`` of the event ``build()`` returns, built only when the ticket is tracked
    (its facts may need reads that an untracked ticket -- e.g. one assigned while it is
    being created, before ``ticket.created`` -- does not need)."""
    sla, state, rows = load_state(ticket_id, lock=True)
    if state is None:
        return None
    event = build()
    new = cs.step(state, event, policies.matcher)
    save_state(ticket_id, sla, state, new, rows, event.ts)
    return new


def _in_creation(event: DomainEvent) -> bool:
    """The event's subject is a ticket being created in this transaction, before its
    ``ticket.created`` (the create service marks the row it hands over): the SLA engine
    does not track it yet, and nothing else has started its clocks."""
    held = event.subject
    return bool(
        held is not None and held.pk == event.subject_id and getattr(held, "in_creation", False)
    )


def start_ticket(
    ticket: Any, at: datetime | None = None, *, new: bool = False
) -> cs.TicketState | None:
    """Start the clocks of ``ticket`` (idempotent: an already tracked ticket is left).
    ``new``: the caller knows the ticket is untracked (created in this transaction)."""
    if not new and TicketSla.objects.filter(ticket_id=ticket.pk).exists():
        return None
    ev = cs.Event(at=at or ticket.created_at, type="created", facts=facts_of(ticket))
    state = cs.step(None, ev, policies.matcher)
    insert_new_state(ticket.pk, state, ev.ts)
    return state


def _ticket(ticket_id: int):
    from caseline.tickets.models import Ticket

    return Ticket.objects.select_related("organization").filter(pk=ticket_id).first()


def _event_ticket(event: DomainEvent):
    """The event's ticket: the row the publisher handed over (with its organization
    loaded, or none), else read."""
    from caseline.tickets.models import Ticket

    held = event.subject
    if (
        isinstance(held, Ticket)
        and held.pk == event.subject_id
        and (held.organization_id is None or _cached_relation(held, "organization") is not None)
    ):
        return held
    return _ticket(event.subject_id)


def _author(event: DomainEvent, ticket: Any) -> frozenset[str]:
    if event.data.get("author_role") == "customer":
        return frozenset({"customer"})
    if event.actor_id is None:
        return frozenset()  # a system message acknowledges nothing
    roles = {"staff"}
    if ticket.assignee_id == event.actor_id:
        roles.add("assignee")
    org = ticket.organization
    if org is not None and org.sales_consultant_id == event.actor_id:
        roles.add(cs.SC)
    if org is not None and org.success_manager_id == event.actor_id:
        roles.add(cs.CSM)
    return frozenset(roles)


def on_ticket_created(event: DomainEvent) -> None:
    ticket = _event_ticket(event)
    if ticket is not None:
        start_ticket(ticket, event.at, new=ticket is event.subject and _in_creation(event))


def on_message_added(event: DomainEvent) -> None:
    kind = event.data.get("kind")
    ticket = _ticket(event.subject_id)
    if ticket is None:
        return
    actionable = event.data.get("actionable")
    ev = cs.Event(
        at=event.at,
        type="reply" if kind == "public" else "note",
        author=_author(event, ticket),
        actionable=None if actionable is None else bool(actionable),
    )
    if ev.type == "note":
        return  # internal notes start, pause and fulfil nothing
    apply(ticket.pk, ev)


def on_status_changed(event: DomainEvent) -> None:
    change = (event.data.get("changes") or {}).get("status")
    if not change:
        return
    apply(event.subject_id, cs.Event(at=event.at, type="status", status=str(change[1])))


def on_updated(event: DomainEvent) -> None:
    changes = event.data.get("changes") or {}
    field = next((f for f in TRACKED_FIELDS if f in changes), None)
    if field is None:
        return
    ticket = _event_ticket(event)
    if ticket is None:
        return
    _apply_built(ticket.pk, lambda: cs.Event(at=event.at, type=field, facts=facts_of(ticket)))


def on_assigned(event: DomainEvent) -> None:
    change = (event.data.get("changes") or {}).get("assignee")
    if not change or _in_creation(event):
        return  # a ticket being created: its clocks start with the assignee (created)

    def build() -> cs.Event:
        ticket = _event_ticket(event)
        return cs.Event(
            at=event.at,
            type="assigned",
            assignee=change[1] is not None,
            facts=facts_of(ticket) if ticket is not None else None,
        )

    _apply_built(event.subject_id, build)


# --- re-match after a policy change -----------------------------------------------------------


def _want_sig(spec: cs.TargetSpec) -> tuple:
    return (spec.target_id, spec.seconds, spec.calendar_name, tuple(sorted(spec.pause_statuses)))


def _stale_tickets(ticket_ids: list[int], wants: dict[int, dict[str, cs.TargetSpec]]) -> list[int]:
    """The tickets whose clocks differ from the targets that apply to them now."""
    have: dict[int, dict[str, tuple]] = defaultdict(dict)
    for lo in range(0, len(ticket_ids), 900):
        for tid, key, tg, secs, cal, ah, pause, susp, done in Clock.objects.filter(
            ticket_id__in=ticket_ids[lo : lo + 900]
        ).values_list(
            "ticket_id",
            "key",
            "target_id",
            "seconds",
            "calendar",
            "after_hours",
            "pause_statuses",
            "suspended",
            "fulfilled_at",
        ):
            have[tid][key] = (tg, secs, cal, ah, tuple(sorted(pause or [])), susp, done)
    stale = []
    for tid in ticket_ids:
        want, got = wants[tid], have.get(tid, {})
        live = {k for k, v in got.items() if not v[5]}
        keys = {k for k, sp in want.items() if sp.kind != cs.NEXT_REPLY or k in got}
        if live != keys:
            stale.append(tid)
            continue
        for k in keys:
            tg, secs, cal, ah, pause, _s, done = got[k]
            sp = want[k]
            if done is not None:
                if tg != sp.target_id:
                    break
                continue
            want_cal = (
                sp.after_hours_name if (ah and sp.after_hours is not None) else sp.calendar_name
            )
            if (tg, secs, cal, pause) != (sp.target_id, sp.seconds, want_cal, _want_sig(sp)[3]):
                break
        else:
            continue
        stale.append(tid)
    return stale


def rematch_open(*, actor: Any = None) -> int:
    """Re-match the open tickets after a policy change (created, edited, deactivated,
    deleted, conditions, position or pause statuses changed): every tracked ticket that is
    not solved or closed whose clocks differ from the targets that apply to it now gets a
    ``policy`` event (``clockstate`` re-match: elapsed time kept, paused clocks on the new
    seconds and calendar, clocks of targets no policy has any more suspended).

    Matching is computed once per distinct set of facts; only the tickets that differ are
    re-folded. Call after ``recompute`` (which moves the running clocks set-based), inside
    the policy edit's transaction. Returns how many tickets were re-matched."""
    policies.invalidate()
    stop = sorted(cs.STOP_STATUSES)
    by_facts: dict[str, dict[str, cs.TargetSpec]] = {}
    wants: dict[int, dict[str, cs.TargetSpec]] = {}
    for tid, f in TicketSla.objects.exclude(facts__status__in=stop).values_list(
        "ticket_id", "facts"
    ):
        f = {k: v for k, v in (f or {}).items() if k in cs.Facts.__dataclass_fields__}
        sig = repr(sorted(f.items()))
        if sig not in by_facts:
            by_facts[sig] = {s.key: s for s in policies.matcher(cs.Facts(**f))}
        wants[tid] = by_facts[sig]
    stale = _stale_tickets(sorted(wants), wants)
    at = now()
    for tid in stale:
        apply(tid, cs.Event(at=at, type="policy"))
    if stale:
        record(
            "sla.recomputed",
            "sla",
            0,
            actor=actor,
            data={"rematched_tickets": len(stale)},
        )
        transaction.on_commit(_wake_clock)
    return len(stale)


# --- timer handlers --------------------------------------------------------------------------


def publish_breach(row: Clock, *, detected_by: str) -> None:
    """Record ``sla.breached`` (audit row + domain event) for the clock row that has just
    become breached. Called exactly where ``breached_at`` goes from NULL to a value, under
    the clock row's lock, so each clock cycle publishes once."""
    record(
        "sla.breached",
        "ticket",
        row.ticket_id,
        ticket_id=row.ticket_id,
        at=now(),
        data={
            "clock": row.key,
            "role": row.role,
            "target": row.kind,
            "cycle": row.cycle,
            "due_at": row.breached_at,
            "seconds": row.seconds,
            "calendar": row.calendar,
            "policy_id": row.policy_id,
            "target_id": row.target_id,
            "detected_by": detected_by,
        },
    )


def _update_upcoming(ticket_id: int) -> None:
    from django.db.models import Min

    upcoming = Clock.objects.filter(
        ticket_id=ticket_id, running_since__isnull=False, breached_at__isnull=True
    ).aggregate(d=Min("due_at"))["d"]
    TicketSla.objects.filter(ticket_id=ticket_id).update(upcoming_deadline=upcoming)


def _live_clock(timer) -> Clock | None:
    p = timer.payload
    qs = Clock.objects.filter(ticket_id=p.get("ticket_id"), key=p.get("key"))
    if connection.in_atomic_block:
        # Wait for an event being applied to this ticket, taking the locks in the order
        # the ticket services do (the ticket row, then its clocks): no deadlock with them.
        from caseline.tickets.models import Ticket

        list(Ticket.objects.select_for_update().filter(pk=p.get("ticket_id")).values_list("pk"))
        qs = qs.select_for_update()
    row = qs.first()
    if row is None or row.cycle != p.get("cycle") or row.fulfilled_at is not None:
        return None  # stale: the clock moved on (its timers were cancelled or moved)
    return row


def _step_of(timer) -> str:
    step = timer.payload.get("step")
    if step:
        return str(step)
    return BREACH_STEP if timer.kind == BREACH_KIND else f"r{timer.payload.get('rule_id')}"


# Steps due at the same moment as the firing one (after-breach rules at + 0 s, a 100 %
# rule) run inline, each as its own timer row created already fired, up to this many:
# in a burst of 5,000 breaches at 08:00 a ticket's escalation then follows its breach at
# once instead of queueing behind the other 4,999 breaches.
MAX_INLINE_STEPS = 5


def _chain(row: Clock, timer) -> None:
    """``timer`` is firing: run the clock's steps due at the same moment inline, then
    schedule the following one (the clock's one pending timer)."""
    row = Clock.objects.filter(pk=row.pk).first()  # the action may have moved the clock
    if row is None or row.cycle != timer.payload.get("cycle") or row.fulfilled_at is not None:
        return
    prefix = timer_key(row.ticket_id, row.key, row.cycle, "")
    existing = [
        (k, d, timer.due_at if k == timer.key else f, ca, fa)  # the firing one counts as fired
        for k, d, f, ca, fa in _cycle_timers(row.ticket_id, row.key, row.cycle)
    ]
    fired = {k[len(prefix) :] for k, _d, f, _c, _x in existing if f is not None}
    fired.add(_step_of(timer))
    moment = epoch_of(timer.due_at)
    for _ in range(MAX_INLINE_STEPS):
        c = _clock_state(row)
        nxt = next_step(c, fired)
        if nxt is None or nxt[0] == BREACH_STEP or nxt[2] > moment:
            break
        if not _fire_inline(row, nxt, prefix + nxt[0]):
            break  # it failed: schedule it as a pending timer (retried with back-off)
        fired.add(nxt[0])
        row = Clock.objects.filter(pk=row.pk).first()  # the action may have changed it
        if row is None or row.cycle != timer.payload.get("cycle") or row.fulfilled_at is not None:
            return
        existing = [
            (k, d, now() if k == prefix + nxt[0] else f, ca, fa) for k, d, f, ca, fa in existing
        ]
    step = _arm(row.ticket_id, _clock_state(row), fired, existing)
    if step != row.step:
        Clock.objects.filter(pk=row.pk).update(step=step)


def _fire_inline(row: Clock, nxt: tuple, key: str) -> bool:
    """Fire a due step now, in a savepoint: its timer row is created (or marked) fired and
    its action runs; False (nothing kept) when the action raised."""
    from django.db.models import F

    from .models import Timer

    name, rule, due = nxt
    try:
        with transaction.atomic():
            current = now()
            timer, created = Timer.objects.get_or_create(
                key=key,
                defaults={
                    "kind": THRESHOLD_KIND,
                    "subject_type": "ticket",
                    "subject_id": row.ticket_id,
                    "due_at": _dt(due),
                    "payload": _payload(row.ticket_id, row.key, row.cycle, name),
                    "fired_at": current,
                    "attempts": 1,
                    "created_at": current,
                },
            )
            if not created and not Timer.objects.filter(pk=timer.pk, fired_at__isnull=True).update(
                fired_at=current,
                cancelled_at=None,
                failed_at=None,
                claimed_until=None,
                attempts=F("attempts") + 1,
            ):
                return True  # fired already (by another clock process): nothing to run
            _run_rule(row, rule.id, timer.due_at)
    except Exception:
        log.exception("SLA step %s failed inline; scheduled as a timer", key)
        return False
    return True


def _run_rule(row: Clock, rule_id: int | None, at: datetime) -> None:
    """Run an escalation rule's action for the clock (``caseline.sla.actions.run``)."""
    rule = EscalationRule.objects.filter(pk=rule_id, active=True).first()
    if rule is None or rule.target_id != row.target_id:
        return
    when = (rule.params or {}).get("when", "always")
    if (when == "after_hours" and not row.after_hours) or (
        when == "business_hours" and row.after_hours
    ):
        return  # the rule is for the other kind of cycle
    ticket = _ticket(row.ticket_id)
    if ticket is None:
        return
    from caseline.sla import actions

    actions.run(
        rule.action,
        ticket=ticket,
        target=row.kind,
        params={
            **rule.params,
            "cycle": f"{row.key}:{row.cycle}",
            "threshold": (
                f"{rule.value}% of {row.kind}"
                if rule.threshold == EscalationRule.Threshold.PERCENT
                else f"{row.kind} breached + {rule.value} s"
            ),
        },
        at=at,
        rule_id=rule.pk,
    )


@timers.handler(BREACH_KIND)
def breach_timer(timer) -> None:
    """Mark the clock breached and publish ``sla.breached`` (once per clock cycle), then
    schedule the clock's next step (the after-breach rules)."""
    row = _live_clock(timer)
    if row is None or row.running_since is None:
        return
    if row.due_at is None:
        return
    if epoch_of(row.due_at) > epoch_of(now()):
        # Not due yet: a recompute moves this very timer with the clock, so this means
        # inconsistent rows. Fail (the timer is retried with back-off) rather than end the
        # clock's chain of timers.
        raise RuntimeError(f"clock {row.pk} is due at {row.due_at}, not yet")
    if row.breached_at is None:
        row.breached_at = row.due_at
        row.state = Clock.State.BREACHED
        row.save(update_fields=["breached_at", "state"])
        publish_breach(row, detected_by="timer")
        _update_upcoming(row.ticket_id)
    _chain(row, timer)


@timers.handler(THRESHOLD_KIND)
def threshold_timer(timer) -> None:
    """Run the escalation rule's action (``caseline.sla.actions.run``) once per cycle, then
    schedule the clock's next step."""
    row = _live_clock(timer)
    if row is None or row.running_since is None:
        return
    _run_rule(row, timer.payload.get("rule_id"), timer.due_at)
    _chain(row, timer)


# --- reading -----------------------------------------------------------------------------------


def clocks_of(ticket_id: int, at: datetime | None = None) -> list[cs.ClockView]:
    """Every clock of a ticket as seen at ``at`` (default now)."""
    _sla, state, _rows = load_state(ticket_id)
    return cs.view(state, at or now())


# --- recompute after a policy or calendar edit ----------------------------------------------


def _ts_type() -> str:
    return "timestamptz" if connection.vendor == "postgresql" else "timestamp"


def _bulk_insert(cur, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Fill a temporary table: COPY on PostgreSQL, executemany on SQLite."""
    if connection.vendor == "postgresql":
        with cur.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join(["%s"] * len(columns))
    cur.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def _temp_table(cursor, name: str, columns: str) -> None:
    cursor.execute(f"DROP TABLE IF EXISTS {name}")
    cursor.execute(f"CREATE TEMPORARY TABLE {name} ({columns})")


def recompute(
    *,
    calendars: Iterable[str] | None = None,
    target_ids: Iterable[int] | None = None,
    actor: Any = None,
) -> int:
    """Recompute the due times of running clocks on the given calendars and/or of the
    given targets (seconds and calendar taken from the target again), with the batch
    ``add_many`` over persisted consumed seconds, and move the clocks, the tickets' next
    deadlines and each clock's ONE pending timer with set-based SQL. Clocks whose due
    time, seconds and calendar do not change are not written. Returns how many clocks
    were recomputed.

    After a calendar edit a clock's pending step stays the same (which steps fired and
    which apply does not depend on the calendar); only its due time moves. After a policy
    edit (``target_ids``) the steps may have changed: the next step is chosen again from
    the steps that have not fired (a rule added after the tickets exist gets its timer).

    Paused and stopped clocks need nothing: their due time is computed when they resume.
    Changed match conditions apply to new tickets and at a ticket's next re-match
    (severity, product area, organization change).
    """
    cal_names = sorted(set(calendars or ()))
    tids = sorted(set(target_ids or ()))
    if not cal_names and not tids:
        return 0
    with transaction.atomic():
        where: list[str] = []
        params: list[Any] = []
        if cal_names:
            where.append(f"calendar IN ({', '.join(['%s'] * len(cal_names))})")
            params += cal_names
        if tids:
            where.append(f"target_id IN ({', '.join(['%s'] * len(tids))})")
            params += tids
        PHASES.clear()
        _MARK[0] = time.perf_counter()
        # Epoch seconds straight from the database (no datetime objects for 100,000 rows).
        with connection.cursor() as cur:
            cur.execute(
                "SELECT id, ticket_id, key, cycle, seconds, consumed, "
                f"{_epoch_sql('running_since')}, calendar, target_id, after_hours, "
                f"{_epoch_sql('breached_at')}, {_epoch_sql('due_at')}, step FROM sla_clock "
                "WHERE running_since IS NOT NULL AND fulfilled_at IS NULL AND "
                f"({' OR '.join(where)})",
                params,
            )
            rows = cur.fetchall()
        _phase("read")
        if not rows:
            return 0
        n = len(rows)
        _recompute_rows(rows, set(tids))
        log.debug("recompute of %d clocks: %s", len(rows), PHASES)
        record(
            "sla.recomputed",
            "sla",
            0,
            actor=actor,
            data={"clocks": n, "calendars": cal_names, "targets": tids},
        )
        transaction.on_commit(_wake_clock)
        return n


def _epoch_sql(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"CAST(FLOOR(EXTRACT(EPOCH FROM {column})) AS bigint)"
    return f"CAST(strftime('%%s', {column}) AS INTEGER)"


def _epochs(values: list[int | None]) -> np.ndarray:
    return np.fromiter((-1 if v is None else v for v in values), dtype=np.int64, count=len(values))


# Seconds spent per phase of the last recompute (a debug log line; the benchmark prints it).
PHASES: dict[str, float] = {}


_MARK = [0.0]


def _phase(name: str) -> None:
    t = time.perf_counter()
    PHASES[name] = round(t - _MARK[0], 3)
    _MARK[0] = t


def _recompute_rows(rows: list[tuple], tids: set[int]) -> None:
    (
        ids,
        tickets,
        ckeys,
        cycles,
        old_secs,
        consumed_l,
        since_l,
        old_cals,
        tgt_ids,
        ahs,
        breached_l,
        old_due_l,
        old_steps,
    ) = (list(col) for col in zip(*rows, strict=True))
    n = len(rows)
    targets: dict[int, tuple[int, str]] = {}
    if tids:
        for t in Target.objects.filter(pk__in=tids).select_related("calendar"):
            name = t.calendar.name if (t.business and t.calendar_id) else "24x7"
            targets[t.pk] = (t.seconds, name)
    seconds = np.asarray(old_secs, dtype=np.int64)
    old_seconds = seconds.copy()
    consumed = np.asarray(consumed_l, dtype=np.int64)
    since = _epochs(since_l)
    old_due = _epochs(old_due_l)
    cals = list(old_cals)
    if targets:
        for i, tg in enumerate(tgt_ids):
            spec = targets.get(tg)
            if spec is not None:
                seconds[i] = spec[0]
                if not ahs[i]:
                    cals[i] = spec[1]
    due = np.empty(n, dtype=np.int64)
    by_cal: dict[str, list[int]] = defaultdict(list)
    for i, name in enumerate(cals):
        by_cal[name].append(i)
    rem = seconds - consumed
    for name, idx_list in by_cal.items():
        idx = np.asarray(idx_list, dtype=np.int64)
        due[idx] = get_calendar(name).add_many(since[idx], np.maximum(rem[idx], 0))
    # A clock already over its (new) target: due = its breach instant, or since.
    for i in np.nonzero(rem <= 0)[0].tolist():
        b = breached_l[i]
        due[i] = b if b is not None else since[i]

    # The pending step of each clock, and its due time.
    steps_of: dict[int | None, dict[str, policies.RuleSpec | None]] = {}
    for tg in set(tgt_ids):
        steps_of[tg] = dict(steps_for(tg))
    new_steps = list(old_steps)
    step_due = np.full(n, -1, dtype=np.int64)
    general = [
        i
        for i in range(n)
        if tgt_ids[i] in tids or (old_steps[i] and old_steps[i] not in steps_of[tgt_ids[i]])
    ]
    if general:
        fired = _fired_steps(sorted({tickets[i] for i in general}))
        for i in general:
            c = cs.ClockState(
                key=ckeys[i],
                role="",
                kind="",
                seconds=int(seconds[i]),
                calendar=get_calendar(cals[i]),
                calendar_name=cals[i],
                pause_statuses=frozenset(),
                cycle=cycles[i],
                started_at=0,
                running_since=int(since[i]),
                consumed=int(consumed[i]),
                due=int(due[i]),
                breached_at=breached_l[i],
                target_id=tgt_ids[i],
            )
            prefix = timer_key(tickets[i], ckeys[i], cycles[i], "")
            nxt = next_step(c, fired.get(prefix, set()))
            new_steps[i] = nxt[0] if nxt else ""
            step_due[i] = nxt[2] if nxt else -1
    general_set = set(general)
    # The fast path, vectorised per (calendar, step): the step stays, its due time moves.
    work: dict[tuple[str, str, int | None], list[int]] = defaultdict(list)
    for i, key in enumerate(zip(cals, old_steps, tgt_ids, strict=True)):
        if key[1] and i not in general_set:
            work[key].append(i)
    for (cal_name, step, tg), idx_list in work.items():
        idx = np.asarray(idx_list, dtype=np.int64)
        rule = steps_of[tg][step]
        if rule is None or (
            rule.threshold == EscalationRule.Threshold.PERCENT and rule.value >= 100
        ):
            step_due[idx] = due[idx]
        elif rule.threshold == EscalationRule.Threshold.PERCENT:
            need = np.ceil(seconds[idx] * rule.value / 100).astype(np.int64)
            step_due[idx] = get_calendar(cal_name).add_many(
                since[idx], np.maximum(need - consumed[idx], 0)
            )
        else:
            step_due[idx] = due[idx] + rule.value

    changed = (due != old_due) | (seconds != old_seconds)
    if tids or general:  # the calendar, the step may change too
        ch_idx = [
            i
            for i in range(n)
            if changed[i] or cals[i] != old_cals[i] or new_steps[i] != old_steps[i]
        ]
    else:  # a calendar edit: only due times move
        ch_idx = np.nonzero(changed)[0].tolist()
    if not ch_idx:
        return
    due_s = _dt_strings(due[ch_idx])
    if tids or any(new_steps[i] != old_steps[i] for i in ch_idx):
        # a policy edit may change the seconds, the calendar and the step too
        sec_l = seconds[ch_idx].tolist()
        clock_cols = [
            ("due_at", _ts_type()),
            ("seconds", "bigint"),
            ("calendar", "varchar(100)"),
            ("step", "varchar(40)"),
        ]
        clock_rows = [
            (ids[i], due_s[j], sec_l[j], cals[i], new_steps[i]) for j, i in enumerate(ch_idx)
        ]
    else:  # a calendar edit moves due times only
        clock_cols = [("due_at", _ts_type())]
        clock_rows = [(ids[i], due_s[j]) for j, i in enumerate(ch_idx)]
    t_idx = [i for i in ch_idx if new_steps[i]]
    t_due = _dt_strings(step_due[t_idx])
    timer_rows = [
        (timer_key(tickets[i], ckeys[i], cycles[i], new_steps[i]), t_due[j])
        for j, i in enumerate(t_idx)
    ]
    gone = [
        timer_key(tickets[i], ckeys[i], cycles[i], old_steps[i])
        for i in ch_idx
        if old_steps[i] and old_steps[i] != new_steps[i]
    ]
    _phase("compute")
    with connection.cursor() as cur:
        _bulk_update(
            cur,
            "sla_clock",
            ("id", "bigint"),
            clock_cols,
            clock_rows,
        )
        _phase("clocks")
        _update_next_deadlines(cur, sorted({tickets[i] for i in ch_idx}))
        _phase("next_deadlines")
        if gone:
            _bulk_update(
                cur,
                "sla_timer",
                ("key", "varchar(200)"),
                [],
                [(k,) for k in gone],
                set_sql="cancelled_at = %s, claimed_until = NULL",
                set_params=[connection.ops.adapt_datetimefield_value(now())],
                where="sla_timer.fired_at IS NULL AND sla_timer.cancelled_at IS NULL",
            )
        if timer_rows:
            moved = _bulk_update(
                cur,
                "sla_timer",
                ("key", "varchar(200)"),
                [("due_at", _ts_type())],
                timer_rows,
                set_sql="cancelled_at = NULL, failed_at = NULL, claimed_until = NULL, "
                "attempts = 0, last_error = ''",
                where="sla_timer.fired_at IS NULL",
            )
            _phase("timers")
            if moved < len(timer_rows):
                _insert_missing_timers(
                    cur,
                    [
                        (
                            timer_key(tickets[i], ckeys[i], cycles[i], new_steps[i]),
                            t_due[j],
                            _kind_of(new_steps[i]),
                            tickets[i],
                            ckeys[i],
                            cycles[i],
                            new_steps[i],
                        )
                        for j, i in enumerate(t_idx)
                    ],
                )


def _fired_steps(ticket_ids: list[int]) -> dict[str, set[str]]:
    """Fired SLA steps per clock cycle (key prefix ``sla:<ticket>:<clock>:<cycle>:``)."""
    from .models import Timer

    out: dict[str, set[str]] = defaultdict(set)
    for lo in range(0, len(ticket_ids), 900):
        for key in Timer.objects.filter(
            subject_type="ticket",
            subject_id__in=ticket_ids[lo : lo + 900],
            kind__in=[BREACH_KIND, THRESHOLD_KIND],
            fired_at__isnull=False,
        ).values_list("key", flat=True):
            prefix, _, step = key.rpartition(":")
            out[prefix + ":"].add(step)
    return out


def _bulk_update(
    cur,
    table: str,
    match: tuple[str, str],
    cols: list[tuple[str, str]],
    rows: list[tuple],
    *,
    set_sql: str = "",
    set_params: list | None = None,
    where: str = "",
) -> int:
    """UPDATE ``table`` from rows (match value first, then ``cols``); returns the count.

    PostgreSQL: COPY into a temporary table and one UPDATE ... FROM. SQLite: an
    executemany of the one-row UPDATE (an indexed lookup each, no temporary table)."""
    if not rows:
        return 0
    sets = [f"{c} = t.{c}" for c, _ in cols]
    if connection.vendor == "postgresql":
        tmp = f"sla_tmp_{table}"
        _temp_table(
            cur,
            tmp,
            ", ".join([f"{match[0]} {match[1]} primary key"] + [f"{c} {t}" for c, t in cols]),
        )
        _bulk_insert(cur, tmp, (match[0],) + tuple(c for c, _ in cols), rows)
        cur.execute(
            f"UPDATE {table} SET {', '.join(sets + ([set_sql] if set_sql else []))} FROM {tmp} t "
            f"WHERE {table}.{match[0]} = t.{match[0]}" + (f" AND {where}" if where else ""),
            list(set_params or []),
        )
        return cur.rowcount
    sets = [f"{c} = %s" for c, _ in cols] + ([set_sql] if set_sql else [])
    extra = list(set_params or [])
    sql = f"UPDATE {table} SET {', '.join(sets)} WHERE {match[0]} = %s" + (
        f" AND {where}" if where else ""
    )
    cur.executemany(sql, [(*r[1:], *extra, r[0]) for r in rows])
    return cur.rowcount


def _update_next_deadlines(cur, ticket_ids: list[int]) -> None:
    _temp_table(cur, "sla_tmp_ticket", "ticket_id bigint primary key")
    _bulk_insert(cur, "sla_tmp_ticket", ("ticket_id",), [(t,) for t in ticket_ids])
    distinct = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
    cur.execute(
        "UPDATE sla_ticket SET next_deadline = m.d, upcoming_deadline = m.u FROM "
        "(SELECT c.ticket_id, MIN(c.due_at) AS d, "
        "MIN(CASE WHEN c.breached_at IS NULL THEN c.due_at END) AS u "
        "FROM sla_clock c JOIN sla_tmp_ticket x ON x.ticket_id = c.ticket_id "
        "WHERE c.running_since IS NOT NULL GROUP BY c.ticket_id) m "
        f"WHERE sla_ticket.ticket_id = m.ticket_id AND (sla_ticket.next_deadline {distinct} m.d "
        f"OR sla_ticket.upcoming_deadline {distinct} m.u)"
    )
    cur.execute(
        "UPDATE tickets_ticket SET next_due_at = s.next_deadline FROM sla_ticket s "
        "JOIN sla_tmp_ticket x ON x.ticket_id = s.ticket_id "
        f"WHERE s.ticket_id = tickets_ticket.id AND tickets_ticket.next_due_at {distinct} "
        "s.next_deadline"
    )


def _dt_strings(epochs) -> list[str]:
    """Epoch seconds as the database's datetime literals (vectorised)."""
    arr = np.datetime_as_string(
        np.asarray(epochs, dtype=np.int64).astype("datetime64[s]"), unit="s"
    )
    if connection.vendor == "postgresql":
        return np.char.add(arr, "+00:00").tolist()
    return np.char.replace(arr, "T", " ").tolist()


def _insert_missing_timers(cur, timer_rows: list[tuple]) -> None:
    """Create the pending timers that do not exist yet.

    Rows: (key, due_at literal, kind, ticket_id, clock key, cycle, step).
    """
    _temp_table(
        cur,
        "sla_tmp_timer",
        f"key varchar(200) primary key, due_at {_ts_type()}, kind varchar(60), "
        "ticket_id bigint, ckey varchar(60), cycle integer, step varchar(40)",
    )
    _bulk_insert(
        cur,
        "sla_tmp_timer",
        ("key", "due_at", "kind", "ticket_id", "ckey", "cycle", "step"),
        timer_rows,
    )
    obj = "jsonb_build_object" if connection.vendor == "postgresql" else "json_object"
    rule_id = (
        "CAST(SUBSTR(t.step, 2) AS bigint)"
        if connection.vendor == "postgresql"
        else "CAST(SUBSTR(t.step, 2) AS INTEGER)"
    )
    payload = (
        f"CASE WHEN t.step = 'breach' THEN {obj}('ticket_id', t.ticket_id, 'key', t.ckey, "
        f"'cycle', t.cycle, 'step', t.step) ELSE {obj}('ticket_id', t.ticket_id, 'key', t.ckey, "
        f"'cycle', t.cycle, 'step', t.step, 'rule_id', {rule_id}) END"
    )
    created = connection.ops.adapt_datetimefield_value(now())
    cur.execute(
        "INSERT INTO sla_timer (subject_type, subject_id, kind, due_at, key, payload, attempts, "
        "last_error, created_at) "
        f"SELECT 'ticket', t.ticket_id, t.kind, t.due_at, t.key, {payload}, 0, '', %s "
        "FROM sla_tmp_timer t WHERE NOT EXISTS (SELECT 1 FROM sla_timer x WHERE x.key = t.key)",
        [created],
    )


def _wake_clock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT pg_notify(%s, '')", [timers.NOTIFY_CHANNEL])
