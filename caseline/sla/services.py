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
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import numpy as np
from django.db import connection, transaction

from caseline.audit.services import record
from caseline.clock import epoch_of, utc_of
from caseline.events import DomainEvent
from caseline.timesource import now

from . import clockstate as cs
from . import policies, timers
from .calendars import get_calendar
from .models import Clock, EscalationRule, Target, TicketSla

log = logging.getLogger(__name__)

BREACH_KIND = "sla.breach"
THRESHOLD_KIND = "sla.threshold"
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
    )


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
        "replied": sorted(state.replied),
    }


def _ts(dt: datetime | None) -> int | None:
    return None if dt is None else epoch_of(dt)


def _dt(ts: int | None) -> datetime | None:
    return None if ts is None else utc_of(ts)


def _clock_state(row: Clock) -> cs.ClockState:
    return cs.ClockState(
        key=row.key,
        role=row.role,
        kind=row.kind,
        seconds=row.seconds,
        calendar=get_calendar(row.calendar),
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
    )


def load_state(ticket_id: int) -> tuple[TicketSla | None, cs.TicketState | None, dict[str, Clock]]:
    sla = TicketSla.objects.filter(ticket_id=ticket_id).first()
    if sla is None:
        return None, None, {}
    rows = {c.key: c for c in Clock.objects.filter(ticket_id=ticket_id)}
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
    return Clock.State.ACTIVE if c.running else Clock.State.PAUSED


def _write_clock(ticket_id: int, c: cs.ClockState, row: Clock | None, at: int) -> Clock:
    values = {
        "role": c.role,
        "kind": c.kind,
        "policy_id": c.policy_id,
        "target_id": c.target_id,
        "cycle": c.cycle,
        "seconds": c.seconds,
        "calendar": c.calendar_name,
        "pause_statuses": sorted(c.pause_statuses),
        "after_hours": c.after_hours,
        "state": _state_of(c, at),
        "started_at": _dt(c.started_at),
        "running_since": _dt(c.running_since),
        "consumed": c.consumed,
        "due_at": _dt(c.due),
        "paused_at": _dt(c.paused_at),
        "fulfilled_at": _dt(c.fulfilled_at),
        "breached_at": _dt(c.breached_at),
        "updated_at": _dt(at),
    }
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
        _write_clock(ticket_id, c, rows.get(key), at)
        _sync_timers(ticket_id, c)
    for key in set(old_clocks) - set(new.clocks):
        _cancel_timers(ticket_id, old_clocks[key])
        if key in rows:
            rows[key].delete()
    deadline = cs.next_deadline(new)
    facts = _facts_json(new)
    if sla is None:
        TicketSla.objects.create(
            ticket_id=ticket_id, facts=facts, next_deadline=deadline, updated_at=_dt(at)
        )
    elif sla.facts != facts or sla.next_deadline != deadline:
        TicketSla.objects.filter(ticket_id=ticket_id).update(
            facts=facts, next_deadline=deadline, updated_at=_dt(at)
        )


# --- timers ----------------------------------------------------------------------------------


def timer_key(ticket_id: int, clock_key: str, cycle: int, what: str) -> str:
    return f"sla:{ticket_id}:{clock_key}:{cycle}:{what}"


def threshold_seconds(seconds: int, percent: int) -> int:
    return math.ceil(seconds * percent / 100)


def _rule_due(c: cs.ClockState, rule: policies.RuleSpec) -> int | None:
    """When ``rule`` fires for the running clock ``c`` (None: already passed / not now)."""
    if rule.threshold == EscalationRule.Threshold.PERCENT:
        need = threshold_seconds(c.seconds, rule.value)
        if c.running_since is None or (c.consumed >= need and rule.value < 100):
            return None
        if rule.value >= 100:
            return c.due
        return c.calendar.add_ts(c.running_since, need - c.consumed)
    if c.due is None:
        return None
    return c.due + rule.value


def _sync_timers(ticket_id: int, c: cs.ClockState) -> None:
    payload = {"ticket_id": ticket_id, "key": c.key, "cycle": c.cycle}
    live = c.running and not c.done and c.due is not None
    breach_key = timer_key(ticket_id, c.key, c.cycle, "breach")
    if live and c.breached_at is None:
        timers.schedule(BREACH_KIND, "ticket", ticket_id, _dt(c.due), breach_key, payload)  # type: ignore[arg-type]
    else:
        timers.cancel(breach_key)
    for rule in policies.rules_for(c.target_id):
        key = timer_key(ticket_id, c.key, c.cycle, f"r{rule.id}")
        due = _rule_due(c, rule) if live else None
        if due is None:
            timers.cancel(key)
        else:
            timers.schedule(
                THRESHOLD_KIND, "ticket", ticket_id, _dt(due), key, {**payload, "rule_id": rule.id}
            )  # type: ignore[arg-type]


