"""Email ingest benchmark: messages/s through ``caseline.mail.ingest.ingest_many`` (one
transaction per batch of ``--batch`` messages, as the IMAP poller does; ``--batch 1`` is
one ``ingest`` transaction per message: dedupe, parse, classify, thread, contact, strip,
attachments, ticket or message, acknowledgement outbox row) on SQLite and PostgreSQL,
with the cost of each stage, plus the quote-stripping share on the corpus.

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
  index     the full-text index of the message bodies, measured apart after the run:
            the stored bodies inserted into a scratch copy of the index (PostgreSQL: a
            tsvector column with a GIN index; SQLite: an FTS5 table), per message. It is
            paid inside the message INSERT (trigger / generated column), i.e. in "store".

Usage:  .venv/bin/python bench/mail_bench.py [--messages N] [--db sqlite,postgres]
        [--batch 20] [--pg-url postgres://root@127.0.0.1:5432/caseline_mail_bench]
        [--profile PATH]
It also counts the SQL statements per message (new tickets, replies, one ``ingest``
each; and the average per message of ``--batch``-sized batches) on 40 further messages
(an execute wrapper), and with --profile writes cProfile stats of the timed loop (read
them with ``python -m pstats PATH.sqlite``).
It also prints the CPU per message of the worker and (PostgreSQL, same machine, read
from /proc) of its database backend: on a loaded machine the wall-clock figures mostly
measure the other processes; the CPU figures much less so.
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


def count_statements(box, n: int, sample: int = 40, batch: int = 20) -> dict[str, float]:
    """SQL statements per ingested message (new tickets and replies, one ``ingest``
    each; then the average per message of batches of ``batch``) on fresh messages of the
    same workload after the timed run (counted by an execute wrapper)."""
    from django.db import connection

    from caseline.mail.ingest import ingest, ingest_many
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
    out = {k: sum(v) / len(v) for k, v in sorted(counts.items())}
    if batch > 1:
        raws = make_messages(sample, seed=8, ticket_offset=Ticket.objects.count())
        seen["n"] = 0
        with connection.execute_wrapper(count):
            for start in range(0, len(raws), batch):
                ingest_many([(r, box) for r in raws[start : start + batch]], source="bench")
        out[f"batched by {batch}"] = seen["n"] / len(raws)
    return out


def index_ms(n_messages: int) -> float:
    """Per ingested message: the cost of full-text indexing its stored body, measured by
    inserting all stored message bodies into a scratch index of the same kind."""
    from django.db import connection

    from caseline.search import ddl

    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("CREATE TEMP TABLE bench_fts (v tsvector)")
            cur.execute("CREATE INDEX ON bench_fts USING gin (v)")
            sql = (
                f"INSERT INTO bench_fts SELECT to_tsvector('{ddl.PG_CONFIG}', "
                f"left(body_text, {ddl.PG_MAX_BODY_CHARS})) FROM tickets_message"
            )
        else:
            cur.execute(
                f"CREATE VIRTUAL TABLE temp.bench_fts USING fts5(body, tokenize='{ddl.TOKENIZE}')"
            )
            sql = "INSERT INTO temp.bench_fts(body) SELECT body_text FROM tickets_message"
        cur.execute("SELECT count(*) FROM tickets_message")
        rows = cur.fetchone()[0]
        t0 = time.perf_counter()
        cur.execute(sql)
        spent = time.perf_counter() - t0
        cur.execute(
            "DROP TABLE bench_fts"
            if connection.vendor == "postgresql"
            else "DROP TABLE temp.bench_fts"
        )
    # the messages table holds the ticket messages of this run (and of the warm-up and
    # the statement count): charge the average per row, once per ingested message
    return 1000 * spent / max(rows, 1)


def _backend_cpu_reader():
    """A function returning the CPU seconds used so far by this connection's PostgreSQL
    backend process (same machine: /proc/<pid>/stat), or 0.0 on SQLite (in-process)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return lambda: 0.0
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    tick = os.sysconf("SC_CLK_TCK")

    def read() -> float:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / tick  # utime + stime

    return read


def child_main(n: int, profile_path: str = "", batch: int = 20) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "caseline.settings")
    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.MAIL_SENDER_RATE_LIMIT = 0  # repeated bench senders are not a flood
    call_command("migrate", interactive=False, verbosity=0)
    from caseline.accounts.models import Organization, OrganizationDomain, Team
    from caseline.mail.ingest import Timings, ingest, ingest_many
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
    backend = _backend_cpu_reader()
    b0 = backend()
    c0 = time.process_time()
    t0 = time.perf_counter()
    for start in range(0, len(messages), batch):
        chunk = messages[start : start + batch]
        if batch == 1:
            results = [ingest(chunk[0], box, source="bench", timings=timings)]
        else:
            results = ingest_many([(raw, box) for raw in chunk], source="bench", timings=timings)
        for result in results:
            statuses[result.status] = statuses.get(result.status, 0) + 1
            how = result.inbound.threaded_by or "-"
            threaded[how] = threaded.get(how, 0) + 1
    wall = time.perf_counter() - t0
    worker_cpu = time.process_time() - c0
    backend_cpu = backend() - b0
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile_path)
    subscribers_s = spent["s"]
    statements = count_statements(box, n, batch=batch)
    index = index_ms(n)

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
                "batch": batch,
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
                    "index": index,
                    "worker_cpu": 1000 * worker_cpu / n,
                    "backend_cpu": 1000 * backend_cpu / n,
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


def run_child(env: dict[str, str], n: int, profile: str = "", batch: int = 20) -> dict:
    extra = ["--profile", profile] if profile else []
    extra += ["--batch", str(batch)]
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
        "--batch", type=int, default=20, help="messages per transaction (1: one ingest each)"
    )
    parser.add_argument(
        "--profile",
        default="",
        help="write cProfile stats of the timed ingest loop to this path (+ .<db> per run)",
    )
    args = parser.parse_args()
    if args.child is not None:
        child_main(args.child, args.profile, max(1, args.batch))
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
            run_child(
                env,
                args.messages,
                f"{args.profile}.{db}" if args.profile else "",
                max(1, args.batch),
            )
        )
    share = results[0]["share"]
    load = os.getloadavg()
    print(
        f"\nEmail ingest — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n"
    )
    print(
        "| database | messages | per transaction | msg/s | parse ms | sanitise ms | strip ms | store ms | of which event subscribers ms | of which index ms | total ms/msg | statuses |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        ms = r["ms"]
        print(
            f"| {r['engine']} | {r['messages']} | {r['batch']} | {r['per_s']:.0f} | {ms['parse']:.2f} | "
            f"{ms['sanitise']:.2f} | {ms['strip']:.2f} | {ms['store']:.2f} | {ms['subscribers']:.2f} | "
            f"{ms['index']:.2f} | "
            f"{ms['ingest_total']:.2f} | {r['statuses']} |"
        )
    print(
        "\nCPU per message (what the load of other processes does not inflate much): "
        + "; ".join(
            f"{r['engine']}: worker {r['ms']['worker_cpu']:.2f} ms"
            + (
                f" + database backend {r['ms']['backend_cpu']:.2f} ms"
                if r["ms"]["backend_cpu"]
                else ""
            )
            + f" = {r['ms']['worker_cpu'] + r['ms']['backend_cpu']:.2f} ms "
            f"(~{1000 / max(r['ms']['worker_cpu'] + r['ms']['backend_cpu'], 0.001):.0f} msg/s if CPU-bound)"
            for r in results
        )
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
