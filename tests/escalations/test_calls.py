"""Calls and visits of escalations (caseline/escalations/calls.py, calls_api.py): scheduling
with attendees and an .ics invitation (parsed back with icalendar), rescheduling (SEQUENCE
up, updated invitation), attendees taken off (CANCEL), cancellation, held calls with notes,
action items with the overdue timer (fired by the clock's ``fire_all_due``), the API, the
room panel, and customer updates sent through the ticket thread."""

from __future__ import annotations

import email
from datetime import timedelta
from email import policy

import pytest
from django.core.files.storage import default_storage
from icalendar import Calendar

from caseline import timesource
from caseline.audit.models import AuditEvent
from caseline.errors import Conflict, NotFound, ValidationFailed
from caseline.escalations import calls, services
from caseline.escalations.models import ActionItem, CadenceEntry, Call, CallAttendee
from caseline.notify import services as notify
from caseline.notify.models import OutboxMessage
from caseline.sla import timers
from caseline.sla.models import Timer
from caseline.tickets.models import Message

from .conftest import T0

pytestmark = pytest.mark.django_db

START = T0 + timedelta(days=1, hours=5)  # Wed 25 March 2026 15:00 UTC
END = START + timedelta(hours=1)


def events(esc, prefix="escalation."):
    return list(
        AuditEvent.objects.filter(
            subject_type="escalation", subject_id=esc.pk, type__startswith=prefix
        )
        .order_by("id")
        .values_list("type", flat=True)
    )


def call_mails(call):
    return list(
        OutboxMessage.objects.filter(idempotency_key__startswith=f"esc-call-{call.pk}-").order_by(
            "id"
        )
    )


def parse_ics(row):
    (att,) = row.payload["attachments"]
    assert att["filename"] == "invite.ics"
    with default_storage.open(att["path"], "rb") as fh:
        cal = Calendar.from_ical(fh.read())
    (event,) = cal.walk("VEVENT")
    return cal, event, att


def attendee_emails(event):
    value = event.get("attendee")
    value = value if isinstance(value, list) else [value] if value is not None else []
    return sorted(str(a).removeprefix("mailto:") for a in value)


@pytest.fixture
def esc(world):
    e = services.open_escalation(world.em, ticket_ids=[world.ticket().pk], title="Replication")
    return e


def schedule(world, esc, **kw):
    fields = dict(
        kind="customer_call",
        title="Daily status call",
        starts_at=START,
        ends_at=END,
        agenda="1. Status of the fix\n2. Next steps",
        location="https://meet.example.test/acme",
        attendees=[
            {"contact_id": world.contact.pk},
            {"user_id": world.agent.pk},
            {"email": "cio@acme-esc.test", "name": "Carla CIO"},
        ],
    )
    fields.update(kw)
    return calls.schedule_call(esc.pk, world.em, **fields)


# --- scheduling and the invitation ------------------------------------------------------------


def test_schedule_call_invites_attendees_with_an_ics(world, esc):
    call = schedule(world, esc)
    assert call.status == "scheduled" and call.sequence == 0
    people = list(call.attendees.order_by("id"))
    assert [(a.side, a.email) for a in people] == [
        ("customer", "ann@acme-esc.test"),
        ("internal", "agent@caseline.test"),
        ("guest", "cio@acme-esc.test"),
    ]
    (row,) = call_mails(call)
    assert row.idempotency_key == f"esc-call-{call.pk}-s0-request"
    assert row.payload["to"] == ["ann@acme-esc.test", "agent@caseline.test", "cio@acme-esc.test"]
    assert row.payload["reply_to"] == ["em@caseline.test"]
    assert row.subject_type == "escalation" and row.subject_id == esc.pk
    assert "Invitation: Daily status call" in row.payload["subject"]
    assert "Wed 25 Mar 2026 15:00 - 16:00 UTC" in row.payload["text"]
    assert "1. Status of the fix" in row.payload["text"]
    cal, event, att = parse_ics(row)
    assert att["content_type"] == "text/calendar; method=REQUEST"
    assert str(cal["method"]) == "REQUEST"
    assert str(event["uid"]) == call.uid
    assert int(event["sequence"]) == 0
    assert event.decoded("dtstart") == START and event.decoded("dtend") == END
    assert str(event["description"]) == "1. Status of the fix\n2. Next steps"
    assert str(event["location"]) == "https://meet.example.test/acme"
    assert str(event["organizer"]) == "mailto:em@caseline.test"
    assert str(event["status"]) == "CONFIRMED"
    assert attendee_emails(event) == sorted(
        ["ann@acme-esc.test", "agent@caseline.test", "cio@acme-esc.test"]
    )
    assert events(esc, "escalation.call") == ["escalation.call_scheduled"]