def _cancel_timers(ticket_id: int, c: cs.ClockState) -> None:
    prefix = timer_key(ticket_id, c.key, c.cycle, "")
    from .models import Timer

    Timer.objects.filter(
        subject_type="ticket",
        subject_id=ticket_id,
        key__startswith=prefix,
        fired_at__isnull=True,
        cancelled_at__isnull=True,
    ).update(cancelled_at=now(), claimed_until=None)


# --- applying events -------------------------------------------------------------------------


def apply(ticket_id: int, event: cs.Event) -> cs.TicketState | None:
    """Apply one timeline event to the ticket's stored clocks (inside a transaction)."""
    sla, state, rows = load_state(ticket_id)
    if state is None and event.type != "created":
        return None  # a ticket the SLA engine does not track (created before it existed)
    new = cs.step(state, event, policies.matcher)
    save_state(ticket_id, sla, state, new, rows, event.ts)
    return new


def start_ticket(ticket: Any, at: datetime | None = None) -> cs.TicketState | None:
    """Start the clocks of ``ticket`` (idempotent: an already tracked ticket is left)."""
    if TicketSla.objects.filter(ticket_id=ticket.pk).exists():
        return None
    ev = cs.Event(at=at or ticket.created_at, type="created", facts=facts_of(ticket))
    return apply(ticket.pk, ev)


def _ticket(ticket_id: int):
    from caseline.tickets.models import Ticket

    return Ticket.objects.select_related("organization").filter(pk=ticket_id).first()


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
    ticket = _ticket(event.subject_id)
    if ticket is not None:
        start_ticket(ticket, event.at)


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
    ticket = _ticket(event.subject_id)
    if ticket is None:
        return
    apply(ticket.pk, cs.Event(at=event.at, type=field, facts=facts_of(ticket)))


def on_assigned(event: DomainEvent) -> None:
    change = (event.data.get("changes") or {}).get("assignee")
    if not change:
        return
    apply(event.subject_id, cs.Event(at=event.at, type="assigned", assignee=change[1] is not None))


# --- timer handlers --------------------------------------------------------------------------


def _live_clock(timer) -> Clock | None:
    p = timer.payload
    row = Clock.objects.filter(ticket_id=p.get("ticket_id"), key=p.get("key")).first()
    if row is None or row.cycle != p.get("cycle") or row.fulfilled_at is not None:
        return None  # stale: the clock moved on (its timers were cancelled or moved)
    return row


@timers.handler(BREACH_KIND)
def breach_timer(timer) -> None:
    """Mark the clock breached and publish ``sla.breached`` (once per clock cycle)."""
    row = _live_clock(timer)
    if row is None or row.running_since is None or row.breached_at is not None:
        return
    if row.due_at is None or row.due_at > now():
        return  # moved later meanwhile (a recompute); the moved timer fires then
    row.breached_at = row.due_at
    row.state = Clock.State.BREACHED
    row.save(update_fields=["breached_at", "state"])
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
            "due_at": row.due_at,
            "seconds": row.seconds,
            "calendar": row.calendar,
            "policy_id": row.policy_id,
            "target_id": row.target_id,
        },
    )


