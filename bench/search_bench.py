"""Search benchmark: p50/p95 of two-word searches over N tickets and M messages.

For each database (an SQLite file, and PostgreSQL database ``h_srch_bench_t<N>_m<M>`` on
postgres://root@127.0.0.1:5432/):

1. seed once and cache: migrate, then bulk-insert 500 organizations (a domain each),
   2,500 contacts (an email each), N tickets and M messages of generated support text
   (a Zipf-weighted vocabulary of ~300 common support words plus ~30,000 rare words:
   product names, error codes, hostnames) through raw multi-row INSERTs (SQLite: the FTS5
   triggers index every row as it is written) or COPY (PostgreSQL: the generated
   tsvector columns are computed on write; the GIN indexes are dropped for the load and
   built afterwards). The SQLite file is kept under var/search_bench/, the PostgreSQL
   database stays; the next run with the same sizes reuses them (``--fresh`` re-seeds);
2. run every query once to warm the caches, then ``--rounds`` times each, timing
   ``caseline.search.queries.search(user, q, limit=20)`` in-process (SQL + snippets for
   the shown hits + the permission filter + building the hits): as a support engineer
   (every ticket, internal notes) and as a customer (one organization's tickets, public
   messages only), over every kind (what the search page asks) and messages only;
3. print p50/p95/max per query class (common+common, common+rare, rare+rare) and in all.

Usage:
    .venv/bin/python bench/search_bench.py                      # 20k tickets, 60k messages
    .venv/bin/python bench/search_bench.py --tickets 70000 --messages 200000
    .venv/bin/python bench/search_bench.py --tickets 1000000 --messages 3000000   # issue figure
Options: --db sqlite,postgres  --rounds 3  --fresh.  Never part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = ROOT / "var" / "search_bench"
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgres://root@127.0.0.1:5432/postgres")
SEED_VERSION = "1"
N_ORGS = 500
CONTACTS_PER_ORG = 5
BATCH = 5000
STAFF_EMAIL = "bench.agent@caseline.bench"
CUSTOMER_EMAIL = "c0@org0.bench"

# --- text -------------------------------------------------------------------------------

FUNCTION_WORDS = (
    "the to and a of we is in it for on our you this with that not are have be as from "
    "after when but can please since your all an or was at by there if now still again "
    "what any so do does no more also which they has been would could should"
).split()
SUPPORT_WORDS = (
    "error login server update password user account access issue problem customer "
    "ticket email page database connection timeout sync report file upload download "
    "invoice billing license install version release api request response token session "
    "browser mobile app android ios windows linux network proxy firewall certificate ssl "
    "sso okta saml ldap admin role permission dashboard export import backup restore "
    "migration cluster node pod container kubernetes docker memory cpu disk storage "
    "queue worker job cron schedule notification webhook integration slack teams "
    "calendar meeting phone call screenshot attached log logs trace stack crash freeze "
    "slow performance latency outage down working broken fails failed failing fix "
    "workaround patch hotfix deploy rollback config configuration setting settings "
    "environment production staging test region europe cluster replica primary index "
    "search query filter sort field column row table chart graph metric alert threshold "
    "limit quota rate throttle retry duplicate missing wrong incorrect blank empty "
    "unexpected message warning status code http gateway load balancer dns domain "
    "redirect cookie cache refresh reload restart reboot reset unlock locked expired "
    "renew renewal contract plan upgrade downgrade trial seat seats users team group "
    "folder document attachment pdf csv excel printer scanner device laptop monday "
    "tuesday wednesday thursday friday yesterday today morning afternoon urgent asap "
    "critical blocker severity impact affected everyone some several colleague manager "
    "hello hi thanks thank regards best kind dear team support engineer help assist "
    "check checked looking investigate investigating reproduce reproduced confirm "
    "confirmed resolved solved closed open pending waiting escalate escalated"
).split()
SYLLABLES = (
    "ka ze ro mi tu la ven dor pax qui lo ran sel tor bri gan hex ium nova flux orb zen "
    "tri cal mon dex vio rux"
).split()


def vocabulary(rng: random.Random) -> tuple[list[str], list[float], list[str]]:
    common = FUNCTION_WORDS + list(dict.fromkeys(SUPPORT_WORDS))
    weights = [1.0 / (rank + 1) ** 0.9 for rank in range(len(common))]
    rare: set[str] = set()
    while len(rare) < 20_000:
        rare.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(3, 4))))
    rare_list = sorted(rare)
    rare_list += [f"err{n}" for n in rng.sample(range(10_000, 99_999), 5_000)]
    rare_list += [f"node{n}" for n in rng.sample(range(100, 9_999), 5_000)]
    return common, weights, rare_list


def sentence_pool(rng: random.Random, n: int = 20_000):
    common, weights, rare = vocabulary(rng)
    cum = []
    acc = 0.0
    for w in weights:
        acc += w
        cum.append(acc)
    pool = []
    for _ in range(n):
        words = rng.choices(common, cum_weights=cum, k=rng.randint(7, 16))
        words[0] = words[0].capitalize()
        pool.append(" ".join(words) + rng.choice([".", ".", ".", "?", "!"]))
    return pool, common, rare


# --- seeding (runs inside Django) --------------------------------------------------------


def _columns(model, overrides: dict):
    """Every concrete column but the id, with the model default for those not given
    (so a column another app adds later still gets a value)."""
    from django.db import connection

    cols, fixed = [], {}
    for f in model._meta.concrete_fields:
        if f.primary_key:
            continue
        cols.append(f.column)
        if f.attname not in overrides:
            fixed[f.column] = f.get_db_prep_save(f.get_default(), connection)
    return cols, fixed


def _writer(model, overrides: list[str]):
    """write(rows of the override columns, in ``overrides`` order) -> inserts them."""
    from django.db import connection

    cols, fixed = _columns(model, dict.fromkeys(overrides))
    order = [c for c in cols]
    col_for = {model._meta.get_field(a).column: a for a in overrides}
    table = model._meta.db_table
    pos = {a: i for i, a in enumerate(overrides)}

    def build(row):
        return tuple(row[pos[col_for[c]]] if c in col_for else fixed[c] for c in order)

    def write(rows) -> None:
        full = [build(r) for r in rows]
        if connection.vendor == "postgresql":
            with connection.cursor() as cur:
                with cur.cursor.copy(f"COPY {table} ({', '.join(order)}) FROM STDIN") as cp:
                    for r in full:
                        cp.write_row(r)
        else:
            marks = ", ".join("?" for _ in order)
            connection.connection.executemany(
                f"INSERT INTO {table} ({', '.join(order)}) VALUES ({marks})", full
            )

    return write


def _dt(value: datetime):
    from django.db import connection

    return value if connection.vendor == "postgresql" else value.isoformat(sep=" ")


def seed(n_tickets: int, n_messages: int) -> dict:
    from django.contrib.auth.models import Group
    from django.db import connection, transaction

    from caseline.accounts import roles
    from caseline.accounts.models import (
        Contact,
        ContactEmail,
        Organization,
        OrganizationDomain,
        User,
    )
    from caseline.search import ddl
    from caseline.tickets.models import Message, Ticket

    rng = random.Random(42)
    pool, common, rare = sentence_pool(rng)
    t0 = time.monotonic()
    pg = connection.vendor == "postgresql"
    with transaction.atomic():
        orgs = Organization.objects.bulk_create(
            [Organization(name=f"{rng.choice(rare).capitalize()} Org {i}") for i in range(N_ORGS)]
        )
        OrganizationDomain.objects.bulk_create(
            [OrganizationDomain(organization=o, domain=f"org{i}.bench") for i, o in enumerate(orgs)]
        )
        contacts = Contact.objects.bulk_create(
            [
                Contact(name=f"{rng.choice(rare).capitalize()} Person{j}", organization=o)
                for o in orgs
                for j in range(CONTACTS_PER_ORG)
            ]
        )
        ContactEmail.objects.bulk_create(
            [
                ContactEmail(
                    contact=c,
                    email=f"c{i % CONTACTS_PER_ORG}@org{i // CONTACTS_PER_ORG}.bench",
                    is_primary=True,
                )
                for i, c in enumerate(contacts)
            ]
        )
        staff = User.objects.create_user(username=STAFF_EMAIL, email=STAFF_EMAIL)
        staff.groups.add(Group.objects.get(name=roles.SE))
        first = ContactEmail.objects.get(email=CUSTOMER_EMAIL).contact
        User.objects.create_user(
            username=CUSTOMER_EMAIL, email=CUSTOMER_EMAIL, kind=User.Kind.CUSTOMER, contact=first
        )
    if pg:
        with connection.cursor() as cur:
            for table in ("tickets_ticket", "tickets_message"):
                cur.execute(f"DROP INDEX IF EXISTS {table}_search_gin")
    contact_org = [(c.pk, c.organization_id) for c in contacts]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    write_ticket = _writer(
        Ticket, ["subject", "requester", "organization", "status", "created_at", "updated_at"]
    )
    write_message = _writer(
        Message, ["ticket", "kind", "author_contact", "body_text", "created_at"]
    )
    statuses = ["new", "open", "pending", "solved", "closed"]
    first_ticket_id = None
    done_t = done_m = 0
    per_ticket = n_messages / max(n_tickets, 1)
    with transaction.atomic():
        while done_t < n_tickets:
            k = min(BATCH, n_tickets - done_t)
            rows, owners = [], []
            for i in range(k):
                cid, oid = contact_org[rng.randrange(len(contact_org))]
                words = rng.choice(pool).rstrip(".?!").split()[: rng.randint(4, 8)]
                words.insert(rng.randrange(len(words) + 1), rng.choice(rare))
                when = _dt(start + timedelta(minutes=(done_t + i)))
                rows.append((" ".join(words), cid, oid, rng.choice(statuses), when, when))
                owners.append(cid)
            write_ticket(rows)
            if first_ticket_id is None:
                first_ticket_id = Ticket.objects.order_by("id").values_list("id", flat=True)[0]
            # this batch's messages
            m_rows = []
            target = round((done_t + k) * per_ticket) if done_t + k < n_tickets else n_messages
            for j in range(target - done_m):
                t_index = done_t + min(k - 1, int(j / max(per_ticket, 1e-9)))
                internal = rng.random() < 0.15
                body = " ".join(rng.choices(pool, k=rng.randint(2, 7)))
                for _ in range(rng.randint(0, 2)):
                    parts = body.split(" ")
                    parts.insert(rng.randrange(len(parts)), rng.choice(rare))
                    body = " ".join(parts)
                when = _dt(start + timedelta(minutes=t_index, seconds=j % 60))
                m_rows.append(
                    (
                        first_ticket_id + t_index,
                        "internal" if internal else "public",
                        None if internal else owners[t_index - done_t],
                        body,
                        when,
                    )
                )
            write_message(m_rows)
            done_m += len(m_rows)
            done_t += k
            if done_t % (BATCH * 20) == 0 or done_t == n_tickets:
                print(
                    f"  seeded {done_t:,} tickets, {done_m:,} messages "
                    f"({time.monotonic() - t0:.0f} s)",
                    file=sys.stderr,
                    flush=True,
                )
    load_s = time.monotonic() - t0
    with connection.cursor() as cur:
        if pg:
            cur.execute("SET maintenance_work_mem = '512MB'")
            for sql in ddl.pg_forward():
                cur.execute(sql)
        cur.execute("CREATE TABLE search_bench_meta (key varchar(40) PRIMARY KEY, value text)")
        meta = {"version": SEED_VERSION, "tickets": n_tickets, "messages": n_messages}
        for k2, v in meta.items():
            cur.execute(
                "INSERT INTO search_bench_meta (key, value) VALUES (%s, %s)", [k2, json.dumps(v)]
            )
    if pg:
        from django.db import connection as c2

        c2.close()
        import psycopg

        url = os.environ["DATABASE_URL"].replace("postgres://", "postgresql://")
        with psycopg.connect(url, autocommit=True) as raw:
            raw.execute("VACUUM ANALYZE")
    else:
        with connection.cursor() as cur:
            cur.execute("ANALYZE")
    return {
        "seed_s": round(time.monotonic() - t0, 1),
        "load_s": round(load_s, 1),
        "rows_per_s": round((n_tickets + n_messages) / load_s),
    }


def cached(n_tickets: int, n_messages: int) -> bool:
    from django.db import connection

    with connection.cursor() as cur:
        if "search_bench_meta" not in connection.introspection.table_names(cur):
            return False
        cur.execute("SELECT key, value FROM search_bench_meta")
        meta = {k: json.loads(v) for k, v in cur.fetchall()}
    return meta == {"version": SEED_VERSION, "tickets": n_tickets, "messages": n_messages}


# --- measuring --------------------------------------------------------------------------


def queries_for(rng: random.Random, n_each: int) -> list[tuple[str, str]]:
    """Two-word queries: two frequent support words; a frequent word and a rare word of
    one sampled message (both in it: the query has at least that hit); two rare words of
    one sampled message when it has two, else of two messages (often no hit)."""
    from caseline.tickets.models import Message

    _, common, _ = sentence_pool(random.Random(42))
    common_set = {w.lower() for w in common}
    frequent = [w for w in common if w in set(SUPPORT_WORDS)][:60]
    top = Message.objects.order_by("-id").values_list("id", flat=True).first() or 0
    step = max(1, top // 400)
    samples: list[tuple[list[str], list[str]]] = []  # (rare words, frequent words) per message
    for body in Message.objects.filter(id__in=range(1, top + 1, step)).values_list(
        "body_text", flat=True
    ):
        words = {w.strip(".?!").lower() for w in body.split()}
        rare = sorted(w for w in words if w and w not in common_set)
        freq = sorted(w for w in words if w in frequent)
        if rare and freq:
            samples.append((rare, freq))
    if not samples:
        samples = [(["nosuchword"], frequent[:1])]
    pairs = [s for s in samples if len(s[0]) >= 2]
    out = []
    for _ in range(n_each):
        out.append(("common+common", " ".join(rng.sample(frequent, 2))))
        rare, freq = rng.choice(samples)
        out.append(("common+rare", f"{rng.choice(freq)} {rng.choice(rare)}"))
        if pairs:
            out.append(("rare+rare", " ".join(rng.sample(rng.choice(pairs)[0], 2))))
        else:
            out.append(("rare+rare", f"{rng.choice(samples)[0][0]} {rng.choice(samples)[0][0]}"))
    return out


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = max(0, min(len(values) - 1, round(p / 100 * (len(values) - 1))))
    return values[k]


def measure(rounds: int, n_each: int) -> list[dict]:
    from caseline.accounts.models import User
    from caseline.search.queries import search

    users = {
        "agent": User.objects.get(email=STAFF_EMAIL),
        "customer": User.objects.select_related("contact").get(email=CUSTOMER_EMAIL),
    }
    qs = queries_for(random.Random(7), n_each)
    out = []
    for who, user in users.items():
        for kind in (None, "message"):
            for _, q in qs:  # warm-up
                search(user, q, kind=kind, limit=20)
            times: dict[str, list[float]] = {}
            hits_total = 0
            for _ in range(rounds):
                for cls, q in qs:
                    t = time.perf_counter()
                    hits = search(user, q, kind=kind, limit=20)
                    times.setdefault(cls, []).append((time.perf_counter() - t) * 1000)
                    hits_total += len(hits)
            every = [x for v in times.values() for x in v]
            row = {
                "user": who,
                "kind": kind or "all",
                "n": len(every),
                "p50": pct(every, 50),
                "p95": pct(every, 95),
                "max": max(every),
                "avg_hits": hits_total / len(every),
                "by_class": {c: (pct(v, 50), pct(v, 95)) for c, v in times.items()},
            }
            out.append(row)
            print(
                f"  {who:8} {row['kind']:7} p50 {row['p50']:.1f} p95 {row['p95']:.1f} ms",
                file=sys.stderr,
                flush=True,
            )
    return out


def child_main(args) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "caseline.settings")
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    seeded = None
    if not cached(args.tickets, args.messages):
        from django.db import connection

        with connection.cursor() as cur:
            if "search_bench_meta" in connection.introspection.table_names(cur):
                raise SystemExit("cached database of other sizes: run with --fresh")
        seeded = seed(args.tickets, args.messages)
    results = measure(args.rounds, args.per_class)
    print("BENCH_RESULT " + json.dumps({"seed": seeded, "results": results}))


# --- the parent ---------------------------------------------------------------------------


def pg_db_name(t: int, m: int) -> str:
    return f"h_srch_bench_t{t}_m{m}"


def prepare_postgres(name: str, fresh: bool) -> str:
    import psycopg

    with psycopg.connect(
        PG_ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True
    ) as c:
        exists = c.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if fresh or not exists:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            c.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def run_child(db: str, args) -> dict:
    data_dir = CACHE_DIR / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    if db == "postgres":
        url = prepare_postgres(pg_db_name(args.tickets, args.messages), args.fresh)
    else:
        path = CACHE_DIR / f"sqlite_t{args.tickets}_m{args.messages}.sqlite3"
        if args.fresh:
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "CASELINE_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="caseline.settings",
        DATABASE_URL=url,
        CASELINE_DATA_DIR=str(data_dir),
        QUEUE_URL=f"sqlite:///{data_dir / 'queue.sqlite3'}",
        RATELIMIT_URL=f"sqlite:///{data_dir / 'ratelimit.sqlite3'}",
        CASELINE_FAST_PASSWORDS="1",
        LOG_LEVEL="ERROR",
        PYTHONPATH=str(ROOT),
    )
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        "--tickets",
        str(args.tickets),
        "--messages",
        str(args.messages),
        "--rounds",
        str(args.rounds),
        "--per-class",
        str(args.per_class),
    ]
    proc = subprocess.run(
        cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, text=True, timeout=args.timeout
    )
    if proc.returncode != 0:
        raise SystemExit(f"{db}: child failed (exit {proc.returncode})")
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_RESULT "):
            return json.loads(line.removeprefix("BENCH_RESULT "))
    raise SystemExit(f"{db}: no result")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=20_000)
    parser.add_argument("--messages", type=int, default=60_000)
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-class", type=int, default=12, help="queries per class")
    parser.add_argument("--fresh", action="store_true", help="re-seed even if cached")
    parser.add_argument("--timeout", type=float, default=6 * 3600)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return
    load = os.getloadavg()
    print(
        f"# search bench: {args.tickets:,} tickets, {args.messages:,} messages; "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, load {load[0]:.2f} {load[1]:.2f}",
        flush=True,
    )
    rows = []
    for db in [d.strip() for d in args.db.split(",") if d.strip()]:
        t = time.monotonic()
        print(f"## {db}", file=sys.stderr, flush=True)
        res = run_child(db, args)
        seeded = res["seed"]
        note = (
            f"seeded in {seeded['seed_s']} s ({seeded['rows_per_s']:,} rows/s)"
            if seeded
            else "cached database reused"
        )
        print(f"{db}: {note}; run {time.monotonic() - t:.0f} s", flush=True)
        for r in res["results"]:
            rows.append((db, r))
    print()
    print(
        "| db | user | kinds | queries | p50 ms | p95 ms | max ms | c+c p50/p95 | c+r p50/p95 | r+r p50/p95 | hits/query |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for db, r in rows:
        bc = r["by_class"]

        def cell(name: str, bc=bc) -> str:
            p50, p95 = bc.get(name, (float("nan"), float("nan")))
            return f"{p50:.1f} / {p95:.1f}"

        print(
            f"| {db} | {r['user']} | {r['kind']} | {r['n']} | {r['p50']:.1f} | {r['p95']:.1f} | "
            f"{r['max']:.1f} | {cell('common+common')} | {cell('common+rare')} | "
            f"{cell('rare+rare')} | {r['avg_hits']:.1f} |"
        )
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
