"""In-process cost of one ticket-list request (no HTTP server, no network).

Runs the Django WSGI application directly on a seeded database (the environment selects
it: DATABASE_URL, RATELIMIT_URL, ...) and prints the mean CPU/wall time per request of
GET /api/v1/tickets?status=open&team=<id> (first page, and a page ~5,000 rows deep).
With ``--profile`` it also prints the top of a cProfile of the loop.

Usage:  DATABASE_URL=... .venv/bin/python bench/list_profile.py --token cl_... [--n 2000]
Seed a database first, e.g. with ``bench/api_bench.py --seed-child --tickets 20000``.
Never part of the test suite.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def environ(path: str, token: str) -> dict:
    p, _, q = path.partition("?")
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": p,
        "QUERY_STRING": q,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_AUTHORIZATION": f"Bearer {token}",
        "HTTP_ACCEPT": "application/json",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--token", required=True)
    parser.add_argument("--team", type=int, default=0, help="team id (default: busiest)")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--path", default="", help="only this path (else first + deep page)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "caseline.settings")
    import django

    django.setup()
    from django.core.wsgi import get_wsgi_application
    from django.db.models import Count

    from caseline.tickets.models import Ticket

    app = get_wsgi_application()
    team = args.team or (
        Ticket.objects.filter(status="open")
        .values("team_id")
        .order_by()
        .annotate(c=Count("id"))
        .order_by("-c")
        .values_list("team_id", flat=True)
        .first()
    )
    status_line: list[str] = []

    def start_response(status, headers, exc_info=None):
        status_line.append(status)

    def call(path: str) -> bytes:
        status_line.clear()
        body = b"".join(app(environ(path, args.token), start_response))
        if not status_line[0].startswith("200"):
            raise SystemExit(f"{path}: {status_line[0]} {body[:300]!r}")
        return body

    first = f"/api/v1/tickets?status=open&team={team}"
    paths = [args.path] if args.path else [first]
    if not args.path:
        cursor, seen = None, 0
        while seen < 5000:
            q = first + "&limit=100" + (f"&cursor={cursor}" if cursor else "")
            data = json.loads(call(q))
            seen += len(data["results"])
            cursor = data["meta"]["next_cursor"]
            if not cursor:
                break
        if cursor:
            paths.append(f"{first}&cursor={cursor}")
    for path in paths:
        for _ in range(50):
            call(path)
        prof = None
        if args.profile:
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(args.n):
            call(path)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        if prof is not None:
            prof.disable()
        print(
            f"{path[:90]:<90} {cpu / args.n * 1000:6.3f} ms CPU  "
            f"{wall / args.n * 1000:6.3f} ms wall per request",
            flush=True,
        )
        if prof is not None:
            import pstats

            pstats.Stats(prof).sort_stats(os.environ.get("PSORT", "cumulative")).print_stats(45)


if __name__ == "__main__":
    main()
