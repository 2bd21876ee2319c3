"""The SMTP receiver (a real aiosmtpd server) and outbound mail through the outbox to a
real SMTP listener."""

from __future__ import annotations

import email
import email.policy
import smtplib
from datetime import timedelta

import pytest

from caseline.mail import smtpd as smtpd_mod
from caseline.mail.models import InboundMessage, Mailbox
from caseline.notify.models import OutboxMessage
from caseline.notify.services import deliver
from caseline.tickets.models import Ticket

from .conftest import free_port, make_mail


@pytest.fixture
def receiver(transactional_db):
    port = free_port()
    ctl = smtpd_mod.controller("127.0.0.1", port)
    ctl.start()
    yield port
    ctl.stop()
    # the server loop's worker threads are gone with it: collect their DB connections
    # now (else PostgreSQL still sees them when the test database is dropped)
    import gc

    gc.collect()


def _send(port: int, raw: bytes, rcpt: list[str]):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        return client.sendmail("ann@acme.test", rcpt, raw)


def test_250_after_commit_and_redelivery(receiver):
    Mailbox.objects.create(name="S", address="help@caseline.test", kind="smtp")
    raw = make_mail(to="help@caseline.test", subject="Via SMTP")
    assert _send(receiver, raw, ["help@caseline.test"]) == {}
    row = InboundMessage.objects.get()
    assert row.status == "processed" and row.source == "smtp"
    assert Ticket.objects.get().subject == "Via SMTP"
    # the MTA retries (e.g. our 250 was lost): accepted, nothing doubled
    assert _send(receiver, raw, ["help@caseline.test"]) == {}
    assert Ticket.objects.count() == 1 and InboundMessage.objects.count() == 1


def test_unknown_recipient_is_refused(receiver):
    Mailbox.objects.create(name="S", address="help@caseline.test", kind="smtp")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as info:
        _send(receiver, make_mail(), ["nobody@caseline.test"])
    assert info.value.recipients["nobody@caseline.test"][0] == 550


def test_451_on_failure_then_accepted_once(receiver, monkeypatch):
    Mailbox.objects.create(name="S", address="help@caseline.test", kind="smtp")
    raw = make_mail(to="help@caseline.test", subject="Retry me")

    def db_down(*a, **k):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(smtpd_mod, "ingest_many", db_down)
    with pytest.raises(smtplib.SMTPDataError) as info:
        _send(receiver, raw, ["help@caseline.test"])
    assert info.value.smtp_code == 451
    assert InboundMessage.objects.count() == 0
    monkeypatch.undo()
    assert _send(receiver, raw, ["help@caseline.test"]) == {}
    assert Ticket.objects.count() == 1


def test_two_mailboxes_in_one_transaction(receiver):
    Mailbox.objects.create(name="A", address="a@caseline.test", kind="smtp")
    Mailbox.objects.create(name="B", address="b@caseline.test", kind="smtp")
    _send(
        receiver,
        make_mail(to="a@caseline.test, b@caseline.test"),
        ["a@caseline.test", "b@caseline.test"],
    )
    assert InboundMessage.objects.count() == 2


# --- outbound -------------------------------------------------------------------------------


@pytest.fixture
def world(db, make_staff, acme):
    from caseline.accounts.models import Team

    sc = make_staff("sales_consultant", email="sc@caseline.test")
    acme.sales_consultant = sc
    acme.save()
    team = Team.objects.create(name="Out team")
    box = Mailbox.objects.create(name="Out", address="help@caseline.test", kind="smtp", team=team)
    agent = make_staff("support_engineer", email="agent@caseline.test", display_name="Sam Agent")
    follower = make_staff("support_engineer", email="follower@caseline.test")
    return {"sc": sc, "box": box, "agent": agent, "follower": follower}


def _parse(captured: dict) -> email.message.EmailMessage:
    return email.message_from_bytes(captured["data"], policy=email.policy.default)


def test_public_reply_goes_out_with_threading_and_copies(world, smtp_sink, mail):
    from caseline.mail.ingest import ingest
    from caseline.tickets.services import add_follower, add_message

    first = ingest(
        mail(subject="Sync broken", to="help@caseline.test", cc="Carl <carl@acme.test>"),
        world["box"],
    ).inbound
    ticket = first.ticket
    add_follower(ticket, world["follower"], actor=world["agent"])
    reply = add_message(
        ticket,
        actor=world["agent"],
        body_text="Fixed in 2.4.1.\n\nRegards, Sam",
        attachments=[("patch.diff", "text/x-diff", b"--- a\n+++ b\n")],
    )
    reply.refresh_from_db()
    row = OutboxMessage.objects.get(subject_type="message", subject_id=reply.pk)
    assert deliver(row.pk) == "sent"
    sent = smtp_sink.wait(1)[-1]
    msg = _parse(sent)
    assert msg["Message-ID"] == reply.email_message_id
    assert msg["In-Reply-To"] == first.message_id
    assert first.message_id in msg["References"]
    assert msg["Subject"] == f"[CL-{ticket.pk}] Re: Sync broken"
    assert "help@caseline.test" in msg["From"] and "Sam Agent" in msg["From"]
    assert msg["To"] == "ann@acme.test"
    assert set(a.strip() for a in msg["Cc"].split(",")) == {"carl@acme.test", "sc@caseline.test"}
    assert "follower@caseline.test" in sent["rcpt"]  # bcc: in the envelope
    assert "follower@caseline.test" not in sent["data"].decode()  # ... not in the headers
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "reply above this line" in text and "Fixed in 2.4.1." in text
    assert "reply above this line" in html and "Fixed in 2.4.1." in html
    names = [p.get_filename() for p in msg.iter_attachments()]
    assert names == ["patch.diff"]

    # the customer answers the email: it threads back, quotes stripped
    quoted = "\n".join("> " + line for line in text.splitlines())
    answer = mail(
        subject=f"Re: {msg['Subject']}",
        in_reply_to=msg["Message-ID"],
        references=f"{msg['References']} {msg['Message-ID']}",
        body=f"Confirmed, works!\n\nOn Tue, Sam wrote:\n{quoted}\n",
    )
    back = ingest(answer, world["box"]).inbound
    assert back.ticket_id == ticket.pk
    assert back.ticket_message.body_text == "Confirmed, works!"