def test_schedule_refuses_bad_input_and_changes_nothing(world, esc):
    with pytest.raises(ValidationFailed) as exc:
        calls.schedule_call(
            esc.pk,
            world.em,
            kind="lunch",
            title="",
            starts_at=T0 - timedelta(hours=1),
            ends_at=T0 - timedelta(hours=2),
            attendees=[
                {"contact_id": world.foreign_contact.pk},
                {"user_id": world.customer.pk},
                {"email": "not-an-address"},
                {"contact_id": world.contact.pk, "email": "x@y.test"},
            ],
        )
    f = exc.value.fields
    assert {"kind", "title", "starts_at", "ends_at"} <= set(f)
    assert {"attendees.0", "attendees.1", "attendees.2", "attendees.3"} <= set(f)
    with pytest.raises(ValidationFailed) as exc:
        schedule(world, esc, attendees=[])
    assert "attendees" in exc.value.fields
    with pytest.raises(NotFound):
        calls.schedule_call(
            999999,
            world.em,
            title="x",
            starts_at=START,
            ends_at=END,
            attendees=[{"email": "a@b.c"}],
        )
    assert not Call.objects.exists() and not OutboxMessage.objects.exists()
    services.transition(esc.pk, world.em, "resolved", root_cause="fixed")
    with pytest.raises(Conflict):
        schedule(world, esc)


def test_same_address_twice_is_one_attendee(world, esc):
    call = schedule(
        world, esc, attendees=[{"contact_id": world.contact.pk}, {"email": "ANN@acme-esc.test"}]
    )
    assert list(call.attendees.values_list("email", flat=True)) == ["ann@acme-esc.test"]


# --- rescheduling, attendees, cancellation ---------------------------------------------------


def test_reschedule_sends_updated_invitation_with_higher_sequence(world, esc):
    call = schedule(world, esc)
    uid = call.uid
    later = START + timedelta(days=1)
    call = calls.update_call(call.pk, world.em, starts_at=later, ends_at=later + timedelta(hours=2))
    assert call.sequence == 1 and call.uid == uid
    first, update = call_mails(call)
    assert update.idempotency_key == f"esc-call-{call.pk}-s1-request"
    assert "Updated invitation" in update.payload["subject"]
    assert "rescheduled" in update.payload["text"]
    cal, event, _ = parse_ics(update)
    assert str(cal["method"]) == "REQUEST" and str(event["uid"]) == uid
    assert int(event["sequence"]) == 1
    assert event.decoded("dtstart") == later
    assert event.decoded("dtend") == later + timedelta(hours=2)
    ev = AuditEvent.objects.filter(type="escalation.call_changed").last()
    assert ev.data["rescheduled"] is True and ev.data["sequence"] == 1
    assert {e.field for e in AuditEvent.objects.filter(type="escalation.call_changed")} == {
        "starts_at",
        "ends_at",
    }
    # notes alone change nothing in the invitation
    call = calls.update_call(call.pk, world.em, notes="Prep: get the logs")
    assert call.sequence == 1 and len(call_mails(call)) == 2
    # nothing changed: no event, no email
    n = AuditEvent.objects.count()
    calls.update_call(call.pk, world.em, notes="Prep: get the logs")
    assert AuditEvent.objects.count() == n
    with pytest.raises(ValidationFailed) as exc:
        calls.update_call(call.pk, world.em, ends_at=later - timedelta(hours=1))
    assert "ends_at" in exc.value.fields
    with pytest.raises(ValidationFailed):
        calls.update_call(call.pk, world.em, colour="red")
    assert Call.objects.get(pk=call.pk).sequence == 1


