"""SLA figures (issue 3): business-time ``add`` against pandas, and the recompute of
100,000 open tickets' clocks after a calendar edit, on SQLite and PostgreSQL.

Part 1 (no database): the same random inputs -- starts to the second in 2026 on
Mon-Fri 08:00-17:00 America/New_York with US holidays, counts of 1-40 whole business
hours (pandas' CustomBusinessHour only adds whole hours) -- through
  * pandas ``ts + n * CustomBusinessHour(start="08:00", end="17:00", holidays=...)``
    (naive local times: pandas knows no time zones here),
  * ``Calendar.add`` (aware datetimes) and ``Calendar.add_ts`` (epoch seconds), scalar,
  * ``Calendar.add_many`` (numpy batch),
side by side, with the ratios, and how many answers differ (pandas returns the next
opening where a count runs out exactly at a closing time, and ignores DST).

Part 2 (per database, in a child process): migrate a fresh database (SQLite file in a
temp dir; PostgreSQL database ``caseline_sla_bench`` on postgres://root@127.0.0.1:5432/, dropped and
created -- ``--pg-db`` to change), bulk-insert N open tickets (default 100,000), each with
its running SE resolution clock on ``amer-business`` (some consumed seconds) and its ONE
pending timer (the clock's next step -- 75 % rule or breach -- chained: 100,000 pending
timers), then edit the calendar
through ``config.update_calendar`` (hours Mon-Fri 08:00-16:00) and time it: the edit,
cache invalidation and ``services.recompute`` (read the clocks, ``add_many`` per calendar
for the due times and the pending steps, then one UPDATE per table: COPY into a temporary
table + UPDATE ... FROM on PostgreSQL, executemany of one-row UPDATEs on SQLite), and a
second recompute where nothing moves. Target <= 5 s.

Prints figures, asserts nothing. Usage:
    .venv/bin/python bench/sla_bench.py [--db sqlite,postgres] [--tickets N] [--skip-db]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def best(fn, runs: int = 3) -> float:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


def part_add(n: int, seed: int = 7) -> None:
    from zoneinfo import ZoneInfo

    import holidays
    import numpy as np
    import pandas as pd
    from pandas.tseries.offsets import CustomBusinessHour

    from caseline.clock import Calendar, HolidaySpec

    ny = ZoneInfo("America/New_York")
    cal = Calendar.build("America/New_York", "Mon-Fri 08:00-17:00", holidays=[HolidaySpec("US")])
    hol = sorted(d for y in (2026, 2027) for d in holidays.US(years=y))
    cbh = CustomBusinessHour(start="08:00", end="17:00", holidays=hol)
    rng = random.Random(seed)
    base = datetime(2026, 1, 1)
    starts_local = [base + timedelta(seconds=rng.randrange(0, 360 * 86400)) for _ in range(n)]
    hours = [rng.randint(1, 40) for _ in range(n)]
    starts_aware = [s.replace(tzinfo=ny) for s in starts_local]
    starts_ts = [int(s.timestamp()) for s in starts_aware]
    secs = [h * 3600 for h in hours]
    cal.add(starts_aware[0], 1)  # tables built outside the timing
    cal.add_many(np.asarray(starts_ts[:10], dtype=np.int64), 3600)

    pd_n = min(n, 3000)
    pd_starts = [pd.Timestamp(s) for s in starts_local[:pd_n]]
    pd_res: list = []

    def run_pandas():
        pd_res.clear()
        pd_res.extend(ts + h * cbh for ts, h in zip(pd_starts, hours[:pd_n], strict=True))

    t_pd = best(run_pandas, 2)
    our_res: list = []

    def run_add():
        our_res.clear()
        add = cal.add
        our_res.extend(add(s, x) for s, x in zip(starts_aware, secs, strict=True))

    def run_add_ts():
        add = cal.add_ts
        for s, x in zip(starts_ts, secs, strict=True):
            add(s, x)

    t_add = best(run_add)
    t_add_ts = best(run_add_ts)
    arr_s = np.asarray(starts_ts, dtype=np.int64)
    arr_x = np.asarray(secs, dtype=np.int64)
    t_batch = best(lambda: cal.add_many(arr_s, arr_x), 5)
    big = 1_000_000
    big_s = np.resize(arr_s, big)
    big_x = np.resize(arr_x, big)
    t_batch_big = best(lambda: cal.add_many(big_s, big_x), 3)

    differ = 0
    at_close = 0
    for i in range(pd_n):
        ours = our_res[i].astimezone(ny).replace(tzinfo=None)
        theirs = pd_res[i].to_pydatetime()
        if ours != theirs:
            differ += 1
            if ours.hour == 17 and ours.minute == 0 and ours.second == 0:
                at_close += 1
    r_pd = pd_n / t_pd
    rows = [
        ("pandas CustomBusinessHour (scalar)", pd_n, r_pd),
        ("Calendar.add (aware datetimes, scalar)", n, n / t_add),
        ("Calendar.add_ts (epoch seconds, scalar)", n, n / t_add_ts),
        ("Calendar.add_many (numpy batch)", n, n / t_batch),
        ("Calendar.add_many (numpy batch)", big, big / t_batch_big),
    ]
    print("\n## add(): due times per second, same inputs (best of 2-5 runs)\n")
    print("| implementation | inputs | due times/s | vs pandas |")
    print("|---|---:|---:|---:|")
    for name, cnt, rate in rows:
        print(f"| {name} | {cnt:,} | {rate:,.0f} | {rate / r_pd:,.0f}x |")
    print(
        f"\nAnswers differing from pandas on the {pd_n:,} common inputs: {differ:,} "
        f"({at_close:,} of them where the count runs out exactly at 17:00 -- we return the "
        "closing instant, pandas the next opening; the rest are DST weeks, where pandas "
        "counts naive wall-clock hours)."
    )


# --- part 2: recompute ---------------------------------------------------------------------------


def child(n_tickets: int) -> dict:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "caseline.settings")
    django.setup()
    from django.db import connection, transaction

    from caseline import timesource
    from caseline.accounts.models import Contact
    from caseline.sla import clockstate as cs
    from caseline.sla import config, policies, services
    from caseline.sla.models import Calendar, Clock, Target, TicketSla, Timer
    from caseline.tickets.models import Ticket

    now = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # Monday 10:00 EST
    timesource.set_time(now)
    rng = random.Random(3)
    t0 = time.perf_counter()
    contact = Contact.objects.create(name="Bench requester")
    target = Target.objects.get(policy__name="Support engineer (default)", kind="resolution")
    cal = Calendar.objects.get(name="amer-business")
    from caseline.sla.calendars import get_calendar

    bc = get_calendar("amer-business")
    batch = 5000
    for lo in range(0, n_tickets, batch):
        hi = min(n_tickets, lo + batch)
        tickets = Ticket.objects.bulk_create(
            [
                Ticket(
                    subject=f"Bench {i}",
                    requester=contact,
                    status="open",
                    created_at=now - timedelta(days=rng.randint(0, 20)),
                    updated_at=now,
                )
                for i in range(lo, hi)
            ]
        )
        clocks, slas, timers = [], [], []
        for t in tickets:
            consumed = rng.randint(0, 60 * 3600)
            since = now - timedelta(seconds=rng.randint(0, 3 * 86400))
            due = bc.add(since, target.seconds - consumed)
            clocks.append(
                Clock(
                    ticket_id=t.pk,
                    key="support_engineer:resolution",
                    role="support_engineer",
                    kind="resolution",
                    policy_id=target.policy_id,
                    target_id=target.pk,
                    cycle=1,
                    seconds=target.seconds,
                    calendar="amer-business",
                    pause_statuses=["pending"],
                    state="active",
                    started_at=t.created_at,
                    running_since=since,
                    consumed=consumed,
                    due_at=due,
                    updated_at=now,
                )
            )
            slas.append(TicketSla(ticket_id=t.pk, facts={"status": "open"}, next_deadline=due))
            # The clock's ONE pending timer: its next step (chained), as the engine keeps it.
            state = cs.ClockState(
                key="support_engineer:resolution",
                role="support_engineer",
                kind="resolution",
                seconds=target.seconds,
                calendar=bc,
                calendar_name="amer-business",
                pause_statuses=frozenset(["pending"]),
                cycle=1,
                started_at=int(t.created_at.timestamp()),
                running_since=int(since.timestamp()),
                consumed=consumed,
                due=int(due.timestamp()),
                target_id=target.pk,
            )
            step, _rule, step_due = services.next_step(state)
            clocks[-1].step = step
            timers.append(
                Timer(
                    subject_type="ticket",
                    subject_id=t.pk,
                    kind=services._kind_of(step),
                    due_at=datetime.fromtimestamp(step_due, UTC),
                    key=services.timer_key(t.pk, state.key, 1, step),
                    payload=services._payload(t.pk, state.key, 1, step),
                    created_at=now,
                )
            )
        with transaction.atomic():
            Clock.objects.bulk_create(clocks)
            TicketSla.objects.bulk_create(slas)
            Timer.objects.bulk_create(timers, batch_size=2000)
    services.copy_next_deadlines_to_tickets()  # the ticket rows' mirror of next_deadline
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("ANALYZE")
    seed_s = time.perf_counter() - t0
    policies.specs()
    sample = Clock.objects.order_by("id").values_list("due_at", flat=True)[:3]
    before = list(sample)

    t1 = time.perf_counter()
    if os.environ.get("SLA_BENCH_PROFILE"):  # where the time of the edit goes, to a file
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.runcall(config.update_calendar, cal, None, hours="Mon-Fri 08:00-16:00")
        with open(os.environ["SLA_BENCH_PROFILE"], "w") as f:
            pstats.Stats(prof, stream=f).sort_stats("cumulative").print_stats(30)
    else:
        config.update_calendar(cal, None, hours="Mon-Fri 08:00-16:00")
    edit_s = time.perf_counter() - t1
    edit_phases = dict(services.PHASES)
    after = list(Clock.objects.order_by("id").values_list("due_at", flat=True)[:3])
    # A second pass straight through services.recompute (tables and caches warm).
    t2 = time.perf_counter()
    n = services.recompute(calendars=["amer-business"])
    warm_s = time.perf_counter() - t2
    warm_phases = dict(services.PHASES)
    moved = Timer.objects.filter(fired_at__isnull=True, cancelled_at__isnull=True).count()
    return {
        "vendor": connection.vendor,
        "tickets": n_tickets,
        "clocks": n,
        "timers": moved,
        "seed_s": seed_s,
        "edit_s": edit_s,
        "recompute_s": warm_s,
        "edit_phases": edit_phases,
        "warm_phases": warm_phases,
        "before": [str(x) for x in before],
        "after": [str(x) for x in after],
    }


def run_db(name: str, n_tickets: int, pg_db: str) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix=f"caseline-sla-bench-{name}-"))
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["CASELINE_DATA_DIR"] = str(tmp / "data")
    env["CASELINE_TIME_FILE"] = str(tmp / "time.json")
    env["QUEUE_URL"] = "immediate"
    env["PYTHONPATH"] = str(ROOT)
    if name == "postgres":
        subprocess.run(
            ["dropdb", "-h", "127.0.0.1", "-U", "root", "--if-exists", pg_db], check=True
        )
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "root", pg_db], check=True)
        env["DATABASE_URL"] = f"postgres://root@127.0.0.1:5432/{pg_db}"
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"
    try:
        subprocess.run(
            [sys.executable, "-m", "caseline", "migrate", "-v", "0"], env=env, cwd=ROOT, check=True
        )
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(n_tickets)],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default="sqlite,postgres")
    ap.add_argument("--tickets", type=int, default=100_000)
    ap.add_argument("--inputs", type=int, default=200_000)
    ap.add_argument("--pg-db", default="caseline_sla_bench")
    ap.add_argument("--skip-db", action="store_true")
    ap.add_argument("--child", type=int)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in open("/proc/cpuinfo")
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    print(
        f"# SLA bench {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores ({cpu}), "
        f"Python {platform.python_version()}, load average {load}"
    )
    part_add(args.inputs)
    if args.skip_db:
        return
    print("\n## recompute after a calendar edit (amer-business hours 08:00-17:00 -> 08:00-16:00)\n")
    print(
        "| database | open tickets | running clocks | pending timers | edit + recompute | recompute again | seeding |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in args.db.split(","):
        r = run_db(name.strip(), args.tickets, args.pg_db)
        print(
            f"| {r['vendor']} | {r['tickets']:,} | {r['clocks']:,} | {r['timers']:,} | "
            f"{r['edit_s']:.2f} s | {r['recompute_s']:.2f} s | {r['seed_s']:.0f} s |"
        )
        print(f"<!-- first due times before {r['before']} after {r['after']} -->")
        print(f"<!-- seconds per phase: edit {r['edit_phases']}, again {r['warm_phases']} -->")


if __name__ == "__main__":
    main()
