"""API benchmark: bulk seeding speed, then ticket create / list under granian, measured by wrk.

For each database (an SQLite file in a temporary directory, and PostgreSQL database
``caseline_bench`` on postgres://root@127.0.0.1:5432/, dropped and created):

1. migrate, seed the demo accounts through the services, then bulk-insert N tickets
   (default 100,000) with 3 messages each, writing the rows the services write (ticket,
   messages, audit events, followers, and the SLA subscriber's sla_ticket, sla_clock and
   timer rows: see ``SlaSeeder``; ``verify_sla`` checks 200 random tickets against the
   pure engine), with COPY (PostgreSQL) / executemany (SQLite), the rows generated in a
   forked process (``--seed-workers``) while the seeder writes; SQLite's secondary
   indexes are dropped during the load and rebuilt after it (counted in the time);
   reports rows/s and tickets/s;
2. start ``caseline serve --workers 2`` (granian) on a free 127.0.0.1 port, create a token,
   and measure with wrk (-t2 -c8, a warm-up, then >= 10,000 requests per scenario):
   (a) POST /api/v1/tickets, (b) GET /api/v1/tickets?status=open&team=<id> first page,
   (c) the same with a cursor ~5,000 rows deep;
3. print a Markdown table.

Usage:  .venv/bin/python bench/api_bench.py [--tickets N] [--requests N] [--db sqlite,postgres]
Never part of the test suite. Every step is bounded by a timeout; the server is always
stopped at the end.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WRK_DIR = Path(__file__).resolve().parent / "wrk"
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgres://root@127.0.0.1:5432/postgres")
PG_DB = "caseline_bench"
THREADS, CONNECTIONS = 2, 8
DEEP_ROWS = 5000
BENCH_SQLITE_JOURNAL = os.environ.get("BENCH_SQLITE_JOURNAL", "MEMORY")
# Drop the secondary indexes around the load on: "sqlite" (default; measured here: -10 %
# CPU with the rebuild counted), "all", "none" (PostgreSQL measured faster keeping them:
# 14.9 s vs 21.0 s for 20,000 tickets, the rebuild taking 3.8 s).
BENCH_DROP_INDEXES = os.environ.get("BENCH_DROP_INDEXES", "sqlite")
BENCH_USER = "sam.carter@caseline.demo"  # a support engineer (not a superuser)

# --- the seeding child (runs inside Django) -------------------------------------------


def seed_main(n_tickets: int, batch: int, method: str, workers: int = 1) -> None:
    """Runs in a child process whose environment selects the database."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "caseline.settings")
    django.setup()
    from django.core.management import call_command

    t0 = time.monotonic()
    call_command("migrate", interactive=False, verbosity=0)
    t_migrate = time.monotonic() - t0

    from caseline.demo.seed import seed

    t0 = time.monotonic()
    seed(tickets=0)  # accounts, staff, teams, product areas, rules through the services
    t_accounts = time.monotonic() - t0

    def progress(done: int, rows: int, seconds: float) -> None:
        print(
            f"  seeded {done:>7,} tickets  {rows:>9,} rows  "
            f"{done / seconds:>7,.0f} tickets/s  {rows / seconds:>8,.0f} rows/s",
            file=sys.stderr,
            flush=True,
        )

    result = bulk_tickets(n_tickets, batch=batch, progress=progress, method=method, workers=workers)
    result["sla_check"] = verify_sla(200)

    from caseline.accounts.models import ContactEmail, User
    from caseline.accounts.tokens import create_token

    user = User.objects.get(email=BENCH_USER)
    _, secret = create_token(user, "bench")
    emails = list(ContactEmail.objects.order_by("id").values_list("email", flat=True)[:20])
    print(
        "BENCH_SEED "
        + json.dumps(
            {
                **result,
                "migrate_seconds": round(t_migrate, 2),
                "accounts_seconds": round(t_accounts, 2),
                "token": secret,
                "emails": emails,
            }
        ),
        flush=True,
    )


BULK_STATUSES = [
    ("new", 10),
    ("open", 35),
    ("pending", 15),
    ("on_hold", 5),
    ("solved", 20),
    ("closed", 15),
]
STATUS_PATHS = {
    "new": [],
    "open": ["open"],
    "pending": ["open", "pending"],
    "on_hold": ["open", "on_hold"],
    "solved": ["open", "solved"],
    "closed": ["open", "solved", "closed"],
}

# The columns written per table (every NOT NULL column must be here; checked at start).
TICKET_COLS = [
    "id",
    "subject",
    "requester_id",
    "organization_id",
    "product_area_id",
    "severity",
    "priority",
    "status",
    "channel",
    "assignee_id",
    "team_id",
    "satisfaction",
    "satisfaction_comment",
    "external_id",
    "created_at",
    "updated_at",
    "solved_at",
    "closed_at",
]
MESSAGE_COLS = [
    "id",
    "ticket_id",
    "kind",
    "author_user_id",
    "author_contact_id",
    "channel",
    "body_text",
    "body_html",
    "email_message_id",
    "created_at",
]
AUDIT_COLS = [  # no id: the database numbers the rows (generated in another process)
    "subject_type",
    "subject_id",
    "ticket_id",
    "type",
    "actor_id",
    "actor_label",
    "at",
    "field",
    "old",
    "new",
    "data",
]
FOLLOWER_COLS = ["ticket_id", "user_id"]
CLOCK_COLS = [
    "ticket_id",
    "key",
    "role",
    "kind",
    "policy_id",
    "target_id",
    "cycle",
    "seconds",
    "calendar",
    "pause_statuses",
    "after_hours",
    "suspended",
    "state",
    "started_at",
    "running_since",
    "consumed",
    "due_at",
    "paused_at",
    "fulfilled_at",
    "breached_at",
    "step",
    "updated_at",
]
TIMER_COLS = [
    "subject_type",
    "subject_id",
    "kind",
    "due_at",
    "key",
    "payload",
    "fired_at",
    "claimed_until",
    "attempts",
    "last_error",
    "created_at",
    "cancelled_at",
    "failed_at",
]
SLA_COLS = ["ticket_id", "facts", "next_deadline", "upcoming_deadline", "updated_at"]


