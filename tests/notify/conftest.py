"""Fixtures of the notify tests: a real HTTP receiver, a real SMTP listener, controlled time."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from caseline import timesource


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float  # product time (caseline.timesource) when it arrived


@dataclass
class Receiver:
    """A local HTTP server on 127.0.0.1 that records every request.

    ``statuses`` is consumed one per request (then ``default_status``); ``delay`` makes the
    handler wait before answering (for the concurrent-claim test).
    """

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    default_status: int = 200
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def keys(self) -> list[str]:
        return [r.headers.get("Idempotency-Key", "") for r in self.requests]


def _handler_for(receiver: Receiver):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with receiver.lock:
                receiver.requests.append(
                    Received(
                        path=self.path,
                        headers={k: v for k, v in self.headers.items()},
                        body=body,
                        received_at=timesource.now().timestamp(),
                    )
                )
                status = receiver.statuses.pop(0) if receiver.statuses else receiver.default_status
            if receiver.delay:
                threading.Event().wait(receiver.delay)
            payload = b'{"ok": true}' if status < 400 else b"receiver says no"
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):  # keep test output clean
            pass

    return Handler


@pytest.fixture(autouse=True)
def _allow_private_webhooks(settings):
    """The receiver listens on 127.0.0.1, which webhooks may target only with
    WEBHOOK_ALLOW_PRIVATE on; the SSRF tests switch it off again."""
    settings.WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def receiver():
    rec = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(rec))
    server.daemon_threads = True
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/caseline"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()


T0 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


@pytest.fixture
def frozen_time(tmp_path, monkeypatch):
    """Product time frozen at T0 for this process; ``frozen_time.advance(s)`` moves it."""
    monkeypatch.setenv(timesource.ENV_VAR, str(tmp_path / "time.json"))
    timesource.set_time(T0, frozen=True)
    return timesource


class SMTPSink:
    """aiosmtpd handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_port():
    from tests.conftest import free_port

    return free_port()


@pytest.fixture
def smtp_server_factory():
    """Start a real SMTP listener (aiosmtpd) on 127.0.0.1:<port> when called."""
    from aiosmtpd.controller import Controller

    started = []

    def start(port: int) -> SMTPSink:
        sink = SMTPSink()
        controller = Controller(sink, hostname="127.0.0.1", port=port)
        controller.start()
        started.append(controller)
        return sink

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture
def make_webhook(db):
    from caseline.notify.models import Webhook

    def make(url: str, event_types=("*",), **fields) -> Webhook:
        return Webhook.objects.create(
            name=fields.pop("name", "Receiver"),
            url=url,
            secret=fields.pop("secret", "test-secret-0123456789"),
            event_types=list(event_types),
            **fields,
        )

    return make
