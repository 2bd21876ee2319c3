"""Web workspace benchmark: server time of the agent's pages at scale (issue 5).

For each database (SQLite file, PostgreSQL database ``h_wb`` unless ``--pg-db``):

1. **Seed once, cache.** migrate, the demo accounts through the services
   (``caseline.demo.seed`` with 0 tickets), then N tickets (default 1,000,000) and M
   messages (default 3,000,000) with bulk inserts: ``executemany`` on SQLite (the FTS5
   triggers index each row as it is written), ``COPY`` on PostgreSQL (the generated
   tsvector columns are computed on write; secondary indexes, GIN included, are dropped
   for the load and built once after it). The row writer, the SLA row generator and the
   batch pipeline are bench/api_bench.py's (imported, not copied): per ticket the ticket,
   its messages, audit rows, the assignee as follower, ``sla_ticket`` (facts,
   ``next_deadline`` that the queues sort on) and the ``sla_clock`` rows the SLA subscriber
   writes for the timeline "created, staff reply +1 h, final status +3 h" (timers are not
   written: no page reads them). Text: the Zipf-weighted support vocabulary of
   bench/search_bench.py, plus 0-2 rare words (product names, error codes, hostnames) per
   message, so two-word searches mix common and rare words. 2 % of the tickets are
   unassigned (new/open); most tickets have 3 messages, a few 2, ``N // 5000`` have 50.
   The seeded database is cached, keyed by a hash of every migration file + the seeder
   version + the sizes: SQLite as a file under var/bench/ (copied for each run),
   PostgreSQL as a template database ``<pg-db>_seed_<key>`` (each run:
   ``CREATE DATABASE <pg-db> TEMPLATE ...``). A schema change makes a new key: re-seed.
2. **Measure in-process** (a child per database, ``DEBUG=0``): Django's test client with a
   support engineer's session (``force_login``, sam.carter@caseline.demo: not a
   superuser), a warm-up, then >= ``--requests`` timed requests per scenario (the time of
   ``client.get``: middleware, view, SQL, template), then the same requests once more
   counting SQL statements:
   (a) ``/queues/unassigned/`` first page and deep pages (cursor ~``--deep`` rows down),
   (b) ``/t/<id>`` for tickets with 3 messages and for tickets with 50,
   (c) ``/search/?q=<two words>``: common+common, common+rare, rare+rare.
3. Print p50/p95/p99/max per scenario, statements per request, the load average.

Usage:  .venv/bin/python bench/web_bench.py [--tickets N] [--messages M]
        [--db sqlite,postgres] [--pg-db NAME] [--requests 200] [--json out.json] [--fresh]
Never part of the test suite.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

CACHE_DIR = ROOT / "var" / "bench"
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgres://root@127.0.0.1:5432/postgres")
SEEDER_VERSION = "web-2"
BENCH_USER = "sam.carter@caseline.demo"
TARGETS_MS = {"queue": 50.0, "ticket": 80.0, "search": 150.0}  # p95

UNASSIGNED_SHARE = 0.02
HEAVY_MESSAGES = 50
SEVERITIES = [(1, 3), (2, 17), (3, 50), (4, 30)]
PRIORITY_OF = {1: "urgent", 2: "high", 3: "normal", 4: "low"}
CHANNELS = [("email", 60), ("web", 30), ("api", 10)]


def cache_key(n_tickets: int, n_messages: int) -> str:
    h = hashlib.sha256()
    for path in sorted((ROOT / "caseline").glob("*/migrations/*.py")):
        h.update(str(path.relative_to(ROOT)).encode())
        h.update(path.read_bytes())
    h.update(f"{SEEDER_VERSION}:{n_tickets}:{n_messages}".encode())
    return h.hexdigest()[:12]


# --- text ---------------------------------------------------------------------------------


def text_model(seed: int = 42):
    """(sentences, rare words, frequent support words) from search_bench's vocabulary."""
    from search_bench import SUPPORT_WORDS, sentence_pool

    pool, common, rare = sentence_pool(random.Random(seed), 30_000)
    support = set(SUPPORT_WORDS)
    frequent = [w for w in common if w in support][:60]
    return pool, rare, frequent


