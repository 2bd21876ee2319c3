"""Timer firing latency of the clock loop, on real time, with a real `caseline clock`.

For each database -- an SQLite file in a temporary directory, and PostgreSQL database
``caseline_timer_bench`` on postgres://root@127.0.0.1:5432/ (dropped and created) --:

0. migrate, then bulk-insert 100,000 unfired timers far in the future (the background of
   open tickets' deadlines), and start ``caseline clock`` as a subprocess (real time source,
   no CASELINE_TIME_FILE; default options: batch 100, SQLite polls every 0.2 s,
   PostgreSQL sleeps on LISTEN/NOTIFY);
(a) 1,000 ``audit.note`` timers spread evenly over one minute: the delay from each
    timer's due_at to its action's audit event (``AuditEvent.at``, written by the handler
    inside the claiming transaction); p50 / p99 / max -- target p99 <= 1 s;
(b) 5,000 timers due in the same instant: time from the due moment to the first action
    (its audit event, and the moment this process first saw a committed one) and the drain
    rate (timers per second until the last action);
(c) the same burst again with a second ``caseline clock`` process running (on PostgreSQL
    they share the rows with SKIP LOCKED; on SQLite they take turns on the write lock).

Prints figures, asserts nothing. Usage:
    .venv/bin/python bench/timer_bench.py [--db sqlite,postgres] [--background N]
Each backend runs in a child process (Django settings are per process); ~3 minutes total.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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

PG_BENCH_DB = "caseline_timer_bench"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


# --- child: one backend ----------------------------------------------------------------------


def child(background: int, spread_n: int, burst_n: int) -> dict:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "caseline.settings")
    django.setup()
    from django.db import connection

    from caseline.audit.models import AuditEvent
    from caseline.sla.models import Timer
    from caseline.sla.timers import PENDING
    from caseline.timesource import now

    def bulk(prefix: str, dues: list[datetime]) -> None:
        Timer.objects.bulk_create(
            (
                Timer(
                    kind="audit.note",
                    subject_type="ticket",
                    subject_id=i,
                    due_at=due,
                    key=f"{prefix}-{i}",
                    created_at=now(),
                )
                for i, due in enumerate(dues)
            ),
            batch_size=2000,
        )

    def actions(prefix: str) -> dict[str, datetime]:
        rows = AuditEvent.objects.filter(
            type="timer.note", data__key__startswith=f"{prefix}-"
        ).values_list("data", "at")
        return {data["key"]: at for data, at in rows}

    def pending_until(due: datetime) -> bool:
        # the partial index: cheap enough to poll while the clock works
        return Timer.objects.filter(PENDING, due_at__lte=due).exists()

    t = time.perf_counter()
    far = now() + timedelta(days=30)
    bulk("bg", [far + timedelta(seconds=i) for i in range(background)])
    seeded = time.perf_counter() - t

    data_dir = Path(os.environ["CASELINE_DATA_DIR"])
    clocks: list[tuple[subprocess.Popen, Path]] = []

    def start_clock(name: str) -> tuple[subprocess.Popen, Path]:
        log = data_dir / name
        proc = subprocess.Popen(
            [sys.executable, "-m", "caseline", "clock"],
            env=os.environ.copy(),
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while "clock: running" not in log.read_text():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("clock did not start:\n" + log.read_text())
            time.sleep(0.05)
        return proc, log

    def burst(prefix: str, n: int) -> dict:
        due = now() + timedelta(seconds=3)
        bulk(prefix, [due] * n)
        seen_first = None
        last_audit = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if seen_first is None:
                if AuditEvent.objects.filter(id__gt=last_audit).exists():
                    seen_first = (now() - due).total_seconds()
                time.sleep(0.02)
            else:
                if not pending_until(due):
                    break
                time.sleep(0.1)
        ats = sorted(actions(prefix).values())
        last = (ats[-1] - due).total_seconds()
        return {
            "n": n,
            "fired": len(ats),
            "first_action": (ats[0] - due).total_seconds(),
            "first_seen": seen_first,
            "last_action": last,
            "drain_rate": len(ats) / max(1e-9, (ats[-1] - ats[0]).total_seconds()),
        }

    result: dict = {"vendor": connection.vendor, "background": background, "seed_s": seeded}
    try:
        clocks.append(start_clock("clock.log"))
        result["clock"] = clocks[0][1].read_text().strip().splitlines()[0]

        # (a) spread over one minute
        start = now() + timedelta(seconds=3)
        step = 60.0 / spread_n
        dues = [start + timedelta(seconds=i * step) for i in range(spread_n)]
        bulk("spread", dues)
        deadline = time.monotonic() + 100
        while pending_until(dues[-1]) and time.monotonic() < deadline:
            time.sleep(0.5)
        acts = actions("spread")
        delays = [
            (acts[f"spread-{i}"] - due).total_seconds()
            for i, due in enumerate(dues)
            if f"spread-{i}" in acts
        ]
        result["a"] = {
            "n": spread_n,
            "fired": len(delays),
            "p50": percentile(delays, 50),
            "p99": percentile(delays, 99),
            "max": max(delays) if delays else float("nan"),
            "min": min(delays) if delays else float("nan"),
        }

        # (b) a burst due in the same instant, one clock
        result["b"] = burst("burst", burst_n)
        # (c) the same burst with a second clock process sharing the work
        clocks.append(start_clock("clock-2.log"))
        result["c"] = burst("burst2", burst_n)
    finally:
        result["clock_exit"] = []
        for proc, log in clocks:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            result["clock_exit"].append(proc.returncode)
            result.setdefault("clock_tail", []).append(log.read_text().strip().splitlines()[-1])
    return result


# --- parent ----------------------------------------------------------------------------------


def run_backend(name: str, args) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix=f"caseline-timer-bench-{name}-"))
    env = process_env(name, tmp, PG_BENCH_DB)
    try:
        subprocess.run(
            [sys.executable, "-m", "caseline", "migrate", "-v", "0"],
            env=env,
            cwd=tmp,
            check=True,
            timeout=300,
        )
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                "--background",
                str(args.background),
                "--spread",
                str(args.spread),
                "--burst",
                str(args.burst),
            ],
            env=env,
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=400,
        )
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-4000:])
        return json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--background", type=int, default=100_000)
    parser.add_argument("--spread", type=int, default=1000)
    parser.add_argument("--burst", type=int, default=5000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.background, args.spread, args.burst), default=str))
        return
    print(f"# timer bench, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC")
    print(f"machine: {machine()}")
    results = []
    for name in args.db.split(","):
        started = time.perf_counter()
        r = run_backend(name.strip(), args)
        r["wall_s"] = time.perf_counter() - started
        results.append(r)
        print(
            f"\n## {r['vendor']}  ({r['clock']}; {r['background']:,} background timers "
            f"seeded in {r['seed_s']:.1f} s; run {r['wall_s']:.0f} s; clock exit {r['clock_exit']})"
        )
        a = r["a"]
        print(
            f"(a) {a['fired']}/{a['n']} timers over one minute, due -> action: "
            f"p50 {a['p50'] * 1000:.0f} ms, p99 {a['p99'] * 1000:.0f} ms, "
            f"max {a['max'] * 1000:.0f} ms (min {a['min'] * 1000:.0f} ms)"
        )
        for label, b in (("(b) 1 clock: ", r["b"]), ("(c) 2 clocks:", r["c"])):
            print(
                f"{label} {b['fired']}/{b['n']} timers due at once: first action "
                f"{b['first_action'] * 1000:.0f} ms after due (first seen committed "
                f"{b['first_seen'] * 1000:.0f} ms), all fired after {b['last_action']:.2f} s; "
                f"drain {b['drain_rate']:.0f} timers/s"
            )
    print(
        "\n| database | (a) p50 | (a) p99 | (a) max | (b) first action | (b) first seen "
        "| (b) all fired | (b) drain | (c) 2 clocks: all fired | (c) drain |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        a, b, c = r["a"], r["b"], r["c"]
        print(
            f"| {r['vendor']} | {a['p50'] * 1000:.0f} ms | {a['p99'] * 1000:.0f} ms | "
            f"{a['max'] * 1000:.0f} ms | {b['first_action'] * 1000:.0f} ms | "
            f"{b['first_seen'] * 1000:.0f} ms | {b['last_action']:.2f} s | "
            f"{b['drain_rate']:.0f}/s | {c['last_action']:.2f} s | {c['drain_rate']:.0f}/s |"
        )


if __name__ == "__main__":
    main()
