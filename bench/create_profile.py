"""Ticket-create profile: N creates in-process through the API (Django test client, a
support engineer's token, not a superuser), printing SQL statements per create, ms per
create and the statements grouped by table and verb.

The body is the one ``bench/api_bench.py`` posts (subject + body, requester by email of
an existing contact, channel api), so triage, auto-assignment, SC follower, SLA clocks,
ETA and outbox all run as under wrk.

Usage:
  .venv/bin/python bench/create_profile.py --db sqlite [-n 200]      # temp SQLite file
  .venv/bin/python bench/create_profile.py --db postgres [--pg-db h_crt_bench] [-n 200]
  .venv/bin/python bench/create_profile.py --url DATABASE_URL --keep  # existing demo db

``--db`` creates a fresh database (migrate + demo accounts, no tickets); ``--url`` with
``--keep`` reuses a database seeded before (migrated to the current code first). ``--profile`` adds a cProfile top list.
Never part of the test suite: it prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

BENCH_USER = "sam.carter@caseline.demo"  # a support engineer (as in api_bench.py)

_TABLE = re.compile(r'(?:FROM|INTO|UPDATE)\s+"([a-z0-9_]+)"', re.I)
_PARENS = re.compile(r"\([^()]*\)")


def classify(sql: str) -> str:
    head = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "?"
    if head in {"SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN", "COMMIT"}:
        return head
    top = sql
    while True:  # drop parenthesised subqueries: the statement's own table remains
        stripped = _PARENS.sub("", top)
        if stripped == top:
            break
        top = stripped
    m = _TABLE.search(top) or _TABLE.search(sql)
    return f"{head} {m.group(1) if m else '?'}"


def body(n: int, email: str) -> str:
    return json.dumps(
        {
            "subject": f"Bench {n}: replication lag on vol-erp-data keeps growing",
            "body_text": "Since the upgrade to 8.0.3 the replication lag keeps growing "
            f"(reference {n}). Bandwidth looks fine. Can you help?",
            "requester": {"email": email},
            "channel": "api",
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=200, help="creates measured (after warm-up)")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--db", choices=["sqlite", "postgres"], help="fresh database")
    parser.add_argument("--pg-db", default="h_crt_bench")
    parser.add_argument("--url", help="DATABASE_URL of an existing demo database")
    parser.add_argument("--keep", action="store_true", help="do not seed (--url); migrates")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--show", type=int, default=0, help="print the SQL of one create")
    parser.add_argument("--profile", action="store_true", help="cProfile the timed loop")
    parser.add_argument(
        "--profile-cpu",
        action="store_true",
        help="cProfile with the process CPU clock (steadier than wall time on a loaded machine)",
    )
    parser.add_argument("--dump", help="write the cProfile stats to this file (pstats)")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="create-profile-")
    if args.url:
        url = args.url
    elif args.db == "postgres":
        from benchlib import pg_reset, pg_url

        pg_reset(args.pg_db)
        url = pg_url(args.pg_db)
    else:
        url = f"sqlite:///{tmp}/bench.sqlite3"
    os.environ.update(
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="caseline.settings",
        CASELINE_DATA_DIR=tmp,
        QUEUE_URL=f"sqlite:///{tmp}/queue.sqlite3",
        RATELIMIT_URL=f"sqlite:///{tmp}/ratelimit.sqlite3",
        API_RATE_LIMIT="100000000",
        DEBUG="0",
        LOG_LEVEL="ERROR",
    )
    os.environ.pop("CASELINE_TIME_FILE", None)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    if "testserver" not in settings.ALLOWED_HOSTS and "*" not in settings.ALLOWED_HOSTS:
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    t0 = time.monotonic()
    call_command("migrate", interactive=False, verbosity=0)
    if not args.keep:
        from caseline.demo.seed import seed

        seed(tickets=0)
        print(f"migrate + demo accounts: {time.monotonic() - t0:.1f} s", flush=True)

    from caseline.accounts.models import ContactEmail, User
    from caseline.accounts.tokens import create_token

    user = User.objects.get(email=BENCH_USER)
    _, secret = create_token(user, "create-profile")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    emails = list(ContactEmail.objects.order_by("id").values_list("email", flat=True)[:20])

    def post(i: int):
        r = client.post(
            "/api/v1/tickets",
            data=body(i, emails[i % len(emails)]),
            content_type="application/json",
        )
        if r.status_code != 201:
            raise SystemExit(f"create answered {r.status_code}: {r.content[:500]!r}")
        return r

    for i in range(args.warmup):
        post(i)

    counts: list[int] = []
    groups: Counter[str] = Counter()
    times: list[float] = []
    shown = False
    for i in range(args.warmup, args.warmup + args.n):
        with CaptureQueriesContext(connection) as ctx:
            post(i)
        sql = [q["sql"] for q in ctx.captured_queries]
        counts.append(len(sql))
        groups.update(classify(q) for q in sql)
        if args.show and not shown:
            shown = True
            for q in sql:
                print("   ", q[: args.show])
    # time per statement kind (database round trip + driver), one more batch of creates
    spent: Counter[str] = Counter()
    # The auto-assignment's team row lock is held to the commit: concurrent creates for
    # the team queue on it. Measured from that SELECT to the first statement after the
    # commit (the answer's follower read), with the statements in between.
    held: list[float] = []
    held_statements: list[int] = []
    lock_at: list[float] = []
    inside = [0]

    def timed(execute, sql, params, many, context):
        t0 = time.perf_counter()
        if sql.startswith('SELECT "accounts_team"') and 'WHERE "accounts_team"."id" =' in sql:
            lock_at[:] = [t0]
            inside[0] = 0
        elif lock_at and 'FROM "tickets_ticket_followers" WHERE' in sql:
            held.append((t0 - lock_at[0]) * 1000)
            held_statements.append(inside[0])
            lock_at.clear()
        elif lock_at:
            inside[0] += 1
        try:
            return execute(sql, params, many, context)
        finally:
            spent[classify(sql)] += time.perf_counter() - t0

    with connection.execute_wrapper(timed):
        for i in range(args.warmup + args.n, args.warmup + 2 * args.n):
            post(i)
    # timing without the query capture (it costs a little per statement)
    prof = None
    if args.profile or args.profile_cpu:
        import cProfile

        prof = cProfile.Profile(time.process_time) if args.profile_cpu else cProfile.Profile()
        prof.enable()
    base = args.warmup + 2 * args.n
    cpu0 = time.process_time()
    for i in range(base, base + args.n):
        t0 = time.perf_counter()
        post(i)
        times.append((time.perf_counter() - t0) * 1000)
    cpu = (time.process_time() - cpu0) / args.n * 1000
    if prof is not None:
        prof.disable()

    print(f"database: {connection.vendor} ({url.split('@')[-1]})")
    print(f"load: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"statements per create: mean {statistics.mean(counts):.1f}, "
        f"min {min(counts)}, max {max(counts)}"
    )
    times.sort()
    print(
        f"ms per create: mean {statistics.mean(times):.1f}, p50 {times[len(times) // 2]:.1f}, "
        f"p95 {times[int(len(times) * 0.95)]:.1f}  ({len(times)} creates); "
        f"CPU of this process {cpu:.1f} ms per create (less sensitive to machine load)"
    )
    if held:
        held.sort()
        print(
            f"team lock held (its SELECT to the commit): {len(held)} creates, "
            f"{statistics.mean(held_statements):.1f} statements, "
            f"mean {statistics.mean(held):.1f} ms, p50 {held[len(held) // 2]:.1f} ms"
        )
    total_db = sum(spent.values()) / args.n * 1000
    print(f"statements per create by kind and table (ms per create in them; all: {total_db:.1f}):")
    for key, c in groups.most_common(args.top):
        print(f"  {c / len(counts):6.2f}  {spent[key] / args.n * 1000:6.2f} ms  {key}")
    if prof is not None:
        import pstats

        stats = pstats.Stats(prof)
        if args.dump:
            stats.dump_stats(args.dump)
        stats.sort_stats("cumulative").print_stats(r"caseline/", 40)
        stats.sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
