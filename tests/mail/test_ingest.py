"""The ingest service: one message, one transaction, nothing lost, nothing doubled."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from caseline.mail import ingest as ingest_mod
from caseline.mail.ingest import REPLY_MARKER, ingest
from caseline.mail.models import FlaggedAddress, InboundMessage
from caseline.notify.models import OutboxMessage
from caseline.tickets.models import Ticket, TicketLink

from .conftest import make_mail

pytestmark = pytest.mark.django_db


def test_new_ticket_contact_org_and_raw(mailbox, acme):
    raw = make_mail(subject="Printer on fire", body="Hello,\n\nthe printer is on fire.\n\nAnn")
    result = ingest(raw, mailbox, source="smtp")
    row = result.inbound
    assert row.status == "processed" and not result.duplicate
    ticket = row.ticket
    assert ticket.channel == "email" and ticket.subject == "Printer on fire"
    assert ticket.team_id == mailbox.team_id
    assert ticket.requester.organization_id == acme.pk
    assert ticket.organization_id == acme.pk
    msg = ticket.messages.get()
    assert "the printer is on fire" in msg.body_text
    assert msg.email_message_id == row.message_id and row.message_id
    assert row.ticket_message_id == msg.pk and row.threaded_by == "new"
    with row.raw.open("rb") as fh:
        assert fh.read() == raw
    # acknowledgement to the requester, threaded to the customer's message
    ack = OutboxMessage.objects.get(idempotency_key=f"cl-t{ticket.pk}-ack")
    assert ack.payload["to"] == ["ann@acme.test"]
    assert f"[CL-{ticket.pk}]" in ack.payload["subject"]
    assert ack.payload["headers"]["In-Reply-To"] == row.message_id
    assert ack.payload["headers"]["Auto-Submitted"] == "auto-replied"
    assert ack.payload["from_email"] == mailbox.address


def test_redelivery_is_a_noop(mailbox):
    raw = make_mail()
    first = ingest(raw, mailbox)
    again = ingest(raw, mailbox)
    assert again.duplicate and again.inbound.pk == first.inbound.pk
    assert Ticket.objects.count() == 1 and InboundMessage.objects.count() == 1


def test_missing_message_id_dedupes_on_sha256(mailbox):
    raw = make_mail(message_id=None)
    first = ingest(raw, mailbox)
    assert first.inbound.dedupe_key.startswith("sha256:")
    assert ingest(raw, mailbox).duplicate
    other = make_mail(message_id=None, body="a different body")
    assert not ingest(other, mailbox).duplicate
    assert Ticket.objects.count() == 2


def test_reply_threads_by_our_message_id_and_strips_quotes(mailbox, make_staff):
    first = ingest(make_mail(subject="VPN down"), mailbox).inbound
    ticket = first.ticket
    agent = make_staff("support_engineer")
    from caseline.tickets.services import add_message

    reply = add_message(ticket, actor=agent, body_text="Please restart the router.")
    reply.refresh_from_db()
    assert reply.email_message_id.startswith(f"<cl-t{ticket.pk}-m{reply.pk}@")
    out = OutboxMessage.objects.get(subject_type="message", subject_id=reply.pk)
    assert out.payload["headers"]["In-Reply-To"] == first.message_id
    customer = make_mail(
        subject="Re: VPN down",  # no token: the Message-ID alone threads it
        in_reply_to=reply.email_message_id,
        references=f"{first.message_id} {reply.email_message_id}",
        body=(
            "Restarted it, works now. Thanks!\n\nAnn\n\n"
            "On Mon, 3 Mar 2025 at 10:00, Support <support@caseline.test> wrote:\n"
            f"> {REPLY_MARKER}\n>\n> Please restart the router.\n"
        ),
    )
    row = ingest(customer, mailbox).inbound
    assert row.ticket_id == ticket.pk and row.threaded_by == "message-id"
    msg = row.ticket_message
    assert msg.body_text.startswith("Restarted it, works now.")
    assert "Please restart the router" not in msg.body_text
    assert "Please restart the router" in row.full_text  # full text one click away
    assert Ticket.objects.count() == 1


def test_token_threads_participants_and_colleagues(mailbox, acme):
    ticket = ingest(make_mail(subject="Billing"), mailbox).inbound.ticket
    by_token = ingest(make_mail(subject=f"Re: [CL-{ticket.pk}] Billing", body="More info"), mailbox)
    assert by_token.inbound.ticket_id == ticket.pk and by_token.inbound.threaded_by == "token"
    colleague = ingest(
        make_mail(sender="bob@acme.test", subject=f"[CL-{ticket.pk}] Billing", body="Me too"),
        mailbox,
    )
    assert colleague.inbound.ticket_id == ticket.pk  # same organization


def test_cc_person_threads(mailbox):
    raw = make_mail(sender="ann@solo.test", cc="Carl <carl@elsewhere.test>", subject="Hi")
    ticket = ingest(raw, mailbox).inbound.ticket
    assert list(ticket.ccs.values_list("name", flat=True)) == ["Carl"]
    row = ingest(
        make_mail(sender="carl@elsewhere.test", subject=f"Re: [CL-{ticket.pk}] Hi", body="ok"),
        mailbox,
    ).inbound
    assert row.ticket_id == ticket.pk


def test_stranger_with_token_opens_a_linked_ticket(mailbox, acme):
    ticket = ingest(make_mail(subject="Secret stuff"), mailbox).inbound.ticket
    row = ingest(
        make_mail(sender="mallory@evil.test", subject=f"Re: [CL-{ticket.pk}] Secret stuff"),
        mailbox,
    ).inbound
    assert row.ticket_id != ticket.pk and row.threaded_by == "new-linked"
    assert ticket.messages.count() == 1
    assert TicketLink.objects.filter(source=row.ticket, target=ticket, kind="related").exists()


def test_closed_ticket_gets_a_follow_up(mailbox):
    ticket = ingest(make_mail(subject="Old"), mailbox).inbound.ticket
    Ticket.objects.filter(pk=ticket.pk).update(status="closed")
    row = ingest(make_mail(subject=f"Re: [CL-{ticket.pk}] Old"), mailbox).inbound
    assert row.ticket_id != ticket.pk and row.threaded_by == "follow-up"
    assert TicketLink.objects.filter(source=row.ticket, target=ticket).exists()


def test_autoreply_never_opens_or_reopens_and_gets_no_ack(mailbox):
    ticket = ingest(make_mail(subject="Question"), mailbox).inbound.ticket
    Ticket.objects.filter(pk=ticket.pk).update(status="pending")
    acks = OutboxMessage.objects.count()
    ooo = make_mail(
        subject=f"Automatic reply: [CL-{ticket.pk}] Question",
        body="I am out of the office until Monday.",
        headers={"Auto-Submitted": "auto-replied", "X-Autoreply": "yes"},
    )
    row = ingest(ooo, mailbox).inbound
    assert row.status == "ignored" and "automated" in row.reason
    ticket.refresh_from_db()
    assert ticket.status == "pending"
    note = row.ticket_message
    assert note.kind == "internal" and "out of the office" in note.body_text
    alone = ingest(make_mail(subject="Out of Office: hello", body="away"), mailbox).inbound
    assert alone.status == "ignored" and alone.ticket_id is None
    assert OutboxMessage.objects.count() == acks  # nothing sent to an auto-reply
    assert Ticket.objects.count() == 1


def test_bulk_mail_is_ignored(mailbox):
    row = ingest(
        make_mail(subject="Newsletter", headers={"Precedence": "bulk", "List-Id": "<n.x>"}),
        mailbox,
    ).inbound
    assert row.status == "ignored" and Ticket.objects.count() == 0


def test_auto_generated_mail_opens_a_ticket_without_ack(mailbox):
    row = ingest(
        make_mail(subject="Disk full on db1", headers={"Auto-Submitted": "auto-generated"}),
        mailbox,
    ).inbound
    assert row.status == "processed" and row.ticket_id
    assert not OutboxMessage.objects.filter(idempotency_key=f"cl-t{row.ticket_id}-ack").exists()


BOUNCE = """From: Mail Delivery System <MAILER-DAEMON@mx.acme.test>\r
To: support@caseline.test\r
Subject: Undelivered Mail Returned to Sender\r
Message-ID: <bounce-{n}@mx.acme.test>\r
MIME-Version: 1.0\r
Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r
\r
--B\r
Content-Type: text/plain\r
\r
I'm sorry to have to inform you that your message could not be delivered.\r
--B\r
Content-Type: message/delivery-status\r
\r
Reporting-MTA: dns; mx.acme.test\r
\r
Final-Recipient: rfc822; gone@acme.test\r
Action: failed\r
Status: 5.1.1\r
--B\r
Content-Type: text/rfc822-headers\r
\r
From: support@caseline.test\r
To: gone@acme.test\r
Message-ID: {bounced}\r
Subject: [CL-1] Re: hello\r
--B--\r
"""


def test_bounce_attaches_to_ticket_and_flags_address(mailbox, make_staff):
    ticket = ingest(make_mail(sender="gone@acme.test", subject="Hello"), mailbox).inbound.ticket
    agent = make_staff("support_engineer")
    from caseline.tickets.services import add_message

    reply = add_message(ticket, actor=agent, body_text="Answer")
    reply.refresh_from_db()
    raw = BOUNCE.format(n=1, bounced=reply.email_message_id).encode()
    row = ingest(raw, mailbox).inbound
    assert row.status == "processed" and row.ticket_id == ticket.pk
    assert row.ticket_message.kind == "internal"
    assert "gone@acme.test" in row.ticket_message.body_text
    flag = FlaggedAddress.objects.get(address="gone@acme.test")
    assert flag.ticket_id == ticket.pk and flag.bounces == 1
    # no reply loop: nothing is sent to the mailer-daemon, the next reply skips the address
    second = add_message(ticket, actor=agent, body_text="Second answer")
    assert not OutboxMessage.objects.filter(subject_type="message", subject_id=second.pk).exists()
    # the address writes again: it is alive, the flag goes
    ingest(make_mail(sender="gone@acme.test", subject=f"Re: [CL-{ticket.pk}] x"), mailbox)
    assert not FlaggedAddress.objects.filter(address="gone@acme.test").exists()


def test_sender_rate_limit_quarantines_and_release(mailbox, settings):
    settings.MAIL_SENDER_RATE_LIMIT = 3
    rows = [ingest(make_mail(subject=f"flood {i}"), mailbox).inbound for i in range(5)]
    assert [r.status for r in rows] == ["processed"] * 3 + ["quarantined"] * 2
    assert "rate limit" in rows[-1].reason
    assert Ticket.objects.count() == 3
    released = ingest_mod.release(rows[-1])
    assert released.inbound.status == "processed" and Ticket.objects.count() == 4


def test_unparseable_is_quarantined_never_dropped(mailbox):
    raw = b"\x00\x01 this is not a mail message at all"
    row = ingest(raw, mailbox).inbound
    assert row.status == "quarantined" and row.reason.startswith("unparseable")
    with row.raw.open("rb") as fh:
        assert fh.read() == raw
    assert ingest(raw, mailbox).duplicate


def test_processing_failure_is_quarantined(mailbox, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ingest_mod, "_new_ticket", boom)
    row = ingest(make_mail(), mailbox).inbound
    assert row.status == "quarantined" and "disk on fire" in row.reason
    assert Ticket.objects.count() == 0


def test_own_mailbox_loop_is_ignored(mailbox):
    row = ingest(make_mail(sender="support@caseline.test"), mailbox).inbound
    assert row.status == "ignored" and Ticket.objects.count() == 0


def test_attachments_inline_and_size_limit(mailbox, settings):
    settings.ATTACHMENT_MAX_BYTES = 1000
    big = "A" * 3000
    raw = (
        "From: Ann <ann@acme.test>\r\nTo: support@caseline.test\r\nSubject: pics\r\n"
        "Message-ID: <att-1@acme.test>\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/related; boundary="R"\r\n\r\n'
        "--R\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        '<p>See <img src="cid:img1@acme"></p>\r\n'
        "--R\r\nContent-Type: image/png\r\nContent-ID: <img1@acme>\r\n"
        "Content-Disposition: inline; filename=shot.png\r\n\r\nPNGDATA\r\n"
        "--R\r\nContent-Type: application/octet-stream\r\n"
        "Content-Disposition: attachment; filename=huge.bin\r\n\r\n" + big + "\r\n--R--\r\n"
    ).encode()
    row = ingest(raw, mailbox).inbound
    ticket = row.ticket
    att = row.ticket_message.attachments.get()
    assert att.filename == "shot.png" and att.content_id == "img1@acme"
    assert "cid:img1@acme" in row.ticket_message.body_html
    note = ticket.messages.get(kind="internal")
    assert "huge.bin" in note.body_text and "limit" in note.body_text


def test_staff_reply_by_email_is_not_sent_again(mailbox, make_staff):
    ticket = ingest(make_mail(subject="Q"), mailbox).inbound.ticket
    sc = make_staff("sales_consultant", email="sc@caseline.test")
    row = ingest(
        make_mail(sender="sc@caseline.test", subject=f"Re: [CL-{ticket.pk}] Q", body="On it"),
        mailbox,
    ).inbound
    assert row.ticket_id == ticket.pk
    assert row.ticket_message.author_user_id == sc.pk
    assert not OutboxMessage.objects.filter(subject_type="message").exists()


def test_ack_template_per_team_with_placeholders(mailbox):
    from caseline.mail.models import AckTemplate

    AckTemplate.objects.create(
        team=mailbox.team,
        subject="Got it: {subject}",
        body="Hi {requester_name}, {ticket_ref} is with {team}; answer {eta}. {unknown}",
    )
    ticket = ingest(make_mail(subject="Help"), mailbox).inbound.ticket
    ack = OutboxMessage.objects.get(idempotency_key=f"cl-t{ticket.pk}-ack")
    assert ack.payload["subject"] == f"[CL-{ticket.pk}] Got it: Help"
    assert f"Hi Ann Customer, CL-{ticket.pk} is with Mail team; answer" in ack.payload["text"]
    assert "{unknown}" in ack.payload["text"]


def test_ack_states_the_sla_answer_due_time(mailbox):
    """{eta} is the earliest running acknowledge/actionable clock's due time (SLA engine),
    in the requester's zone -- not "as soon as possible"."""
    from caseline.mail.models import AckTemplate
    from caseline.sla.queries import answer_due, answer_eta_text

    AckTemplate.objects.create(team=mailbox.team, body="We will answer {eta}.")
    ticket = ingest(make_mail(subject="Help"), mailbox).inbound.ticket
    due = answer_due(ticket.pk)
    assert due is not None and due > ticket.created_at
    text = OutboxMessage.objects.get(idempotency_key=f"cl-t{ticket.pk}-ack").payload["text"]
    expected = answer_eta_text(ticket)
    local = due.astimezone(ZoneInfo(ticket.requester.time_zone or "UTC"))
    assert expected == f"by {local:%A} {local.day} {local:%B}, {local:%H:%M %Z}"
    assert f"We will answer {expected}." in text
    assert "as soon as possible" not in text


