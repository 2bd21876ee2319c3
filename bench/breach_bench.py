"""Breach latency (issue 3): from an SLA deadline to its escalation action's audit event,
with 100,000 open tickets, a real `caseline clock` process, on SQLite and PostgreSQL.

For each database (an SQLite file in a temporary directory; PostgreSQL database ``h_rota``
on postgres://root@127.0.0.1:5432/, dropped and created -- ``--pg-db`` to change):

0. migrate; bulk-insert 100,000 open tickets, each with a pending deadline 30 days ahead
   (``sla.action`` timers: the background of open tickets' clocks); start ``caseline clock``
   (real time, default options);
(a) 1,000 deadlines spread evenly over one minute, each on its own ticket: an ``sla.action``
    timer running the escalation action ``raise_priority`` (``caseline.sla.actions.run``:
    ticket locked, ``update_ticket`` -> ``ticket.updated`` audit + domain event + webhook
    fan-out query, then the ``sla.action_fired`` audit event). Delay = that event's ``at``
    minus the deadline; p50 / p99 / max -- target p99 <= 1 s;
(b) 5,000 deadlines in the same second (overnight tickets on a business calendar all due
    at 08:00): first action after the deadline, when this process first saw one committed,
    all done, drain rate.

The deadlines are ``sla.action`` timers scheduled directly, not the SLA engine's threshold
timers (``sla.threshold``, built at the same time by another helper): both end in the
same ``actions.run`` inside the clock's claiming transaction, the threshold handler only
adds the reading of the clock row and the escalation rule.

Prints figures, asserts nothing. Usage:
    .venv/bin/python bench/breach_bench.py [--db sqlite,postgres] [--tickets N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from timer_bench import machine, percentile  # noqa: E402

PG_ADMIN_URL = "postgres://root@127.0.0.1:5432/postgres"


def child(n_tickets: int, spread_n: int, burst_n: int) -> dict:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "caseline.settings")
    django.setup()
    from django.db import connection

    from caseline.accounts.models import Contact, Organization
    from caseline.audit.models import AuditEvent
    from caseline.sla import actions
    from caseline.sla.models import Timer
    from caseline.sla.timers import PENDING
    from caseline.tickets.models import Ticket
    from caseline.timesource import now

    t0 = time.perf_counter()
    org = Organization.objects.create(name="Bench Org", include_sc=False)
    contact = Contact.objects.create(name="Bench Contact", organization=org)
    Ticket.objects.bulk_create(
        (
            Ticket(
                subject=f"Bench ticket {i}",
                requester=contact,
                organization=org,
                status="open",
                priority="normal",
            )
            for i in range(n_tickets)
        ),
        batch_size=5000,
    )
    ids = list(Ticket.objects.order_by("id").values_list("id", flat=True))

    def bulk(prefix: str, pairs: list[tuple[int, datetime]]) -> None:
        Timer.objects.bulk_create(
            (
                Timer(
                    kind=actions.TIMER_KIND,
                    subject_type="ticket",
                    subject_id=tid,
                    due_at=due,
                    key=f"{prefix}-{tid}",
                    payload={
                        "action": "raise_priority",
                        "target": "resolution",
                        "params": {},
                        "rule_id": None,
                    },
                    created_at=now(),
                )
                for tid, due in pairs
            ),
            batch_size=5000,
        )

    far = now() + timedelta(days=30)
    bulk("bg", [(tid, far + timedelta(seconds=i)) for i, tid in enumerate(ids)])
    seeded = time.perf_counter() - t0

    def fired_at(tids: list[int]) -> dict[int, datetime]:
        rows = AuditEvent.objects.filter(type=actions.EVENT, ticket_id__in=tids).values_list(
            "ticket_id", "at"
        )
        out: dict[int, datetime] = {}
        for tid, at in rows:
            out.setdefault(tid, at)
        return out

    def pending_until(due: datetime) -> bool:
        return Timer.objects.filter(PENDING, due_at__lte=due).exists()

    data_dir = Path(os.environ["CASELINE_DATA_DIR"])
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "clock.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "caseline", "clock"],
        env=os.environ.copy(),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    result: dict = {"vendor": connection.vendor, "tickets": len(ids), "seed_s": seeded}
    try:
        deadline = time.monotonic() + 60
        while "clock: running" not in log.read_text():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("clock did not start:\n" + log.read_text())
            time.sleep(0.05)
        result["clock"] = log.read_text().strip().splitlines()[0]

        # (a) spread over one minute, one ticket each
        spread_ids = ids[:spread_n]
        start = now() + timedelta(seconds=3)
        step = 60.0 / spread_n
        dues = {tid: start + timedelta(seconds=i * step) for i, tid in enumerate(spread_ids)}
        bulk("spread", list(dues.items()))
        last_due = max(dues.values())
        limit = time.monotonic() + 120
        while time.monotonic() < limit and (now() < last_due or pending_until(last_due)):
            time.sleep(0.5)
        acts = fired_at(spread_ids)
        delays = [(acts[t] - d).total_seconds() for t, d in dues.items() if t in acts]
        result["a"] = {
            "n": spread_n,
            "fired": len(delays),
            "p50": percentile(delays, 50),
            "p99": percentile(delays, 99),
            "max": max(delays) if delays else float("nan"),
            "raised": Ticket.objects.filter(pk__in=spread_ids, priority="high").count(),
        }

        # (b) burst in the same instant
        burst_ids = ids[spread_n : spread_n + burst_n]
        due = now() + timedelta(seconds=3)
        last_audit = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
        bulk("burst", [(tid, due) for tid in burst_ids])
        seen_first = None
        limit = time.monotonic() + 300
        while time.monotonic() < limit:
            if seen_first is None:
                if AuditEvent.objects.filter(id__gt=last_audit, type=actions.EVENT).exists():
                    seen_first = (now() - due).total_seconds()
                time.sleep(0.02)
            else:
                if not pending_until(due):
                    break
                time.sleep(0.1)
        ats = sorted(fired_at(burst_ids).values())
        result["b"] = {
            "n": burst_n,
            "fired": len(ats),
            "first_action": (ats[0] - due).total_seconds(),
            "first_seen": seen_first,
            "last_action": (ats[-1] - due).total_seconds(),
            "drain_rate": len(ats) / max(1e-9, (ats[-1] - ats[0]).total_seconds()),
        }
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        result["clock_exit"] = proc.returncode
        result["clock_tail"] = log.read_text().strip().splitlines()[-1]
    return result


def pg_reset(db: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {db}")


def run_backend(name: str, args) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix=f"caseline-breach-bench-{name}-"))
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"CASELINE_TIME_FILE", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="caseline.settings",
        CASELINE_DATA_DIR=str(tmp / "data"),
        QUEUE_URL=f"sqlite:///{tmp / 'queue.sqlite3'}",
        RATELIMIT_URL=f"sqlite:///{tmp / 'ratelimit.sqlite3'}",
        PYTHONPATH=str(ROOT),
        LOG_LEVEL="ERROR",
    )
    if name == "postgres":
        pg_reset(args.pg_db)
        env["DATABASE_URL"] = f"postgres://root@127.0.0.1:5432/{args.pg_db}"
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"
    try:
        subprocess.run(
            [sys.executable, "-m", "caseline", "migrate", "-v", "0"],
            env=env,
            cwd=tmp,
            check=True,
            timeout=600,
        )
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                "--tickets",
                str(args.tickets),
                "--spread",
                str(args.spread),
                "--burst",
                str(args.burst),
            ],
            env=env,
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=1200,
        )
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-4000:])
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--spread", type=int, default=1000)
    parser.add_argument("--burst", type=int, default=5000)
    parser.add_argument("--pg-db", default="h_rota")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.tickets, args.spread, args.burst), default=str))
        return
    print(f"# breach latency bench, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC")
    print(f"machine: {machine()}")
    print(
        f"load before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}"
    )
    results = []
    for name in args.db.split(","):
        started = time.perf_counter()
        r = run_backend(name.strip(), args)
        r["wall_s"] = time.perf_counter() - started
        r["load"] = os.getloadavg()
        results.append(r)
        a, b = r["a"], r["b"]
        print(
            f"\n## {r['vendor']} ({r['clock']}; {r['tickets']:,} open tickets with a pending "
            f"deadline, seeded in {r['seed_s']:.1f} s; run {r['wall_s']:.0f} s; "
            f"clock exit {r['clock_exit']}; load after {r['load'][0]:.2f})"
        )
        print(
            f"(a) {a['fired']}/{a['n']} deadlines over one minute (raise_priority; "
            f"{a['raised']} tickets raised): deadline -> sla.action_fired audit event "
            f"p50 {a['p50'] * 1000:.0f} ms, p99 {a['p99'] * 1000:.0f} ms, max {a['max'] * 1000:.0f} ms"
        )
        print(
            f"(b) {b['fired']}/{b['n']} deadlines in the same second: first action "
            f"{b['first_action'] * 1000:.0f} ms after the deadline (first seen committed "
            f"{b['first_seen'] * 1000:.0f} ms), all done after {b['last_action']:.2f} s; "
            f"drain {b['drain_rate']:.0f} actions/s"
        )
    print(
        "\n| database | (a) p50 | (a) p99 | (a) max | (b) first action | (b) first seen | "
        "(b) all done | (b) drain |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        a, b = r["a"], r["b"]
        print(
            f"| {r['vendor']} | {a['p50'] * 1000:.0f} ms | {a['p99'] * 1000:.0f} ms | "
            f"{a['max'] * 1000:.0f} ms | {b['first_action'] * 1000:.0f} ms | "
            f"{b['first_seen'] * 1000:.0f} ms | {b['last_action']:.2f} s | "
            f"{b['drain_rate']:.0f}/s |"
        )


if __name__ == "__main__":
    main()
