"""API benchmark: bulk seeding speed, then ticket create / list under granian, measured by wrk.

For each database (an SQLite file in a temporary directory, and PostgreSQL database
``caseline_bench`` on postgres://root@127.0.0.1:5432/, dropped and created):

1. migrate, seed the demo accounts through the services, then bulk-insert N tickets
   (default 100,000) with 3 messages each, writing the rows the ticket services write
   (ticket, messages, audit events, followers, tags), with bulk_create in batches;
   reports rows/s and tickets/s;
2. start ``caseline serve --workers 2`` (granian) on a free 127.0.0.1 port, create a token,
   and measure with wrk (-t2 -c8, a warm-up, then >= 10,000 requests per scenario):
   (a) POST /api/v1/tickets, (b) GET /api/v1/tickets?status=open&team=<id> first page,
   (c) the same with a cursor ~5,000 rows deep;
3. print a Markdown table.

Usage:  .venv/bin/python bench/api_bench.py [--tickets N] [--requests N] [--db sqlite,postgres]
Never part of the test suite. Every step is bounded by a timeout; the server is always
stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WRK_DIR = Path(__file__).resolve().parent / "wrk"
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgres://root@127.0.0.1:5432/postgres")
PG_DB = "caseline_bench"
THREADS, CONNECTIONS = 2, 8
DEEP_ROWS = 5000
BENCH_USER = "sam.carter@caseline.demo"  # a support engineer (not a superuser)

# --- the seeding child (runs inside Django) -------------------------------------------


def seed_main(n_tickets: int, batch: int, method: str) -> None:
    """Runs in a child process whose environment selects the database."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "caseline.settings")
    django.setup()
    from django.core.management import call_command

    t0 = time.monotonic()
    call_command("migrate", interactive=False, verbosity=0)
    t_migrate = time.monotonic() - t0

    from caseline.demo.seed import seed

    t0 = time.monotonic()
    seed(tickets=0)  # accounts, staff, teams, product areas, rules through the services
    t_accounts = time.monotonic() - t0

    def progress(done: int, rows: int, seconds: float) -> None:
        print(
            f"  seeded {done:>7,} tickets  {rows:>9,} rows  "
            f"{done / seconds:>7,.0f} tickets/s  {rows / seconds:>8,.0f} rows/s",
            file=sys.stderr,
            flush=True,
        )

    result = bulk_tickets(n_tickets, batch=batch, progress=progress, method=method)

    from caseline.accounts.models import ContactEmail, User
    from caseline.accounts.tokens import create_token

    user = User.objects.get(email=BENCH_USER)
    _, secret = create_token(user, "bench")
    emails = list(ContactEmail.objects.order_by("id").values_list("email", flat=True)[:20])
    print(
        "BENCH_SEED "
        + json.dumps(
            {
                **result,
                "migrate_seconds": round(t_migrate, 2),
                "accounts_seconds": round(t_accounts, 2),
                "token": secret,
                "emails": emails,
            }
        ),
        flush=True,
    )


BULK_STATUSES = [
    ("new", 10),
    ("open", 35),
    ("pending", 15),
    ("on_hold", 5),
    ("solved", 20),
    ("closed", 15),
]
STATUS_PATHS = {
    "new": [],
    "open": ["open"],
    "pending": ["open", "pending"],
    "on_hold": ["open", "on_hold"],
    "solved": ["open", "solved"],
    "closed": ["open", "solved", "closed"],
}

# The columns written per table (every NOT NULL column must be here; checked at start).
TICKET_COLS = [
    "id",
    "subject",
    "requester_id",
    "organization_id",
    "product_area_id",
    "severity",
    "priority",
    "status",
    "channel",
    "assignee_id",
    "team_id",
    "satisfaction",
    "satisfaction_comment",
    "external_id",
    "created_at",
    "updated_at",
    "solved_at",
    "closed_at",
]
MESSAGE_COLS = [
    "id",
    "ticket_id",
    "kind",
    "author_user_id",
    "author_contact_id",
    "channel",
    "body_text",
    "body_html",
    "email_message_id",
    "created_at",
]
AUDIT_COLS = [
    "id",
    "subject_type",
    "subject_id",
    "ticket_id",
    "type",
    "actor_id",
    "actor_label",
    "at",
    "field",
    "old",
    "new",
    "data",
]
FOLLOWER_COLS = ["ticket_id", "user_id"]