class RowWriter:
    """Writes rows (tuples in a given column order) of one model.

    ``bulk_create``: model instances and ``Model.objects.bulk_create`` (the ORM path, whose
    per-value SQL compilation dominates: ~60 us per row here). ``copy`` (default): the same
    rows, already in the database's representation, with ``executemany`` (SQLite) or
    ``COPY ... FROM STDIN`` (PostgreSQL).
    """

    def __init__(self, method: str):
        from django.db import connection

        self.method = method
        self.connection = connection
        self.vendor = connection.vendor
        self.pg = self.vendor == "postgresql"
        self.triggers_off = False
        self._ts_cache: dict[int, Any] = {}

    @staticmethod
    def check_columns(model, cols: list[str]) -> None:
        required = {
            f.attname for f in model._meta.concrete_fields if not f.null and not f.primary_key
        }
        missing = required - set(cols)
        if missing:
            raise SystemExit(
                f"bench: {model.__name__} has NOT NULL columns the bench does not write: "
                f"{sorted(missing)} -- update bench/api_bench.py"
            )

    def dt(self, value):
        """A datetime as the row value for this method/database."""
        if self.method == "bulk_create":
            return value
        if self.pg:
            return value.isoformat(" ")
        return value.replace(tzinfo=None).isoformat(" ")

    def ts(self, epoch: int | None):
        """An epoch (whole seconds, UTC) as the row value: cached, since the rows of one
        ticket repeat a few instants many times."""
        if epoch is None:
            return None
        text = self._ts_cache.get(epoch)
        if text is None:
            if len(self._ts_cache) > 200_000:
                self._ts_cache.clear()
            from datetime import UTC, datetime

            value = datetime.fromtimestamp(epoch, UTC)
            text = self._ts_cache[epoch] = self.dt(value)
        return text

    def js(self, value):
        if self.method == "bulk_create":
            return value
        return None if value is None else json.dumps(value)

    def begin_batch(self) -> None:
        """PostgreSQL bulk-load settings for the batch's transaction (copy writer only):
        no commit flush wait, and no per-row foreign-key trigger checks (what
        ``pg_restore --disable-triggers`` does; the generated rows reference rows that
        exist, and the bench checks the counts afterwards). Needs a superuser; without
        one the checks stay on."""
        if not self.pg or self.method == "bulk_create":
            return
        with self.connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            if cursor.fetchone()[0]:
                cursor.execute("SET LOCAL session_replication_role = replica")
                self.triggers_off = True

    def begin_load(self, models) -> None:
        """Before the load: drop the secondary indexes of ``models``' tables (rebuilt once by
        ``end_load``, like pg_restore does: one sorted build instead of a random insert per
        row and index); SQLite: no per-row foreign-key lookups and no fsync (checked and
        synced after the load). Indexes that back a constraint (primary keys, unique
        constraints on PostgreSQL) stay."""
        self.dropped: list[tuple[str, str]] = []
        self.dropped_names: list[str] = []
        if self.method == "bulk_create":
            return
        qn = self.connection.ops.quote_name
        with self.connection.cursor() as cursor:
            drop = BENCH_DROP_INDEXES == "all" or (BENCH_DROP_INDEXES == "sqlite" and not self.pg)
            for model in models if drop else ():
                table = model._meta.db_table
                if self.pg:
                    cursor.execute(
                        "SELECT i.indexname, i.indexdef FROM pg_indexes i "
                        "WHERE i.schemaname = current_schema() AND i.tablename = %s "
                        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = "
                        "(quote_ident(i.schemaname) || '.' || quote_ident(i.indexname))::regclass)",
                        [table],
                    )
                else:
                    cursor.execute(
                        "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                        "AND tbl_name = %s AND sql IS NOT NULL",
                        [table],
                    )
                for name, create in cursor.fetchall():
                    cursor.execute(f"DROP INDEX {qn(name)}")
                    self.dropped.append((name, create))
            if not self.pg:
                cursor.execute("PRAGMA foreign_keys = OFF")
                cursor.execute("PRAGMA synchronous = OFF")
                # no WAL copy of every page during the load (back to WAL after it)
                cursor.execute(f"PRAGMA journal_mode = {BENCH_SQLITE_JOURNAL}")
                self.triggers_off = True  # foreign keys: checked after the load

    def end_load(self) -> float:
        """Rebuild the dropped indexes; returns the seconds it took."""
        t0 = time.monotonic()
        with self.connection.cursor() as cursor:
            if self.pg:
                cursor.execute("SET maintenance_work_mem = '256MB'")
            for _name, create in self.dropped:
                cursor.execute(create)
            if not self.pg and self.method != "bulk_create":
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = NORMAL")
                cursor.execute("PRAGMA foreign_keys = ON")
        self.dropped_names = [name for name, _ in self.dropped]
        self.dropped = []
        return time.monotonic() - t0

    def write(self, model, cols: list[str], rows: list[tuple]) -> None:
        if not rows:
            return
        if self.method == "bulk_create":
            model.objects.bulk_create([model(**dict(zip(cols, r, strict=True))) for r in rows])
            return
        fields = {f.attname: f.column for f in model._meta.concrete_fields}
        qn = self.connection.ops.quote_name
        col_sql = ", ".join(qn(fields[c]) for c in cols)
        table = qn(model._meta.db_table)
        with self.connection.cursor() as cursor:
            if self.pg:
                with cursor.cursor.copy(f"COPY {table} ({col_sql}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" * len(cols))
                cursor.cursor.executemany(f"INSERT INTO {table} ({col_sql}) VALUES ({marks})", rows)


# --- SLA rows: what the SLA subscriber writes for each seeded ticket ------------------------


class KeyedJson(dict):
    """The JSON text of ``make(key)``, computed once per key."""

    def __init__(self, make, js):
        super().__init__()
        self.make, self.js = make, js

    def __missing__(self, key):
        value = self[key] = self.js(self.make(key))
        return value


