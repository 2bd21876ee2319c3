"""``ingest_many``: several messages in one transaction give each message what ``ingest``
would give it; a failure of one loses and doubles nothing; concurrent deliveries of the
same messages (two pollers, or the SMTP receiver and a poller) record each exactly once."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from caseline.accounts.models import Contact, ContactEmail, Organization, OrganizationDomain
from caseline.mail import ingest as ingest_mod
from caseline.mail.ingest import ingest, ingest_many
from caseline.mail.models import FlaggedAddress, InboundMessage
from caseline.notify.models import OutboxMessage
from caseline.tickets.models import Ticket, TicketLink

from .conftest import make_mail


def _acks() -> dict[int, list[str]]:
    return {
        int(row.subject_id): row.payload["to"]
        for row in OutboxMessage.objects.filter(idempotency_key__endswith="-ack")
    }


@pytest.mark.django_db
def test_batch_gives_each_message_what_ingest_would(mailbox, acme):
    from caseline.accounts.services import create_contact

    before = make_mail(sender="old@acme.test", subject="ingested before")
    ingest(before, mailbox)
    eve = create_contact(name="Eve", emails=["eve@acme.test", "eve.alt@other.test"])
    FlaggedAddress.objects.create(address="gone@acme.test", bounces=1, flagged_at=eve.created_at)

    first = make_mail(sender="ann@acme.test", cc="Carl <carl@elsewhere.test>", subject="Down")
    first_id = first.split(b"Message-ID: ")[1].split(b"\r\n")[0].decode()
    batch = [
        first,  # 0 new ticket, CC carl (a contact created in the batch)
        make_mail(sender="bob@acme.test", subject="Re: Down", in_reply_to=first_id),  # 1
        make_mail(sender="carl@elsewhere.test", subject="Re: Down", in_reply_to=first_id),  # 2
        first,  # 3 the same message again in the batch
        before,  # 4 recorded before the batch
        make_mail(  # 5 an out-of-office of a participant: a note, no ticket
            sender="bob@acme.test",
            subject="Automatic reply: Down",
            in_reply_to=first_id,
            headers={"Auto-Submitted": "auto-replied"},
        ),
        b"\x00\x01 not a message",  # 6 quarantined, not dropped
        make_mail(sender="mallory@evil.test", subject="Re: Down", in_reply_to=first_id),  # 7
        make_mail(sender="eve.alt@other.test", subject="From my other address"),  # 8
        make_mail(sender="gone@acme.test", subject="I am back"),  # 9 clears the flag
    ]
    results = ingest_many([(raw, mailbox) for raw in batch], source="imap")
    rows = [r.inbound for r in results]
    assert [r.duplicate for r in results] == [False, False, False, True, True] + [False] * 5
    assert [r.status for r in rows] == [
        "processed",
        "processed",
        "processed",
        "processed",
        "processed",
        "ignored",
        "quarantined",
        "processed",
        "processed",
        "processed",
    ]
    assert [r.threaded_by for r in rows[:3]] == ["new", "message-id", "message-id"]
    assert rows[3].pk == rows[0].pk
    ticket = rows[0].ticket
    assert rows[1].ticket_id == rows[2].ticket_id == rows[5].ticket_id == ticket.pk
    assert list(ticket.ccs.values_list("name", flat=True)) == ["Carl"]
    assert Contact.objects.filter(emails__email="carl@elsewhere.test").count() == 1
    assert ticket.messages.count() == 4  # the first, bob, carl, bob's auto-reply note
    assert rows[7].threaded_by == "new-linked"
    assert TicketLink.objects.filter(source=rows[7].ticket, target=ticket).exists()
    assert rows[8].ticket.requester_id == eve.pk
    assert not FlaggedAddress.objects.filter(address="gone@acme.test").exists()
    # every row is stored, with its id, once
    assert all(r.pk for r in rows)
    assert InboundMessage.objects.count() == 1 + 8
    # acknowledgements: one per new ticket, to the requester's primary address
    acks = _acks()
    assert acks[ticket.pk] == ["ann@acme.test"]
    assert acks[rows[8].ticket_id] == ["eve@acme.test"]
    assert acks[rows[9].ticket_id] == ["gone@acme.test"]
    assert len(acks) == Ticket.objects.count() == 5


@pytest.mark.django_db
def test_one_failing_message_loses_and_doubles_nothing(mailbox, monkeypatch):
    real = ingest_mod._new_ticket

    def sometimes(parsed, *args, **kwargs):
        if parsed.subject == "boom":
            raise RuntimeError("disk on fire")
        return real(parsed, *args, **kwargs)

    monkeypatch.setattr(ingest_mod, "_new_ticket", sometimes)
    raws = [make_mail(subject=s, sender=f"{s}@acme.test") for s in ("one", "boom", "two")]
    results = ingest_many([(raw, mailbox) for raw in raws])
    assert [r.status for r in results] == ["processed", "quarantined", "processed"]
    assert "disk on fire" in results[1].inbound.reason
    assert sorted(Ticket.objects.values_list("subject", flat=True)) == ["one", "two"]
    assert InboundMessage.objects.count() == 3
    assert len(_acks()) == 2  # the rolled-back batch wrote none that survived
    # and a re-delivery of the whole batch changes nothing
    again = ingest_many([(raw, mailbox) for raw in raws])
    assert all(r.duplicate for r in again) and InboundMessage.objects.count() == 3


@pytest.mark.django_db
def test_stranger_autoreply_with_a_token_adds_nothing(mailbox, acme):
    ticket = ingest(make_mail(subject="Private"), mailbox).inbound.ticket
    fake = make_mail(
        sender="mallory@evil.test",
        subject=f"Automatic reply: [CL-{ticket.pk}] Private",
        body="Call me at +1 555 0100 to verify your account",
        headers={"Auto-Submitted": "auto-replied"},
    )
    for result in (ingest(fake, mailbox), *ingest_many([(make_mail_like(fake), mailbox)])):
        assert result.status == "ignored" and result.inbound.ticket_id is None
    assert ticket.messages.count() == 1
    # a participant's out-of-office still lands as a note
    ooo = make_mail(
        sender="bob@acme.test",
        subject=f"Automatic reply: [CL-{ticket.pk}] Private",
        headers={"Auto-Submitted": "auto-replied"},
    )
    assert ingest(ooo, mailbox).inbound.ticket_id == ticket.pk
    assert ticket.messages.filter(kind="internal").count() == 1


def make_mail_like(raw: bytes) -> bytes:
    """The same message under another Message-ID."""
    return raw.replace(b"Message-ID: <", b"Message-ID: <again.", 1)


@pytest.mark.django_db
def test_contact_created_elsewhere_meanwhile_is_found(mailbox, monkeypatch):
    """A sender unknown when the batch began but created before its turn (here: by the
    previous message's CC list) is found, not created twice."""
    raws = [
        make_mail(sender="ann@solo.test", cc="Zoe <zoe@solo.test>", subject="A"),
        make_mail(sender="zoe@solo.test", subject="B"),
    ]
    results = ingest_many([(raw, mailbox) for raw in raws])
    assert [r.status for r in results] == ["processed", "processed"]
    assert ContactEmail.objects.filter(email="zoe@solo.test").count() == 1
    assert results[1].inbound.ticket.requester == results[0].inbound.ticket.ccs.get()


# --- concurrent deliveries ----------------------------------------------------------------


def _in_thread(fn, barrier, out, index):
    try:
        barrier.wait(10)
        out[index] = fn()
    except BaseException as exc:  # reported by the test
        out[index] = exc
    finally:
        connection.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("shape", ["batch-vs-batch-reversed", "batch-vs-single"])
def test_concurrent_deliveries_record_each_message_once(shape):
    """Two connections deliver the same six messages at once (two pollers; or the SMTP
    receiver one by one and a poller in a batch), in opposite orders where both batch:
    each message is recorded once, processed (a deadlock or a lost race is retried, never
    quarantined), one ticket and one acknowledgement each."""
    from caseline.accounts.models import Team
    from caseline.mail.models import Mailbox

    team = Team.objects.create(name="Race team")
    box = Mailbox.objects.create(name="Race", address="race@caseline.test", kind="imap", team=team)
    org = Organization.objects.create(name="Racers")
    OrganizationDomain.objects.create(organization=org, domain="racers.test")
    raws = [make_mail(sender=f"r{i}@racers.test", subject=f"race {i}") for i in range(6)]

    if shape == "batch-vs-batch-reversed":
        first = lambda: ingest_many([(r, box) for r in raws], source="imap")  # noqa: E731
        second = lambda: ingest_many([(r, box) for r in reversed(raws)], source="imap")  # noqa: E731
    else:
        first = lambda: ingest_many([(r, box) for r in raws], source="imap")  # noqa: E731
        second = lambda: [ingest(r, box, source="smtp") for r in raws]  # noqa: E731

    barrier = threading.Barrier(2)
    out: list = [None, None]
    threads = [
        threading.Thread(target=_in_thread, args=(fn, barrier, out, i))
        for i, fn in enumerate((first, second))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    for value in out:
        assert isinstance(value, list), value
    results = out[0] + out[1]
    assert len(results) == 12
    assert sum(not r.duplicate for r in results) == 6
    assert InboundMessage.objects.count() == 6
    assert set(InboundMessage.objects.values_list("status", flat=True)) == {"processed"}
    assert Ticket.objects.count() == 6
    assert sorted(Ticket.objects.values_list("subject", flat=True)) == [
        f"race {i}" for i in range(6)
    ]
    assert ContactEmail.objects.filter(email__endswith="@racers.test").count() == 6
    assert OutboxMessage.objects.filter(idempotency_key__endswith="-ack").count() == 6


@pytest.mark.django_db
def test_batch_rings_one_doorbell_for_its_acknowledgements(
    mailbox, smtp_sink, django_capture_on_commit_callbacks
):
    from huey.contrib.djhuey import HUEY
    from huey.signals import SIGNAL_EXECUTING

    ran: list[tuple[str, tuple]] = []

    def executing(signal, task, *args, **kwargs):
        ran.append((task.name, task.args))

    HUEY.signal(SIGNAL_EXECUTING)(executing)
    try:
        raws = [make_mail(sender=f"n{i}@acme.test", subject=f"new {i}") for i in range(3)]
        with django_capture_on_commit_callbacks(execute=True):
            results = ingest_many([(raw, mailbox) for raw in raws])
    finally:
        HUEY.disconnect_signal(executing, SIGNAL_EXECUTING)
    acks = OutboxMessage.objects.filter(idempotency_key__endswith="-ack").order_by("id")
    assert [a.subject_id for a in acks] == [r.inbound.ticket_id for r in results]
    # one outbox task (one queue entry) for the three rows, after the commit (other apps'
    # tasks, e.g. multi-customer detection of each new ticket, are not the outbox's)
    outbox = [
        (name.rsplit(".", 1)[-1], list(args[0]))
        for name, args in ran
        if name.rsplit(".", 1)[-1].startswith("deliver_outbox")
    ]
    assert outbox == [("deliver_outbox_batch", [a.pk for a in acks])]
    sent = smtp_sink.wait(3)
    assert sorted(m["rcpt"][0] for m in sent) == [f"n{i}@acme.test" for i in range(3)]
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {"sent"}


@pytest.mark.django_db
def test_parser_bug_quarantines_instead_of_blocking_the_mailbox(mailbox, monkeypatch):
    """An exception of the parser other than "not a mail message" used to escape
    ``ingest``: the poller then left the message unseen and met it again on every
    pass (and the rest of its batch with it). Now it is quarantined like any
    unparseable message, and the others go on."""
    real = ingest_mod.parse_message

    def buggy(raw):
        if b"poison" in raw:
            raise RecursionError("maximum recursion depth exceeded")
        return real(raw)

    monkeypatch.setattr(ingest_mod, "parse_message", buggy)
    raws = [make_mail(subject="fine"), make_mail(subject="poison"), make_mail(subject="ok")]
    results = ingest_many([(raw, mailbox) for raw in raws])
    assert [r.status for r in results] == ["processed", "quarantined", "processed"]
    assert results[1].inbound.reason.startswith("unparseable: parser failed: RecursionError")
    with results[1].inbound.raw.open("rb") as fh:
        assert fh.read() == raws[1]
    alone = ingest(make_mail(subject="poison again"), mailbox)
    assert alone.status == "quarantined"
