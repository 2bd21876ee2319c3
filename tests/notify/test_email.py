"""Email through the outbox: Django's mail backend, a stable Message-ID on every attempt,
locmem in most tests and a real SMTP listener (aiosmtpd) with Django's SMTP backend."""

from __future__ import annotations

import email
from email import policy

import pytest
from django.core import mail
from django.db import transaction

from caseline.notify import services
from caseline.notify.models import OutboxMessage

pytestmark = pytest.mark.django_db


def write_email(key: str = "ticket-7-reply-3", **overrides):
    fields = dict(
        key=key,
        to=["ana@customer.example"],
        cc=["sc@caseline.example"],
        subject="[#7] Replication lag on cluster eu-2",
        text="Hello Ana,\n\nwe have found the cause.\n",
        html="<p>Hello Ana,</p><p>we have found the cause.</p>",
        headers={"In-Reply-To": "<abc@customer.example>"},
        subject_type="ticket",
        subject_id=7,
    )
    fields.update(overrides)
    with transaction.atomic():
        return services.enqueue_email(**fields)


def test_email_is_sent_after_commit_with_a_stable_message_id(
    frozen_time, settings, django_capture_on_commit_callbacks
):
    settings.CASELINE_MAIL_DOMAIN = "mail.caseline.test"
    with django_capture_on_commit_callbacks(execute=True):
        row = write_email()
    row.refresh_from_db()
    assert row.status == "sent" and row.kind == "email" and row.attempts == 1
    assert len(mail.outbox) == 1
    msg = mail.outbox[0]
    assert msg.to == ["ana@customer.example"] and msg.cc == ["sc@caseline.example"]
    assert msg.subject == "[#7] Replication lag on cluster eu-2"
    assert msg.from_email == settings.DEFAULT_FROM_EMAIL
    assert msg.alternatives[0][1] == "text/html"
    parsed = msg.message()
    assert parsed["Message-ID"] == "<ticket-7-reply-3@mail.caseline.test>"
    assert parsed["In-Reply-To"] == "<abc@customer.example>"


def test_same_key_twice_is_one_email(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        a = write_email()
        b = write_email(subject="changed")
    assert a.pk == b.pk and OutboxMessage.objects.count() == 1
    assert len(mail.outbox) == 1


def test_message_id_of_odd_keys_is_valid_and_stable(settings):
    settings.CASELINE_MAIL_DOMAIN = "d.test"
    assert services.message_id("a b<c>@x") == services.message_id("a b<c>@x")
    local = services.message_id("a b<c>@x")[1:-1].split("@")[0]
    assert local.isalnum()


def test_email_without_recipients_fails_permanently(frozen_time):
    row = write_email(to=[], cc=[])
    assert services.deliver(row.pk) == "failed"
    row.refresh_from_db()
    assert row.status == "failed" and "no recipients" in row.last_error


def test_real_smtp_retry_carries_the_same_message_id(
    frozen_time, settings, smtp_port, smtp_server_factory
):
    """First attempt: nothing listens (connection refused) -> retried with back-off.
    Second attempt: a real SMTP server receives it, Message-ID unchanged."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = smtp_port
    settings.EMAIL_TIMEOUT = 5
    settings.CASELINE_MAIL_DOMAIN = "mail.caseline.test"
    row = write_email(key="ticket-9-reply-1")
    assert services.deliver(row.pk) == "retry"
    row.refresh_from_db()
    assert row.attempts == 1 and "ConnectionRefusedError" in row.last_error

    sink = smtp_server_factory(smtp_port)
    frozen_time.advance((row.next_attempt_at - frozen_time.now()).total_seconds())
    assert services.deliver(row.pk) == "sent"
    assert len(sink.messages) == 1
    mail_from, rcpts, raw = sink.messages[0]
    assert mail_from == settings.DEFAULT_FROM_EMAIL
    assert sorted(rcpts) == ["ana@customer.example", "sc@caseline.example"]
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["Message-ID"] == "<ticket-9-reply-1@mail.caseline.test>"
    assert parsed["Subject"] == "[#7] Replication lag on cluster eu-2"
    assert parsed.get_body(("html",)).get_content().startswith("<p>Hello Ana")