def test_ack_is_delivered_over_smtp(world, smtp_sink, mail):
    from caseline.mail.ingest import ingest

    ticket = ingest(mail(subject="New one"), world["box"]).inbound.ticket
    ack = OutboxMessage.objects.get(idempotency_key=f"cl-t{ticket.pk}-ack")
    assert deliver(ack.pk) == "sent"
    msg = _parse(smtp_sink.wait(1)[-1])
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["Subject"].startswith(f"[CL-{ticket.pk}]")


def test_failures_retry_with_backoff_then_show_on_message(world, settings, mail, api_client):
    from caseline.mail.ingest import ingest
    from caseline.tickets.services import add_message
    from caseline.timesource import now

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nobody listens
    settings.EMAIL_TIMEOUT = 2
    settings.OUTBOX_MAX_ATTEMPTS = 2
    ticket = ingest(mail(subject="Will fail"), world["box"]).inbound.ticket
    reply = add_message(ticket, actor=world["agent"], body_text="Answer")
    row = OutboxMessage.objects.get(subject_type="message", subject_id=reply.pk)
    assert deliver(row.pk) == "retry"
    row.refresh_from_db()
    assert row.attempts == 1 and row.next_attempt_at > now() + timedelta(seconds=5)
    OutboxMessage.objects.filter(pk=row.pk).update(next_attempt_at=now())
    assert deliver(row.pk) == "failed"
    client = api_client(world["agent"])
    resp = client.get(f"/api/v1/mail/tickets/{ticket.pk}/deliveries")
    assert resp.status_code == 200, resp.content
    item = resp.json()["results"][0]
    assert item["message_id"] == reply.pk and item["status"] == "failed"
    assert "gave up after 2 attempts" in item["last_error"]


def test_concurrent_sessions_each_get_250_after_commit_once(receiver):
    """An MTA delivering over several connections at once: every DATA is answered 250,
    every message recorded once (the DATA commands share transactions: GroupCommit)."""
    import threading

    Mailbox.objects.create(name="S", address="help@caseline.test", kind="smtp")
    raws = [
        make_mail(sender=f"p{i}@acme.test", to="help@caseline.test", subject=f"parallel {i}")
        for i in range(8)
    ]
    out: list = [None] * len(raws)

    def send(i):
        try:
            out[i] = _send(receiver, raws[i], ["help@caseline.test"])
        except Exception as exc:  # reported below
            out[i] = exc

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(raws))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert out == [{}] * len(raws)
    assert sorted(Ticket.objects.values_list("subject", flat=True)) == sorted(
        f"parallel {i}" for i in range(8)
    )
    assert InboundMessage.objects.filter(status="processed").count() == 8


@pytest.mark.django_db(transaction=True)
def test_group_commit_ingests_waiting_data_commands_together(monkeypatch):
    """While one group is being ingested, the DATA commands arriving meanwhile wait and
    are then ingested together, in one transaction; each gets its own statuses."""
    import threading
    import time

    box = Mailbox.objects.create(name="S", address="help@caseline.test", kind="smtp")
    other = Mailbox.objects.create(name="T", address="other@caseline.test", kind="smtp")
    group = smtpd_mod.GroupCommit(max_group=20)
    real = smtpd_mod._ingest_group
    sizes: list[int] = []

    def recording(items):
        sizes.append(len(items))
        if len(sizes) == 1:  # hold the first group until the others are waiting
            deadline = time.monotonic() + 20
            while len(group._waiting) < 4 and time.monotonic() < deadline:
                time.sleep(0.01)
        return real(items)

    monkeypatch.setattr(smtpd_mod, "_ingest_group", recording)
    raws = [make_mail(sender=f"g{i}@acme.test", subject=f"group {i}") for i in range(5)]
    out: list = [None] * 5

    def submit(i):
        try:
            ids = [box.pk, other.pk] if i == 4 else [box.pk]
            out[i] = group.submit(raws[i], ids)
        except Exception as exc:
            out[i] = exc
        finally:
            from django.db import connection

            connection.close()

    first = threading.Thread(target=submit, args=(0,))
    first.start()
    while not sizes:
        time.sleep(0.01)
    rest = [threading.Thread(target=submit, args=(i,)) for i in range(1, 5)]
    for t in rest:
        t.start()
    for t in (first, *rest):
        t.join(60)
    assert sizes == [1, 4]
    assert out == [["processed"]] * 4 + [["processed", "processed"]]
    assert InboundMessage.objects.count() == 6  # the last one for both mailboxes
    assert Ticket.objects.count() == 6