def test_attendee_taken_off_gets_a_cancel_and_the_rest_an_update(world, esc):
    call = schedule(world, esc)
    call = calls.update_call(
        call.pk,
        world.em,
        attendees=[{"contact_id": world.contact.pk}, {"email": "cto@acme-esc.test"}],
    )
    assert sorted(call.attendees.values_list("email", flat=True)) == [
        "ann@acme-esc.test",
        "cto@acme-esc.test",
    ]
    _, removed, update = call_mails(call)
    assert removed.idempotency_key == f"esc-call-{call.pk}-s1-cancel-removed"
    assert sorted(removed.payload["to"]) == ["agent@caseline.test", "cio@acme-esc.test"]
    cal, event, att = parse_ics(removed)
    assert str(cal["method"]) == "CANCEL" and att["content_type"].endswith("method=CANCEL")
    assert attendee_emails(event) == ["agent@caseline.test", "cio@acme-esc.test"]
    assert int(event["sequence"]) == 1
    cal, event, _ = parse_ics(update)
    assert str(cal["method"]) == "REQUEST"
    assert attendee_emails(event) == ["ann@acme-esc.test", "cto@acme-esc.test"]


def test_cancel_sends_method_cancel_to_everyone(world, esc):
    call = schedule(world, esc)
    call = calls.cancel_call(call.pk, world.em, reason="Fix deployed, no call needed")
    assert (
        call.status == "cancelled" and call.sequence == 1 and call.cancelled_at == call.updated_at
    )
    row = call_mails(call)[-1]
    assert row.idempotency_key == f"esc-call-{call.pk}-s1-cancel"
    assert "Cancelled" in row.payload["subject"]
    assert "Reason: Fix deployed" in row.payload["text"]
    cal, event, _ = parse_ics(row)
    assert str(cal["method"]) == "CANCEL" and str(event["status"]) == "CANCELLED"
    assert str(event["uid"]) == call.uid and int(event["sequence"]) == 1
    assert len(attendee_emails(event)) == 3
    with pytest.raises(Conflict) as exc:
        calls.cancel_call(call.pk, world.em)
    assert exc.value.code == "call_not_scheduled"
    with pytest.raises(Conflict):
        calls.update_call(call.pk, world.em, title="Again")
    assert events(esc, "escalation.call") == [
        "escalation.call_scheduled",
        "escalation.call_cancelled",
    ]


def test_held_only_after_start_then_notes_only(world, esc):
    call = schedule(world, esc)
    with pytest.raises(Conflict) as exc:
        calls.mark_held(call.pk, world.em, notes="too early")
    assert exc.value.code == "call_not_started"
    timesource.set_time(START + timedelta(minutes=30))
    call = calls.mark_held(call.pk, world.em, notes="Customer confirmed the patch window")
    assert call.status == "held" and call.held_at is not None
    call = calls.update_call(call.pk, world.em, notes="Minutes: patch window Friday")
    assert call.notes == "Minutes: patch window Friday"
    with pytest.raises(Conflict):
        calls.update_call(call.pk, world.em, location="Room 1")
    assert len(call_mails(call)) == 1  # only the original invitation
    assert "escalation.call_held" in events(esc)


# --- action items and their timer -------------------------------------------------------------


def pending(item):
    return list(
        Timer.objects.filter(subject_type="action_item", subject_id=item.pk)
        .filter(timers.PENDING)
        .values_list("key", flat=True)
    )


def test_action_item_overdue_reminds_owner_once(world, esc):
    call = schedule(world, esc)
    due = START + timedelta(hours=4)
    item = calls.add_action_item(
        call.pk, world.em, what="Send RCA draft", owner_id=world.agent.pk, due_at=due
    )
    assert pending(item) == [f"esc-action:{item.pk}:{due.isoformat()}"]
    timesource.set_time(due + timedelta(minutes=1))
    timers.fire_all_due()
    item.refresh_from_db()
    assert item.overdue_at is not None
    mail = OutboxMessage.objects.get(
        idempotency_key=f"esc-action:{item.pk}:{due.isoformat()}:email"
    )
    assert mail.payload["to"] == ["agent@caseline.test"]
    assert "Send RCA draft" in mail.payload["subject"]
    timers.fire_all_due()
    assert AuditEvent.objects.filter(type="escalation.action_item_overdue").count() == 1
    # moving the date re-arms; ticking done cancels
    new_due = due + timedelta(days=1)
    item = calls.update_action_item(item.pk, world.em, due_at=new_due)
    assert item.overdue_at is None and pending(item) == [
        f"esc-action:{item.pk}:{new_due.isoformat()}"
    ]
    item = calls.update_action_item(item.pk, world.em, done=True)
    assert item.done_at is not None and item.done_by == world.em
    assert pending(item) == []
    timesource.set_time(new_due + timedelta(minutes=1))
    timers.fire_all_due()
    assert AuditEvent.objects.filter(type="escalation.action_item_overdue").count() == 1
    assert events(esc, "escalation.action_item") == [
        "escalation.action_item_added",
        "escalation.action_item_overdue",
        "escalation.action_item_changed",
        "escalation.action_item_done",
    ]


