"""Breach latency (issue 3): from an SLA deadline to its breach event and escalation
action, with 100,000 open tickets, a real `caseline clock` process, on SQLite and
PostgreSQL -- through the SLA engine's own chained timers.

For each database (an SQLite file in a temporary directory; PostgreSQL database ``caseline_breach_bench``
on postgres://root@127.0.0.1:5432/, dropped and created -- ``--pg-db`` to change):

0. migrate; bulk-insert 100,000 open tickets, each with a running support-engineer
   resolution clock (the seeded default target and its escalation rules: 75 % -> notify,
   breach + 0 s -> ``raise_priority``, breach + 1 h -> notify the manager) and the clock's
   ONE pending timer as the engine keeps it (its next step; for the background clocks the
   75 % rule, about 20 days ahead); start ``caseline clock`` (real time, default options);
(a) 1,000 clocks whose breach falls due spread evenly over one minute (24x7, 50 minutes
    into their hour, so the pending step is the ``sla.breach`` timer): its handler marks
    the clock breached, appends and publishes ``sla.breached``, then runs the breach + 0 s
    rule inline (``caseline.sla.actions.run``: ticket locked, ``update_ticket`` ->
    ``ticket.updated`` audit + domain event + webhook fan-out, the ``sla.action_fired``
    audit event) and schedules breach + 1 h. Delay = ``sla.action_fired``'s ``at`` minus
    the deadline (and the same for ``sla.breached``); p50 / p99 / max -- target p99 <= 1 s;
(b) 5,000 breaches in the same second (overnight tickets on a business calendar all due
    at 08:00): first breach event and first escalation action after the deadline, when
    this process first saw an action committed, all done, drain rate (escalations/s).

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
from benchlib import process_env  # noqa: E402
from timer_bench import machine, percentile  # noqa: E402


def child(n_tickets: int, spread_n: int, burst_n: int) -> dict:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "caseline.settings")
    django.setup()
    from django.db import connection, transaction

    from caseline.accounts.models import Contact, Organization
    from caseline.audit.models import AuditEvent
    from caseline.sla import actions, services
    from caseline.sla import clockstate as cs
    from caseline.sla.calendars import get_calendar
    from caseline.sla.models import Clock, Target, TicketSla, Timer
    from caseline.sla.timers import NOTIFY_CHANNEL, PENDING
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
    # The seeded support engineer resolution target: 75 % -> notify, breach,
    # breach + 0 s -> raise_priority, breach + 1 h -> notify the manager.
    target = Target.objects.get(policy__name="Support engineer (default)", kind="resolution")
    cal = get_calendar("24x7")
    ckey = "support_engineer:resolution"

    def clocks(pairs: list[tuple[int, datetime]], seconds: int, consumed: int) -> None:
        """Running resolution clocks due at the given instants (24x7), each with its ONE
        pending timer (the chained next step, as the engine keeps it)."""
        rows, slas, tms = [], [], []
        current = now()
        for tid, due in pairs:
            since = due - timedelta(seconds=seconds - consumed)
            state = cs.ClockState(
                key=ckey,
                role="support_engineer",
                kind="resolution",
                seconds=seconds,
                calendar=cal,
                calendar_name="24x7",
                pause_statuses=frozenset(["pending"]),
                cycle=1,
                started_at=int(since.timestamp()),
                running_since=int(since.timestamp()),
                consumed=consumed,
                due=int(due.timestamp()),
                target_id=target.pk,
            )
            step, _rule, step_due = services.next_step(state)
            rows.append(
                Clock(
                    ticket_id=tid,
                    key=ckey,
                    role="support_engineer",
                    kind="resolution",
                    policy_id=target.policy_id,
                    target_id=target.pk,
                    cycle=1,
                    seconds=seconds,
                    calendar="24x7",
                    pause_statuses=["pending"],
                    state="active",
                    started_at=since,
                    running_since=since,
                    consumed=consumed,
                    due_at=due,
                    step=step,
                    updated_at=current,
                )
            )
            slas.append(TicketSla(ticket_id=tid, facts={"status": "open"}, next_deadline=due))
            tms.append(
                Timer(
                    kind=services._kind_of(step),
                    subject_type="ticket",
                    subject_id=tid,
                    due_at=datetime.fromtimestamp(step_due, due.tzinfo),
                    key=services.timer_key(tid, ckey, 1, step),
                    payload=services._payload(tid, ckey, 1, step),
                    created_at=current,
                )
            )
        with transaction.atomic():
            Clock.objects.bulk_create(rows, batch_size=5000)
            TicketSla.objects.bulk_create(slas, batch_size=5000)
            Timer.objects.bulk_create(tms, batch_size=5000)
            if connection.vendor == "postgresql":  # as timers.schedule does for soon timers
                with connection.cursor() as cur:
                    cur.execute("SELECT pg_notify(%s, '')", [NOTIFY_CHANNEL])

    measured = spread_n + burst_n
    far = now().replace(microsecond=0) + timedelta(days=30)
    # The background: every other open ticket's clock, due in 30 days (pending: its 75 %).
    background = [(tid, far + timedelta(seconds=i)) for i, tid in enumerate(ids[measured:])]
    clocks(background, 40 * 86400, 0)
    seeded = time.perf_counter() - t0

    def first_at(kind: str, tids: list[int]) -> dict[int, datetime]:
        rows = AuditEvent.objects.filter(type=kind, ticket_id__in=tids).values_list(
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

        # (a) breaches spread over one minute, one ticket each: clocks 50 min into their
        # hour (past 75 %), so the pending step is the breach.
        spread_ids = ids[:spread_n]
        start = now().replace(microsecond=0) + timedelta(seconds=3)
        step = 60.0 / spread_n  # clocks count whole seconds: ~17 deadlines per second
        dues = {tid: start + timedelta(seconds=int(i * step)) for i, tid in enumerate(spread_ids)}
        clocks(list(dues.items()), 3600, 3000)
        last_due = max(dues.values())
        limit = time.monotonic() + 120
        while time.monotonic() < limit and (now() < last_due or pending_until(last_due)):
            time.sleep(0.5)
        breaches = first_at("sla.breached", spread_ids)
        acts = first_at(actions.EVENT, spread_ids)
        d_breach = [(breaches[t] - d).total_seconds() for t, d in dues.items() if t in breaches]
        d_act = [(acts[t] - d).total_seconds() for t, d in dues.items() if t in acts]
        result["a"] = {
            "n": spread_n,
            "breached": len(d_breach),
            "fired": len(d_act),
            "p50": percentile(d_act, 50),
            "p99": percentile(d_act, 99),
            "max": max(d_act) if d_act else float("nan"),
            "breach_p99": percentile(d_breach, 99),
            "raised": Ticket.objects.filter(pk__in=spread_ids, priority="high").count(),
        }

        # (b) 5,000 breaches in the same instant
        burst_ids = ids[spread_n:measured]
        due = now().replace(microsecond=0) + timedelta(seconds=3)
        last_audit = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
        clocks([(tid, due) for tid in burst_ids], 3600, 3000)
        seen_first = None
        limit = time.monotonic() + 600
        while time.monotonic() < limit:
            if seen_first is None:
                if AuditEvent.objects.filter(id__gt=last_audit, type=actions.EVENT).exists():
                    seen_first = (now() - due).total_seconds()
                time.sleep(0.02)
            else:
                if not pending_until(due):
                    break
                time.sleep(0.1)
        ats = sorted(first_at(actions.EVENT, burst_ids).values())
        b_ats = sorted(first_at("sla.breached", burst_ids).values())
        result["b"] = {
            "n": burst_n,
            "fired": len(ats),
            "breached": len(b_ats),
            "first_breach": (b_ats[0] - due).total_seconds(),
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


def run_backend(name: str, args) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix=f"caseline-breach-bench-{name}-"))
    env = process_env(name, tmp, args.pg_db)
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
    parser.add_argument("--pg-db", default="caseline_breach_bench")
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
            f"(a) {a['fired']}/{a['n']} breaches over one minute ({a['breached']} breach events, "
            f"{a['raised']} tickets raised): deadline -> sla.action_fired "
            f"p50 {a['p50'] * 1000:.0f} ms, p99 {a['p99'] * 1000:.0f} ms, "
            f"max {a['max'] * 1000:.0f} ms; deadline -> sla.breached p99 "
            f"{a['breach_p99'] * 1000:.0f} ms"
        )
        print(
            f"(b) {b['fired']}/{b['n']} breaches in the same second: first breach event "
            f"{b['first_breach'] * 1000:.0f} ms, first escalation action "
            f"{b['first_action'] * 1000:.0f} ms after the deadline (first seen committed "
            f"{b['first_seen'] * 1000:.0f} ms), all done after {b['last_action']:.2f} s; "
            f"drain {b['drain_rate']:.0f} escalations/s"
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