class RowWriter:
    """Writes rows (tuples in a given column order) of one model.

    ``bulk_create``: model instances and ``Model.objects.bulk_create`` (the ORM path, whose
    per-value SQL compilation dominates: ~60 us per row here). ``copy`` (default): the same
    rows, already in the database's representation, with ``executemany`` (SQLite) or
    ``COPY ... FROM STDIN`` (PostgreSQL).
    """

    def __init__(self, method: str):
        from django.db import connection

        self.method = method
        self.connection = connection
        self.vendor = connection.vendor
        self.pg = self.vendor == "postgresql"
        self.triggers_off = False

    @staticmethod
    def check_columns(model, cols: list[str]) -> None:
        required = {
            f.attname for f in model._meta.concrete_fields if not f.null and not f.primary_key
        }
        missing = required - set(cols)
        if missing:
            raise SystemExit(
                f"bench: {model.__name__} has NOT NULL columns the bench does not write: "
                f"{sorted(missing)} -- update bench/api_bench.py"
            )

    def dt(self, value):
        """A datetime as the row value for this method/database."""
        if self.method == "bulk_create":
            return value
        if self.pg:
            return value.isoformat(" ")
        return value.replace(tzinfo=None).isoformat(" ")

    def js(self, value):
        if self.method == "bulk_create":
            return value
        return None if value is None else json.dumps(value)

    def begin_batch(self) -> None:
        """PostgreSQL bulk-load settings for the batch's transaction (copy writer only):
        no commit flush wait, and no per-row foreign-key trigger checks (what
        ``pg_restore --disable-triggers`` does; the generated rows reference rows that
        exist, and the bench checks the counts afterwards). Needs a superuser; without
        one the checks stay on."""
        if not self.pg or self.method == "bulk_create":
            return
        with self.connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
            cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            if cursor.fetchone()[0]:
                cursor.execute("SET LOCAL session_replication_role = replica")
                self.triggers_off = True

    def write(self, model, cols: list[str], rows: list[tuple]) -> None:
        if not rows:
            return
        if self.method == "bulk_create":
            model.objects.bulk_create([model(**dict(zip(cols, r, strict=True))) for r in rows])
            return
        fields = {f.attname: f.column for f in model._meta.concrete_fields}
        qn = self.connection.ops.quote_name
        col_sql = ", ".join(qn(fields[c]) for c in cols)
        table = qn(model._meta.db_table)
        with self.connection.cursor() as cursor:
            if self.pg:
                with cursor.cursor.copy(f"COPY {table} ({col_sql}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" * len(cols))
                cursor.cursor.executemany(f"INSERT INTO {table} ({col_sql}) VALUES ({marks})", rows)


