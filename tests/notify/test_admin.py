"""Django admin of webhooks and the outbox."""

from __future__ import annotations

import pytest
from django.test import Client

from caseline.audit.models import AuditEvent
from caseline.notify.models import OutboxMessage, Webhook

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(make_staff):
    user = make_staff("admin", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    return client


def test_create_webhook_through_admin_uses_the_service(admin_client):
    resp = admin_client.post(
        "/admin/notify/webhook/add/",
        {
            "name": "Ops chat",
            "url": "https://chat.example.com/hook",
            "event_types": '["ticket.created"]',
            "active": "on",
            "secret": "",
        },
    )
    assert resp.status_code == 302, resp.content.decode()[:2000]
    hook = Webhook.objects.get()
    assert hook.secret.startswith("whsec_")
    assert AuditEvent.objects.filter(type="webhook.changed", subject_id=hook.pk).exists()


def test_admin_rejects_bad_input(admin_client):
    resp = admin_client.post(
        "/admin/notify/webhook/add/",
        {"name": "x", "url": "https://x.example", "event_types": '["nope.nope"]', "active": "on"},
    )
    assert resp.status_code == 200 and b"unknown event types" in resp.content
    assert not Webhook.objects.exists()


def test_outbox_changelist_and_retry_action(admin_client, frozen_time):
    row = OutboxMessage.objects.create(
        kind="email",
        status="failed",
        idempotency_key="admin-retry-1",
        payload={"to": ["a@example.com"], "subject": "s", "text": "t"},
        attempts=8,
        last_error="boom",
    )
    page = admin_client.get("/admin/notify/outboxmessage/?status__exact=failed")
    assert page.status_code == 200 and b"admin-retry-1" in page.content
    assert admin_client.get(f"/admin/notify/outboxmessage/{row.pk}/change/").status_code == 200
    resp = admin_client.post(
        "/admin/notify/outboxmessage/",
        {"action": "retry_now", "_selected_action": [row.pk]},
    )
    assert resp.status_code == 302
    row.refresh_from_db()
    assert row.status == "pending" and row.next_attempt_at == frozen_time.now()