class SlaSeeder:
    """The ``sla_ticket``, ``sla_clock`` and ``sla_timer`` rows that the SLA subscriber
    (caseline.sla.services) writes for a seeded ticket's events: created (with its facts),
    the assignee's public reply (+1 h), the internal note (+2 h, no SLA effect) and the
    status changes (+3 h).

    Folding the pure engine (``clockstate.step``) per ticket costs ~1.5 ms, so each
    combination of facts, reply author and final status is folded ONCE (a *template*, at
    the first ticket's creation time, timers simulated like ``save_state`` moves them) and
    the rows of every other ticket of that combination are the template's, moved by the
    difference of the creation times; the due times of the clocks still running and of
    their pending timers are computed exactly for each ticket with the calendars' batch
    form (``add_many``, vectorised over the batch). Times of events (started, paused,
    fulfilled, cancelled) are exact; the consumed seconds and the breach times of stopped
    clocks on business-hour calendars are the template's (exact on 24x7 calendars).
    """

    def __init__(self, w: RowWriter):
        from caseline.sla import clockstate as cs
        from caseline.sla import policies
        from caseline.sla import services as ss

        self.cs, self.policies, self.ss = cs, policies, ss
        self.w = w
        self.templates: dict[tuple, dict] = {}
        self.pending: list[tuple] = []  # (ticket id, template, delta, last event ts)
        self.timer_id = 0  # the last ids used (set by the caller from the tables)
        self.clock_id = 0
        self._matcher_memo: dict = {}
        self._after_hours: dict = {}

    def matcher(self, facts):
        found = self._matcher_memo.get(facts)
        if found is None:
            found = self._matcher_memo[facts] = self.policies.matcher(facts)
        return found

    # -- the template of one combination --------------------------------------------------

    def _template(self, key: tuple, facts, author: frozenset, path: list[str], t0: int) -> dict:
        from datetime import UTC, datetime

        cs, ss = self.cs, self.ss

        def at(ts: int) -> datetime:
            return datetime.fromtimestamp(ts, UTC)

        events = [
            cs.Event(at=at(t0), type="created", facts=facts),
            cs.Event(at=at(t0 + 3600), type="reply", author=author),
        ] + [cs.Event(at=at(t0 + 3 * 3600), type="status", status=s) for s in path]
        state = None
        written: dict[str, tuple[int, str]] = {}  # clock key -> (at, step) of its last write
        timers: dict[str, dict] = {}  # timer key suffix -> row fields (epochs)

        def cancel(c, ts: int) -> None:
            prefix = f"{c.key}:{c.cycle}:"
            for k, tm in timers.items():
                if k.startswith(prefix) and tm["cancelled"] is None:
                    tm["cancelled"] = ts

        for ev in events:
            old = state
            state = cs.step(old, ev, self.matcher)
            ts = ev.ts
            old_clocks = old.clocks if old is not None else {}
            for ck, c in state.clocks.items():
                if old_clocks.get(ck) == c and ck in written:
                    continue
                prev = old_clocks.get(ck)
                if prev is not None and prev.cycle != c.cycle:
                    cancel(prev, ts)
                step = ""
                nxt = ss.next_step(c) if (c.running and not c.done and c.due is not None) else None
                if nxt is None:
                    cancel(c, ts)
                else:
                    step, rule, due = nxt
                    keep = f"{c.key}:{c.cycle}:{step}"
                    prefix = f"{c.key}:{c.cycle}:"
                    for k, tm in timers.items():
                        if k.startswith(prefix) and k != keep and tm["cancelled"] is None:
                            tm["cancelled"] = ts
                    tm = timers.get(keep)
                    if tm is None:
                        timers[keep] = {
                            "due": due,
                            "created": ts,
                            "cancelled": None,
                            "clock": ck,
                            "cycle": c.cycle,
                            "step": step,
                            "rule": rule,
                        }
                    elif tm["due"] != due or tm["cancelled"] is not None:
                        tm.update(due=due, cancelled=None)
                written[ck] = (ts, step)
            for ck in set(old_clocks) - set(state.clocks):
                cancel(old_clocks[ck], ts)
                written.pop(ck, None)
        clocks = []
        for ck, c in state.clocks.items():
            wrote_at, step = written[ck]
            running = c.running and not c.done and c.due is not None
            halt = c.fulfilled_at if c.fulfilled_at is not None else c.paused_at
            # ran once, from its start to ``halt`` (every clock of the seeded timelines):
            # its due, consumed seconds and breach follow from its start for each ticket
            single = (
                not running
                and not c.suspended
                and halt is not None
                and c.running_since is None
                and c.due == c.calendar.add_ts(c.started_at, c.seconds)
                and c.consumed == c.calendar.between_ts(c.started_at, max(halt, c.started_at))
            )
            clocks.append(
                {
                    "single": single,
                    "halt": halt,
                    "c": c,
                    "at": wrote_at,
                    "step": step,
                    "running": running,
                    "values": ss._clock_values(c, wrote_at, step),
                    "pause_json": self.w.js(sorted(c.pause_statuses)),
                }
            )
        return {
            "t0": t0,
            "clocks": clocks,
            "timers": list(timers.items()),
            "facts": self.w.js(ss._facts_json(state)),
            "last": events[-1].ts,
        }

    def template_for(self, facts, author: frozenset, status: str, t: int) -> dict:
        # A target with an after-hours calendar starts on it when its own calendar is
        # closed: whether each such calendar is open at the timeline's events is part of
        # the combination.
        hours = self._after_hours.get(facts)
        if hours is None:
            hours = self._after_hours[facts] = tuple(
                s.calendar for s in self.matcher(facts) if s.after_hours is not None
            )
        opened = tuple(cal.is_open_ts(t + d) for cal in hours for d in (0, 3600, 10800))
        key = (facts, author, status, opened)
        tpl = self.templates.get(key)
        if tpl is None:
            tpl = self.templates[key] = self._template(key, facts, author, STATUS_PATHS[status], t)
        return tpl

    def add(self, tid: int, tpl: dict, t: int) -> None:
        self.pending.append((tid, tpl, t - tpl["t0"]))

    # -- the rows of a batch ---------------------------------------------------------------

    def _step_due(self, c, rule, due_col):
        """(kind, arg) of how a pending timer's due follows from the ticket's clock."""
        ss = self.ss
        if rule is None:
            return ("due", 0)
        if rule.threshold == ss.EscalationRule.Threshold.PERCENT:
            if rule.value >= 100:
                return ("due", 0)
            return ("add", ss.threshold_seconds(c.seconds, rule.value) - c.consumed)
        return ("plus", rule.value)

    def rows(self) -> tuple[list[tuple], list[tuple], list[tuple]]:
        import numpy as np

        w, ss = self.w, self.ss
        # 1. exact due times of the running clocks (and their threshold timers), batched
        #    per calendar: add_many(calendar, running_since, seconds - consumed)
        requests: dict[int, tuple] = {}  # id(calendar) -> (calendar, starts, seconds, slots)
        spans: dict[int, tuple] = {}  # id(calendar) -> (calendar, starts, ends, slots)
        dues: dict[tuple[int, str, str], int] = {}

        def ask(cal, start: int, secs: int, slot, into=requests) -> None:
            entry = into.get(id(cal))
            if entry is None:
                entry = into[id(cal)] = (cal, [], [], [])
            entry[1].append(start)
            entry[2].append(secs)
            entry[3].append(slot)

        for tid, tpl, delta in self.pending:
            for cl in tpl["clocks"]:
                c = cl["c"]
                if cl["single"]:  # its due, and the business seconds it ran
                    ask(c.calendar, c.started_at + delta, c.seconds, (tid, c.key, "due"))
                    start, halt = c.started_at + delta, cl["halt"] + delta
                    ask(c.calendar, start, max(halt, start), (tid, c.key, "ran"), spans)
                if not cl["running"]:
                    continue
                rem = c.seconds - c.consumed
                if rem > 0:
                    ask(c.calendar, c.running_since + delta, rem, (tid, c.key, "due"))
                else:
                    dues[(tid, c.key, "due")] = (c.breached_at or c.running_since) + delta
            for suffix, tm in tpl["timers"]:
                if tm["cancelled"] is None and tm["rule"] is not None:
                    c = tpl_clock(tpl, tm["clock"])
                    how, arg = self._step_due(c, tm["rule"], None)
                    if how == "add":
                        ask(c.calendar, c.running_since + delta, arg, (tid, c.key, suffix))
        for cal, starts, secs, slots in requests.values():
            out = cal.add_many(np.asarray(starts, dtype=np.int64), np.asarray(secs, dtype=np.int64))
            for slot, value in zip(slots, out.tolist(), strict=True):
                dues[slot] = value
        for cal, starts, ends, slots in spans.values():
            out = cal.between_many(
                np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64)
            )
            for slot, value in zip(slots, out.tolist(), strict=True):
                dues[slot] = value
        # 2. the rows
        clock_rows, timer_rows, sla_rows = [], [], []

        dt = w.ts

        for tid, tpl, delta in self.pending:
            next_deadline = upcoming = None
            for cl in tpl["clocks"]:
                c, v = cl["c"], cl["values"]
                at = cl["at"] + delta
                due = c.due + delta if c.due is not None else None
                state = v["state"]
                consumed = v["consumed"]
                breached_at = c.breached_at + delta if c.breached_at is not None else None
                if cl["single"]:
                    due = dues[(tid, c.key, "due")]
                    consumed = dues[(tid, c.key, "ran")]
                    halt = cl["halt"] + delta
                    breached_at = due if halt >= due else None
                    state = "breached" if breached_at is not None else state
                    if breached_at is None and state == "breached":
                        state = "fulfilled" if c.fulfilled_at is not None else "paused"
                if cl["running"]:
                    due = dues[(tid, c.key, "due")]
                    breached = c.breached_at is not None
                    state = "breached" if breached or at >= due else "active"
                    next_deadline = due if next_deadline is None else min(next_deadline, due)
                    if not breached:
                        upcoming = due if upcoming is None else min(upcoming, due)
                clock_rows.append(
                    (
                        tid,
                        c.key,
                        v["role"],
                        v["kind"],
                        v["policy_id"],
                        v["target_id"],
                        v["cycle"],
                        v["seconds"],
                        v["calendar"],
                        cl["pause_json"],
                        v["after_hours"],
                        v["suspended"],
                        state,
                        dt(c.started_at + delta),
                        dt(c.running_since + delta if c.running_since is not None else None),
                        consumed,
                        dt(due),
                        dt(c.paused_at + delta if c.paused_at is not None else None),
                        dt(c.fulfilled_at + delta if c.fulfilled_at is not None else None),
                        dt(breached_at),
                        v["step"],
                        dt(at),
                    )
                )
            for suffix, tm in tpl["timers"]:
                cycle_key = f"sla:{tid}:{suffix}"
                due = tm["due"] + delta
                if tm["cancelled"] is None:
                    c = tpl_clock(tpl, tm["clock"])
                    how, arg = self._step_due(c, tm["rule"], None)
                    base = dues[(tid, c.key, "due")]
                    due = (
                        base
                        if how == "due"
                        else (base + arg if how == "plus" else dues[(tid, c.key, suffix)])
                    )
                elif tm["step"] == "breach" and (tid, tm["clock"], "ran") in dues:
                    # the breach timer set when the clock started: at its due
                    if tm["created"] == tpl_clock(tpl, tm["clock"]).started_at:
                        due = dues[(tid, tm["clock"], "due")]
                payload = (
                    f'{{"ticket_id": {tid}, "key": "{tm["clock"]}", "cycle": {tm["cycle"]}, '
                    f'"step": "{tm["step"]}"'
                    + (f', "rule_id": {tm["step"][1:]}}}' if tm["step"] != "breach" else "}")
                )
                timer_rows.append(
                    (
                        "ticket",
                        tid,
                        ss.BREACH_KIND if tm["step"] == "breach" else ss.THRESHOLD_KIND,
                        dt(due),
                        cycle_key,
                        payload,
                        None,
                        None,
                        0,
                        "",
                        dt(tm["created"] + delta),
                        dt(tm["cancelled"] + delta if tm["cancelled"] is not None else None),
                        None,
                    )
                )
            sla_rows.append(
                (tid, tpl["facts"], dt(next_deadline), dt(upcoming), dt(tpl["last"] + delta))
            )
        self.pending = []
        return clock_rows, timer_rows, sla_rows