def bulk_tickets(n: int, *, batch: int, progress, method: str = "copy") -> dict:
    """Insert ``n`` tickets with 3 messages each, writing the rows that create_ticket +
    add_message x2 (+ update_ticket for the final status) write: the ticket, its messages,
    the audit rows (one per changed field, as record() writes them, with the same payloads)
    and the followers (assignee, the organization's SC). Explicit ids; one transaction per
    batch.
    """
    import random
    from datetime import timedelta

    from django.core.management.color import no_style
    from django.db import connection, transaction
    from django.db.models import Count

    from caseline.accounts.models import Contact, ProductArea, User
    from caseline.audit.models import AuditEvent
    from caseline.tickets.models import Message, Ticket
    from caseline.timesource import now

    rng = random.Random(42)
    w = RowWriter(method)
    follower_model = Ticket.followers.through
    for model, cols in (
        (Ticket, TICKET_COLS),
        (Message, MESSAGE_COLS),
        (AuditEvent, AUDIT_COLS),
        (follower_model, FOLLOWER_COLS),
    ):
        w.check_columns(model, cols)
    js, dt = w.js, w.dt

    actor = User.objects.get(email=BENCH_USER)
    contacts = list(
        Contact.objects.filter(organization__isnull=False).select_related("organization")
    )
    areas = list(ProductArea.objects.select_related("owning_team").order_by("id"))
    members: dict[int, list[int]] = {}
    for area in areas:
        members[area.pk] = list(
            User.objects.filter(teams=area.owning_team_id, skills=area).values_list("id", flat=True)
        ) or [actor.pk]
    statuses = [s for s, _ in BULK_STATUSES]
    cum_weights = []
    total = 0
    for _, weight in BULK_STATUSES:
        total += weight
        cum_weights.append(total)
    start = now() - timedelta(days=365)
    step = timedelta(days=365) / max(n, 1)
    hour = timedelta(hours=1)
    ticket_id = (Ticket.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    message_id = (Message.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    audit_id = (AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    aid, label = actor.pk, actor.email
    q1 = "Since the upgrade to 8.0.3 the replication lag keeps growing. Bandwidth looks fine."
    q2 = "Thanks, I'm looking at the support bundle now and will update you within the hour."
    q3 = "Consistency group stuck in resync after the upgrade; pause/resume with a checkpoint."
    triaged = js({"rules": [], "suggested_product_area": True})
    status_data = js({"reason": "update"})
    rows = 0
    made = 0
    t0 = time.monotonic()
    while made < n:
        size = min(batch, n - made)
        tickets, messages, audits, follows = [], [], [], []
        for _ in range(size):
            contact = rng.choice(contacts)
            org = contact.organization
            area = rng.choice(areas)
            team_id = area.owning_team_id
            assignee = rng.choice(members[area.pk])
            status = rng.choices(statuses, cum_weights=cum_weights)[0]
            at = start + step * made
            t_at, t_1, t_2, t_3 = dt(at), dt(at + hour), dt(at + 2 * hour), dt(at + 3 * hour)
            tid = ticket_id
            subject = f"Replication lag on vol-{made % 97} keeps growing ({made})"
            done_at = t_3 if status in ("solved", "closed") else None
            tickets.append(
                (
                    tid,
                    subject,
                    contact.pk,
                    org.pk,
                    area.pk,
                    3,
                    "normal",
                    status,
                    "api",
                    assignee,
                    team_id,
                    "",
                    "",
                    "",
                    t_at,
                    t_3,
                    done_at,
                    t_3 if status == "closed" else None,
                )
            )
            m1, m2, m3 = message_id, message_id + 1, message_id + 2
            message_id += 3
            messages.append((m1, tid, "public", None, contact.pk, "api", q1, "", "", t_at))
            messages.append((m2, tid, "public", assignee, None, "api", q2, "", "", t_1))
            messages.append((m3, tid, "internal", assignee, None, "api", q3, "", "", t_2))

            a = audit_id
            created = js({"message_id": m1, "channel": "api"})
            for field, value in (
                ("subject", js(subject)),
                ("status", js("new")),
                ("channel", js("api")),
                ("requester", js(contact.pk)),
                ("severity", js(3)),
                ("priority", js("normal")),
                ("organization", js(org.pk)),
            ):
                audits.append(
                    (
                        a,
                        "ticket",
                        tid,
                        tid,
                        "ticket.created",
                        aid,
                        label,
                        t_at,
                        field,
                        None,
                        value,
                        created,
                    )
                )
                a += 1
            audits.append(
                (
                    a,
                    "ticket",
                    tid,
                    tid,
                    "ticket.triaged",
                    aid,
                    label,
                    t_at,
                    "product_area",
                    None,
                    js(area.pk),
                    triaged,
                )
            )
            audits.append(
                (
                    a + 1,
                    "ticket",
                    tid,
                    tid,
                    "ticket.triaged",
                    aid,
                    label,
                    t_at,
                    "team",
                    None,
                    js(team_id),
                    triaged,
                )
            )
            audits.append(
                (
                    a + 2,
                    "ticket",
                    tid,
                    tid,
                    "ticket.assigned",
                    aid,
                    label,
                    t_at,
                    "assignee",
                    None,
                    js(assignee),
                    js({"strategy": "round_robin", "team": team_id}),
                )
            )
            a += 3
            follows.append((tid, assignee))
            sc = org.sales_consultant_id
            if org.include_sc and sc and sc != assignee:
                audits.append(
                    (
                        a,
                        "ticket",
                        tid,
                        tid,
                        "ticket.follower_added",
                        aid,
                        label,
                        t_at,
                        "followers",
                        None,
                        js(sc),
                        js({"kind": "follower", "user_id": sc, "reason": "sales_consultant"}),
                    )
                )
                a += 1
                follows.append((tid, sc))
            for mid, kind, when in ((m2, "public", t_1), (m3, "internal", t_2)):
                audits.append(
                    (
                        a,
                        "ticket",
                        tid,
                        tid,
                        "ticket.message_added",
                        assignee,
                        "",
                        when,
                        "",
                        None,
                        None,
                        js(
                            {
                                "message_id": mid,
                                "kind": kind,
                                "author_role": "staff",
                                "channel": "api",
                                "attachments": [],
                            }
                        ),
                    )
                )
                a += 1
            old = "new"
            for new in STATUS_PATHS[status]:
                audits.append(
                    (
                        a,
                        "ticket",
                        tid,
                        tid,
                        "ticket.status_changed",
                        assignee,
                        "",
                        t_3,
                        "status",
                        js(old),
                        js(new),
                        status_data,
                    )
                )
                a += 1
                old = new
                if new == "solved":
                    audits.append(
                        (
                            a,
                            "ticket",
                            tid,
                            tid,
                            "ticket.solved",
                            assignee,
                            "",
                            t_3,
                            "",
                            None,
                            None,
                            js({"assignee": assignee, "solved_by": assignee}),
                        )
                    )
                    a += 1
            audit_id = a
            ticket_id += 1
            made += 1
        with transaction.atomic():
            w.begin_batch()
            w.write(Ticket, TICKET_COLS, tickets)
            w.write(Message, MESSAGE_COLS, messages)
            w.write(AuditEvent, AUDIT_COLS, audits)
            w.write(follower_model, FOLLOWER_COLS, follows)
        rows += len(tickets) + len(messages) + len(audits) + len(follows)
        if made % (batch * 10) == 0 or made == n:
            progress(made, rows, time.monotonic() - t0)
    seconds = time.monotonic() - t0
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), [Ticket, Message, AuditEvent]):
            cursor.execute(sql)
        cursor.execute("ANALYZE")
        if w.triggers_off:  # the foreign keys were not checked row by row: check them now
            qn = connection.ops.quote_name
            checks = [
                (Message, "ticket_id", Ticket),
                (AuditEvent, "ticket_id", Ticket),
                (follower_model, "ticket_id", Ticket),
                (Ticket, "requester_id", Contact),
            ]
            for model, column, target in checks:
                cursor.execute(
                    f"SELECT COUNT(*) FROM {qn(model._meta.db_table)} r LEFT JOIN "
                    f"{qn(target._meta.db_table)} t ON t.id = r.{qn(column)} "
                    f"WHERE r.{qn(column)} IS NOT NULL AND t.id IS NULL"
                )
                orphans = cursor.fetchone()[0]
                if orphans:
                    raise SystemExit(f"bench: {orphans} {model.__name__} rows with a bad {column}")
    team_id = (
        Ticket.objects.filter(status="open")
        .values("team_id")
        .order_by()
        .annotate(c=Count("id"))
        .order_by("-c")
        .values_list("team_id", flat=True)
        .first()
    )
    return {
        "tickets": n,
        "rows": rows,
        "method": method,
        "fk_checks": "after the load" if w.triggers_off else "per row",
        "seconds": round(seconds, 2),
        "tickets_per_s": n / seconds if seconds else 0.0,
        "rows_per_s": rows / seconds if seconds else 0.0,
        "team_id": team_id,
    }


# --- orchestration (plain Python, no Django) --------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "ram": ram,
        "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),  # wall clock for the record
    }


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk not found: installing it with apt-get", flush=True)
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, timeout=600)
        found = shutil.which("wrk")
        if not found:
            subprocess.run(["apt-get", "update"], check=False, timeout=600)
            subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, timeout=600)
            found = shutil.which("wrk")
    if not found:
        sys.exit("wrk is needed: install it with `sudo apt-get install -y wrk`")
    return found


