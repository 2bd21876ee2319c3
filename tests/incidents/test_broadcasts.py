"""Broadcasts: one update reaches every linked ticket's thread by email (a real SMTP
listener), chat webhooks (a real HTTP server) and the executive feed; it fulfils the
tickets' next-reply and periodic-update clocks; the cadence reminds and records misses;
bad input changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from caseline import timesource
from caseline.audit.models import AuditEvent
from caseline.errors import Conflict, ValidationFailed
from caseline.incidents import broadcasts
from caseline.incidents.models import Broadcast, BroadcastTicket, ChatWebhook, TimelineEntry
from caseline.notify.models import OutboxMessage
from caseline.sla import timers
from caseline.sla.models import Clock
from caseline.tickets.models import Message

from .bcast_support import T0, chat, declare, frozen, smtp, world  # noqa: F401

pytestmark = pytest.mark.django_db


def _clock(ticket, kind):
    return Clock.objects.get(ticket=ticket, kind=kind, role="support_engineer")


def test_broadcast_reaches_every_thread_chat_and_feed_and_fulfils_the_clocks(
    world, smtp, chat, django_capture_on_commit_callbacks
):
    inc = declare(world)
    broadcasts.create_chat_webhook(world.im, name="#incidents", url=chat.url)
    for t in world.tickets:
        assert _clock(t, "next_reply").state == "active"
    old_due = _clock(world.tickets[0], "next_reply").due_at
    timesource.set_time(T0 + timedelta(minutes=10))
    nxt = T0 + timedelta(minutes=70)

    with django_capture_on_commit_callbacks(execute=True):  # the outbox doorbell
        b = broadcasts.send_broadcast(
            inc.pk,
            world.im,
            body="Replication is failing in EU-West; a fix is rolling out.",
            next_update_at=nxt,
        )

    assert b.ticket_count == 3
    # Email: one mail per ticket, in its thread, to requester, CC and staff follower.
    mails = smtp.parsed()
    assert len(mails) == 3
    by_ticket = {}
    for rcpts, msg in mails:
        by_ticket[int(msg["X-Caseline-Ticket"])] = (rcpts, msg)
    for t in world.tickets:
        rcpts, msg = by_ticket[t.pk]
        org = t.organization.name.split()[0].lower()
        assert set(rcpts) == {
            f"req@{org}.test",
            f"cc@{org}.test",
            "follower@caseline.test",
            "agent@caseline.test",  # the assignee follows the ticket
        }
        assert msg["To"] == f"req@{org}.test" and msg["Cc"] == f"cc@{org}.test"
        assert f"[CL-{t.pk}]" in msg["Subject"]
        m = BroadcastTicket.objects.get(broadcast=b, ticket=t).message
        assert (
            msg["Message-ID"].strip()
            == m.email_message_id
            == f"<cl-t{t.pk}-m{m.pk}@" + msg["Message-ID"].split("@")[1].strip()
        )
        thread = list(
            Message.objects.filter(ticket=t, id__lt=m.pk)
            .exclude(email_message_id="")
            .values_list("email_message_id", flat=True)
        )
        assert msg["In-Reply-To"].strip() == thread[-1]
        assert msg["References"].split() == thread
        text = msg.get_body(preferencelist=("plain",)).get_content()
        assert "Replication is failing in EU-West" in text
        assert "Next update: by Mon 02 Mar 2026, 10:10 UTC" in text
        assert m.kind == "public" and m.author_user_id == world.im.pk
    # Chat: Slack-compatible JSON with the next update time.
    assert len(chat.bodies) == 1
    post = chat.bodies[0]
    assert "Next update: by Mon 02 Mar 2026, 10:10 UTC" in post["text"]
    assert [blk["type"] for blk in post["blocks"]] == ["header", "section", "context"]
    # Feed, timeline, audit.
    assert list(broadcasts.feed()) == [b]
    assert TimelineEntry.objects.filter(incident=inc, event_type="incident.broadcast_sent").exists()
    assert AuditEvent.objects.filter(type="incident.broadcast_sent", subject_id=inc.pk).count() == 1
    assert (
        AuditEvent.objects.filter(type="ticket.message_added", data__broadcast_id=b.pk).count() == 3
    )
    # Delivery state per recipient.
    rows = broadcasts.deliveries(b)
    assert {(r["channel"], r["status"]) for r in rows} == {("email", "sent"), ("chat", "sent")}
    assert len([r for r in rows if r["channel"] == "email"]) == 12
    assert broadcasts.delivery_summary(b) == {"pending": 0, "sent": 4, "failed": 0, "total": 4}
    # SLA: next reply fulfilled, periodic update restarted from the broadcast.
    for t in world.tickets:
        assert _clock(t, "next_reply").state == "fulfilled"
        periodic = _clock(t, "periodic_update")
        assert periodic.state == "active"
        assert periodic.due_at == T0 + timedelta(minutes=70)
    # Time passes the old next-reply due time: no breach at all.
    timesource.set_time(old_due + timedelta(minutes=5))
    timers.fire_all_due()
    breached = AuditEvent.objects.filter(type="sla.breached")
    assert not breached.exists(), [e.data for e in breached]


def test_without_the_broadcast_the_clocks_breach(world):
    """The control: the same tickets breach their next-reply clocks when nobody updates."""
    declare(world)
    timesource.set_time(T0 + timedelta(minutes=31))
    timers.fire_all_due()
    breached = AuditEvent.objects.filter(type="sla.breached")
    assert sorted(e.data["target"] for e in breached) == ["next_reply"] * 3


def test_bad_input_is_refused_and_changes_nothing(world, api_client):
    inc = declare(world)
    client = api_client(world.im)
    before = (Message.objects.count(), OutboxMessage.objects.count(), AuditEvent.objects.count())
    url = f"/api/v1/incidents/{inc.pk}/broadcasts"
    cases = [
        ({"body": "   "}, "body"),
        ({"body": "x", "next_update_at": "2026-03-02T08:00:00Z"}, "next_update_at"),
        ({"body": "x", "next_update_at": "2026-04-02T08:00:00Z"}, "next_update_at"),
        ({"body": "x", "channels": ["email", "pigeon"]}, "channels"),
        ({"body": "x", "public": True}, "public"),
        ({"body": "x" * 10_001}, "body"),
        ({"next_update_at": "soon"}, "body"),
    ]
    for payload, field in cases:
        resp = client.post(url, data=payload, content_type="application/json")
        assert resp.status_code == 422, (payload, resp.content)
        assert field in resp.json()["error"]["fields"], (payload, resp.json())
    after = (Message.objects.count(), OutboxMessage.objects.count(), AuditEvent.objects.count())
    assert after == before
    assert not Broadcast.objects.exists()
    resp = client.post(
        "/api/v1/incidents/999999/broadcasts", data={"body": "x"}, content_type="application/json"
    )
    assert resp.status_code == 404


def test_a_closed_incident_takes_no_broadcast(world):
    from caseline.incidents.models import Incident

    inc = declare(world)
    Incident.objects.filter(pk=inc.pk).update(status="closed")
    with pytest.raises(Conflict):
        broadcasts.send_broadcast(inc.pk, world.im, body="late")
    assert not Broadcast.objects.exists()


def test_api_send_list_detail_feed_and_permissions(
    world, smtp, api_client, django_capture_on_commit_callbacks
):
    inc = declare(world)
    im, agent = api_client(world.im), api_client(world.agent)
    url = f"/api/v1/incidents/{inc.pk}/broadcasts"
    resp = agent.post(url, data={"body": "x"}, content_type="application/json")
    assert resp.status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        resp = im.post(
            url,
            data={"body": "We are on it.", "channels": ["email"]},
            content_type="application/json",
        )
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["ticket_count"] == 3 and body["channels"] == ["email"]
    assert body["next_update_at"].startswith("2026-03-02T10:00")  # Sev-1 cadence: 1 h
    assert body["delivery"]["total"] == 3  # written; delivered after the commit
    listed = agent.get(url).json()["results"]
    assert listed[0]["delivery"]["sent"] == 3
    assert [r["id"] for r in listed] == [body["id"]]
    detail = agent.get(f"{url}/{body['id']}").json()
    recipients = {(d["recipient"], d["status"]) for d in detail["deliveries"]}
    assert ("req@acme.test", "sent") in recipients and ("cc@globex.test", "sent") in recipients
    feed = agent.get("/api/v1/broadcasts").json()["results"]
    assert feed[0]["id"] == body["id"]
    assert agent.get(f"/api/v1/incidents/{inc.pk}/broadcasts/999").status_code == 404


def test_cadence_reminds_the_communications_lead_and_records_a_miss(world):
    from caseline.incidents import services

    inc = declare(world)
    services.assign_role(inc.pk, world.im, role="communications_lead", user_id=world.agent.pk)
    inc.refresh_from_db()
    assert inc.next_update_at == T0 + timedelta(hours=1)  # declared Sev-1: 1 h
    timesource.set_time(T0 + timedelta(minutes=51))
    timers.fire_all_due()
    reminder = OutboxMessage.objects.get(idempotency_key__startswith=f"inc-bcast-{inc.pk}-")
    assert reminder.payload["to"] == ["agent@caseline.test"]
    assert AuditEvent.objects.filter(type="incident.broadcast_reminded").count() == 1
    timesource.set_time(T0 + timedelta(minutes=60))
    timers.fire_all_due()
    assert AuditEvent.objects.filter(type="incident.broadcast_missed").count() == 1
    inc.refresh_from_db()
    assert inc.next_update_at == T0 + timedelta(hours=2)  # the next cycle
    # A broadcast starts the cycle from the time it states; the old timers do nothing.
    b = broadcasts.send_broadcast(
        inc.pk, world.im, body="Update", next_update_at=T0 + timedelta(minutes=90)
    )
    inc.refresh_from_db()
    assert inc.next_update_at == b.next_update_at
    timesource.set_time(T0 + timedelta(minutes=89))
    timers.fire_all_due()
    assert AuditEvent.objects.filter(type="incident.broadcast_missed").count() == 1
    # Configurable per incident; 0 stops it.
    broadcasts.set_cadence(inc.pk, world.im, every_seconds=1800)
    inc.refresh_from_db()
    assert inc.next_update_at == T0 + timedelta(minutes=89 + 30)
    broadcasts.set_cadence(inc.pk, world.im, every_seconds=0)
    inc.refresh_from_db()
    assert inc.next_update_at is None
    timesource.set_time(T0 + timedelta(hours=5))
    timers.fire_all_due()
    assert AuditEvent.objects.filter(type="incident.broadcast_missed").count() == 1
    with pytest.raises(ValidationFailed):
        broadcasts.set_cadence(inc.pk, world.im, every_seconds=5)


def test_resolving_stops_the_cadence(world):
    from caseline.incidents import services

    inc = declare(world)
    services.transition(inc.pk, world.im, "resolved")
    inc.refresh_from_db()
    assert inc.next_update_at is None
    timesource.set_time(T0 + timedelta(hours=3))
    timers.fire_all_due()
    assert not AuditEvent.objects.filter(type="incident.broadcast_missed").exists()


def test_chat_webhooks_api_crud_and_ssrf_guard(world, api_client, settings, chat):
    im, agent = api_client(world.im), api_client(world.agent)
    resp = agent.post(
        "/api/v1/chat-webhooks",
        data={"name": "x", "url": chat.url},
        content_type="application/json",
    )
    assert resp.status_code == 403
    resp = im.post(
        "/api/v1/chat-webhooks",
        data={"name": "#war-room", "url": chat.url},
        content_type="application/json",
    )
    assert resp.status_code == 201, resp.content
    hook_id = resp.json()["id"]
    hook = ChatWebhook.objects.get(pk=hook_id)
    assert hook.webhook.event_types == []  # never a domain event, only broadcasts
    resp = im.patch(
        f"/api/v1/chat-webhooks/{hook_id}", data={"active": False}, content_type="application/json"
    )
    assert resp.json()["active"] is False
    hook.webhook.refresh_from_db()
    assert hook.webhook.active is False
    for bad in ("ftp://x.test/hook", "not a url", ""):
        resp = im.post(
            "/api/v1/chat-webhooks", data={"name": "b", "url": bad}, content_type="application/json"
        )
        assert resp.status_code == 422 and "url" in resp.json()["error"]["fields"]
    settings.WEBHOOK_ALLOW_PRIVATE = False
    resp = im.post(
        "/api/v1/chat-webhooks",
        data={"name": "internal", "url": "http://127.0.0.1:9/x"},
        content_type="application/json",
    )
    assert resp.status_code == 422 and "url" in resp.json()["error"]["fields"]
    assert ChatWebhook.objects.count() == 1
    assert len(im.get("/api/v1/chat-webhooks").json()) == 1
    assert agent.get("/api/v1/chat-webhooks").status_code == 403
    assert im.delete(f"/api/v1/chat-webhooks/{hook_id}").status_code == 204
    assert not ChatWebhook.objects.exists()


def test_failed_chat_delivery_is_visible_and_retried(
    world, chat, django_capture_on_commit_callbacks
):
    inc = declare(world)
    chat.status = 500
    broadcasts.create_chat_webhook(world.im, name="#incidents", url=chat.url)
    with django_capture_on_commit_callbacks(execute=True):
        b = broadcasts.send_broadcast(inc.pk, world.im, body="Update", channels=["chat"])
    assert b.ticket_count == 0
    rows = broadcasts.deliveries(b)
    assert [(r["channel"], r["status"], r["attempts"]) for r in rows] == [("chat", "pending", 1)]
    assert "HTTP 500" in rows[0]["last_error"]


def test_incident_room_panel_compose_and_feed_page(
    world, smtp, client, django_capture_on_commit_callbacks
):
    inc = declare(world)
    client.force_login(world.im)
    url = f"/incidents/{inc.pk}/broadcasts/panel/"
    resp = client.get(url)
    assert resp.status_code == 200 and b'data-form="broadcast"' in resp.content
    resp = client.post(url, {"body": "", "channels": ["email"]})
    assert resp.status_code == 422 and b'data-field="body"' in resp.content
    assert not Broadcast.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post(
            url,
            {"body": "Fix deployed", "channels": ["email"], "next_update_at": "2026-03-02T11:00"},
        )
    assert resp.status_code == 200 and b'data-sent="1"' in resp.content
    b = Broadcast.objects.get()
    assert b.next_update_at == T0 + timedelta(hours=2)
    resp = client.get(f"{url}?show={b.pk}")
    assert b'data-recipient="req@acme.test" data-status="sent"' in resp.content
    feed = client.get("/incidents/feed/")
    assert feed.status_code == 200 and b"Fix deployed" in feed.content
    data = client.get("/incidents/feed/?format=json").json()
    assert data["results"][0]["id"] == b.pk
    client.force_login(world.agent)
    assert client.get(url).status_code == 200
    assert client.post(url, {"body": "x"}).status_code == 403


def test_panel_puts_the_incident_on_the_status_page(world, client):
    """The room's panel sets the status page (on, public title, impact per component);
    a bad impact changes nothing."""
    from caseline.incidents.models import IncidentComponent, StatusComponent

    api = StatusComponent.objects.create(name="Webhooks API")
    inc = declare(world)
    client.force_login(world.im)
    url = f"/incidents/{inc.pk}/broadcasts/panel/"
    assert b'data-form="status-page"' in client.get(url).content
    bad = {"action": "status_page", "public": "1", f"component_{api.pk}": "operational"}
    assert client.post(url, bad).status_code == 422
    inc.refresh_from_db()
    assert not inc.public and not IncidentComponent.objects.exists()
    good = {
        "action": "status_page",
        "public": "1",
        "public_title": "Webhook delivery delays",
        f"component_{api.pk}": "major_outage",
    }
    resp = client.post(url, good)
    assert resp.status_code == 200 and b'data-saved="status-page"' in resp.content
    inc.refresh_from_db()
    assert inc.public and inc.public_title == "Webhook delivery delays"
    assert IncidentComponent.objects.get(incident=inc).status == "major_outage"
    client.force_login(world.agent)
    assert client.post(url, good).status_code == 403
