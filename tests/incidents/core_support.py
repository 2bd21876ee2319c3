"""Fixtures of the incident core tests (imported by test_services/test_api/test_paging/
test_views): controlled time, a world with regions, rotas, organizations, tickets and
staff of every incident-relevant role, a real local HTTP receiver for the paging gateway."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from caseline import timesource

# Tuesday 24 March 2026 10:00 UTC.
T0 = datetime(2026, 3, 24, 10, 0, 0, tzinfo=UTC)


@pytest.fixture
def frozen(tmp_path, monkeypatch):
    from caseline.sla import calendars

    monkeypatch.setenv(timesource.ENV_VAR, str(tmp_path / "time.json"))
    timesource.set_time(T0)
    calendars.invalidate()
    yield T0
    calendars.invalidate()


class World:
    pass


@pytest.fixture
def world(db, make_staff, frozen):
    from caseline.accounts import roles
    from caseline.accounts.models import Contact, Organization, ProductArea, Region
    from caseline.oncall.models import Override, Schedule
    from caseline.tickets.models import Message, Ticket

    w = World()
    w.emea = Region.objects.create(code="EMEA", name="EMEA", handoff_order=2)
    w.amer = Region.objects.create(code="AMER", name="Americas", handoff_order=3)
    w.orgs = [
        Organization.objects.create(name=f"Org {c}", include_sc=False, region=w.emea) for c in "ABC"
    ]
    w.area = ProductArea.objects.create(name="Sync Inc", slug="sync-inc")
    w.area2 = ProductArea.objects.create(name="Login Inc", slug="login-inc")
    w.im = make_staff(roles.INCIDENT_MANAGER, email="im@caseline.test", first_name="Ida")
    w.im2 = make_staff(roles.INCIDENT_MANAGER, email="im2@caseline.test", first_name="Ivo")
    w.sm = make_staff(roles.SUPPORT_MANAGER, email="sm@caseline.test", first_name="Sam")
    w.agent = make_staff(roles.SE, email="agent@caseline.test", first_name="Ann")
    w.agent2 = make_staff(roles.SE, email="agent2@caseline.test", first_name="Ben")
    w.exec = make_staff(roles.EXECUTIVE, email="exec@caseline.test")
    # On duty now: EMEA primary -> e1, EMEA secondary -> e2, AMER -> a1.
    w.e1 = make_staff(roles.SE, email="e1@caseline.test", first_name="Eva", region=w.emea)
    w.e2 = make_staff(roles.SE, email="e2@caseline.test", first_name="Emil", region=w.emea)
    w.a1 = make_staff(roles.SE, email="a1@caseline.test", first_name="Abe", region=w.amer)
    for name, region, user in (
        ("EMEA primary", w.emea, w.e1),
        ("EMEA secondary", w.emea, w.e2),
        ("AMER primary", w.amer, w.a1),
    ):
        s = Schedule.objects.create(name=name, region=region, time_zone="UTC")
        Override.objects.create(
            schedule=s, user=user, start=T0 - timedelta(days=1), end=T0 + timedelta(days=2)
        )

    def ticket(org=None, **fields):
        org = org or w.orgs[0]
        contact = Contact.objects.create(name=f"Contact of {org.name}", organization=org)
        t = Ticket.objects.create(
            subject=fields.pop("subject", "Sync fails with error 500"),
            requester=contact,
            organization=org,
            product_area=fields.pop("product_area", w.area),
            **fields,
        )
        Message.objects.create(ticket=t, kind="public", author_contact=contact, body_text="Help")
        return t

    w.ticket = ticket
    return w


@dataclass
class Receiver:
    url: str = ""
    requests: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]


@pytest.fixture
def receiver(settings):
    """A real HTTP server on 127.0.0.1 standing in for the paging / SMS gateway."""
    settings.WEBHOOK_ALLOW_PRIVATE = True
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with rec.lock:
                rec.requests.append({"headers": dict(self.headers.items()), "body": body})
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/page"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()


def events(type_: str, incident_id: int | None = None):
    from caseline.audit.models import AuditEvent

    qs = AuditEvent.objects.filter(type=type_)
    if incident_id is not None:
        qs = qs.filter(subject_type="incident", subject_id=incident_id)
    return list(qs.order_by("id"))


def outbox(prefix: str):
    from caseline.notify.models import OutboxMessage

    return list(OutboxMessage.objects.filter(idempotency_key__startswith=prefix).order_by("id"))