def reset_postgres(name: str = PG_DB) -> str:
    import psycopg

    with psycopg.connect(
        PG_ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True
    ) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def base_env(database_url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CASELINE_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="caseline.settings",
        DATABASE_URL=database_url,
        CASELINE_DATA_DIR=str(data_dir),
        QUEUE_URL=f"sqlite:///{data_dir / 'queue.sqlite3'}",
        RATELIMIT_URL=f"sqlite:///{data_dir / 'ratelimit.sqlite3'}",
        API_RATE_LIMIT="100000000",
        DEBUG="0",
        LOG_LEVEL="ERROR",
        PYTHONPATH=str(ROOT),
    )
    return env


def run_seed(env: dict[str, str], n: int, batch: int, method: str, timeout: float) -> dict:
    proc = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--seed-child",
            "--tickets",
            str(n),
            "--batch",
            str(batch),
            "--seed-method",
            method,
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise SystemExit(f"seeding failed (exit {proc.returncode})")
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_SEED "):
            return json.loads(line.removeprefix("BENCH_SEED "))
    raise SystemExit("seeding printed no result")


class Server:
    def __init__(self, env: dict[str, str], port: int, threads: int | None = None):
        self.port = port
        if threads:
            env = {**env, "WEB_THREADS": str(threads)}
        self.log = tempfile.NamedTemporaryFile(prefix="bench-server-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "caseline", "serve", "--workers", "2", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: stop() reaches granian's workers too
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited early; see {self.log.name}")
            try:
                with urllib.request.urlopen(self.url("/healthz"), timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise SystemExit(f"server not ready after {timeout} s; see {self.log.name}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
            except ProcessLookupError:
                pass


def get_json(url: str, token: str) -> dict:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def deep_cursor(server: Server, token: str, path: str, depth: int) -> tuple[str, int]:
    """Follow ``next_cursor`` with limit=100 until ``depth`` rows were skipped."""
    cursor, seen = None, 0
    while seen < depth:
        q = path + "&limit=100" + (f"&cursor={urllib.parse.quote(cursor)}" if cursor else "")
        data = get_json(server.url(q), token)
        seen += len(data["results"])
        cursor = data["meta"]["next_cursor"]
        if not cursor:
            break
    return cursor or "", seen


def run_wrk(
    wrk: str,
    script: str,
    env: dict[str, str],
    url: str,
    *,
    seconds: int,
    extra: dict[str, str],
) -> dict:
    e = dict(env)
    e.update(extra)
    e["BENCH_LUA_DIR"] = str(WRK_DIR)
    argv = [
        wrk,
        f"-t{THREADS}",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_DIR / script),
        url,
    ]
    out = subprocess.run(argv, env=e, capture_output=True, text=True, timeout=seconds + 60)
    for line in out.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            data = json.loads(line.removeprefix("BENCH_JSON "))
            data["seconds"] = seconds
            data["rps"] = data["requests"] / max(data["duration_us"] / 1e6, 1e-9)
            return data
    raise SystemExit(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")


def measure(
    wrk: str, script: str, env, url: str, extra, *, requests: int, warmup: int, max_seconds: int
) -> dict:
    """A warm-up of ``warmup`` seconds, then a run long enough for ``requests`` requests at
    the warm-up's rate (+20 %), bounded by ``max_seconds``; repeated once if it fell short."""
    warm = run_wrk(wrk, script, env, url, seconds=warmup, extra=extra)
    rate = max(warm["rps"], 1.0)
    seconds = min(max_seconds, max(10, math.ceil(requests / rate * 1.2) + 2))
    data = run_wrk(wrk, script, env, url, seconds=seconds, extra=extra)
    if data["requests"] < requests and seconds < max_seconds:
        rate = max(data["rps"], 1.0)
        seconds = min(max_seconds, max(10, math.ceil(requests / rate * 1.3) + 2))
        data = run_wrk(wrk, script, env, url, seconds=seconds, extra=extra)
    return data


def create_body() -> str:
    return json.dumps(
        {
            "subject": "Bench {{n}}: replication lag on vol-erp-data keeps growing",
            "body_text": "Since the upgrade to 8.0.3 the replication lag keeps growing "
            "(reference {{n}}). Bandwidth looks fine. Can you help?",
            "requester": {"email": "{{email}}"},
            "channel": "api",
        }
    )


def bench_database(name: str, database_url: str, data_dir: Path, args, wrk: str) -> dict:
    env = base_env(database_url, data_dir)
    print(f"\n== {name}: migrate + seed {args.tickets:,} tickets", flush=True)
    seeded = run_seed(env, args.tickets, args.batch, args.seed_method, timeout=args.seed_timeout)
    print(
        f"   {seeded['tickets']:,} tickets, {seeded['rows']:,} rows in {seeded['seconds']:.1f} s: "
        f"{seeded['tickets_per_s']:,.0f} tickets/s, {seeded['rows_per_s']:,.0f} rows/s",
        flush=True,
    )
    result = {"name": name, "seed": seeded, "scenarios": {}}
    port = free_port()
    threads = dict(part.split("=", 1) for part in args.threads.split(",") if "=" in part).get(name)
    result["threads"] = int(threads) if threads else None
    server = Server(env, port, int(threads) if threads else None)
    try:
        server.wait_ready()
        token = seeded["token"]
        list_path = f"/api/v1/tickets?status=open&team={seeded['team_id']}"
        cursor, skipped = deep_cursor(server, token, list_path, DEEP_ROWS)
        print(f"   deep cursor after {skipped:,} rows", flush=True)
        scenarios = [
            (
                "create",
                "create.lua",
                "/api/v1/tickets",
                {"BENCH_BODY": create_body(), "BENCH_EMAILS": ",".join(seeded["emails"])},
            ),
            ("list first page", "list.lua", list_path, {"BENCH_PATH": list_path}),
            (
                "list deep page",
                "list.lua",
                list_path,
                {"BENCH_PATH": f"{list_path}&cursor={urllib.parse.quote(cursor)}"},
            ),
        ]
        common = {"BENCH_TOKEN": token}
        for label, script, path, extra in scenarios:
            data = measure(
                wrk,
                script,
                env,
                server.url(path),
                {**common, **extra},
                requests=args.requests,
                warmup=args.warmup,
                max_seconds=args.max_seconds,
            )
            data["load"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
            result["scenarios"][label] = data
            print(
                f"   {label:<16} {data['requests']:>6} req  {data['rps']:>7.0f} req/s  "
                f"p50 {data['p50_us'] / 1000:.1f} ms  p95 {data['p95_us'] / 1000:.1f} ms  "
                f"p99 {data['p99_us'] / 1000:.1f} ms  non-2xx {data['non2xx']}"
                + f"  load {data['load']}"
                + (f"  e.g. {data['sample_error']}" if data["sample_error"] else ""),
                flush=True,
            )
    finally:
        server.stop()
    return result


def table(results: list[dict]) -> str:
    lines = [
        "| database | scenario | requests | req/s | p50 ms | p95 ms | p99 ms | non-2xx | load |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        for label, d in r["scenarios"].items():
            lines.append(
                f"| {r['name']} | {label} | {d['requests']:,} | {d['rps']:,.0f} | "
                f"{d['p50_us'] / 1000:.1f} | {d['p95_us'] / 1000:.1f} | "
                f"{d['p99_us'] / 1000:.1f} | {d['non2xx']} | {d.get('load', '')} |"
            )
    lines += [
        "",
        "| database | tickets | rows | seconds | tickets/s | rows/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        s = r["seed"]
        lines.append(
            f"| {r['name']} | {s['tickets']:,} | {s['rows']:,} | {s['seconds']:.1f} | "
            f"{s['tickets_per_s']:,.0f} | {s['rows_per_s']:,.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=2_000)
    parser.add_argument(
        "--seed-method",
        choices=["copy", "bulk_create"],
        default="copy",
        help="copy: executemany/COPY of the same rows (default); bulk_create: the ORM",
    )
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=5, help="warm-up seconds per scenario")
    parser.add_argument("--max-seconds", type=int, default=400, help="bound per scenario run")
    parser.add_argument("--seed-timeout", type=int, default=1800)
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument(
        "--pg-db", default=PG_DB, help=f"PostgreSQL database to drop and create ({PG_DB})"
    )
    parser.add_argument(
        "--threads",
        default="sqlite=2,postgres=4",
        help="granian blocking threads per worker, per database (WEB_THREADS); SQLite "
        "writers serialise on one lock, so few threads keep its waits short and fair",
    )
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--seed-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed_child:
        sys.path.insert(0, str(ROOT))
        seed_main(args.tickets, args.batch, args.seed_method)
        return

    # SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so servers are always stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    wrk = ensure_wrk()
    info = machine()
    print(
        f"machine: {info['nproc']} CPUs, {info['cpu']}, {info['ram']} RAM, "
        f"Python {info['python']}, {info['date']}",
        flush=True,
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="caseline-bench-") as tmp:
        tmpdir = Path(tmp)
        for name in [d.strip() for d in args.db.split(",") if d.strip()]:
            data_dir = tmpdir / name
            data_dir.mkdir()
            if name == "sqlite":
                url = f"sqlite:///{data_dir / 'bench.sqlite3'}"
            elif name == "postgres":
                url = reset_postgres(args.pg_db)
            else:
                raise SystemExit(f"unknown database {name!r} (sqlite, postgres)")
            results.append(bench_database(name, url, data_dir, args, wrk))
    print()
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": info, "results": results}, indent=2))


if __name__ == "__main__":
    main()