def verify_sla(sample: int, seed: int = 7) -> dict[str, int]:
    """Fold the pure engine over the timelines of ``sample`` random seeded tickets and count
    the stored clock and ticket rows that differ from it (0 everywhere: the seeded SLA rows
    are the ones the services would have written)."""
    import random
    from datetime import timedelta

    from caseline.clock import epoch_of
    from caseline.sla import clockstate as cs
    from caseline.sla import policies
    from caseline.sla import services as ss
    from caseline.sla.models import Clock, TicketSla
    from caseline.tickets.models import Ticket

    ids = list(Ticket.objects.values_list("id", flat=True))
    rng = random.Random(seed)
    counts = dict.fromkeys(("tickets", "clocks", "keys", "due", "consumed", "state"), 0)
    counts.update(fulfilled=0, breached=0, next_deadline=0)
    hour = timedelta(hours=1)

    def ep(value):
        return None if value is None else epoch_of(value)

    for tid in rng.sample(ids, min(sample, len(ids))):
        t = Ticket.objects.select_related("organization").get(pk=tid)
        facts = ss.facts_of(t)
        facts = cs.Facts(**{**facts.__dict__, "status": "new"})
        author = {"staff", "assignee"}
        org = t.organization
        if org is not None and org.sales_consultant_id == t.assignee_id:
            author.add(cs.SC)
        if org is not None and org.success_manager_id == t.assignee_id:
            author.add(cs.CSM)
        at = t.created_at
        events = [
            cs.Event(at=at, type="created", facts=facts),
            cs.Event(at=at + hour, type="reply", author=frozenset(author)),
        ] + [cs.Event(at=at + 3 * hour, type="status", status=s) for s in STATUS_PATHS[t.status]]
        state = cs.fold(events, policies.matcher)
        rows = {c.key: c for c in Clock.objects.filter(ticket_id=tid)}
        counts["tickets"] += 1
        if set(rows) != set(state.clocks):
            counts["keys"] += 1
            continue
        for key, c in state.clocks.items():
            r = rows[key]
            counts["clocks"] += 1
            counts["due"] += ep(r.due_at) != c.due
            counts["consumed"] += r.consumed != c.consumed
            counts["fulfilled"] += ep(r.fulfilled_at) != c.fulfilled_at
            counts["breached"] += ep(r.breached_at) != c.breached_at
            expect = ss._state_of(c, ep(r.updated_at))
            counts["state"] += r.state != expect
        sla = TicketSla.objects.get(ticket_id=tid)
        counts["next_deadline"] += sla.next_deadline != cs.next_deadline(state)
    return counts


