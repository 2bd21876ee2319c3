"""The agent's ticket page /t/<id>: conversation, side panel, htmx actions through the
services, composer (reply, note, ETA, attachments, inline reply), macros, reply checker,
presence. Django test client against the real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile

from caseline.accounts import roles
from caseline.accounts.models import Contact, ContactEmail, Organization, User
from caseline.audit.models import AuditEvent
from caseline.eta.models import ETA
from caseline.mail.models import InboundMessage, Mailbox
from caseline.notify.models import OutboxMessage
from caseline.tickets import macros, presence
from caseline.tickets import services as tickets
from caseline.tickets.models import Attachment, CustomField, Message, Presence, Ticket
from caseline.timesource import now

CUSTOMER_TEXT = (
    "Hello,\n\nour nightly backup of vol-prod-3 stops at 99% since Monday. "
    "Why does the backup stop at 99%?\n\n"
    "Could you also confirm whether snapshot deletion runs asynchronously?\n\nThanks,\nAnn"
)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def world(ws):
    org = ws["org"]
    org.sales_consultant = ws["bob"]
    org.success_manager = ws["exec"]
    org.tier = "enterprise"
    org.save()
    t = ws["ticket"]("Backup stuck at 99%")
    customer_msg = tickets.add_message(
        t, actor=ws["alice"], author_contact=ws["contact"], body_text=CUSTOMER_TEXT
    )
    ws.update(t=t, customer_msg=customer_msg)
    return ws


def page(client, t):
    return client.get(f"/t/{t.pk}")


def text_of(resp) -> str:
    return resp.content.decode()


# --- the page ---------------------------------------------------------------------------------


def test_page_shows_conversation_notes_and_side_panel(world, login):
    t, alice, bob = world["t"], world["alice"], world["bob"]
    tickets.add_message(t, actor=alice, kind="internal", body_text="Checked the logs: disk full")
    reply = tickets.add_message(t, actor=alice, body_text="We are on it.")
    tickets.update_ticket(t, actor=alice, tags=["backup", "storage"], assignee=alice)
    tickets.add_follower(t, bob, actor=alice)
    CustomField.objects.create(key="build", label="Build number", type="text")
    tickets.update_ticket(t, actor=alice, custom_fields={"build": "7.2.1"})
    other = world["ticket"]("Backup stuck on the EU cluster too")
    tickets.link_tickets(other, t, kind="related", actor=alice)
    from caseline.eta.services import promise

    promise(t, message=reply, due_at=now() + timedelta(hours=3), actor=alice)

    resp = page(login(alice), t)
    assert resp.status_code == 200
    html = text_of(resp)
    # conversation: customer message, internal note visibly distinct, public reply
    assert "Why does the backup stop at 99%?" in html
    note = re.search(r'<article class="msg msg-internal[^"]*"[^>]*>(.*?)</article>', html, re.S)
    assert note and "Checked the logs: disk full" in note.group(1)
    assert "Internal note" in note.group(1)
    assert re.search(r'<article class="msg msg-public msg-staff"[^>]*>.*?We are on it', html, re.S)
    # side panel
    side = html[html.index('id="ticket-side"') :]
    assert "Ann Customer" in side and "ann@acme.test" in side
    assert "Acme Corp" in side and "Enterprise" in side
    assert "Bob Builder" in side  # SC and follower
    assert re.search(r'<time class="countdown" datetime="[^"]+"', side)  # SLA clock
    assert 'data-eta="pending"' in side
    assert "backup" in side and "storage" in side
    assert "Build number" in side and "7.2.1" in side
    assert other.reference in side
    assert "ticket.tags_changed" in side and "eta.promised" in side  # timeline
    # composer: reply box the keyboard's "r" focuses
    assert "data-kbd-reply" in html


def test_missed_eta_is_shown(world, login, frozen):
    t, alice = world["t"], world["alice"]
    reply = tickets.add_message(t, actor=alice, body_text="Update by noon.")
    from caseline.eta.services import promise

    eta = promise(t, message=reply, due_at=now() + timedelta(hours=1), actor=alice)
    ETA.objects.filter(pk=eta.pk).update(status=ETA.Status.MISSED, missed_at=now())
    html = text_of(page(login(alice), t))
    assert 'data-eta="missed"' in html and "1 missed" in html


def test_email_message_folds_quoted_text_and_links_raw(world, login):
    t, alice = world["t"], world["alice"]
    box = Mailbox.objects.create(name="support", address="support@caseline.test")
    inbound = InboundMessage.objects.create(
        mailbox=box,
        dedupe_key="<a1@acme.test>",
        sha256="0" * 64,
        raw="mail/raw/00/x.eml",
        status=InboundMessage.Status.PROCESSED,
        ticket=t,
        ticket_message=world["customer_msg"],
        full_text=CUSTOMER_TEXT + "\n\n> On Monday you wrote:\n> old stuff",
        quoted_text="On Monday you wrote:\n> old stuff",
    )
    client = login(alice)
    html = text_of(page(client, t))
    assert "show quoted text" in html
    assert f"/api/v1/mail/inbound/{inbound.pk}/raw" in html
    assert "old stuff" not in html  # folded: loaded on demand
    resp = client.get(f"/t/{t.pk}/messages/{world['customer_msg'].pk}/quoted")
    assert resp.status_code == 200 and "old stuff" in text_of(resp)


def test_attachments_and_inline_images_are_linked(world, login):
    t, alice = world["t"], world["alice"]
    msg = tickets.add_message(
        t,
        actor=alice,
        author_contact=world["contact"],
        body_html='<p>Screenshot:</p><img src="cid:shot1" alt="shot">',
        attachments=[("log.txt", "text/plain", b"ERR 42")],
    )
    Attachment.objects.create(
        message=msg,
        file="attachments/x/shot.png",
        filename="shot.png",
        content_type="image/png",
        size=3,
        sha256="1" * 64,
        content_id="shot1",
    )
    html = text_of(page(login(alice), t))
    log = msg.attachments.get(filename="log.txt")
    shot = msg.attachments.get(filename="shot.png")
    assert f'href="/api/v1/attachments/{log.pk}"' in html
    assert f'src="/api/v1/attachments/{shot.pk}"' in html  # cid: rewritten
    assert "cid:shot1" not in html


def test_customers_and_staff_without_permission_cannot_open_it(world, login, make_staff, client):
    t = world["t"]
    customer = User.objects.create_user(
        username="ann@acme.test", email="ann@acme.test", kind="customer", contact=world["contact"]
    )
    assert page(login(customer), t).status_code == 403
    nobody = make_staff(email="norole@caseline.test")
    assert page(login(nobody), t).status_code == 403
    client.logout()
    resp = page(client, t)
    assert resp.status_code == 302 and "/login/" in resp["Location"]
    assert page(login(world["alice"]), Ticket(pk=t.pk + 999)).status_code == 404
    # the executive reads but may not change or reply
    client = login(world["exec"])
    assert page(client, t).status_code == 200
    assert client.post(f"/t/{t.pk}/status", {"status": "open"}).status_code == 403
    assert client.post(f"/t/{t.pk}/reply", {"body": "hi", "kind": "public"}).status_code == 403
    t.refresh_from_db()
    assert t.status == "new"
    assert not Message.objects.filter(ticket=t, body_text="hi").exists()


# --- actions --------------------------------------------------------------------------------------


def test_illegal_status_change_shows_the_reason_and_changes_nothing(world, login):
    t, alice = world["t"], world["alice"]
    before = AuditEvent.objects.filter(ticket_id=t.pk).count()
    resp = login(alice).post(f"/t/{t.pk}/status", {"status": "closed"}, HTTP_HX_REQUEST="true")
    assert resp.status_code == 409
    body = text_of(resp)
    assert "cannot go from new to closed" in body and 'data-error="side"' in body
    t.refresh_from_db()
    assert t.status == "new"
    assert AuditEvent.objects.filter(ticket_id=t.pk).count() == before


def test_status_assign_severity_tags_followers_go_through_services(world, login):
    t, alice, bob = world["t"], world["alice"], world["bob"]
    c = login(alice)
    hx = {"HTTP_HX_REQUEST": "true"}
    assert c.post(f"/t/{t.pk}/assign", {"assignee": "me"}, **hx).status_code == 200
    assert c.post(f"/t/{t.pk}/status", {"status": "pending"}, **hx).status_code == 200
    assert (
        c.post(f"/t/{t.pk}/fields", {"severity": "2", "priority": "high"}, **hx).status_code == 200
    )
    r = c.post(f"/t/{t.pk}/tags", {"add": "backup, Urgent-Fix"}, **hx)
    assert r.status_code == 200 and 'hx-swap-oob="true"' in text_of(r)
    assert c.post(f"/t/{t.pk}/tags", {"remove": "backup"}, **hx).status_code == 200
    assert c.post(f"/t/{t.pk}/followers", {"add": str(bob.pk)}, **hx).status_code == 200
    t.refresh_from_db()
    assert (t.assignee_id, t.status, t.severity, t.priority) == (alice.pk, "pending", 2, "high")
    assert sorted(t.tags.values_list("name", flat=True)) == ["urgent-fix"]
    assert t.followers.filter(pk=bob.pk).exists()
    types = set(AuditEvent.objects.filter(ticket_id=t.pk).values_list("type", flat=True))
    assert {"ticket.assigned", "ticket.status_changed", "ticket.updated"} <= types
    assert {"ticket.tags_changed", "ticket.follower_added"} <= types
    # a bad severity is refused with the reason, nothing changed
    r = c.post(f"/t/{t.pk}/fields", {"severity": "9"}, **hx)
    assert r.status_code == 422 and "severity" in text_of(r)
    t.refresh_from_db()
    assert t.severity == 2
    # without htmx: redirect back with a flash message
    r = c.post(f"/t/{t.pk}/status", {"status": "new"})
    assert r.status_code == 302 and r["Location"] == f"/t/{t.pk}"


# --- composer -------------------------------------------------------------------------------------


def test_public_reply_goes_out_by_email_through_the_outbox(world, login):
    t, alice = world["t"], world["alice"]
    resp = login(alice).post(
        f"/t/{t.pk}/reply",
        {"kind": "public", "body": "The backup stops because the disk is full."},
        HTTP_HX_REQUEST="true",
    )
    assert resp.status_code == 204 and resp["HX-Redirect"].startswith(f"/t/{t.pk}?sent=")
    msg = Message.objects.filter(ticket=t, author_user=alice).latest("id")
    assert msg.kind == "public" and msg.channel == "web"
    row = OutboxMessage.objects.get(subject_type="message", subject_id=msg.pk)
    assert row.kind == "email"
    t.refresh_from_db()
    assert t.status == "open"  # first staff reply opens the ticket


def test_internal_note_with_attachment_sends_nothing(world, login):
    t, alice = world["t"], world["alice"]
    upload = SimpleUploadedFile("trace.log", b"stack trace", content_type="text/plain")
    resp = login(alice).post(
        f"/t/{t.pk}/reply", {"kind": "internal", "body": "Trace attached", "attachments": upload}
    )
    assert resp.status_code == 302
    note = Message.objects.get(ticket=t, body_text="Trace attached")
    assert note.kind == "internal"
    assert [a.filename for a in note.attachments.all()] == ["trace.log"]
    assert not OutboxMessage.objects.filter(subject_type="message", subject_id=note.pk).exists()


def test_reply_with_eta_and_status_in_one_transaction(world, login, frozen):
    t, alice = world["t"], world["alice"]
    c = login(alice)
    # ETA in the agent's zone (UTC here): 3 hours from the frozen now
    due = (now() + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    resp = c.post(
        f"/t/{t.pk}/reply",
        {"kind": "public", "body": "Fix by this afternoon.", "eta": due, "then_status": "on_hold"},
        HTTP_HX_REQUEST="true",
    )
    assert resp.status_code == 204
    eta = ETA.objects.get(ticket=t, status="pending")
    assert eta.due_at == (now() + timedelta(hours=3)).replace(second=0, microsecond=0)
    t.refresh_from_db()
    assert t.status == "on_hold"
    # an ETA in the past: 422 with the reason, the reply is not stored either
    count = Message.objects.filter(ticket=t).count()
    past = (now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    resp = c.post(
        f"/t/{t.pk}/reply",
        {"kind": "public", "body": "Too late", "eta": past},
        HTTP_HX_REQUEST="true",
    )
    assert resp.status_code == 422
    assert "must be in the future" in text_of(resp) and "Too late" in text_of(resp)
    assert Message.objects.filter(ticket=t).count() == count


def test_inline_reply_marks_our_answers_in_the_page_and_the_mail(world, login):
    t, alice = world["t"], world["alice"]
    c = login(alice)
    html = text_of(page(c, t))
    assert html.count('name="inline_answer"') == 4  # Hello / Why... / Could you... / Thanks
    mail.outbox.clear()
    resp = c.post(
        f"/t/{t.pk}/reply",
        {
            "kind": "public",
            "mode": "inline",
            "inline_source": str(world["customer_msg"].pk),
            "inline_intro": "Hi Ann,",
            "inline_answer": ["", "The disk is full.", "Yes, it runs asynchronously.", ""],
            "inline_outro": "Best regards, Alice",
        },
        HTTP_HX_REQUEST="true",
    )
    assert resp.status_code == 204, text_of(resp)
    msg = Message.objects.filter(ticket=t, author_user=alice).latest("id")
    assert '<div title="Our answer">The disk is full.</div>' in msg.body_html
    assert "> our nightly backup of vol-prod-3" in msg.body_text
    # the outgoing HTML mail carries the colour inline (mail clients ignore style sheets)
    row = OutboxMessage.objects.get(subject_type="message", subject_id=msg.pk)
    assert "color:#0f6e6e" in row.payload["html"]
    assert 'style="color:#0f6e6e' in row.payload["html"].split("The disk is full.")[0]
    # and the page shows it in the "ours" colour
    assert '<div class="ours" title="Our answer">The disk is full.</div>' in text_of(page(c, t))
    # A customer's HTML carrying the same marker is not shown as our answer.
    from caseline.tickets import services as ticket_services

    ticket_services.add_message(
        t,
        actor=None,
        author_contact=world["customer_msg"].author_contact,
        kind="public",
        body_text="Fake",
        body_html='<blockquote>q</blockquote><div title="Our answer">Refund approved.</div>',
    )
    shown = text_of(page(c, t))
    assert "Refund approved." in shown
    assert '<div class="ours" title="Our answer">Refund approved.' not in shown


# --- macros ---------------------------------------------------------------------------------------


def test_macro_fills_the_composer_and_runs_its_actions(world, login):
    t, alice = world["t"], world["alice"]
    tickets.update_ticket(t, actor=alice, status="open")
    m = macros.create_macro(
        actor=alice,
        name="Need logs",
        body="Hi {requester_first_name},\n\nplease send the logs of {ticket_ref}.",
        actions={"status": "pending", "add_tags": ["needs-logs"], "assign_to_me": True},
    )
    c = login(alice)
    assert "Need logs" in text_of(page(c, t))
    resp = c.post(f"/t/{t.pk}/macro", {"macro": m.pk, "body": ""}, HTTP_HX_REQUEST="true")
    assert resp.status_code == 200
    body = text_of(resp)
    assert f"Hi Ann,\n\nplease send the logs of {t.reference}." in body
    assert 'id="ticket-side" hx-swap-oob="true"' in body
    t.refresh_from_db()
    assert t.status == "pending" and t.assignee_id == alice.pk
    assert list(t.tags.values_list("name", flat=True)) == ["needs-logs"]
    ev = AuditEvent.objects.get(ticket_id=t.pk, type="macro.applied")
    assert ev.data["macro_id"] == m.pk and ev.actor_id == alice.pk


def test_macro_refused_action_changes_nothing(world, login, make_staff):
    t, alice, bob = world["t"], world["alice"], world["bob"]
    m = macros.create_macro(actor=alice, name="Close", body="Bye", actions={"status": "closed"})
    resp = login(alice).post(f"/t/{t.pk}/macro", {"macro": m.pk}, HTTP_HX_REQUEST="true")
    assert resp.status_code == 409 and "cannot go from new to closed" in text_of(resp)
    t.refresh_from_db()
    assert t.status == "new"
    assert not AuditEvent.objects.filter(ticket_id=t.pk, type="macro.applied").exists()
    # a personal macro is only offered to (and applicable by) its owner
    mine = macros.create_macro(actor=alice, name="Mine", body="x", shared=False)
    assert "Mine" not in text_of(page(login(bob), t))
    resp = login(bob).post(f"/t/{t.pk}/macro", {"macro": mine.pk}, HTTP_HX_REQUEST="true")
    assert resp.status_code == 404


def test_macro_actions_are_validated():
    with pytest.raises(Exception) as exc:
        macros.clean_actions({"status": "gone", "explode": 1})
    assert set(exc.value.fields) == {"actions.status", "actions.explode"}
    # Tags follow the ticket's own tag rules (a tag with a space could never be applied).
    with pytest.raises(Exception) as exc:
        macros.clean_actions({"add_tags": ["foo bar"], "remove_tags": ["x" * 200]})
    assert set(exc.value.fields) == {"actions.add_tags", "actions.remove_tags"}
    assert macros.clean_actions({"add_tags": "Logs, VIP"}) == {"add_tags": ["logs", "vip"]}


# --- reply checker ----------------------------------------------------------------------------------


def test_reply_checker_flags_the_unanswered_question(world, login):
    t, alice = world["t"], world["alice"]
    c = login(alice)
    draft = "Hi Ann,\n\nthe backup stops at 99% because the disk is full.\n\nBest regards,\nAlice"
    resp = c.post(f"/t/{t.pk}/reply-check", {"kind": "public", "body": draft})
    assert resp.status_code == 200
    html = text_of(resp)
    assert 'data-kind="unanswered_question"' in html
    assert "snapshot deletion runs asynchronously" in html
    assert 'data-kind="missing_eta"' in html
    # with an ETA set in the composer, the ETA finding goes; sending is never blocked
    due = (now() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    html = text_of(c.post(f"/t/{t.pk}/reply-check", {"kind": "public", "body": draft, "eta": due}))
    assert 'data-kind="missing_eta"' not in html and 'data-kind="unanswered_question"' in html
    # internal notes are not checked
    html = text_of(c.post(f"/t/{t.pk}/reply-check", {"kind": "internal", "body": draft}))
    assert "data-kind" not in html


def test_reply_checker_uses_the_team_style(world, login):
    t, alice, red = world["t"], world["alice"], world["red"]
    red.reply_greeting_required = True
    red.save()
    tickets.update_ticket(t, actor=alice, team=red)
    html = text_of(
        login(alice).post(f"/t/{t.pk}/reply-check", {"kind": "public", "body": "Disk is full."})
    )
    assert 'data-kind="missing_greeting"' in html


# --- presence ---------------------------------------------------------------------------------------


def test_presence_is_visible_across_two_sessions(world, client, make_staff):
    from django.test import Client

    t, alice, bob = world["t"], world["alice"], world["bob"]
    a, b = Client(), Client()
    a.force_login(alice)
    b.force_login(bob)
    assert a.get(f"/t/{t.pk}").status_code == 200  # opening the page is a heartbeat
    resp = b.post(f"/t/{t.pk}/presence", {"state": "viewing"})
    assert "Alice Agent is viewing this ticket" in text_of(resp)
    a.post(f"/t/{t.pk}/presence", {"state": "typing"})
    assert "Alice Agent is typing a reply" in text_of(b.post(f"/t/{t.pk}/presence"))
    assert "Bob Builder is viewing" in text_of(a.post(f"/t/{t.pk}/presence"))
    # one row per (ticket, user), however many heartbeats
    assert Presence.objects.filter(ticket=t).count() == 2
    # a heartbeat expires; leaving removes the row at once
    a.post(f"/t/{t.pk}/presence", {"state": "gone"})
    assert "Alice" not in text_of(b.post(f"/t/{t.pk}/presence"))
    assert b.post(f"/t/{t.pk}/presence", {"state": "dancing"}).status_code == 422


def test_presence_expires(world, frozen):
    t, alice, bob = world["t"], world["alice"], world["bob"]
    presence.heartbeat(t.pk, alice, "typing")
    assert [v.name for v in presence.others(t.pk, bob)] == ["Alice Agent"]
    frozen.set_time(now() + presence.ttl() + timedelta(seconds=1))
    assert presence.others(t.pk, bob) == []


def test_contacts_of_other_orgs_do_not_leak_into_presence(world, login):
    """A customer never reaches the heartbeat (403), so presence reveals nothing."""
    other = Organization.objects.create(name="Globex")
    contact = Contact.objects.create(name="Gil", organization=other)
    ContactEmail.objects.create(contact=contact, email="gil@globex.test", is_primary=True)
    gil = User.objects.create_user(
        username="gil@globex.test", email="gil@globex.test", kind="customer", contact=contact
    )
    assert login(gil).post(f"/t/{world['t'].pk}/presence").status_code == 403
    assert roles.SE  # roles module imported for fixtures' role names