def test_moved_item_old_timer_does_nothing(world, esc):
    call = schedule(world, esc)
    due = START + timedelta(hours=1)
    item = calls.add_action_item(
        call.pk, world.em, what="Logs", owner_id=world.agent.pk, due_at=due
    )
    later = due + timedelta(days=2)
    calls.update_action_item(item.pk, world.em, due_at=later)
    timesource.set_time(due + timedelta(hours=1))
    timers.fire_all_due()
    item.refresh_from_db()
    assert item.overdue_at is None
    timesource.set_time(later + timedelta(seconds=1))
    timers.fire_all_due()
    item.refresh_from_db()
    assert item.overdue_at is not None


def test_action_item_validation(world, esc):
    call = schedule(world, esc)
    with pytest.raises(ValidationFailed) as exc:
        calls.add_action_item(call.pk, world.em, what="", owner_id=world.customer.pk, due_at="soon")
    assert set(exc.value.fields) == {"what", "owner_id", "due_at"}
    item = calls.add_action_item(
        call.pk, world.em, what="x", owner_id=world.agent.pk, due_at=START + timedelta(hours=1)
    )
    with pytest.raises(ValidationFailed):
        calls.update_action_item(item.pk, world.em, done="yes")
    with pytest.raises(ValidationFailed):
        calls.update_action_item(item.pk, world.em, due_at=T0 - timedelta(days=1))
    with pytest.raises(NotFound):
        calls.update_action_item(999999, world.em, done=True)
    calls.cancel_call(call.pk, world.em)
    with pytest.raises(Conflict):
        calls.add_action_item(
            call.pk, world.em, what="y", owner_id=world.agent.pk, due_at=START + timedelta(hours=1)
        )
    assert ActionItem.objects.count() == 1


# --- delivery to a real SMTP listener ---------------------------------------------------------


@pytest.fixture
def smtp_sink(settings):
    """A real SMTP listener (aiosmtpd) on a loopback port; Django's SMTP backend uses it."""
    from aiosmtpd.controller import Controller

    from tests.conftest import free_port

    received: list[dict] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            received.append({"rcpt": list(envelope.rcpt_tos), "data": envelope.content})
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    yield received
    controller.stop()