@timers.handler(THRESHOLD_KIND)
def threshold_timer(timer) -> None:
    """Run the escalation rule's action (``caseline.sla.actions.run``) once per cycle."""
    row = _live_clock(timer)
    if row is None:
        return
    rule = EscalationRule.objects.filter(pk=timer.payload.get("rule_id"), active=True).first()
    if rule is None or rule.target_id != row.target_id:
        return
    if rule.threshold == EscalationRule.Threshold.PERCENT and row.running_since is None:
        return
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
        at=timer.due_at,
        rule_id=rule.pk,
    )


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
    ``add_many`` over persisted consumed seconds, and move their timers and the tickets'
    next deadlines with set-based SQL. Returns how many clocks were recomputed.

    Paused and stopped clocks need nothing: their due time is computed when they resume.
    Changed match conditions apply to new tickets and at a ticket's next re-match
    (severity, product area, organization change).
    """
    cal_names = sorted(set(calendars or ()))
    tids = sorted(set(target_ids or ()))
    if not cal_names and not tids:
        return 0
    with transaction.atomic():
        from django.db.models import Q

        qs = Clock.objects.filter(running_since__isnull=False, fulfilled_at__isnull=True)
        cond = Q()
        if cal_names:
            cond |= Q(calendar__in=cal_names)
        if tids:
            cond |= Q(target_id__in=tids)
        rows = list(
            qs.filter(cond).values_list(
                "id",
                "ticket_id",
                "key",
                "cycle",
                "seconds",
                "consumed",
                "running_since",
                "calendar",
                "target_id",
                "after_hours",
                "breached_at",
            )
        )
        if not rows:
            return 0
        targets = {}
        if tids:
            for t in Target.objects.filter(pk__in=tids).select_related("calendar"):
                name = t.calendar.name if (t.business and t.calendar_id) else "24x7"
                targets[t.pk] = (t.seconds, name)
        n = len(rows)
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=n)
        seconds = np.fromiter((r[4] for r in rows), dtype=np.int64, count=n)
        consumed = np.fromiter((r[5] for r in rows), dtype=np.int64, count=n)
        since = np.fromiter((int(r[6].timestamp()) for r in rows), dtype=np.int64, count=n)
        cals = [r[7] for r in rows]
        for i, r in enumerate(rows):
            tgt = targets.get(r[8])
            if tgt is not None:
                seconds[i] = tgt[0]
                if not r[9]:
                    cals[i] = tgt[1]
        due = np.empty(n, dtype=np.int64)
        by_cal: dict[str, list[int]] = defaultdict(list)
        for i, name in enumerate(cals):
            by_cal[name].append(i)
        rem = seconds - consumed
        for name, idx_list in by_cal.items():
            idx = np.asarray(idx_list, dtype=np.int64)
            cal = get_calendar(name)
            due[idx] = cal.add_many(since[idx], np.maximum(rem[idx], 0))
        # A clock already over its (new) target: due = its breach instant, or since.
        over = rem <= 0
        for i in np.nonzero(over)[0]:
            b = rows[i][10]
            due[i] = int(b.timestamp()) if b is not None else since[i]

        due_dt = _dt_strings(due)
        with connection.cursor() as cur:
            _temp_table(
                cur,
                "sla_tmp_clock",
                f"id bigint primary key, due_at {_ts_type()}, seconds bigint, calendar varchar(100)",
            )
            _bulk_insert(
                cur,
                "sla_tmp_clock",
                ("id", "due_at", "seconds", "calendar"),
                list(zip(ids.tolist(), due_dt, seconds.tolist(), cals, strict=True)),
            )
            cur.execute(
                "UPDATE sla_clock SET due_at = t.due_at, seconds = t.seconds, calendar = t.calendar "
                "FROM sla_tmp_clock t WHERE sla_clock.id = t.id"
            )
            cur.execute(
                "UPDATE sla_ticket SET next_deadline = (SELECT MIN(c.due_at) FROM sla_clock c "
                "WHERE c.ticket_id = sla_ticket.ticket_id AND c.running_since IS NOT NULL) "
                "WHERE ticket_id IN (SELECT c2.ticket_id FROM sla_clock c2 "
                "JOIN sla_tmp_clock t2 ON t2.id = c2.id)"
            )
            # Timers: the breach timer of each clock, then every rule's threshold.
            t_keys: list[str] = []
            t_due: list[int] = []
            t_kind: list[str] = []
            t_ticket: list[int] = []
            t_ckey: list[str] = []
            t_cycle: list[int] = []
            t_rule: list[int | None] = []
            due_list = due.tolist()
            for i, r in enumerate(rows):
                if r[10] is None:
                    t_keys.append(f"sla:{r[1]}:{r[2]}:{r[3]}:breach")
                    t_due.append(due_list[i])
                    t_kind.append(BREACH_KIND)
                    t_ticket.append(r[1])
                    t_ckey.append(r[2])
                    t_cycle.append(r[3])
                    t_rule.append(None)
            for i, rule_id, at in _rule_timers(rows, seconds, consumed, since, due, cals):
                r = rows[i]
                t_keys.append(f"sla:{r[1]}:{r[2]}:{r[3]}:r{rule_id}")
                t_due.append(at)
                t_kind.append(THRESHOLD_KIND)
                t_ticket.append(r[1])
                t_ckey.append(r[2])
                t_cycle.append(r[3])
                t_rule.append(rule_id)
            due_str = _dt_strings(np.asarray(t_due, dtype=np.int64))
            _upsert_timers(
                cur,
                list(zip(t_keys, due_str, t_kind, t_ticket, t_ckey, t_cycle, t_rule, strict=True)),
            )
        record(
            "sla.recomputed",
            "sla",
            0,
            actor=actor,
            data={"clocks": n, "calendars": cal_names, "targets": tids},
        )
        transaction.on_commit(_wake_clock)
        return n


def _rule_timers(rows, seconds, consumed, since, due, cals):
    """(clock index, rule id, epoch) of every escalation rule threshold still ahead."""
    target_ids = sorted({r[8] for r in rows if r[8] is not None})
    rules_by_target: dict[int, list[EscalationRule]] = defaultdict(list)
    for rule in EscalationRule.objects.filter(target_id__in=target_ids, active=True):
        rules_by_target[rule.target_id].append(rule)
    if not rules_by_target:
        return
    work: dict[tuple[str, int], list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        for rule in rules_by_target.get(r[8], ()):
            work[(cals[i], rule.pk)].append(i)
    rule_obj = {rule.pk: rule for rs in rules_by_target.values() for rule in rs}
    for (cal_name, rule_id), idx_list in work.items():
        rule = rule_obj[rule_id]
        idx = np.asarray(idx_list, dtype=np.int64)
        if rule.threshold == EscalationRule.Threshold.PERCENT:
            need = np.ceil(seconds[idx] * rule.value / 100).astype(np.int64)
            todo = need > consumed[idx]
            if rule.value >= 100:
                at = due[idx]
            else:
                at = get_calendar(cal_name).add_many(
                    since[idx], np.maximum(need - consumed[idx], 0)
                )
        else:
            todo = np.ones(idx.size, dtype=bool)
            at = due[idx] + rule.value
        for i, a, ok in zip(idx.tolist(), at.tolist(), todo.tolist(), strict=True):
            if ok:
                yield i, rule_id, a


def _dt_strings(epochs) -> list[str]:
    """Epoch seconds as the database's datetime literals (vectorised)."""
    arr = np.datetime_as_string(
        np.asarray(epochs, dtype=np.int64).astype("datetime64[s]"), unit="s"
    )
    if connection.vendor == "postgresql":
        return np.char.add(arr, "+00:00").tolist()
    return np.char.replace(arr, "T", " ").tolist()