# --- seeding child (inside Django) ------------------------------------------------------------


def seed_main(n: int, m: int, batch: int, workers: int) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "caseline.settings")
    django.setup()
    from django.core.management import call_command

    t0 = time.monotonic()
    call_command("migrate", interactive=False, verbosity=0)
    t_migrate = time.monotonic() - t0
    from caseline.demo.seed import seed

    t0 = time.monotonic()
    seed(tickets=0)
    t_accounts = time.monotonic() - t0
    result = bulk_web(n, m, batch=batch, workers=workers)
    result.update(migrate_seconds=round(t_migrate, 1), accounts_seconds=round(t_accounts, 1))
    print("BENCH_SEED " + json.dumps(result), flush=True)


def message_plan(n: int, m: int) -> tuple[int, int, int]:
    """(heavy tickets, base messages per other ticket, how many of them get one more)."""
    heavy = max(1, n // 5000) if m >= n * 2 + HEAVY_MESSAGES else 0
    rest_t, rest_m = n - heavy, m - heavy * HEAVY_MESSAGES
    base = max(1, rest_m // max(rest_t, 1))
    extra = max(0, min(rest_t, rest_m - base * rest_t))
    return heavy, base, extra


def bulk_web(n: int, m: int, *, batch: int, workers: int) -> dict:
    import api_bench as ab
    from django.core.management.color import no_style
    from django.db import connection, transaction

    from caseline.accounts.models import Contact, ProductArea, Region, User
    from caseline.audit.models import AuditEvent
    from caseline.sla import clockstate as cs
    from caseline.sla.models import Clock, TicketSla
    from caseline.tickets.models import Message, Ticket
    from caseline.timesource import now

    rng = random.Random(4242)
    w = ab.RowWriter("copy")
    for model, cols in (
        (Ticket, ab.TICKET_COLS),
        (Message, ab.MESSAGE_COLS),
        (AuditEvent, ab.AUDIT_COLS),
        (Ticket.followers.through, ab.FOLLOWER_COLS),
        (Clock, ab.CLOCK_COLS),
        (TicketSla, ab.SLA_COLS),
    ):
        w.check_columns(model, cols)
    sla = ab.SlaSeeder(w)
    js, dt = w.js, w.dt

    actor = User.objects.get(email=BENCH_USER)
    contacts = list(
        Contact.objects.filter(organization__isnull=False).select_related("organization")
    )
    areas = list(ProductArea.objects.select_related("owning_team").order_by("id"))
    members = {
        a.pk: list(
            User.objects.filter(teams=a.owning_team_id, skills=a).values_list("id", flat=True)
        )
        or [actor.pk]
        for a in areas
    }
    shift_calendar = dict(Region.objects.values_list("id", "shift_calendar"))
    owner_calendar = {
        uid: shift_calendar.get(rid) or ""
        for uid, rid in User.objects.values_list("id", "region_id")
    }
    labels = dict(User.objects.values_list("id", "email"))
    pool, rare, _frequent = text_model()
    heavy, base, extra = message_plan(n, m)
    heavy_every = n // heavy if heavy else 0

    statuses = [s for s, _ in ab.BULK_STATUSES]
    status_w = [wt for _, wt in ab.BULK_STATUSES]
    sevs, sev_w = zip(*SEVERITIES, strict=True)
    chans, chan_w = zip(*CHANNELS, strict=True)
    start = now() - timedelta(days=365)
    step = timedelta(days=365) / max(n, 1)
    hour = timedelta(hours=1)
    ticket_id0 = (Ticket.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    message_id0 = (Message.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1

    # The skeleton (random choices, SLA templates, message counts and ids) comes first, in
    # this process; the rows are generated batch by batch by forked workers.
    t0 = time.monotonic()
    skeleton: list[tuple] = []
    msg_start: list[int] = []
    next_mid = message_id0
    facts_memo: dict[tuple, tuple] = {}
    n_unassigned = 0
    for i in range(n):
        contact = rng.choice(contacts)
        org = contact.organization
        area = rng.choice(areas)
        sev = rng.choices(sevs, sev_w)[0]
        chan = rng.choices(chans, chan_w)[0]
        if rng.random() < UNASSIGNED_SHARE:
            assignee = None
            status = "new" if rng.random() < 0.7 else "open"
            n_unassigned += 1
        else:
            assignee = rng.choice(members[area.pk])
            status = rng.choices(statuses, status_w)[0]
        if heavy_every and i % heavy_every == heavy_every // 2 and heavy > 0:
            k = HEAVY_MESSAGES
        else:
            k = base + (1 if rng.random() < extra / max(n - heavy, 1) else 0)
        memo_key = (org.pk, area.pk, assignee, sev, chan)
        fa = facts_memo.get(memo_key)
        if fa is None:
            author = {"staff"}
            if assignee is not None:
                author.add("assignee")
                if assignee == org.sales_consultant_id:
                    author.add(cs.SC)
                if assignee == org.success_manager_id:
                    author.add(cs.CSM)
            fa = facts_memo[memo_key] = (
                cs.Facts(
                    severity=sev,
                    channel=chan,
                    tier=str(org.tier),
                    product_area_id=area.pk,
                    status="new",
                    has_assignee=assignee is not None,
                    has_sc=bool(org.sales_consultant_id),
                    has_csm=bool(org.success_manager_id),
                    owner_calendar=owner_calendar.get(assignee, "") if assignee else "",
                ),
                frozenset(author),
            )
        at = start + step * i
        tpl = sla.template_for(fa[0], fa[1], status, int(at.timestamp()))
        responder = assignee if assignee is not None else rng.choice(members[area.pk])
        skeleton.append((contact, area, assignee, responder, status, sev, chan, k, tpl))
        msg_start.append(next_mid)
        next_mid += k
    total_messages = next_mid - message_id0
    skeleton_seconds = time.monotonic() - t0
    print(
        f"  skeleton: {n:,} tickets, {total_messages:,} messages, {heavy} with "
        f"{HEAVY_MESSAGES}, {n_unassigned:,} unassigned, {len(sla.templates):,} SLA templates, "
        f"{skeleton_seconds:.1f} s",
        file=sys.stderr,
        flush=True,
    )

    def created_json(mid: int, chan: str) -> str:
        return f'{{"message_id": {mid}, "channel": "{chan}"}}'

    def added_json(mid: int, kind: str, role: str, chan: str) -> str:
        return (
            f'{{"message_id": {mid}, "kind": "{kind}", "author_role": "{role}", '
            f'"channel": "{chan}", "attachments": []}}'
        )

    status_data = js({"reason": "update"})
    n_pool, n_rare = len(pool), len(rare)

    def make(first: int, size: int) -> tuple:
        r = random.Random(first * 7919 + 1)
        rand, randint = r.random, r.randint
        tickets, messages, audits, follows = [], [], [], []

        def body(lo: int, hi: int) -> str:
            parts = [pool[int(rand() * n_pool)] for _ in range(randint(lo, hi))]
            for _ in range(randint(0, 2)):
                j = int(rand() * len(parts))
                parts[j] = parts[j][:-1] + " " + rare[int(rand() * n_rare)] + parts[j][-1]
            return " ".join(parts)

        for i in range(first, first + size):
            contact, area, assignee, responder, status, sev, chan, k, tpl = skeleton[i]
            org = contact.organization
            tid = ticket_id0 + i
            at = start + step * i
            sla.add(tid, tpl, int(at.timestamp()))
            subj = pool[int(rand() * n_pool)].rstrip(".?!").split()
            subject = " ".join(subj[: randint(4, 9)])
            if rand() < 0.5:
                subject += " " + rare[int(rand() * n_rare)]
            t_at = dt(at)
            t_3 = dt(at + 3 * hour)
            mid0 = msg_start[i]
            last = at
            for j in range(k):
                mid = mid0 + j
                if j == 0:
                    when, kind, u, c, text = at, "public", None, contact.pk, body(3, 6)
                elif j == 1:
                    when, kind, u, c, text = at + hour, "public", responder, None, body(2, 4)
                elif j == 2:
                    when, kind, u, c, text = at + 2 * hour, "internal", responder, None, body(1, 3)
                else:
                    when = at + 3 * hour + (j - 2) * timedelta(minutes=20)
                    if j % 2:
                        kind, u, c, text = "public", None, contact.pk, body(2, 5)
                    else:
                        kind = "internal" if j % 6 == 0 else "public"
                        u, c, text = responder, None, body(1, 4)
                last = max(last, when)
                messages.append((mid, tid, kind, u, c, chan, text, "", "", dt(when)))
                if j:
                    audits.append(
                        (
                            "ticket",
                            tid,
                            tid,
                            "ticket.message_added",
                            u,
                            "" if u else "customer",
                            dt(when),
                            "",
                            None,
                            None,
                            added_json(mid, kind, "staff" if u else "customer", chan),
                        )
                    )
            done_at = t_3 if status in ("solved", "closed") else None
            tickets.append(
                (
                    tid,
                    subject,
                    contact.pk,
                    org.pk,
                    area.pk,
                    sev,
                    PRIORITY_OF[sev],
                    status,
                    chan,
                    assignee,
                    area.owning_team_id,
                    "",
                    "",
                    "",
                    t_at,
                    dt(max(last, at + 3 * hour)),
                    done_at,
                    t_3 if status == "closed" else None,
                )
            )
            created = created_json(mid0, chan)
            for field, value in (
                ("subject", json.dumps(subject)),
                ("status", '"new"'),
                ("severity", str(sev)),
                ("requester", str(contact.pk)),
                ("organization", str(org.pk)),
                ("team", str(area.owning_team_id)),
            ):
                audits.append(
                    (
                        "ticket",
                        tid,
                        tid,
                        "ticket.created",
                        actor.pk,
                        labels[actor.pk],
                        t_at,
                        field,
                        None,
                        value,
                        created,
                    )
                )
            if assignee is not None:
                follows.append((tid, assignee))
                audits.append(
                    (
                        "ticket",
                        tid,
                        tid,
                        "ticket.assigned",
                        actor.pk,
                        labels[actor.pk],
                        t_at,
                        "assignee",
                        None,
                        str(assignee),
                        f'{{"strategy": "round_robin", "team": {area.owning_team_id}}}',
                    )
                )
            old = "new"
            for new in ab.STATUS_PATHS[status]:
                audits.append(
                    (
                        "ticket",
                        tid,
                        tid,
                        "ticket.status_changed",
                        responder,
                        labels.get(responder, ""),
                        t_3,
                        "status",
                        f'"{old}"',
                        f'"{new}"',
                        status_data,
                    )
                )
                old = new
        clocks, _timers, sla_rows = sla.rows()
        return tickets, messages, audits, follows, sla_rows, clocks

    follower_model = Ticket.followers.through
    loaded = [Ticket, Message, AuditEvent, follower_model, TicketSla, Clock]
    ab.BENCH_DROP_INDEXES = "all"  # both databases: one sorted build per index after the load
    w.begin_load(loaded)
    counts = dict.fromkeys(("tickets", "messages", "audit", "followers", "sla", "clocks"), 0)
    t0 = time.monotonic()
    ab._GEN["make"] = make
    done = 0
    for tickets, messages, audits, follows, sla_rows, clocks in ab.batches(n, batch, workers):
        with transaction.atomic():
            w.begin_batch()
            w.write(Ticket, ab.TICKET_COLS, tickets)
            w.write(Message, ab.MESSAGE_COLS, messages)
            w.write(AuditEvent, ab.AUDIT_COLS, audits)
            w.write(follower_model, ab.FOLLOWER_COLS, follows)
            w.write(TicketSla, ab.SLA_COLS, sla_rows)
            w.write(Clock, ab.CLOCK_COLS, clocks)
        done += len(tickets)
        for key, rows in zip(
            counts, (tickets, messages, audits, follows, sla_rows, clocks), strict=True
        ):
            counts[key] += len(rows)
        if done % (batch * 25) == 0 or done == n:
            secs = time.monotonic() - t0
            rows = sum(counts.values())
            print(
                f"  {done:>9,} tickets {counts['messages']:>10,} messages {rows:>11,} rows  "
                f"{done / secs:,.0f} tickets/s {rows / secs:,.0f} rows/s",
                file=sys.stderr,
                flush=True,
            )
    load_seconds = time.monotonic() - t0
    t1 = time.monotonic()
    # The SLA rows were written directly: mirror their next deadline on the ticket rows
    # (what the SLA services do per change; the queues sort on it), before the indexes.
    from caseline.sla.services import copy_next_deadlines_to_tickets

    copy_next_deadlines_to_tickets()
    index_seconds = w.end_load()
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), [Ticket, Message, AuditEvent]):
            cursor.execute(sql)
        qn = connection.ops.quote_name
        for model, column, target in (
            (Message, "ticket_id", Ticket),
            (Clock, "ticket_id", Ticket),
            (TicketSla, "ticket_id", Ticket),
        ):
            cursor.execute(
                f"SELECT COUNT(*) FROM {qn(model._meta.db_table)} r LEFT JOIN "
                f"{qn(target._meta.db_table)} t ON t.id = r.{qn(column)} WHERE t.id IS NULL"
            )
            if cursor.fetchone()[0]:
                raise SystemExit(f"bench: orphan {model.__name__} rows")
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        raw = connection.connection
        old = raw.autocommit
        raw.autocommit = True
        with raw.cursor() as cur:
            cur.execute("VACUUM (ANALYZE)")  # what autovacuum does to a database at rest
        raw.autocommit = old
    else:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finish_seconds = time.monotonic() - t1
    return {
        "tickets": counts["tickets"],
        "messages": counts["messages"],
        "rows": sum(counts.values()),
        "counts": counts,
        "unassigned": n_unassigned,
        "heavy_tickets": heavy,
        "skeleton_seconds": round(skeleton_seconds, 1),
        "load_seconds": round(load_seconds, 1),
        "index_seconds": round(index_seconds, 1),
        "finish_seconds": round(finish_seconds, 1),
        "seconds": round(skeleton_seconds + load_seconds + finish_seconds, 1),
        "sla_templates": len(sla.templates),
    }


# --- measuring child (inside Django) ---------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def measure_main(requests: int, deep: int, warmup: int) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "caseline.settings")
    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from caseline.accounts.models import User
    from caseline.tickets import queues
    from caseline.tickets.models import Message, Ticket

    # a cached copy seeded before a newer migration: bring it up to date first
    call_command("migrate", interactive=False, verbosity=1, stdout=sys.stderr)
    if "*" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    user = User.objects.get(email=BENCH_USER)
    client = Client()
    client.force_login(user)
    rng = random.Random(99)

    # (a) queue: first page and deep cursors (walked with the queue's own page function)
    q = {x.key: x for x in queues.builtin_queues()}["unassigned"]
    qs = queues.tickets(user, q.filters)
    matching = qs.count()
    cursor, walked, deep_cursors = None, 0, []
    while walked < deep:
        pg = queues.page(qs, q.sort, cursor, queues.DEFAULT_LIMIT)
        walked += len(pg.rows)
        cursor = pg.next_cursor
        if not cursor:
            break
        if walked >= deep * 0.8:
            deep_cursors.append(cursor)
    # (b) tickets with 3 messages and with 50
    top = Ticket.objects.order_by("-id").values_list("id", flat=True).first()
    sample = [rng.randint(1, top) for _ in range(400)]
    from django.db.models import Count

    counted = dict(
        Message.objects.filter(ticket_id__in=sample)
        .values("ticket_id")
        .annotate(c=Count("id"))
        .values_list("ticket_id", "c")
    )
    three = [t for t in sample if counted.get(t) == 3][:200]
    heavy = (
        list(
            Message.objects.values("ticket_id")
            .annotate(c=Count("id"))
            .filter(c__gte=HEAVY_MESSAGES)
            .values_list("ticket_id", flat=True)[:20]
        )
        if connection.vendor == "postgresql"
        else _heavy_sqlite()
    )
    # (c) search words: from search_bench's vocabulary, rare words of stored messages
    pairs = search_pairs(rng)

    scenarios: list[tuple[str, str, list[str]]] = [
        ("queue", "queue unassigned, first page", ["/queues/unassigned/"]),
        (
            "queue",
            f"queue unassigned, deep page (~{walked:,} rows)",
            [f"/queues/unassigned/?cursor={c}" for c in deep_cursors] or ["/queues/unassigned/"],
        ),
        ("ticket", "ticket page, 3 messages", [f"/t/{t}" for t in three]),
        ("ticket", f"ticket page, {HEAVY_MESSAGES} messages", [f"/t/{t}" for t in heavy]),
    ]
    for label in ("common+common", "common+rare", "rare+rare"):
        scenarios.append(("search", f"search {label}", [_search_url(p) for p in pairs[label]]))
    results = []
    for group, label, urls in scenarios:
        if not urls:
            print(f"   {label}: no URLs (skipped)", file=sys.stderr, flush=True)
            continue
        for i in range(warmup):
            client.get(urls[i % len(urls)])
        times, bad = [], 0
        n = max(requests, len(urls))
        for i in range(n):
            url = urls[i % len(urls)]
            t = time.perf_counter()
            resp = client.get(url)
            times.append((time.perf_counter() - t) * 1000)
            if resp.status_code != 200:
                bad += 1
        statements = []
        for url in urls[: min(len(urls), 20)]:
            with CaptureQueriesContext(connection) as ctx:
                client.get(url)
            statements.append(len(ctx.captured_queries))
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        row = {
            "group": group,
            "scenario": label,
            "requests": n,
            "distinct_urls": len(urls),
            "p50": pct(times, 50),
            "p95": pct(times, 95),
            "p99": pct(times, 99),
            "max": max(times),
            "non200": bad,
            "statements": sorted(statements)[len(statements) // 2],
            "statements_max": max(statements),
            "load": load,
            "target_p95": TARGETS_MS[group],
        }
        results.append(row)
        print(
            f"   {label:<40} n={n:<4} p50 {row['p50']:7.1f}  p95 {row['p95']:7.1f}  "
            f"p99 {row['p99']:7.1f}  max {row['max']:7.1f} ms  sql {row['statements']} "
            f"non-200 {bad}  load {load}",
            file=sys.stderr,
            flush=True,
        )
    print(
        "BENCH_MEASURE "
        + json.dumps(
            {
                "results": results,
                "unassigned_matching": matching,
                "deep_rows": walked,
                "search_pairs": pairs,
                "vendor": connection.vendor,
            }
        ),
        flush=True,
    )


def _heavy_sqlite() -> list[int]:
    from django.db import connection

    with connection.cursor() as c:
        c.execute(
            "SELECT ticket_id FROM tickets_message GROUP BY ticket_id HAVING COUNT(*) >= %s "
            "LIMIT 20",
            [HEAVY_MESSAGES],
        )
        return [r[0] for r in c.fetchall()]


def _search_url(pair: str) -> str:
    from urllib.parse import urlencode

    return "/search/?" + urlencode({"q": pair})


def search_pairs(rng: random.Random, n_each: int = 12) -> dict[str, list[str]]:
    """Two-word queries: two frequent support words; a frequent word and a rare word of a
    stored message; two rare words of one stored message when it has two, else of two."""
    from caseline.tickets.models import Message

    pool, rare, frequent = text_model()
    rare_set = set(rare)
    top = Message.objects.order_by("-id").values_list("id", flat=True).first() or 0
    ids = [rng.randint(1, top) for _ in range(300)]
    samples = []
    for text in Message.objects.filter(id__in=ids).values_list("body_text", flat=True):
        words = {w.strip(".?!,").lower() for w in text.split()}
        found = sorted(words & rare_set)
        if found:
            samples.append((found, sorted(words & set(frequent))))
    out: dict[str, list[str]] = {"common+common": [], "common+rare": [], "rare+rare": []}
    doubles = [s for s in samples if len(s[0]) >= 2]
    for _ in range(n_each):
        out["common+common"].append(" ".join(rng.sample(frequent[:30], 2)))
        if samples:
            rw, fw = rng.choice(samples)
            out["common+rare"].append(f"{rng.choice(fw or frequent)} {rng.choice(rw)}")
            if doubles:
                out["rare+rare"].append(" ".join(rng.sample(rng.choice(doubles)[0], 2)))
            else:
                out["rare+rare"].append(f"{rng.choice(samples)[0][0]} {rng.choice(rare)}")
    return out


# --- orchestration (no Django) ---------------------------------------------------------------


def child_env(database_url: str, data_dir: Path) -> dict[str, str]:
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CASELINE_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="caseline.settings",
        DATABASE_URL=database_url,
        CASELINE_DATA_DIR=str(data_dir),
        QUEUE_URL=f"sqlite:///{data_dir / 'queue.sqlite3'}",
        RATELIMIT_URL=f"sqlite:///{data_dir / 'ratelimit.sqlite3'}",
        DEBUG="0",
        LOG_LEVEL="ERROR",
        PYTHONPATH=str(ROOT),
    )
    return env


def run_child(argv: list[str], env: dict[str, str], tag: str, timeout: float) -> dict:
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *argv],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{tag} child failed (exit {proc.returncode})")
    for line in proc.stdout.splitlines():
        if line.startswith(tag + " "):
            return json.loads(line.removeprefix(tag + " "))
    raise SystemExit(f"{tag} child printed no result")


def pg(sql: str, fetch: bool = False):
    import psycopg

    with psycopg.connect(
        PG_ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True
    ) as c:
        cur = c.execute(sql)
        return cur.fetchall() if fetch else None


def pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def prepare(name: str, args, key: str) -> tuple[str, Path, dict | None]:
    """The database URL of a fresh copy of the seeded database (seeding it first when the
    cache has no copy for ``key``), its data dir, and the seeding figures when it seeded."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    data_dir = CACHE_DIR / f"data-{name}"
    seed_argv = [
        "--seed-child",
        "--tickets",
        str(args.tickets),
        "--messages",
        str(args.messages),
        "--batch",
        str(args.batch),
        "--workers",
        str(args.workers),
    ]
    seeded = None
    if name == "sqlite":
        cached = CACHE_DIR / f"web-sqlite-{key}.sqlite3"
        if args.fresh and cached.exists():
            cached.unlink()
        if not cached.exists():
            for old in CACHE_DIR.glob("web-sqlite-*.sqlite3*"):
                old.unlink()
            tmp = CACHE_DIR / f"web-sqlite-{key}.seeding.sqlite3"
            for p in CACHE_DIR.glob(tmp.name + "*"):
                p.unlink()
            print(f"== sqlite: seeding {args.tickets:,} / {args.messages:,} into {tmp}", flush=True)
            seeded = run_child(
                seed_argv, child_env(f"sqlite:///{tmp}", data_dir), "BENCH_SEED", args.timeout
            )
            for suffix in ("-wal", "-shm"):
                p = Path(str(tmp) + suffix)
                if p.exists() and p.stat().st_size == 0:
                    p.unlink()
            if Path(str(tmp) + "-wal").exists():
                raise SystemExit("sqlite: WAL not checkpointed after seeding")
            tmp.rename(cached)
        work = CACHE_DIR / "web-sqlite-work.sqlite3"
        for p in CACHE_DIR.glob(work.name + "*"):
            p.unlink()
        t0 = time.monotonic()
        shutil.copyfile(cached, work)
        print(f"== sqlite: copied {cached.name} ({time.monotonic() - t0:.1f} s)", flush=True)
        return f"sqlite:///{work}", data_dir, seeded
    if name == "postgres":
        template = f"{args.pg_db}_seed_{key}"
        have = {r[0] for r in pg("SELECT datname FROM pg_database", fetch=True)}
        if args.fresh and template in have:
            pg(f'DROP DATABASE "{template}" WITH (FORCE)')
            have.discard(template)
        if template not in have:
            for old in have:
                if old.startswith(f"{args.pg_db}_seed_"):
                    pg(f'DROP DATABASE "{old}" WITH (FORCE)')
            building = f"{args.pg_db}_seeding"
            pg(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
            pg(f'CREATE DATABASE "{building}"')
            print(f"== postgres: seeding {args.tickets:,} / {args.messages:,} into {building}")
            seeded = run_child(
                seed_argv, child_env(pg_url(building), data_dir), "BENCH_SEED", args.timeout
            )
            pg(f'ALTER DATABASE "{building}" RENAME TO "{template}"')
        pg(f'DROP DATABASE IF EXISTS "{args.pg_db}" WITH (FORCE)')
        t0 = time.monotonic()
        pg(f'CREATE DATABASE "{args.pg_db}" TEMPLATE "{template}"')
        print(
            f"== postgres: {args.pg_db} from template {template} ({time.monotonic() - t0:.1f} s)",
            flush=True,
        )
        return pg_url(args.pg_db), data_dir, seeded
    raise SystemExit(f"unknown database {name!r} (sqlite, postgres)")


def table(all_results: list[dict]) -> str:
    lines = [
        "| database | scenario | requests | p50 ms | p95 ms | p99 ms | max ms | SQL/req "
        "| target p95 | load |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for db in all_results:
        for r in db["measure"]["results"]:
            ok = "met" if r["p95"] <= r["target_p95"] else "**missed**"
            lines.append(
                f"| {db['name']} | {r['scenario']} | {r['requests']} | {r['p50']:.1f} | "
                f"{r['p95']:.1f} | {r['p99']:.1f} | {r['max']:.1f} | {r['statements']} | "
                f"≤ {r['target_p95']:.0f}: {ok} | {r['load']} |"
            )
    seeds = [db for db in all_results if db.get("seed")]
    if seeds:
        lines += [
            "",
            "| database | tickets | messages | rows | seconds (skeleton + load + index/vacuum) "
            "| tickets/s |",
            "|---|---:|---:|---:|---|---:|",
        ]
        for db in seeds:
            s = db["seed"]
            lines.append(
                f"| {db['name']} | {s['tickets']:,} | {s['messages']:,} | {s['rows']:,} | "
                f"{s['seconds']} ({s['skeleton_seconds']} + {s['load_seconds']} + "
                f"{s['finish_seconds']}) | {s['tickets'] / max(s['seconds'], 1e-9):,.0f} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--messages", type=int, default=3_000_000)
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--pg-db", default="h_wb")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per scenario")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--deep", type=int, default=2000, help="rows before the deep cursors")
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=1, help="row-generating processes")
    parser.add_argument("--timeout", type=int, default=4 * 3600)
    parser.add_argument("--fresh", action="store_true", help="re-seed even when cached")
    parser.add_argument("--seed-only", action="store_true")
    parser.add_argument(
        "--key", help="use the cached seed of this key (e.g. after an unrelated migration)"
    )
    parser.add_argument("--json")
    parser.add_argument("--seed-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--measure-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed_child:
        seed_main(args.tickets, args.messages, args.batch, args.workers)
        return
    if args.measure_child:
        measure_main(args.requests, args.deep, args.warmup)
        return
    key = args.key or cache_key(args.tickets, args.messages)
    print(
        f"web bench: {args.tickets:,} tickets, {args.messages:,} messages, key {key}, "
        f"{os.cpu_count()} CPUs, load {' '.join(f'{x:.2f}' for x in os.getloadavg())}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M UTC}",
        flush=True,
    )
    out = []
    for name in [d.strip() for d in args.db.split(",") if d.strip()]:
        url, data_dir, seeded = prepare(name, args, key)
        if seeded:
            print(f"   seeded: {json.dumps(seeded)}", flush=True)
        entry: dict[str, Any] = {"name": name, "seed": seeded, "key": key}
        if not args.seed_only:
            print(f"== {name}: measuring", flush=True)
            entry["measure"] = run_child(
                [
                    "--measure-child",
                    "--requests",
                    str(args.requests),
                    "--deep",
                    str(args.deep),
                    "--warmup",
                    str(args.warmup),
                ],
                child_env(url, data_dir),
                "BENCH_MEASURE",
                args.timeout,
            )
        out.append(entry)
    if not args.seed_only:
        print()
        print(table(out))
    if args.json:
        Path(args.json).write_text(json.dumps({"results": out}, indent=2, default=str))


if __name__ == "__main__":
    main()