def test_invitation_arrives_over_smtp_with_the_ics(world, esc, settings, smtp_sink):
    settings.CASELINE_MAIL_DOMAIN = "mail.caseline.test"
    call = schedule(world, esc)
    (row,) = call_mails(call)
    assert notify.deliver(row.pk) == "sent"
    (msg,) = smtp_sink  # the SMTP session completed before deliver() returned
    assert sorted(msg["rcpt"]) == sorted(
        ["ann@acme-esc.test", "agent@caseline.test", "cio@acme-esc.test"]
    )
    parsed = email.message_from_bytes(msg["data"], policy=policy.default)
    assert "Invitation: Daily status call" in parsed["Subject"]
    parts = [p for p in parsed.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1
    part = parts[0]
    assert part.get_param("method") == "REQUEST"
    assert part.get_filename() == "invite.ics"
    cal = Calendar.from_ical(part.get_content())
    (event,) = cal.walk("VEVENT")
    assert str(event["uid"]) == call.uid and event.decoded("dtstart") == START


# --- the API ----------------------------------------------------------------------------------


def test_api_calls_and_action_items(world, esc, api_client):
    em = api_client(world.em)
    base = f"/api/v1/escalations/{esc.pk}/calls"
    body = {
        "kind": "onsite_visit",
        "title": "Onsite at Acme HQ",
        "starts_at": START.isoformat(),
        "ends_at": (START + timedelta(hours=6)).isoformat(),
        "location": "Acme HQ, Berlin",
        "agenda": "Walk through the storage layout",
        "attendees": [{"contact_id": world.contact.pk}, {"user_id": world.agent.pk}],
    }
    r = em.post(base, data=body, content_type="application/json")
    assert r.status_code == 201, r.content
    call = r.json()
    assert call["kind"] == "onsite_visit" and call["sequence"] == 0
    assert [a["side"] for a in call["attendees"]] == ["customer", "internal"]
    cid = call["id"]
    r = em.post(base, data={**body, "attendees": []}, content_type="application/json")
    assert r.status_code == 422 and "attendees" in r.json()["error"]["fields"]
    later = START + timedelta(days=2)
    r = em.patch(
        f"/api/v1/escalation-calls/{cid}",
        data={"starts_at": later.isoformat(), "ends_at": (later + timedelta(hours=6)).isoformat()},
        content_type="application/json",
    )
    assert r.status_code == 200 and r.json()["sequence"] == 1
    r = em.post(
        f"/api/v1/escalation-calls/{cid}/action-items",
        data={"what": "Ship new disks", "owner_id": world.agent.pk, "due_at": later.isoformat()},
        content_type="application/json",
    )
    assert r.status_code == 201 and r.json()["done"] is False
    iid = r.json()["id"]
    r = em.patch(
        f"/api/v1/escalation-action-items/{iid}",
        data={"done": True},
        content_type="application/json",
    )
    assert r.status_code == 200 and r.json()["done"] and r.json()["done_by_id"] == world.em.pk
    reader = api_client(world.agent)
    r = reader.get(base)
    assert r.status_code == 200 and r.json()["results"][0]["action_items"][0]["done"] is True
    r = reader.get(f"/api/v1/escalation-calls/{cid}/invite.ics")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/calendar")
    event = Calendar.from_ical(r.content).walk("VEVENT")[0]
    assert int(event["sequence"]) == 1 and event.decoded("dtstart") == later
    r = reader.post(
        f"/api/v1/escalation-calls/{cid}/cancel", data={}, content_type="application/json"
    )
    assert r.status_code == 403
    r = em.post(f"/api/v1/escalation-calls/{cid}/held", data={}, content_type="application/json")
    assert r.status_code == 409 and r.json()["error"]["code"] == "call_not_started"
    r = em.post(
        f"/api/v1/escalation-calls/{cid}/cancel",
        data={"reason": "Moved to remote"},
        content_type="application/json",
    )
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    r = reader.get(f"/api/v1/escalation-calls/{cid}/invite.ics")
    assert str(Calendar.from_ical(r.content)["method"]) == "CANCEL"
    assert em.get("/api/v1/escalation-calls/999999").status_code == 404
    assert em.get("/api/v1/escalations/999999/calls").status_code == 404
    assert api_client(world.customer).get(base).status_code == 403


# --- customer updates through the ticket thread -----------------------------------------------


def test_customer_update_as_public_reply_on_each_linked_ticket(world):
    t1, t2, t3 = world.ticket(), world.ticket(subject="Second"), world.ticket(subject="Closed")
    esc = services.open_escalation(world.em, ticket_ids=[t1.pk, t2.pk, t3.pk])
    t3.status = "closed"
    t3.save(update_fields=["status"])
    services.set_cadence(esc.pk, world.em, kind="customer_update", every_seconds=3600)
    with pytest.raises(ValidationFailed) as exc:
        services.record_update(
            esc.pk, world.em, kind="customer_update", text="x", send=True, via="fax"
        )
    assert "via" in exc.value.fields
    entry = services.record_update(
        esc.pk,
        world.em,
        kind="customer_update",
        text="Engineers are on it",
        send=True,
        via="tickets",
    )
    assert entry.delivery["via"] == "tickets"
    assert [m["ticket"] for m in entry.delivery["messages"]] == [t1.pk, t2.pk]
    assert entry.delivery["skipped"] == [{"ticket": t3.pk, "reason": "closed"}]
    for m in entry.delivery["messages"]:
        msg = Message.objects.get(pk=m["message"])
        assert msg.kind == "public" and msg.author_user == world.em
        assert msg.body_text == "Engineers are on it\n\nNext update by 2026-03-24 11:00 UTC."
        # the mail app sent it in the ticket's thread (outbox row of the reply)
        out = OutboxMessage.objects.get(subject_type="message", subject_id=msg.pk)
        assert out.payload["to"] == ["ann@acme-esc.test"]
        assert "Next update by" in out.payload["text"]
        # a staff public reply on the ticket: the event the SLA engine counts as our reply
        ev = AuditEvent.objects.get(type="ticket.message_added", data__message_id=msg.pk)
        assert ev.data["author_role"] == "staff" and ev.data["kind"] == "public"
        assert ev.actor_id == world.em.pk and ev.ticket_id == m["ticket"]
    assert not OutboxMessage.objects.filter(idempotency_key=f"esc-update-{entry.pk}").exists()
    ev = AuditEvent.objects.filter(type="escalation.update_recorded").last()
    assert ev.data["delivery"]["via"] == "tickets"


def test_customer_update_to_stakeholders_records_delivery(world):
    esc = services.open_escalation(world.em, ticket_ids=[world.ticket().pk])
    services.set_cadence(esc.pk, world.em, kind="customer_update", every_seconds=3600)
    services.add_stakeholder(esc.pk, world.em, contact_id=world.contact.pk, role="day_to_day")
    entry = services.record_update(esc.pk, world.em, kind="customer_update", text="Hi", send=True)
    assert entry.delivery == {"via": "stakeholders", "to": ["ann@acme-esc.test"]}
    assert CadenceEntry.objects.get(pk=entry.pk).delivery["via"] == "stakeholders"


def test_update_via_tickets_without_open_ticket_is_refused(world, api_client):
    t = world.ticket()
    esc = services.open_escalation(world.em, ticket_ids=[t.pk])
    t.status = "closed"
    t.save(update_fields=["status"])
    services.set_cadence(esc.pk, world.em, kind="customer_update", every_seconds=3600)
    r = api_client(world.em).post(
        f"/api/v1/escalations/{esc.pk}/updates",
        data={"kind": "customer_update", "text": "x", "send": True, "via": "tickets"},
        content_type="application/json",
    )
    assert r.status_code == 422 and "via" in r.json()["error"]["fields"]
    assert not CadenceEntry.objects.filter(kind="done").exists()
    t2 = world.ticket()
    services.link_tickets(esc.pk, world.em, [t2.pk])
    r = api_client(world.em).post(
        f"/api/v1/escalations/{esc.pk}/updates",
        data={"kind": "customer_update", "text": "x", "send": True, "via": "tickets"},
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    assert r.json()["delivery"]["messages"][0]["ticket"] == t2.pk


def test_attendee_rows_unique(world, esc):
    call = schedule(world, esc)
    assert CallAttendee.objects.filter(call=call).count() == 3


# --- the room panel (htmx fragment) ---------------------------------------------------------


def test_room_panel_lists_schedules_and_ticks(world, esc, client):
    from django.urls import reverse

    from caseline.web import panels

    world.em.time_zone = "Europe/Berlin"
    world.em.save(update_fields=["time_zone"])
    keys = [p["key"] for p in panels.panels_for("escalation", world.agent, esc.pk)]
    assert "calls" in keys
    url = reverse("escalation_calls_panel", kwargs={"escalation_id": esc.pk})
    client.force_login(world.em)
    page = client.get(url).content.decode()
    assert 'data-empty="upcoming"' in page and 'data-form="schedule-call"' in page
    # schedule through the form: the start is in the viewer's zone (Berlin, UTC+1 in March)
    r = client.post(
        reverse("escalation_call_schedule", kwargs={"escalation_id": esc.pk}),
        {
            "kind": "customer_call",
            "title": "Status call",
            "starts_at": "2026-03-25T16:00",
            "minutes": "45",
            "location": "Bridge 42",
            "contact": [str(world.contact.pk)],
            "user": [str(world.agent.pk)],
            "emails": "cio@acme-esc.test",
        },
        HTTP_HX_REQUEST="true",
    )
    assert r.status_code == 200, r.content
    call = Call.objects.get()
    assert call.starts_at == START and call.ends_at == START + timedelta(minutes=45)
    assert call.attendees.count() == 3 and len(call_mails(call)) == 1
    page = r.content.decode()
    assert f'data-call="{call.pk}"' in page and "Wed 25 Mar 2026 16:00" in page
    # a refusal is shown next to its form with the service's status; nothing changed
    r = client.post(
        reverse("escalation_action_items", kwargs={"call_id": call.pk}),
        {"what": "", "owner_id": str(world.agent.pk), "due_at": "2026-03-26T10:00"},
    )
    assert r.status_code == 422 and 'data-error="item"' in r.content.decode()
    r = client.post(
        reverse("escalation_action_items", kwargs={"call_id": call.pk}),
        {"what": "Send the RCA", "owner_id": str(world.agent.pk), "due_at": "2026-03-26T10:00"},
    )
    item = ActionItem.objects.get()
    assert item.due_at == T0 + timedelta(days=2, hours=-1)  # 26 Mar 10:00 Berlin = 09:00 UTC
    r = client.post(
        reverse("escalation_action_item_tick", kwargs={"item_id": item.pk}), {"done": "1"}
    )
    assert r.status_code == 200 and f'data-item="{item.pk}" data-done="1"' in r.content.decode()
    r = client.post(
        reverse("escalation_call_reschedule", kwargs={"call_id": call.pk}),
        {"starts_at": "2026-03-26T16:00", "minutes": "60", "location": "Bridge 42"},
    )
    assert r.status_code == 200 and Call.objects.get().sequence == 1
    r = client.post(reverse("escalation_call_cancel", kwargs={"call_id": call.pk}), {"reason": "x"})
    assert r.status_code == 200 and Call.objects.get().status == "cancelled"
    # read-only for an agent; 403 on changes
    client.force_login(world.agent)
    page = client.get(url).content.decode()
    assert f'data-call="{call.pk}"' in page and 'data-form="schedule-call"' not in page
    r = client.post(reverse("escalation_call_cancel", kwargs={"call_id": call.pk}), {})
    assert r.status_code == 403
    client.force_login(world.customer)
    assert client.get(url).status_code == 403


def test_demo_schedules_a_call_with_an_action_item_once(world, esc):
    from caseline.demo.esc_calls import seed_calls

    class Report:
        def __init__(self):
            self.created = {}

        def add(self, what, n=1):
            self.created[what] = self.created.get(what, 0) + n

    services.add_stakeholder(esc.pk, world.em, contact_id=world.contact.pk, role="technical_lead")
    services.add_stakeholder(esc.pk, world.em, user_id=world.agent.pk, role="engineering_lead")
    report = Report()
    users = {"rahul.mehta": world.em, "priya.natarajan": world.agent}
    seed_calls(report, users)
    seed_calls(report, users)
    assert report.created == {"escalation calls": 1}
    call = Call.objects.get()
    assert call.kind == "customer_call" and call.attendees.count() == 2
    assert call.action_items.get().owner == world.agent
    assert len(call_mails(call)) == 1


def test_update_via_tickets_counts_on_the_ticket_sla_clock(world):
    """The public reply the update posts is our reply on the SLA clocks of the ticket."""
    from caseline.sla import services as sla
    from caseline.tickets import services as tickets

    t = tickets.create_ticket(
        actor=world.agent,
        requester=world.contact,
        subject="Replication lag",
        body_text="Our replica is 2 hours behind.",
        channel="web",
    )
    before = {c.key: c.state for c in sla.clocks_of(t.pk)}
    assert before.get("support_engineer:acknowledge") == "active"
    esc = services.open_from_ticket(t.pk, world.em)
    services.set_cadence(esc.pk, world.em, kind="customer_update", every_seconds=3600)
    timesource.set_time(T0 + timedelta(minutes=10))
    services.record_update(
        esc.pk, world.em, kind="customer_update", text="We are on it", send=True, via="tickets"
    )
    after = {c.key: c.state for c in sla.clocks_of(t.pk)}
    assert after["support_engineer:acknowledge"] == "fulfilled"