def _upsert_timers(cur, timer_rows: list[tuple]) -> None:
    """Move the unfired timers of these keys; create the missing ones.

    Rows: (key, due_at literal, kind, ticket_id, clock key, cycle, rule_id or None).
    """
    if not timer_rows:
        return
    _temp_table(
        cur,
        "sla_tmp_timer",
        f"key varchar(200) primary key, due_at {_ts_type()}, kind varchar(60), "
        "ticket_id bigint, ckey varchar(60), cycle integer, rule_id bigint",
    )
    _bulk_insert(
        cur,
        "sla_tmp_timer",
        ("key", "due_at", "kind", "ticket_id", "ckey", "cycle", "rule_id"),
        timer_rows,
    )
    cur.execute(
        "UPDATE sla_timer SET due_at = t.due_at, cancelled_at = NULL, failed_at = NULL, "
        "claimed_until = NULL, attempts = 0, last_error = '' "
        "FROM sla_tmp_timer t WHERE sla_timer.key = t.key AND sla_timer.fired_at IS NULL "
        "AND sla_timer.due_at <> t.due_at"
    )
    if connection.vendor == "postgresql":
        payload = (
            "CASE WHEN t.rule_id IS NULL THEN jsonb_build_object('ticket_id', t.ticket_id, "
            "'key', t.ckey, 'cycle', t.cycle) ELSE jsonb_build_object('ticket_id', t.ticket_id, "
            "'key', t.ckey, 'cycle', t.cycle, 'rule_id', t.rule_id) END"
        )
    else:
        payload = (
            "CASE WHEN t.rule_id IS NULL THEN json_object('ticket_id', t.ticket_id, "
            "'key', t.ckey, 'cycle', t.cycle) ELSE json_object('ticket_id', t.ticket_id, "
            "'key', t.ckey, 'cycle', t.cycle, 'rule_id', t.rule_id) END"
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
