"""Fixtures of the incident flow (tests/e2e/test_incident_flow.py): a real SMTP listener
(aiosmtpd), a real chat-webhook receiver (a local HTTP server), and a real `caseline serve`
plus a real `caseline worker` (huey consumer) sharing the test's database and a file-backed
queue, with the outbound mail and the webhooks pointing at the two listeners."""

from __future__ import annotations

import email
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.e2e.conftest import _status

TIMEOUT = 90.0  # a loaded machine: generous, never part of an assertion


def wait_for(condition: Callable[[], object], what: str, *logs: Path, timeout: float = TIMEOUT):
    """Poll a condition (a database row, a received mail) until it holds; the failure
    message carries the tails of the processes' logs."""
    started = time.monotonic()
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() - started > timeout:
            detail = "\n".join(
                f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}"
                for log in logs
                if log.exists()
            )
            raise AssertionError(f"timed out waiting for {what}\n{detail}")
        time.sleep(0.1)


# --- the SMTP listener ---------------------------------------------------------------------


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""


@dataclass
class SMTPSink:
    """Keeps every message the listener accepted (aiosmtpd handler)."""

    mails: list[Mail] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        msg = email.message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), msg))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Mail]:
        with self.lock:
            return [m for m in self.mails if address in m.rcpt_tos]


@pytest.fixture
def smtp_sink():
    from aiosmtpd.controller import Controller

    sink = SMTPSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    sink.port = controller.port  # type: ignore[attr-defined]
    try:
        yield sink
    finally:
        controller.stop()


# --- the chat-webhook receiver -------------------------------------------------------------


@dataclass
class Post:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class HookReceiver:
    url: str = ""
    posts: list[Post] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self) -> list[Post]:
        with self.lock:
            return list(self.posts)


@pytest.fixture
def hook_receiver():
    rec = HookReceiver()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with rec.lock:
                rec.posts.append(Post(self.path, dict(self.headers.items()), body))
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/chat"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()


# --- server and worker ---------------------------------------------------------------------


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


@dataclass
class Stack:
    base: str
    serve_log: Path
    worker_log: Path

    @property
    def logs(self) -> tuple[Path, Path]:
        return (self.serve_log, self.worker_log)


@pytest.fixture
def incident_stack(subprocess_env, tmp_path, smtp_sink, hook_receiver):
    """`caseline serve` and `caseline worker` on the test's database and one file-backed
    queue: the web process writes outbox rows and detection tasks, the worker delivers
    the mail over SMTP to ``smtp_sink`` and the chat posts to ``hook_receiver`` (a loopback
    address, hence WEBHOOK_ALLOW_PRIVATE=1, docs/webhooks.md)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(subprocess_env)
    env.pop("CASELINE_TIME_FILE", None)  # real, flowing time: the browser's clock agrees
    env.pop("EMAIL_BACKEND", None)
    env.update(
        LOG_LEVEL="WARNING",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp_sink.port),
        WEBHOOK_ALLOW_PRIVATE="1",
        PORTAL_BASE_URL=base,
        INCIDENT_BASE_URL=base,
    )
    serve_log, worker_log = tmp_path / "serve.log", tmp_path / "worker.log"
    serve = worker = None
    try:
        with open(serve_log, "wb") as out:
            serve = subprocess.Popen(
                [sys.executable, "-m", "caseline", "serve", "--host", "127.0.0.1",
                 "--port", str(port)],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        with open(worker_log, "wb") as out:
            worker = subprocess.Popen(
                [sys.executable, "-m", "caseline", "worker", "--workers", "2"],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

        def up() -> bool:
            if serve.poll() is not None or worker.poll() is not None:
                raise AssertionError(
                    f"a process died:\n{serve_log.read_text()[-3000:]}\n"
                    f"{worker_log.read_text()[-3000:]}"
                )
            return _status(f"{base}/healthz") == 200

        wait_for(up, "the server", serve_log, worker_log)
        yield Stack(base=base, serve_log=serve_log, worker_log=worker_log)
    finally:
        _stop(worker)
        _stop(serve)
