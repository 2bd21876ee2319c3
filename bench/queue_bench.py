"""Server time of the agent workspace's queue pages and dashboard on a large database.

Seeds N tickets (default 200,000; 3 messages each, with the SLA rows the services would
write) with ``bench/api_bench.py``'s bulk seeder into an SQLite file cached under
``var/bench-cache/`` (reused between runs) or a fresh PostgreSQL database, then renders
each built-in queue (first page, 50 rows, HTML) and the dashboard in-process through the
Django test client as a support engineer (middleware, query, template: the server's
share of a request, no network), and prints p50/p95 per page.

Usage:  .venv/bin/python bench/queue_bench.py [--tickets N] [--db sqlite|postgres] [--n 40]
Never part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PAGES = [
    "/queues/mine/",
    "/queues/unassigned/",
    "/queues/breaching/",
    "/queues/breached/",
    "/queues/pending/",
    "/queues/sev1/",
    "/dashboard/",
]


def measure_main(n: int) -> None:
    """Runs in a child process whose environment selects the seeded database."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "caseline.settings")
    django.setup()
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", interactive=False, verbosity=0)  # a cached database may lag

    from caseline.accounts.models import Team, User
    from caseline.tickets.models import Ticket

    user = User.objects.get(email="sam.carter@caseline.demo")
    teams = list(Team.objects.filter(members=user).values_list("name", flat=True))
    client = Client()
    client.force_login(user)
    out = {"tickets": Ticket.objects.count(), "teams_of_user": teams, "pages": {}}
    for path in PAGES:
        resp = client.get(path)
        assert resp.status_code == 200, (path, resp.status_code, resp.content[:300])
        rows = resp.content.count(b"data-kbd-row ")
        samples = []
        for _ in range(n):
            if path == "/dashboard/":
                from django.core.cache import cache

                cache.clear()  # measure the computation, not the one-minute cache
            t0 = time.perf_counter()
            client.get(path)
            samples.append((time.perf_counter() - t0) * 1000)
        samples.sort()
        out["pages"][path] = {
            "rows": rows,
            "p50_ms": round(statistics.median(samples), 1),
            "p95_ms": round(samples[max(0, int(len(samples) * 0.95) - 1)], 1),
        }
    print("QUEUE_BENCH " + json.dumps(out))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=200_000)
    parser.add_argument("--db", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--n", type=int, default=40, help="requests per page")
    parser.add_argument("--measure-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_child:
        measure_main(args.n)
        return
    from benchlib import process_env

    tmp = Path(tempfile.mkdtemp(prefix="queue-bench-"))
    env = process_env(args.db, tmp, "caseline_queue_bench")
    cached = None
    if args.db == "sqlite":
        cache = ROOT / "var" / "bench-cache"
        cache.mkdir(parents=True, exist_ok=True)
        cached = cache / f"queue-{args.tickets}.sqlite3"
        env["DATABASE_URL"] = f"sqlite:///{cached}"
    if cached is None or not cached.exists():
        t0 = time.monotonic()
        seed = subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "api_bench.py"),
                "--seed-child",
                "--tickets",
                str(args.tickets),
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            timeout=7200,
        )
        if seed.returncode != 0:
            if cached is not None and cached.exists():
                cached.unlink()
            raise SystemExit(f"seeding failed (exit {seed.returncode})")
        print(f"seeded {args.tickets:,} tickets in {time.monotonic() - t0:.0f} s", flush=True)
    run = subprocess.run(
        [sys.executable, __file__, "--measure-child", "--n", str(args.n)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        timeout=3600,
    )
    if run.returncode != 0:
        raise SystemExit(f"measuring failed (exit {run.returncode})")
    line = next(x for x in run.stdout.splitlines() if x.startswith("QUEUE_BENCH "))
    data = json.loads(line.removeprefix("QUEUE_BENCH "))
    print(
        f"\n{args.db}, {data['tickets']:,} tickets, user in teams {data['teams_of_user']}, "
        f"load {os.getloadavg()[0]:.1f}\n"
    )
    print("| page | rows | p50 ms | p95 ms |\n|---|---|---|---|")
    for path, r in data["pages"].items():
        print(f"| {path} | {r['rows']} | {r['p50_ms']} | {r['p95_ms']} |")


if __name__ == "__main__":
    main()
