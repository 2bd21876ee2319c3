"""Multi-customer detection per new ticket against 50,000 tickets of the last 24 h
(issue 7; target p95 <= 50 ms). Prints p50/p95/p99.

1. pure: ``caseline.text.similar.Detector`` holding 50,000 generated tickets; per new
   ticket: detect (query + decision + cluster expansion) and add.
2. django (SQLite and PostgreSQL, each a fresh database in a child process): 50,000
   tickets + first messages bulk-inserted over the last 24 h; the first ``detector()`` call
   (build from the database); then per new ticket (inserted untimed):
   ``detection.propose_for_ticket(id)`` — the incremental refresh by id, the detection and,
   when it matches, the proposal rows, audit event and emails; plus a refresh with nothing
   new and ``similar_for_ticket`` (the panel / API read).

    .venv/bin/python bench/detection_bench.py [--db pure|sqlite|postgres|all] [--n 50000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# --------------------------------------------------------------------------- generator

AREAS = {
    "Replication": (
        ["replication", "consistency group", "replica", "failover", "RPO", "DR site", "lag"],
        ["cg-{w}-{n}", "vol-{w}-{n}"],
    ),
    "Backup & Restore": (
        ["backup job", "restore", "snapshot", "vault", "retention", "immutable copy"],
        ["vol-{w}-{n}", "job-{w}-{n}", "snap-{n}{n}{n}"],
    ),
    "Billing": (
        ["invoice", "credit card", "refund", "VAT", "subscription", "purchase order"],
        ["INV-2026-{n}{n}{n}{n}", "PO {n}{n}{n}{n}"],
    ),
    "Identity & SSO": (
        ["SSO", "SAML", "Okta", "MFA", "SCIM", "login", "session timeout", "password reset"],
        ["user {w}", "group {w}"],
    ),
    "Networking": (
        ["VPN tunnel", "DNS", "TLS certificate", "firewall", "proxy", "latency", "MTU"],
        ["{n}{n}.{n}.{n}.0/24", "gw-{w}-{n}"],
    ),
    "Reporting": (
        ["scheduled report", "dashboard", "CSV export", "PDF export", "chart", "forecast"],
        ["report-{w}", "widget {w}"],
    ),
    "API": (
        ["API token", "webhook", "rate limit", "pagination", "SDK", "endpoint /v2/{w}"],
        ["/v2/{w}", "HTTP {e}"],
    ),
}
WORDS = (
    "prod dev test archive erp crm web shop media finance hr ops analytics billing "
    "sales plant lab edge core mail db cache files video docs"
).split()
ERRORS = ["500", "502", "503", "429", "401", "403", "404", "409"]
FAULTS = [
    "{t} fails with error {e} since {h}:00 UTC",
    "{t} stopped working this morning",
    "{t} is very slow, timeouts on {id}",
    "cannot access {t} anymore, error {e}",
    "{t} broken after the upgrade to 7.{n}",
    "{t} shows unavailable for {id}",
    "{t} returns an error for {id}",
    "{t} schlägt seit heute fehl ({id})",
    "{t} funktioniert nicht mehr, Fehler {e}",
]
QUESTIONS = [
    "How do we configure {t} for {id}?",
    "Can we change the {t} settings of {id}?",
    "What is the recommended {t} setup for {w}?",
    "Is there documentation for {t}?",
    "Where do I find the {t} of {id}?",
    "Wie richten wir {t} für {id} ein?",
    "Please send us the {t} details for {id}.",
]
FILLER = [
    "We have not changed anything on our side.",
    "This affects our {w} team.",
    "Please advise as soon as possible.",
    "Screenshot attached.",
    "Our auditors are asking about it.",
    "It worked fine last week.",
    "We are on the enterprise plan.",
    "Thanks in advance for your help.",
    "Bitte um kurze Rückmeldung.",
    "Vielen Dank im Voraus.",
]


def _fill(tpl: str, rng: random.Random, topic: str, ident: str) -> str:
    return tpl.format(
        t=topic,
        id=ident,
        e=rng.choice(ERRORS),
        h=rng.randrange(24),
        n=rng.randrange(10),
        w=rng.choice(WORDS),
    )


_SYL = "ka lo ri ven tor mi sa del bra qu ex on ar fel gan hu ist jor lek mun".split()
_NAMES = "Anna Ben Chen Dana Eli Farah Goran Hana Ivo Jana Kofi Lena Mateo Nora Omar Pia".split()


def _pseudo(rng: random.Random) -> str:
    """A customer-specific name (host, project, product code): what real tickets are full
    of and what gives a real corpus its large vocabulary."""
    return "".join(rng.choice(_SYL) for _ in range(rng.randint(2, 4)))


def _sentences() -> dict[str, list[str]]:
    """Sentences of the hand-written labelled tickets, by product area (real phrasing)."""
    import re

    pool: dict[str, list[str]] = {}
    for name in ("tickets.jsonl", "tickets_round2.jsonl"):
        path = ROOT / "tests" / "fixtures" / "incidents" / name
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            for sent in re.split(r"(?<=[.!?])\s+|\n+", row["body"]):
                if len(sent.split()) >= 4:
                    pool.setdefault(row["area"], []).append(sent.strip())
    return pool


SENTENCES = _sentences()


def make_ticket(rng: random.Random) -> tuple[str, str]:
    area = rng.choice(list(AREAS))
    topics, idents = AREAS[area]
    topic = rng.choice(topics).format(w=rng.choice(WORDS))
    ident = rng.choice(idents).format(w=_pseudo(rng), n=rng.randrange(10), e=rng.choice(ERRORS))
    tpl = rng.choice(FAULTS if rng.random() < 0.3 else QUESTIONS)
    subject = _fill(tpl, rng, topic, ident)
    pool = SENTENCES.get(area) or SENTENCES["API"]
    body = " ".join(
        [_fill(rng.choice(FAULTS + QUESTIONS), rng, topic, ident)]
        + rng.sample(pool, min(len(pool), rng.randint(1, 3)))
        + [f"Host srv-{_pseudo(rng)}-{rng.randrange(100):02d}, project {_pseudo(rng)}."]
        + [_fill(f, rng, topic, ident) for f in rng.sample(FILLER, 1)]
        + [rng.choice(_NAMES)]
    )
    return subject[:290], body


def dataset(n: int, seed: int = 7) -> list[tuple[str, str, str, float]]:
    """(org key, subject, body, seconds ago) for ``n`` tickets of the last 24 h, of which
    5% belong to 25 outage bursts of many organizations (reworded copies)."""
    rng = random.Random(seed)
    out = []
    bursts = [make_ticket(rng) for _ in range(25)]
    for _ in range(n):
        org = f"o{rng.randrange(2000)}"
        ago = rng.uniform(0, 86_000)
        if rng.random() < 0.05:
            s, b = rng.choice(bursts)
            words = b.split()
            rng.shuffle(words)
            out.append((org, s, " ".join(words[:25]), ago))
        else:
            s, b = make_ticket(rng)
            out.append((org, s, b, ago))
    return out


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def summary(name: str, ms: list[float]) -> str:
    return (
        f"{name:<44} n={len(ms):>5}  p50 {pct(ms, 50):7.2f} ms  p95 {pct(ms, 95):7.2f} ms  "
        f"p99 {pct(ms, 99):7.2f} ms  max {max(ms):7.2f} ms  mean {statistics.fmean(ms):6.2f}"
    )


# --------------------------------------------------------------------------- pure


def bench_pure(n: int, queries: int) -> None:
    from caseline.text.similar import Detector

    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    data = dataset(n)
    det = Detector(window=timedelta(hours=24), history=timedelta(hours=24))
    t0 = time.perf_counter()
    det.add_many(
        [
            (key, org, now - timedelta(seconds=ago), s, b)
            for key, (org, s, b, ago) in enumerate(sorted(data, key=lambda d: -d[3]), start=1)
        ]
    )
    build = time.perf_counter() - t0
    print(
        f"pure: indexed {len(det):,} tickets in {build:.1f} s "
        f"({len(det) / build:,.0f}/s), vocabulary {det.index.vocabulary_size():,} terms"
    )
    rng = random.Random(99)
    fresh = dataset(queries, seed=1234)
    detect_ms: list[float] = []
    detect_cpu: list[float] = []
    observe_ms: list[float] = []
    proposed = 0
    for i, (org, s, b, _) in enumerate(fresh):
        at = now + timedelta(seconds=i)
        key = n + 1 + i
        t, c = time.perf_counter(), time.process_time()
        found = det.detect(key, org, at, s, b)
        detect_ms.append((time.perf_counter() - t) * 1000)
        detect_cpu.append((time.process_time() - c) * 1000)
        t = time.perf_counter()
        det.observe(key, org, at, s, b)
        observe_ms.append((time.perf_counter() - t) * 1000)
        proposed += bool(found.links)
        if rng.random() < 0.01:
            det.expire(at)
    print(summary("pure detect per new ticket (wall)", detect_ms))
    print(summary("pure detect per new ticket (CPU)", detect_cpu))
    print(summary("pure observe (expire+detect+add+join)", observe_ms))
    print(f"  {proposed} of {queries} new tickets got a proposal")


# --------------------------------------------------------------------------- django


def django_child(n: int, queries: int) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from caseline.accounts.models import Contact, Organization
    from caseline.incidents import detection
    from caseline.tickets.models import Message, Ticket
    from caseline.timesource import now

    call_command("migrate", verbosity=0)
    orgs = Organization.objects.bulk_create(
        [Organization(name=f"Bench org {i}", include_sc=False) for i in range(2000)]
    )
    contacts = Contact.objects.bulk_create(
        [Contact(name=f"Bench contact {i}", organization=o) for i, o in enumerate(orgs)]
    )
    by_key = {f"o{i}": (orgs[i], contacts[i]) for i in range(len(orgs))}
    at = now()
    data = sorted(dataset(n), key=lambda d: -d[3])
    t0 = time.perf_counter()
    for start in range(0, len(data), 5000):
        chunk = data[start : start + 5000]
        with transaction.atomic():
            tickets = Ticket.objects.bulk_create(
                [
                    Ticket(
                        subject=s,
                        requester=by_key[o][1],
                        organization=by_key[o][0],
                        created_at=at - timedelta(seconds=ago),
                        updated_at=at - timedelta(seconds=ago),
                    )
                    for o, s, b, ago in chunk
                ]
            )
            Message.objects.bulk_create(
                [
                    Message(
                        ticket=t,
                        kind="public",
                        author_contact=t.requester,
                        body_text=d[2],
                        created_at=t.created_at,
                    )
                    for t, d in zip(tickets, chunk, strict=True)
                ]
            )
    print(f"  inserted {n:,} tickets + messages in {time.perf_counter() - t0:.1f} s")
    with connection.cursor() as cur:  # what autovacuum / a production database has done
        cur.execute("ANALYZE")
    os.environ["CASELINE_DETECTION_IDF_HOURS"] = "24"
    detection.reset()
    t0 = time.perf_counter()
    det = detection.detector()
    print(
        f"  first detector(): built from the database in {time.perf_counter() - t0:.2f} s "
        f"({len(det):,} tickets)"
    )
    noop: list[float] = []
    noop_cpu: list[float] = []
    for _ in range(200):
        t, c = time.perf_counter(), time.process_time()
        detection.detector()
        noop.append((time.perf_counter() - t) * 1000)
        noop_cpu.append((time.process_time() - c) * 1000)
    print(summary("refresh with nothing new (wall)", noop))
    print(summary("refresh with nothing new (CPU)", noop_cpu))
    fresh = dataset(queries, seed=1234)
    propose_ms: list[float] = []
    propose_cpu: list[float] = []
    similar_ms: list[float] = []
    made = 0
    for o, s, b, _ in fresh:
        org, contact = by_key[o]
        with transaction.atomic():
            t_new = Ticket.objects.create(subject=s, requester=contact, organization=org)
            Message.objects.create(ticket=t_new, kind="public", author_contact=contact, body_text=b)
        t, c = time.perf_counter(), time.process_time()
        p = detection.propose_for_ticket(t_new.pk)
        propose_ms.append((time.perf_counter() - t) * 1000)
        propose_cpu.append((time.process_time() - c) * 1000)
        made += p is not None
        t = time.perf_counter()
        detection.similar_for_ticket(t_new.pk)
        similar_ms.append((time.perf_counter() - t) * 1000)
    print(summary(f"{connection.vendor}: propose_for_ticket (wall)", propose_ms))
    print(summary(f"{connection.vendor}: propose_for_ticket (CPU, this process)", propose_cpu))
    print(summary(f"{connection.vendor}: similar_for_ticket (panel/API)", similar_ms))
    print(f"  {made} of {queries} new tickets got a proposal (rows, audit, emails written)")


def run_django(backend: str, n: int, queries: int) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from benchlib import process_env

    with tempfile.TemporaryDirectory() as tmp:
        env = process_env(backend, Path(tmp), "bench_detection")
        (Path(tmp) / "data").mkdir()
        print(f"django ({backend}):", flush=True)
        subprocess.run(
            [sys.executable, __file__, "--child", "--n", str(n), "--queries", str(queries)],
            env=env,
            check=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default="all", choices=["pure", "sqlite", "postgres", "all"])
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--child", action="store_true")
    args = ap.parse_args()
    if args.child:
        django_child(args.n, args.queries)
        return
    print(json.dumps({"n": args.n, "queries": args.queries, "load": os.getloadavg()}))
    if args.db in ("pure", "all"):
        bench_pure(args.n, args.queries)
    for backend in ("sqlite", "postgres"):
        if args.db in (backend, "all"):
            run_django(backend, args.n, min(args.queries, 300))


if __name__ == "__main__":
    main()
