"""Fixtures of the broadcast and status-page tests (imported by their modules): a real
SMTP listener (aiosmtpd), a real HTTP receiver for chat webhooks, frozen time, and a world
of Sev-1 tickets with requesters, CCs and staff followers whose SLA clocks run."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import Message as EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from caseline import timesource

T0 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


class SMTPSink:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"

    def parsed(self) -> list[tuple[list[str], EmailMessage]]:
        with self.lock:
            return [
                (rcpts, message_from_bytes(raw, policy=policy.default))
                for _f, rcpts, raw in self.messages
            ]


@pytest.fixture
def smtp(settings):
    """A real SMTP listener; Django's SMTP backend sends to it."""
    from aiosmtpd.controller import Controller

    from tests.conftest import free_port

    port = free_port()
    sink = SMTPSink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_TIMEOUT = 5
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    try:
        yield sink
    finally:
        controller.stop()


class ChatReceiver:
    def __init__(self) -> None:
        self.url = ""
        self.bodies: list[dict] = []
        self.status = 200
        self.lock = threading.Lock()


@pytest.fixture
def chat(settings):
    """A real local HTTP server standing in for a Slack incoming webhook."""
    settings.WEBHOOK_ALLOW_PRIVATE = True
    rec = ChatReceiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with rec.lock:
                rec.bodies.append(json.loads(body))
            self.send_response(rec.status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/XXXX"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def frozen(tmp_path, monkeypatch):
    from caseline.sla import calendars

    monkeypatch.setenv(timesource.ENV_VAR, str(tmp_path / "time.json"))
    timesource.set_time(T0, frozen=True)
    calendars.invalidate()
    yield T0
    calendars.invalidate()


class World:
    pass


@pytest.fixture
def world(db, make_staff, frozen):
    """Three Sev-1 tickets of three organizations (requester + a CC contact + a staff
    follower each), each waiting for our reply: next-reply (30 min) and periodic-update
    (1 h) clocks running on a 24x7 policy."""
    from caseline.accounts import roles
    from caseline.accounts.models import Contact, ContactEmail, Organization
    from caseline.sla import config
    from caseline.tickets import services as tickets

    w = World()
    w.im = make_staff(roles.INCIDENT_MANAGER, email="im@caseline.test")
    w.agent = make_staff(roles.SE, email="agent@caseline.test")
    w.follower = make_staff(roles.SE, email="follower@caseline.test")
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
    w.tickets = []
    for i, name in enumerate(("acme", "globex", "initech")):
        org = Organization.objects.create(name=f"{name.title()} BC", include_sc=False)
        req = Contact.objects.create(name=f"Req {name}", organization=org)
        ContactEmail.objects.create(contact=req, email=f"req@{name}.test", is_primary=True)
        cc = Contact.objects.create(name=f"CC {name}", organization=org)
        ContactEmail.objects.create(contact=cc, email=f"cc@{name}.test", is_primary=True)
        t = tickets.create_ticket(
            actor=w.agent,
            requester=req,
            subject=f"Replication down {i}",
            severity=1,
            body_text="Nothing replicates since 08:50.",
            channel="web",
            organization=org,
            assignee=w.agent,
        )
        tickets.add_cc(t, cc, actor=w.agent)
        tickets.add_follower(t, w.follower, actor=w.agent)
        tickets.add_message(t, actor=w.agent, body_text="Looking into it now.")
        tickets.add_message(t, author_contact=req, body_text="Any news? Still down.")
        w.tickets.append(t)
    return w


def declare(w, **kw):
    from caseline.incidents import services

    kw.setdefault("title", "Replication outage")
    kw.setdefault("severity", 1)
    kw.setdefault("ticket_ids", [t.pk for t in w.tickets])
    return services.declare_incident(w.im, **kw)
