"""Broadcast to 2,000 linked tickets: time from the call until a real SMTP listener has
accepted every mail and every chat-webhook receiver has answered 2xx (target <= 30 s).

Per database (SQLite file, PostgreSQL): a fresh database is migrated and seeded through the
services (each ticket: a requester, a CC contact -- the customer follower --, a Sev-1 SLA
policy with next-reply and periodic-update clocks running after the customer's second
message); an incident linking every ticket is declared; two chat webhooks point at a local
HTTP server. Then, timed:

  ``broadcasts.send_broadcast`` (one transaction: the public message on each ticket, the
  SLA clocks, the outbox rows) -> after its commit the real worker path delivers: ``caseline
  worker`` (huey consumer subprocesses reading the SQLite queue) runs the outbox tasks,
  Django's SMTP backend talks to an aiosmtpd listener running in this process, the chat
  posts go to a ThreadingHTTPServer in this process.

The clock stops when the listener has accepted one mail per ticket and the receiver has
answered every chat post with 200. Figures are printed as JSON.

Usage:  .venv/bin/python bench/broadcast_bench.py [--tickets 2000] [--db sqlite,postgres]
        [--workers 2] [--threads 4]
Never part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG_DB = "h_bcast_bench"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    def __init__(self) -> None:
        self.count = 0
        self.recipients = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        with self.lock:
            self.count += 1
            self.recipients += len(envelope.rcpt_tos)
        return "250 Message accepted for delivery"


def _chat_server(counter: dict) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            json.loads(body)
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
            with counter["lock"]:
                counter["ok"] += 1

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def seed(n: int) -> tuple[int, list[int]]:
    from django.db import transaction

    from caseline.accounts import roles
    from caseline.accounts.models import Contact, ContactEmail, Organization, User
    from caseline.sla import config
    from caseline.tickets import services as tickets

    im = User.objects.create_user(
        username="im@bench.test", email="im@bench.test", password="x" * 12
    )
    from django.contrib.auth.models import Group

    im.groups.add(Group.objects.get(name=roles.INCIDENT_MANAGER))
    agent = User.objects.create_user(
        username="se@bench.test", email="se@bench.test", password="x" * 12
    )
    agent.groups.add(Group.objects.get(name=roles.SE))
    config.create_policy(
        None,
        name="Sev-1 next reply",
        position=1,
        role="support_engineer",
        severities=[1],
        targets=[
            {"kind": "next_reply", "seconds": 1800, "business": False, "calendar": "24x7"},
            {"kind": "periodic_update", "seconds": 3600, "business": False, "calendar": "24x7"},
        ],
    )
    ids: list[int] = []
    orgs = [Organization.objects.create(name=f"Org {i}", include_sc=False) for i in range(100)]
    for start in range(0, n, 100):
        with transaction.atomic():
            for i in range(start, min(n, start + 100)):
                org = orgs[i % len(orgs)]
                req = Contact.objects.create(name=f"Req {i}", organization=org)
                ContactEmail.objects.create(contact=req, email=f"req{i}@cust.test", is_primary=True)
                cc = Contact.objects.create(name=f"CC {i}", organization=org)
                ContactEmail.objects.create(contact=cc, email=f"cc{i}@cust.test", is_primary=True)
                t = tickets.create_ticket(
                    actor=agent,
                    requester=req,
                    subject=f"Replication down #{i}",
                    severity=1,
                    body_text="Nothing replicates.",
                    channel="web",
                    organization=org,
                    assignee=agent,
                )
                tickets.add_cc(t, cc, actor=agent)
                tickets.add_message(t, author_contact=req, body_text="Any news?")
                ids.append(t.pk)
    return im.pk, ids


def child(args) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    from aiosmtpd.controller import Controller

    from caseline.accounts.models import User
    from caseline.incidents import broadcasts, services
    from caseline.notify.models import OutboxMessage
    from caseline.sla.models import Clock

    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=settings.EMAIL_PORT)
    controller.start()
    counter = {"ok": 0, "lock": threading.Lock()}
    http = _chat_server(counter)
    t = time.perf_counter()
    im_id, ids = seed(args.tickets)
    im = User.objects.get(pk=im_id)
    inc = services.declare_incident(im, title="EU-West replication outage", ticket_ids=ids)
    hooks = [
        broadcasts.create_chat_webhook(
            im, name=f"#incident-{k}", url=f"http://127.0.0.1:{http.server_address[1]}/hook/{k}"
        )
        for k in range(2)
    ]
    seed_s = time.perf_counter() - t
    OutboxMessage.objects.all().delete()  # paging mails of the declaration: not measured
    sink.count = sink.recipients = 0

    env = dict(os.environ)
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "caseline", "worker", "--workers", str(args.threads)]
            + (["--no-periodic"] if k else []),
            env=env,
            cwd=str(ROOT),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for k in range(args.workers)
    ]
    time.sleep(3)  # consumers up
    try:
        profile = None
        if os.environ.get("BENCH_PROFILE"):
            import cProfile

            profile = cProfile.Profile()
            profile.enable()
        t0 = time.perf_counter()
        b = broadcasts.send_broadcast(
            inc.pk,
            im,
            body="Replication in EU-West is failing; a fix is being rolled out.",
        )
        call_s = time.perf_counter() - t0
        if profile is not None:
            import pstats

            profile.disable()
            pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_stats(45)
        expected_mails = b.ticket_count
        deadline = time.perf_counter() + (600 if args.workers else 0)
        while time.perf_counter() < deadline:
            if sink.count >= expected_mails and counter["ok"] >= len(hooks):
                break
            time.sleep(0.02)
        total_s = time.perf_counter() - t0
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(10)
        controller.stop()
        http.shutdown()
    states = {
        s: OutboxMessage.objects.filter(status=s).count() for s in ("pending", "sent", "failed")
    }
    fulfilled = Clock.objects.filter(kind="next_reply", state="fulfilled").count()
    from django.db import connection

    print(
        json.dumps(
            {
                "db": connection.vendor,
                "tickets": b.ticket_count,
                "seed_s": round(seed_s, 1),
                "call_s": round(call_s, 2),
                "all_delivered_s": round(total_s, 2),
                "mails_accepted": sink.count,
                "mail_recipients": sink.recipients,
                "chat_2xx": counter["ok"],
                "outbox": states,
                "next_reply_clocks_fulfilled": fulfilled,
                "huey_consumers": args.workers,
                "threads_each": args.threads,
                "target_s": 30,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=2000)
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--workers", type=int, default=2, help="huey consumer processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per consumer")
    parser.add_argument("--child", action="store_true")
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    from bench.benchlib import process_env

    for db in args.db.split(","):
        with tempfile.TemporaryDirectory(prefix="bcast-bench-") as tmp:
            env = process_env(db, Path(tmp), PG_DB)
            env.update(
                EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
                EMAIL_HOST="127.0.0.1",
                EMAIL_PORT=str(_free_port()),
                WEBHOOK_ALLOW_PRIVATE="1",
                LOG_LEVEL="ERROR",
            )
            cmd = [sys.executable, __file__, "--child", "--tickets", str(args.tickets)]
            cmd += ["--workers", str(args.workers), "--threads", str(args.threads)]
            out = subprocess.run(cmd, env=env, cwd=str(ROOT), capture_output=True, text=True)
            if out.returncode != 0:
                print(out.stdout[-2000:], out.stderr[-4000:], file=sys.stderr)
                raise SystemExit(out.returncode)
            print(out.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
