"""Email ingest benchmark: messages/s through ``caseline.mail.ingest.ingest`` (one
transaction per message: dedupe, parse, classify, thread, contact, strip, attachments,
ticket or message, acknowledgement outbox row) on SQLite and PostgreSQL, with the cost
of each stage, plus the quote-stripping share on the corpus.

Workload (generated, seeded): sizes 3 KB-200 KB with a median near 10 KB and one message
in ten over 100 KB (those carry a base64 attachment), half of them replies to earlier
tickets (In-Reply-To/References to the first message and the token in the subject, a
colleague of the same organization writing, quoted history below), half new tickets
from new contacts of ~300 organizations; a third multipart/alternative with HTML. The
child runs with DEBUG=0 (as deployed) and the sender rate limit off.

Stages (measured on the same messages outside the database, except "store"):
  parse     parse_message (MIME walk, charsets, headers; includes the sanitiser)
  sanitise  nh3 clean_html of the HTML bodies alone
  strip     strip_reply (HTML pre-pass + mail-parser-reply)
  store     the rest of ingest: raw file, dedupe, thread, contact, ticket/message rows,
            attachments, audit, acknowledgement (total - parse - strip)
  index     no full-text index exists yet: reported as n/a

Usage:  .venv/bin/python bench/mail_bench.py [--messages N] [--db sqlite,postgres]
        [--pg-url postgres://root@127.0.0.1:5432/caseline_mail_bench] [--profile PATH]
It also counts the SQL statements per message (new tickets, replies) on 40 further
messages (an execute wrapper), and with --profile writes cProfile stats of the
timed loop (read them with ``python -m pstats PATH.sqlite``).
The PostgreSQL database named in --pg-url is dropped and created. One worker (this
process) ingests sequentially. Never part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "mail"
DEFAULT_PG = os.environ.get(
    "BENCH_MAIL_PG_URL", "postgres://root@127.0.0.1:5432/caseline_mail_bench"
)

WORDS = (
    "replication lag backup restore cluster node failover latency timeout dashboard "
    "invoice billing license upgrade error warning retry queue storage volume snapshot "
    "the a we our your it is was not after before since when please could you see attached"
).split()


def _sentence(rng: random.Random, n: int = 14) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def _text(rng: random.Random, size: int) -> str:
    out: list[str] = []
    length = 0
    while length < size:
        para = " ".join(_sentence(rng) for _ in range(rng.randint(2, 5)))
        out.append(para)
        length += len(para) + 2
    return "\n\n".join(out)[:size]


def target_size(rng: random.Random) -> int:
    if rng.random() < 0.1:
        return rng.randint(100_001, 200_000)
    size = int(rng.lognormvariate(9.21, 0.45))  # e^9.21 ~ 10 KB
    return max(3_000, min(size, 100_000))


def make_messages(n: int, seed: int = 4, ticket_offset: int = 0) -> list[bytes]:
    """n raw messages; replies (odd positions) answer one of the earlier new ones: they
    carry its Message-ID in In-Reply-To/References and its ticket token in the subject
    (the ticket numbers are ``ticket_offset`` + 1, 2, ... in the order of the new
    messages, so pass the number of tickets that exist before the run)."""
    import base64

    rng = random.Random(seed)
    out: list[bytes] = []
    news = 0
    first_of: dict[int, int] = {}  # new-ticket number -> index of its message
    for i in range(n):
        size = target_size(rng)
        reply = i % 2 == 1 and news > 0
        rng.randint(1, 300)  # kept so that the seeded sizes stay those of earlier runs
        thread: list[str] = []
        if reply:
            ticket = rng.randint(1, news)
            sender = f"user{ticket % 50}@org{ticket}.bench"
            subject = f"Re: [CL-{ticket + ticket_offset}] Problem number {ticket}"
            original = f"<bench-{seed}-{first_of[ticket]}@mail.bench>"
            thread = [f"In-Reply-To: {original}", f"References: {original}"]
        else:
            news += 1
            first_of[news] = i
            sender = f"user{i % 50}@org{news}.bench"
            subject = f"Problem number {news} with {rng.choice(WORDS)}"
        headers = [
            f"From: Bench User <{sender}>",
            "To: support@bench.test",
            f"Subject: {subject}",
            f"Message-ID: <bench-{seed}-{i}@mail.bench>",
            *thread,
            "Date: Mon, 03 Mar 2025 10:00:00 +0000",
            "MIME-Version: 1.0",
        ]
        big = size > 100_000
        body_size = min(size, 12_000) if big else size
        new = _text(rng, max(200, body_size // (3 if reply else 1)))
        body = new
        if reply:
            quoted = "\n".join("> " + line for line in _text(rng, body_size - len(new)).split("\n"))
            body = f"{new}\n\nBest regards,\nBench\n\nOn Mon, 3 Mar 2025, Support wrote:\n{quoted}"
        parts: list[str] = []
        boundary = f"b{i}"
        html = rng.random() < 0.33
        if html or big:
            headers.append(f'Content-Type: multipart/mixed; boundary="{boundary}"')
            parts.append(f"--{boundary}")
            if html:
                alt = f"a{i}"
                html_body = "".join(f"<p>{p}</p>" for p in body.split("\n\n"))
                parts += [
                    f'Content-Type: multipart/alternative; boundary="{alt}"',
                    "",
                    f"--{alt}",
                    "Content-Type: text/plain; charset=utf-8",
                    "",
                    body,
                    f"--{alt}",
                    "Content-Type: text/html; charset=utf-8",
                    "",
                    f"<html><body><div>{html_body}</div></body></html>",
                    f"--{alt}--",
                ]
            else:
                parts += ["Content-Type: text/plain; charset=utf-8", "", body]
            if big:
                blob = base64.encodebytes(rng.randbytes(int((size - body_size) * 0.74))).decode()
                parts += [
                    f"--{boundary}",
                    "Content-Type: application/pdf",
                    "Content-Transfer-Encoding: base64",
                    f'Content-Disposition: attachment; filename="report-{i}.pdf"',
                    "",
                    blob,
                ]
            parts.append(f"--{boundary}--")
            raw = "\r\n".join(headers) + "\r\n\r\n" + "\r\n".join(parts) + "\r\n"
        else:
            headers.append("Content-Type: text/plain; charset=utf-8")
            raw = "\r\n".join(headers) + "\r\n\r\n" + body.replace("\n", "\r\n") + "\r\n"
        out.append(raw.encode())
    return out


# --- the child (inside Django) ---------------------------------------------------------


def count_statements(box, n: int, sample: int = 40) -> dict[str, float]:
    """SQL statements per ingested message (new tickets and replies), on fresh messages
    of the same workload after the timed run (counted by an execute wrapper)."""
    from django.db import connection

    from caseline.mail.ingest import ingest
    from caseline.tickets.models import Ticket

    seen = {"n": 0}

    def count(execute, sql, params, many, context):
        seen["n"] += 1
        return execute(sql, params, many, context)

    before = Ticket.objects.count()
    counts: dict[str, list[int]] = {}
    for raw in make_messages(sample, seed=7, ticket_offset=before):
        seen["n"] = 0
        with connection.execute_wrapper(count):
            result = ingest(raw, box, source="bench")
        kind = "new" if result.inbound.threaded_by in ("new", "new-linked") else "reply"
        counts.setdefault(kind, []).append(seen["n"])
    return {k: sum(v) / len(v) for k, v in sorted(counts.items())}


def child_main(n: int, profile_path: str = "") -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "caseline.settings")
    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.MAIL_SENDER_RATE_LIMIT = 0  # repeated bench senders are not a flood
    call_command("migrate", interactive=False, verbosity=0)
    from caseline.accounts.models import Organization, OrganizationDomain, Team
    from caseline.mail.ingest import Timings, ingest
    from caseline.mail.models import Mailbox
    from caseline.mail.parsing import parse_message
    from caseline.text import strip_reply
    from caseline.text.html import clean_html

    team = Team.objects.create(name="Bench mail team")
    box = Mailbox.objects.create(name="Bench", address="support@bench.test", kind="smtp", team=team)
    for k in range(1, 301):
        org = Organization.objects.create(name=f"Bench org {k}")
        OrganizationDomain.objects.create(organization=org, domain=f"org{k}.bench")
    # warm-up (imports, caches) on a separate mailbox
    warm = Mailbox.objects.create(name="Warm", address="warm@bench.test", kind="smtp")
    for raw in make_messages(20, seed=99)[:10:2]:
        ingest(raw, warm)
    from caseline.tickets.models import Ticket

    messages = make_messages(n, ticket_offset=Ticket.objects.count())
    sizes = sorted(len(m) for m in messages)

    # time spent in other apps' event subscribers (SLA clocks and timers, webhooks, ...)
    from caseline import events

    spent = {"s": 0.0}

    def timed(handler):
        def run(event):
            h0 = time.perf_counter()
            try:
                handler(event)
            finally:
                spent["s"] += time.perf_counter() - h0

        return run

    for key, handlers in list(events._handlers.items()):
        events._handlers[key] = [timed(h) for h in handlers]
    events._wildcard[:] = [timed(h) for h in events._wildcard]

    timings = Timings()
    statuses: dict[str, int] = {}
    threaded: dict[str, int] = {}
    profiler = None
    if profile_path:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    t0 = time.perf_counter()
    for raw in messages:
        result = ingest(raw, box, source="bench", timings=timings)
        statuses[result.status] = statuses.get(result.status, 0) + 1
        how = result.inbound.threaded_by or "-"
        threaded[how] = threaded.get(how, 0) + 1
    wall = time.perf_counter() - t0
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile_path)
    subscribers_s = spent["s"]
    statements = count_statements(box, n)

    # stages outside the database, on the same messages (the parser's memo of header
    # objects forgets what the ingest above put in it: each message is parsed cold)
    from caseline.mail import parsing

    memo = getattr(parsing, "_parsed_header", None)
    if memo is not None:
        memo.cache_clear()
    parsed = []
    p0 = time.perf_counter()
    for raw in messages:
        parsed.append(parse_message(raw))
    parse_s = time.perf_counter() - p0
    s0 = time.perf_counter()
    for msg in parsed:
        if msg.html:
            clean_html(msg.html)
    sanitise_s = time.perf_counter() - s0
    r0 = time.perf_counter()
    for msg in parsed:
        strip_reply(msg.text, msg.html or None)
    strip_s = time.perf_counter() - r0
    store_s = max(0.0, timings.total - timings.parse - timings.strip)
    share = stripping_share()
    print(
        json.dumps(
            {
                "engine": settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1],
                "messages": n,
                "statuses": statuses,
                "threaded": threaded,
                "statements": statements,
                "wall_s": wall,
                "per_s": n / wall,
                "size_median": statistics.median(sizes),
                "size_min": sizes[0],
                "size_max": sizes[-1],
                "over_100k": sum(s > 100_000 for s in sizes),
                "share": share,
                "ms": {
                    "parse": 1000 * parse_s / n,
                    "sanitise": 1000 * sanitise_s / n,
                    "strip": 1000 * strip_s / n,
                    "store": 1000 * store_s / n,
                    "subscribers": 1000 * subscribers_s / n,
                    "ingest_total": 1000 * timings.total / n,
                },
            }
        )
    )


# --- quote-stripping share on the corpus ----------------------------------------------------


def stripping_share() -> dict[str, str]:
    """Visible text == expected new text (whitespace-normalised) on the corpus, through the
    same steps as ingest (our reply marker cut, then strip_reply)."""
    from caseline.mail.ingest import cut_at_marker
    from caseline.mail.parsing import parse_message
    from caseline.text import strip_reply

    expected = json.loads((FIXTURES / "expected.json").read_text("utf-8"))

    def squash(t: str) -> str:
        return " ".join(t.split())

    def share(names: list[str]) -> str:
        hits = total = 0
        for name in names:
            exp = expected[name]
            if "new_text" not in exp:
                continue
            msg = parse_message((FIXTURES / name).read_bytes())
            got = strip_reply(cut_at_marker(msg.text), msg.html or None).new_text
            total += 1
            hits += squash(got) == squash(exp["new_text"])
        return f"{hits}/{total} ({100 * hits / max(total, 1):.0f} %)"

    names = sorted(expected)
    return {
        "whole": share(names),
        "holdout": share([n for n in names if expected[n].get("split") == "holdout"]),
    }


def run_child(env: dict[str, str], n: int, profile: str = "") -> dict:
    extra = ["--profile", profile] if profile else []
    proc = subprocess.run(
        [sys.executable, __file__, "--child", str(n), *extra],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if proc.returncode != 0:
        raise SystemExit(f"bench child failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    parser.add_argument("--child", type=int, default=None)
    parser.add_argument(
        "--profile",
        default="",
        help="write cProfile stats of the timed ingest loop to this path (+ .<db> per run)",
    )
    args = parser.parse_args()
    if args.child is not None:
        child_main(args.child, args.profile)
        return
    sys.path.insert(0, str(ROOT))
    results = []
    for db in args.db.split(","):
        tmp = tempfile.mkdtemp(prefix="mail-bench-")
        env = {
            **os.environ,
            "CASELINE_DATA_DIR": tmp,
            "QUEUE_URL": f"sqlite:///{tmp}/queue.sqlite3",
            "RATELIMIT_URL": f"sqlite:///{tmp}/ratelimit.sqlite3",
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "caseline.settings",
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            # as deployed: DEBUG on would also log every SQL statement in memory
            "DEBUG": "0",
        }
        if db == "postgres":
            base, _, name = args.pg_url.rpartition("/")
            admin = f"{base}/postgres"
            subprocess.run(["psql", admin, "-qc", f'DROP DATABASE IF EXISTS "{name}"'], check=True)
            subprocess.run(["psql", admin, "-qc", f'CREATE DATABASE "{name}"'], check=True)
            env["DATABASE_URL"] = args.pg_url
        else:
            env["DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
        print(f"== {db}: ingesting {args.messages} messages ...", file=sys.stderr, flush=True)
        results.append(
            run_child(env, args.messages, f"{args.profile}.{db}" if args.profile else "")
        )
    share = results[0]["share"]
    load = os.getloadavg()
    print(
        f"\nEmail ingest — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n"
    )
    print(
        "| database | messages | msg/s | parse ms | sanitise ms | strip ms | store ms | of which event subscribers ms | index | total ms/msg | statuses |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        ms = r["ms"]
        print(
            f"| {r['engine']} | {r['messages']} | {r['per_s']:.0f} | {ms['parse']:.2f} | "
            f"{ms['sanitise']:.2f} | {ms['strip']:.2f} | {ms['store']:.2f} | {ms['subscribers']:.2f} | n/a | "
            f"{ms['ingest_total']:.2f} | {r['statuses']} |"
        )
    for r in results:
        per_kind = ", ".join(f"{k} {v:.1f}" for k, v in r["statements"].items())
        print(f"\n{r['engine']}: threaded {r['threaded']}; SQL statements per message: {per_kind}")
    r = results[0]
    print(
        f"\nsizes: min {r['size_min']:,} B, median {r['size_median']:,.0f} B, max {r['size_max']:,} B, "
        f"{r['over_100k']} of {r['messages']} over 100 KB"
    )
    print(f"quote stripping (corpus): whole {share['whole']}, held-out {share['holdout']}")


if __name__ == "__main__":
    main()