def tpl_clock(tpl: dict, key: str):
    for cl in tpl["clocks"]:
        if cl["c"].key == key:
            return cl["c"]
    raise KeyError(key)


_GEN: dict[str, Any] = {}  # what the forked generator process runs (set before the fork)


def _make_batch(first: int, size: int) -> tuple:
    return _GEN["make"](first, size)


def batches(n: int, batch: int, workers: int):
    """The rows of each batch, in order: generated here (``workers`` 0) or by ``workers``
    forked processes, at most ``workers + 1`` batches ahead of the writer."""
    from collections import deque

    spans = [(first, min(batch, n - first)) for first in range(0, n, batch)]
    if workers <= 0:
        for first, size in spans:
            yield _make_batch(first, size)
        return
    import multiprocessing

    # fork: the children inherit the prepared state and never touch the database
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        ahead: deque = deque()
        todo = iter(spans)
        for span in todo:
            ahead.append(pool.apply_async(_make_batch, span))
            if len(ahead) > workers:
                break
        while ahead:
            result = ahead.popleft().get(timeout=600)
            span = next(todo, None)
            if span is not None:
                ahead.append(pool.apply_async(_make_batch, span))
            yield result


def bulk_tickets(n: int, *, batch: int, progress, method: str = "copy", workers: int = 1) -> dict:
    """Insert ``n`` tickets with 3 messages each, writing the rows that create_ticket +
    add_message x2 (+ update_ticket for the final status) write: the ticket, its messages,
    the audit rows (one per changed field, as record() writes them, with the same payloads)
    and the followers (assignee, the organization's SC). Explicit ids; one transaction per
    batch.
    """
    import random
    from datetime import timedelta

    from django.core.management.color import no_style
    from django.db import connection, transaction
    from django.db.models import Count

    from caseline.accounts.models import Contact, ProductArea, Region, User
    from caseline.audit.models import AuditEvent
    from caseline.sla import clockstate as cs
    from caseline.sla.models import Clock, TicketSla, Timer
    from caseline.tickets.models import Message, Ticket
    from caseline.timesource import now

    rng = random.Random(42)
    w = RowWriter(method)
    follower_model = Ticket.followers.through
    for model, cols in (
        (Ticket, TICKET_COLS),
        (Message, MESSAGE_COLS),
        (AuditEvent, AUDIT_COLS),
        (follower_model, FOLLOWER_COLS),
        (Clock, CLOCK_COLS),
        (Timer, TIMER_COLS),
        (TicketSla, SLA_COLS),
    ):
        w.check_columns(model, cols)
    sla = SlaSeeder(w)
    js, dt = w.js, w.dt
    jsc = functools.lru_cache(maxsize=None)(js)  # the JSON of ids, statuses, constants

    actor = User.objects.get(email=BENCH_USER)
    contacts = list(
        Contact.objects.filter(organization__isnull=False).select_related("organization")
    )
    areas = list(ProductArea.objects.select_related("owning_team").order_by("id"))
    members: dict[int, list[int]] = {}
    for area in areas:
        members[area.pk] = list(
            User.objects.filter(teams=area.owning_team_id, skills=area).values_list("id", flat=True)
        ) or [actor.pk]
    shift_calendar = dict(Region.objects.values_list("id", "shift_calendar"))
    owner_calendar = {
        uid: shift_calendar.get(region_id) or ""
        for uid, region_id in User.objects.values_list("id", "region_id")
    }
    facts_of: dict[tuple[int, int, int], tuple] = {}  # (org, area, assignee) -> facts, author
    statuses = [s for s, _ in BULK_STATUSES]
    cum_weights = []
    total = 0
    for _, weight in BULK_STATUSES:
        total += weight
        cum_weights.append(total)
    start = now() - timedelta(days=365)
    step = timedelta(days=365) / max(n, 1)
    hour = timedelta(hours=1)
    ticket_id = (Ticket.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    message_id = (Message.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    aid, label = actor.pk, actor.email
    q1 = "Since the upgrade to 8.0.3 the replication lag keeps growing. Bandwidth looks fine."
    q2 = "Thanks, I'm looking at the support bundle now and will update you within the hour."
    q3 = "Consistency group stuck in resync after the upgrade; pause/resume with a checkpoint."
    triaged = js({"rules": [], "suggested_product_area": True})
    if w.method == "bulk_create":

        def added_json(mid, kind):
            return js(
                {
                    "message_id": mid,
                    "kind": kind,
                    "author_role": "staff",
                    "channel": "api",
                    "attachments": [],
                }
            )

        def created_json(mid):
            return js({"message_id": mid, "channel": "api"})
    else:  # the same JSON text as json.dumps, without its per-call cost

        def added_json(mid, kind):
            return (
                f'{{"message_id": {mid}, "kind": "{kind}", "author_role": "staff", '
                '"channel": "api", "attachments": []}'
            )

        def created_json(mid):
            return f'{{"message_id": {mid}, "channel": "api"}}'

    assigned_data = KeyedJson(lambda team: {"strategy": "round_robin", "team": team}, js)
    follower_data = KeyedJson(
        lambda sc: {"kind": "follower", "user_id": sc, "reason": "sales_consultant"}, js
    )
    solved_data = KeyedJson(lambda a: {"assignee": a, "solved_by": a}, js)
    status_data = js({"reason": "update"})
    loaded = [Ticket, Message, AuditEvent, follower_model, TicketSla, Clock, Timer]
    w.begin_load(loaded)
    index_seconds = 0.0
    rows = 0
    made = 0
    write_seconds = 0.0
    write_cpu = 0.0
    sla_counts = [0, 0]
    t0 = time.monotonic()
    cpu0 = time.process_time()

    def make(first: int, size: int) -> tuple:
        """The rows of tickets ``first`` .. ``first + size - 1`` (runs in the generator
        process: no database access)."""
        tickets, messages, audits, follows = [], [], [], []
        audit_id = 0  # local numbering, dropped: the database numbers audit rows
        for made in range(first, first + size):
            contact, area, assignee, status, tpl = skeleton[made]
            org = contact.organization
            team_id = area.owning_team_id
            at = start + step * made
            t_at, t_1, t_2, t_3 = dt(at), dt(at + hour), dt(at + 2 * hour), dt(at + 3 * hour)
            tid = ticket_id + made
            subject = f"Replication lag on vol-{made % 97} keeps growing ({made})"
            done_at = t_3 if status in ("solved", "closed") else None
            sla.add(tid, tpl, int(at.timestamp()))
            tickets.append(
                (
                    tid,
                    subject,
                    contact.pk,
                    org.pk,
                    area.pk,
                    3,
                    "normal",
                    status,
                    "api",
                    assignee,
                    team_id,
                    "",
                    "",
                    "",
                    t_at,
                    t_3,
                    done_at,
                    t_3 if status == "closed" else None,
                )
            )
            m1 = message_id + 3 * made
            m2, m3 = m1 + 1, m1 + 2
            messages.append((m1, tid, "public", None, contact.pk, "api", q1, "", "", t_at))
            messages.append((m2, tid, "public", assignee, None, "api", q2, "", "", t_1))
            messages.append((m3, tid, "internal", assignee, None, "api", q3, "", "", t_2))

            a = audit_id
            created = created_json(m1)
            for field, value in (
                ("subject", js(subject)),
                ("status", jsc("new")),
                ("channel", jsc("api")),
                ("requester", jsc(contact.pk)),
                ("severity", jsc(3)),
                ("priority", jsc("normal")),
                ("organization", jsc(org.pk)),
            ):
                audits.append(
                    (
                        a,
                        "ticket",
                        tid,
                        tid,
                        "ticket.created",
                        aid,
                        label,
                        t_at,
                        field,
                        None,
                        value,
                        created,
                    )
                )
                a += 1
            audits.append(
                (
                    a,
                    "ticket",
                    tid,
                    tid,
                    "ticket.triaged",
                    aid,
                    label,
                    t_at,
                    "product_area",
                    None,
                    jsc(area.pk),
                    triaged,
                )
            )
            audits.append(
                (
                    a + 1,
                    "ticket",
                    tid,
                    tid,
                    "ticket.triaged",
                    aid,
                    label,
                    t_at,
                    "team",
                    None,
                    jsc(team_id),
                    triaged,
                )
            )
            audits.append(
                (
                    a + 2,
                    "ticket",
                    tid,
                    tid,
                    "ticket.assigned",
                    aid,
                    label,
                    t_at,
                    "assignee",
                    None,
                    jsc(assignee),
                    assigned_data[team_id],
                )
            )
            a += 3
            follows.append((tid, assignee))
            sc = org.sales_consultant_id
            if org.include_sc and sc and sc != assignee:
                audits.append(
                    (
                        a,
                        "ticket",
                        tid,
                        tid,
                        "ticket.follower_added",
                        aid,
                        label,
                        t_at,
                        "followers",
                        None,
                        jsc(sc),
                        follower_data[sc],
                    )
                )
                a += 1
                follows.append((tid, sc))
            for mid, kind, when in ((m2, "public", t_1), (m3, "internal", t_2)):
                audits.append(
                    (
                        a,
                        "ticket",
                        tid,
                        tid,
                        "ticket.message_added",
                        assignee,
                        "",
                        when,
                        "",
                        None,
                        None,
                        added_json(mid, kind),
                    )
                )
                a += 1
            old = "new"
            for new in STATUS_PATHS[status]:
                audits.append(
                    (
                        a,
                        "ticket",
                        tid,
                        tid,
                        "ticket.status_changed",
                        assignee,
                        "",
                        t_3,
                        "status",
                        jsc(old),
                        jsc(new),
                        status_data,
                    )
                )
                a += 1
                old = new
                if new == "solved":
                    audits.append(
                        (
                            a,
                            "ticket",
                            tid,
                            tid,
                            "ticket.solved",
                            assignee,
                            "",
                            t_3,
                            "",
                            None,
                            None,
                            solved_data[assignee],
                        )
                    )
                    a += 1
            audit_id = a
        clocks, timer_rows, sla_rows = sla.rows()
        audits = [row[1:] for row in audits]
        return tickets, messages, audits, follows, sla_rows, clocks, timer_rows

    # The random choices and the SLA templates (which read the policies) come first, here;
    # the rows are then generated batch by batch in a forked process (``--seed-workers``)
    # while this one writes the previous batch.
    skeleton = []
    for made in range(n):
        contact = rng.choice(contacts)
        org = contact.organization
        area = rng.choice(areas)
        assignee = rng.choice(members[area.pk])
        status = rng.choices(statuses, cum_weights=cum_weights)[0]
        at = start + step * made
        fa = facts_of.get((org.pk, area.pk, assignee))
        if fa is None:
            author = {"staff", "assignee"}
            if assignee == org.sales_consultant_id:
                author.add(cs.SC)
            if assignee == org.success_manager_id:
                author.add(cs.CSM)
            fa = facts_of[(org.pk, area.pk, assignee)] = (
                cs.Facts(
                    severity=3,
                    channel="api",
                    tier=str(org.tier),
                    product_area_id=area.pk,
                    status="new",
                    has_assignee=True,
                    has_sc=bool(org.sales_consultant_id),
                    has_csm=bool(org.success_manager_id),
                    owner_calendar=owner_calendar.get(assignee, ""),
                ),
                frozenset(author),
            )
        tpl = sla.template_for(fa[0], fa[1], status, int(at.timestamp()))
        skeleton.append((contact, area, assignee, status, tpl))
    template_seconds = time.monotonic() - t0
    made = 0
    _GEN["make"] = make
    for tickets, messages, audits, follows, sla_rows, clocks, timer_rows in batches(
        n, batch, workers
    ):
        made += len(tickets)
        t_gen = time.monotonic()
        c_gen = time.process_time()
        with transaction.atomic():
            w.begin_batch()
            w.write(Ticket, TICKET_COLS, tickets)
            w.write(Message, MESSAGE_COLS, messages)
            w.write(AuditEvent, AUDIT_COLS, audits)
            w.write(follower_model, FOLLOWER_COLS, follows)
            w.write(TicketSla, SLA_COLS, sla_rows)
            w.write(Clock, CLOCK_COLS, clocks)
            w.write(Timer, TIMER_COLS, timer_rows)
        write_seconds += time.monotonic() - t_gen
        write_cpu += time.process_time() - c_gen
        rows += len(tickets) + len(messages) + len(audits) + len(follows)
        rows += len(sla_rows) + len(clocks) + len(timer_rows)
        sla_counts[0] += len(clocks)
        sla_counts[1] += len(timer_rows)
        if made % (batch * 10) == 0 or made == n:
            progress(made, rows, time.monotonic() - t0)
    # The SLA rows were written directly: mirror their next deadline on the ticket rows
    # (what the SLA services do per change; the queues sort on it), before the indexes.
    from caseline.sla.services import copy_next_deadlines_to_tickets

    copy_next_deadlines_to_tickets()
    index_seconds = w.end_load()
    seconds = time.monotonic() - t0  # the index rebuild included
    cpu_seconds = time.process_time() - cpu0  # this process's (SQLite: all of the work)
    with connection.cursor() as cursor:
        models = [Ticket, Message, AuditEvent, Clock, Timer]
        for sql in connection.ops.sequence_reset_sql(no_style(), models):
            cursor.execute(sql)
        cursor.execute("ANALYZE")
        if w.triggers_off:  # the foreign keys were not checked row by row: check them now
            qn = connection.ops.quote_name
            checks = [
                (Message, "ticket_id", Ticket),
                (AuditEvent, "ticket_id", Ticket),
                (follower_model, "ticket_id", Ticket),
                (Clock, "ticket_id", Ticket),
                (TicketSla, "ticket_id", Ticket),
                (Ticket, "requester_id", Contact),
            ]
            for model, column, target in checks:
                cursor.execute(
                    f"SELECT COUNT(*) FROM {qn(model._meta.db_table)} r LEFT JOIN "
                    f"{qn(target._meta.db_table)} t ON t.id = r.{qn(column)} "
                    f"WHERE r.{qn(column)} IS NOT NULL AND t.id IS NULL"
                )
                orphans = cursor.fetchone()[0]
                if orphans:
                    raise SystemExit(f"bench: {orphans} {model.__name__} rows with a bad {column}")
    team_id = (
        Ticket.objects.filter(status="open")
        .values("team_id")
        .order_by()
        .annotate(c=Count("id"))
        .order_by("-c")
        .values_list("team_id", flat=True)
        .first()
    )
    return {
        "tickets": n,
        "rows": rows,
        "method": method,
        "fk_checks": "after the load" if w.triggers_off else "per row",
        "seconds": round(seconds, 2),
        "workers": workers,
        "template_seconds": round(template_seconds, 2),
        "write_seconds": round(write_seconds, 2),
        "cpu_seconds": round(cpu_seconds, 2),
        "write_cpu_seconds": round(write_cpu, 2),
        "index_seconds": round(index_seconds, 2),
        "indexes_rebuilt": len(w.dropped_names),
        "sla_clocks": sla_counts[0],
        "sla_timers": sla_counts[1],
        "sla_templates": len(sla.templates),
        "tickets_per_s": n / seconds if seconds else 0.0,
        "rows_per_s": rows / seconds if seconds else 0.0,
        "team_id": team_id,
    }


# --- orchestration (plain Python, no Django) --------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "ram": ram,
        "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),  # wall clock for the record
    }


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk not found: installing it with apt-get", flush=True)
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, timeout=600)
        found = shutil.which("wrk")
        if not found:
            subprocess.run(["apt-get", "update"], check=False, timeout=600)
            subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, timeout=600)
            found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is needed: install it with `sudo apt-get install -y wrk`")
    return found