def test_reply_to_ack_threads(mailbox):
    ticket = ingest(make_mail(subject="Help"), mailbox).inbound.ticket
    row = ingest(
        make_mail(subject="Re: Help", in_reply_to=f"<cl-t{ticket.pk}-ack@caseline.localhost>"),
        mailbox,
    ).inbound
    assert row.ticket_id == ticket.pk and row.threaded_by == "message-id"


def test_customer_reply_adds_new_ccs(mailbox, acme, make_staff):
    """SPEC §2: people a customer copies on a reply become CCs of the ticket (contacts
    found or created by address); our mailboxes, staff, the sender, the requester and
    existing CCs are not added (again)."""
    from caseline.accounts.services import create_contact

    first = ingest(make_mail(subject="Sync", cc="Carl <carl@elsewhere.test>"), mailbox).inbound
    ticket = first.ticket
    make_staff("support_engineer", email="sam@caseline.test")
    known = create_contact(name="Dora Known", emails=["dora@partner.test"])
    reply = make_mail(
        sender="bob@acme.test",
        subject=f"Re: [CL-{ticket.pk}] Sync",
        in_reply_to=first.message_id,
        to="support@caseline.test, Ann Customer <ann@acme.test>",
        cc="carl@elsewhere.test, New Person <new@partner.test>, dora@partner.test, "
        "sam@caseline.test, bob@acme.test",
    )
    row = ingest(reply, mailbox).inbound
    assert row.ticket_id == ticket.pk and row.threaded_by == "message-id"
    ccs = {c.primary_email: c for c in ticket.ccs.all()}
    assert set(ccs) == {"carl@elsewhere.test", "new@partner.test", "dora@partner.test"}
    assert ccs["new@partner.test"].name == "New Person"
    assert ccs["dora@partner.test"].pk == known.pk
    # the same reply-all again (another message) adds nothing more
    again = make_mail(
        sender="ann@acme.test",
        subject=f"Re: [CL-{ticket.pk}] Sync",
        in_reply_to=first.message_id,
        cc="carl@elsewhere.test, new@partner.test",
    )
    ingest(again, mailbox)
    assert ticket.ccs.count() == 3
    # an auto-reply or a stranger's message copies nobody in
    stranger = make_mail(
        sender="mallory@evil.test",
        subject=f"Re: [CL-{ticket.pk}] Sync",
        cc="victim@else.test",
    )
    assert ingest(stranger, mailbox).inbound.threaded_by == "new-linked"
    assert ticket.ccs.count() == 3
