"""At-least-once delivery across a real crash.

A web-like process writes the outbox row (through a real service, after commit the id goes
to the file-backed queue); a real worker (`caseline worker`) with
CASELINE_FAULT=crash-after-send delivers and dies (exit 70) before marking the row. The row
stays pending under its lease. Time moves past the lease, `caseline clock --once` sweeps the
row back into the queue, a healthy worker delivers it again: same idempotency key (the
webhook's Idempotency-Key header / the email's Message-ID), and the row is sent.
"""

from __future__ import annotations

import email
import subprocess
import sys
import time
from email import policy
from pathlib import Path

import pytest
from django.conf import settings

from caseline import timesource
from caseline.notify import services
from caseline.notify.models import OutboxMessage, Webhook
from caseline.notify.signing import verify_signature

pytestmark = pytest.mark.subprocess

TIMEOUT = 60.0


def run_caseline(env, *args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "caseline", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_worker(env, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "caseline", "worker", "--workers", "1"],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def wait_for(condition, what: str, proc=None, log: Path | None = None) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        if time.monotonic() > deadline:
            detail = log.read_text()[-3000:] if log and log.exists() else ""
            raise AssertionError(f"timed out waiting for {what}\n{detail}")
        time.sleep(0.1)


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


WRITE_WEBHOOK_EVENT = (
    "from caseline.accounts.services import create_organization; "
    "create_organization(name='Crashtest Industries')"
)
WRITE_EMAIL = (
    "from django.db import transaction; "
    "from caseline.notify.services import enqueue_email; "
    "exec('with transaction.atomic():\\n"
    '    enqueue_email(key="ticket-5-reply-2", to=["ana@customer.example"], '
    'subject="Re: [#5] lag", text="We found it.")\')'
)


def crash_then_redeliver(env, tmp_path, monkeypatch, write_code: str, delivered, row_filter):
    # The test shares the subprocesses' controlled time (it flows; offset 0 for now).
    monkeypatch.setenv(timesource.ENV_VAR, env["CASELINE_TIME_FILE"])
    crashing = None
    healthy = None
    try:
        result = run_caseline(env, "shell", "-c", write_code)
        assert result.returncode == 0, result.stderr
        row = OutboxMessage.objects.get(**row_filter)
        assert row.status == "pending" and row.attempts == 0

        crash_log = tmp_path / "worker-crash.log"
        crashing = start_worker(dict(env, CASELINE_FAULT="crash-after-send"), crash_log)
        wait_for(lambda: crashing.poll() is not None, "the worker to crash", log=crash_log)
        assert crashing.returncode == services.CRASH_EXIT_CODE, crash_log.read_text()[-3000:]
        assert len(delivered()) == 1  # it did send ...
        row.refresh_from_db()
        assert row.status == "pending" and row.sent_at is None  # ... but never marked it
        assert row.attempts == 0 and row.claimed_until is not None

        # Still leased: the sweeper leaves it alone.
        swept = run_caseline(env, "clock", "--once")
        assert swept.returncode == 0, swept.stderr
        assert OutboxMessage.objects.get(pk=row.pk).enqueued_at == row.enqueued_at
        healthy_log = tmp_path / "worker-healthy.log"
        # Past the lease and the sweep delay, for every process sharing the time file.
        timesource.advance(max(services.lease_seconds(), settings.OUTBOX_SWEEP_AFTER_SECONDS) + 5)
        swept = run_caseline(env, "clock", "--once")
        assert swept.returncode == 0, swept.stderr
        healthy = start_worker(env, healthy_log)
        wait_for(
            lambda: OutboxMessage.objects.get(pk=row.pk).status == "sent",
            "the redelivery",
            log=healthy_log,
        )
        row.refresh_from_db()
        assert row.attempts == 1 and row.sent_at is not None and row.claimed_until is None
        assert len(delivered()) == 2
        return row
    finally:
        stop(crashing)
        stop(healthy)


def test_webhook_crash_after_send_is_redelivered_with_the_same_key(
    subprocess_env, tmp_path, monkeypatch, receiver
):
    hook = Webhook.objects.create(
        name="crash receiver",
        url=receiver.url,
        secret="crash-test-secret-123",
        event_types=["organization.created"],
    )
    row = crash_then_redeliver(
        dict(subprocess_env, WEBHOOK_ALLOW_PRIVATE="1"),  # the receiver is on 127.0.0.1
        tmp_path,
        monkeypatch,
        WRITE_WEBHOOK_EVENT,
        lambda: receiver.requests,
        {"webhook": hook},
    )
    first, second = receiver.requests
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
    assert first.headers["Idempotency-Key"] == row.idempotency_key
    assert row.idempotency_key.startswith(f"wh-{hook.pk}-")
    assert first.body == second.body
    for req in (first, second):
        assert verify_signature(
            "crash-test-secret-123",
            req.body,
            req.headers["X-Caseline-Timestamp"],
            req.headers["X-Caseline-Signature"],
            current_time=req.received_at,
        )
    # each attempt is signed at its own time
    assert int(second.headers["X-Caseline-Timestamp"]) > int(first.headers["X-Caseline-Timestamp"])


def test_email_crash_after_send_is_redelivered_with_the_same_message_id(
    subprocess_env, tmp_path, monkeypatch, smtp_port, smtp_server_factory
):
    sink = smtp_server_factory(smtp_port)
    env = dict(
        subprocess_env,
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp_port),
        CASELINE_MAIL_DOMAIN="mail.crash.test",
    )
    env.pop("EMAIL_BACKEND", None)  # EMAIL_HOST set: the SMTP backend
    crash_then_redeliver(
        env,
        tmp_path,
        monkeypatch,
        WRITE_EMAIL,
        lambda: sink.messages,
        {"idempotency_key": "ticket-5-reply-2"},
    )
    ids = [
        email.message_from_bytes(raw, policy=policy.default)["Message-ID"]
        for _, _, raw in sink.messages
    ]
    assert ids == ["<ticket-5-reply-2@mail.crash.test>"] * 2