def reset_postgres(name: str = PG_DB) -> str:
    import psycopg

    with psycopg.connect(
        PG_ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True
    ) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def base_env(database_url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CASELINE_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="caseline.settings",
        DATABASE_URL=database_url,
        CASELINE_DATA_DIR=str(data_dir),
        QUEUE_URL=f"sqlite:///{data_dir / 'queue.sqlite3'}",
        RATELIMIT_URL=f"sqlite:///{data_dir / 'ratelimit.sqlite3'}",
        API_RATE_LIMIT="100000000",
        DEBUG="0",
        LOG_LEVEL="ERROR",
        PYTHONPATH=str(ROOT),
    )
    return env


def run_seed(
    env: dict[str, str], n: int, batch: int, method: str, timeout: float, workers: int = 1
) -> dict:
    proc = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--seed-child",
            "--tickets",
            str(n),
            "--batch",
            str(batch),
            "--seed-method",
            method,
            "--seed-workers",
            str(workers),
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise SystemExit(f"seeding failed (exit {proc.returncode})")
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_SEED "):
            return json.loads(line.removeprefix("BENCH_SEED "))
    raise SystemExit("seeding printed no result")


class Server:
    def __init__(self, env: dict[str, str], port: int, threads: int | None = None):
        self.port = port
        if threads:
            env = {**env, "WEB_THREADS": str(threads)}
        self.log = tempfile.NamedTemporaryFile(prefix="bench-server-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "caseline", "serve", "--workers", "2", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: stop() reaches granian's workers too
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited early; see {self.log.name}")
            try:
                with urllib.request.urlopen(self.url("/healthz"), timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise SystemExit(f"server not ready after {timeout} s; see {self.log.name}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
            except ProcessLookupError:
                pass


def get_json(url: str, token: str) -> dict:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def deep_cursor(server: Server, token: str, path: str, depth: int) -> tuple[str, int]:
    """Follow ``next_cursor`` with limit=100 until ``depth`` rows were skipped."""
    cursor, seen = None, 0
    while seen < depth:
        q = path + "&limit=100" + (f"&cursor={urllib.parse.quote(cursor)}" if cursor else "")
        data = get_json(server.url(q), token)
        seen += len(data["results"])
        cursor = data["meta"]["next_cursor"]
        if not cursor:
            break
    return cursor or "", seen


def run_wrk(
    wrk: str,
    script: str,
    env: dict[str, str],
    url: str,
    *,
    seconds: int,
    extra: dict[str, str],
) -> dict:
    e = dict(env)
    e.update(extra)
    e["BENCH_LUA_DIR"] = str(WRK_DIR)
    argv = [
        wrk,
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_DIR / script),
        url,
    ]
    out = subprocess.run(argv, env=e, capture_output=True, text=True, timeout=seconds + 60)
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            data = json.loads(line.removeprefix("BENCH_JSON "))
            data["seconds"] = seconds
            data["rps"] = data["requests"] / max(data["duration_us"] / 1e6, 1e-9)
            return data
    raise SystemExit(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")


def measure(
    wrk: str, script: str, env, url: str, extra, *, requests: int, warmup: int, max_seconds: int
) -> dict:
    """A warm-up of ``warmup`` seconds, then a run long enough for ``requests`` requests at
    the warm-up's rate (+20 %), bounded by ``max_seconds``; repeated once if it fell short."""
    warm = run_wrk(wrk, script, env, url, seconds=warmup, extra=extra)
    rate = max(warm["rps"], 1.0)
    seconds = min(max_seconds, max(10, math.ceil(requests / rate * 1.2) + 2))
    data = run_wrk(wrk, script, env, url, seconds=seconds, extra=extra)
    if data["requests"] < requests and seconds < max_seconds:
        rate = max(data["rps"], 1.0)
        seconds = min(max_seconds, max(10, math.ceil(requests / rate * 1.3) + 2))
        data = run_wrk(wrk, script, env, url, seconds=seconds, extra=extra)
    return data


def create_body() -> str:
    return json.dumps(
        {
            "subject": "Bench {{n}}: replication lag on vol-erp-data keeps growing",
            "body_text": "Since the upgrade to 8.0.3 the replication lag keeps growing "
            "(reference {{n}}). Bandwidth looks fine. Can you help?",
            "requester": {"email": "{{email}}"},
            "channel": "api",
        }
    )


def bench_database(name: str, database_url: str, data_dir: Path, args, wrk: str) -> dict:
    env = base_env(database_url, data_dir)
    print(f"\n== {name}: migrate + seed {args.tickets:,} tickets", flush=True)
    seeded = run_seed(
        env,
        args.tickets,
        args.batch,
        args.seed_method,
        timeout=args.seed_timeout,
        workers=args.seed_workers,
    )
    print(
        f"   {seeded['tickets']:,} tickets, {seeded['rows']:,} rows in {seeded['seconds']:.1f} s: "
        f"{seeded['tickets_per_s']:,.0f} tickets/s, {seeded['rows_per_s']:,.0f} rows/s",
        flush=True,
    )
    result = {"name": name, "seed": seeded, "scenarios": {}}
    port = free_port()
    threads = dict(part.split("=", 1) for part in args.threads.split(",") if "=" in part).get(name)
    result["threads"] = int(threads) if threads else None
    server = Server(env, port, int(threads) if threads else None)
    try:
        server.wait_ready()
        token = seeded["token"]
        list_path = f"/api/v1/tickets?status=open&team={seeded['team_id']}"
        cursor, skipped = deep_cursor(server, token, list_path, DEEP_ROWS)
        print(f"   deep cursor after {skipped:,} rows", flush=True)
        scenarios = [
            (
                "create",
                "create.lua",
                "/api/v1/tickets",
                {"BENCH_BODY": create_body(), "BENCH_EMAILS": ",".join(seeded["emails"])},
            ),
            ("list first page", "list.lua", list_path, {"BENCH_PATH": list_path}),
            (
                "list deep page",
                "list.lua",
                list_path,
                {"BENCH_PATH": f"{list_path}&cursor={urllib.parse.quote(cursor)}"},
            ),
        ]
        common = {"BENCH_TOKEN": token}
        wanted = {x.strip() for x in args.scenarios.split(",") if x.strip()}
        scenarios = [sc for sc in scenarios if sc[0].split()[0] in wanted or sc[0] in wanted]
        for label, script, path, extra in scenarios:
            data = measure(
                wrk,
                script,
                env,
                server.url(path),
                {**common, **extra},
                requests=args.requests,
                warmup=args.warmup,
                max_seconds=args.max_seconds,
            )
            data["load"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
            result["scenarios"][label] = data
            print(
                f"   {label:<16} {data['requests']:>6} req  {data['rps']:>7.0f} req/s  "
                f"p50 {data['p50_us'] / 1000:.1f} ms  p95 {data['p95_us'] / 1000:.1f} ms  "
                f"p99 {data['p99_us'] / 1000:.1f} ms  non-2xx {data['non2xx']}"
                + f"  load {data['load']}"
                + (f"  e.g. {data['sample_error']}" if data["sample_error"] else ""),
                flush=True,
            )
    finally:
        server.stop()
    return result


def table(results: list[dict]) -> str:
    lines = [
        "| database | scenario | requests | req/s | p50 ms | p95 ms | p99 ms | non-2xx | load |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        for label, d in r["scenarios"].items():
            lines.append(
                f"| {r['name']} | {label} | {d['requests']:,} | {d['rps']:,.0f} | "
                f"{d['p50_us'] / 1000:.1f} | {d['p95_us'] / 1000:.1f} | "
                f"{d['p99_us'] / 1000:.1f} | {d['non2xx']} | {d.get('load', '')} |"
            )
    lines += [
        "",
        "| database | tickets | rows | seconds | tickets/s | rows/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        s = r["seed"]
        lines.append(
            f"| {r['name']} | {s['tickets']:,} | {s['rows']:,} | {s['seconds']:.1f} | "
            f"{s['tickets_per_s']:,.0f} | {s['rows_per_s']:,.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=2_000)
    parser.add_argument(
        "--seed-method",
        choices=["copy", "bulk_create"],
        default="copy",
        help="copy: executemany/COPY of the same rows (default); bulk_create: the ORM",
    )
    parser.add_argument(
        "--seed-workers",
        type=int,
        default=1,
        help="processes generating the rows while the seeder writes (0: generate inline)",
    )
    parser.add_argument(
        "--scenarios",
        default="create,list",
        help="create, list (both list pages), 'list first page', 'list deep page'",
    )
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=5, help="warm-up seconds per scenario")
    parser.add_argument("--max-seconds", type=int, default=400, help="bound per scenario run")
    parser.add_argument("--seed-timeout", type=int, default=1800)
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument(
        "--pg-db", default=PG_DB, help=f"PostgreSQL database to drop and create ({PG_DB})"
    )
    parser.add_argument(
        "--threads",
        default="sqlite=2,postgres=4",
        help="granian blocking threads per worker, per database (WEB_THREADS); SQLite "
        "writers serialise on one lock, so few threads keep its waits short and fair",
    )
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--seed-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed_child:
        sys.path.insert(0, str(ROOT))
        seed_main(args.tickets, args.batch, args.seed_method, args.seed_workers)
        return

    # SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so servers are always stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    wrk = ensure_wrk()
    info = machine()
    print(
        f"machine: {info['nproc']} CPUs, {info['cpu']}, {info['ram']} RAM, "
        f"Python {info['python']}, {info['date']}",
        flush=True,
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="caseline-bench-") as tmp:
        tmpdir = Path(tmp)
        for name in [d.strip() for d in args.db.split(",") if d.strip()]:
            data_dir = tmpdir / name
            data_dir.mkdir()
            if name == "sqlite":
                url = f"sqlite:///{data_dir / 'bench.sqlite3'}"
            elif name == "postgres":
                url = reset_postgres(args.pg_db)
            else:
                raise SystemExit(f"unknown database {name!r} (sqlite, postgres)")
            results.append(bench_database(name, url, data_dir, args, wrk))
    print()
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "results": results}, indent=2))


if __name__ == "__main__":
    main()
