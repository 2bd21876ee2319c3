"""/api/v1/webhooks and /api/v1/outbox: success, validation, permission, not found."""

from __future__ import annotations

import pytest

from caseline.audit.models import AuditEvent
from caseline.notify.models import OutboxMessage, Webhook
from caseline.notify.signing import verify_signature

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user(make_staff):
    return make_staff("admin")


@pytest.fixture
def client(api_client, admin_user):
    return api_client(admin_user)


def create(client, **overrides):
    body = {"name": "Chat bridge", "url": "https://hooks.example.com/c", "event_types": ["*"]}
    body.update(overrides)
    return client.post("/api/v1/webhooks", body, content_type="application/json")


def test_create_returns_generated_secret_once(client, admin_user):
    resp = create(client, event_types=["ticket.created", "ticket.solved"])
    assert resp.status_code == 201, resp.json()
    data = resp.json()
    assert data["secret"].startswith("whsec_") and len(data["secret"]) > 30
    assert data["event_types"] == ["ticket.created", "ticket.solved"]
    assert data["active"] is True and data["created_by_id"] == admin_user.pk
    hook = Webhook.objects.get(pk=data["id"])
    assert hook.secret == data["secret"]
    assert "secret" not in client.get(f"/api/v1/webhooks/{hook.pk}").json()
    listed = client.get("/api/v1/webhooks").json()
    assert [w["id"] for w in listed["results"]] == [hook.pk]
    assert all("secret" not in w for w in listed["results"])
    audit = AuditEvent.objects.get(type="webhook.changed", subject_id=hook.pk)
    assert audit.actor_id == admin_user.pk and audit.data["action"] == "created"
    assert "secret" not in audit.data


def test_create_with_own_secret(client):
    resp = create(client, secret="my-own-secret-123456")
    assert resp.status_code == 201
    assert Webhook.objects.get().secret == "my-own-secret-123456"


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"url": "ftp://files.example.com/x"}, "url"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"event_types": ["ticket.exploded"]}, "event_types"),
        ({"event_types": []}, "event_types"),
        ({"name": "  "}, "name"),
        ({"secret": "short"}, "secret"),
    ],
)
def test_create_validation(client, overrides, field):
    resp = create(client, **overrides)
    assert resp.status_code == 422
    err = resp.json()["error"]
    assert err["code"] == "validation_error" and field in err["fields"]
    assert Webhook.objects.count() == 0


def test_missing_body_fields_are_422(client):
    resp = client.post("/api/v1/webhooks", {"name": "x"}, content_type="application/json")
    assert resp.status_code == 422 and resp.json()["error"]["code"] == "validation_error"


def test_patch_and_delete_are_audited(client):
    hook_id = create(client).json()["id"]
    resp = client.patch(
        f"/api/v1/webhooks/{hook_id}",
        {"active": False, "event_types": ["ticket.created"]},
        content_type="application/json",
    )
    assert resp.status_code == 200
    assert resp.json()["active"] is False and resp.json()["event_types"] == ["ticket.created"]
    fields = set(
        AuditEvent.objects.filter(type="webhook.changed", subject_id=hook_id)
        .exclude(field="")
        .values_list("field", flat=True)
    )
    assert fields == {"active", "event_types"}

    bad = client.patch(
        f"/api/v1/webhooks/{hook_id}", {"url": "gopher://x"}, content_type="application/json"
    )
    assert bad.status_code == 422
    assert Webhook.objects.get().url == "https://hooks.example.com/c"
    null = client.patch(
        f"/api/v1/webhooks/{hook_id}", {"name": None}, content_type="application/json"
    )
    assert null.status_code == 422

    assert client.delete(f"/api/v1/webhooks/{hook_id}").status_code == 204
    assert not Webhook.objects.exists()
    assert AuditEvent.objects.filter(
        type="webhook.changed", subject_id=hook_id, data__action="deleted"
    ).exists()
    assert client.delete(f"/api/v1/webhooks/{hook_id}").status_code == 404


def test_not_found(client):
    for method, path in [
        ("get", "/api/v1/webhooks/999"),
        ("patch", "/api/v1/webhooks/999"),
        ("delete", "/api/v1/webhooks/999"),
        ("get", "/api/v1/webhooks/999/deliveries"),
        ("post", "/api/v1/webhooks/999/test"),
        ("post", "/api/v1/outbox/999/retry"),
    ]:
        resp = getattr(client, method)(path, {}, content_type="application/json")
        assert resp.status_code == 404, (method, path, resp.content)
        assert resp.json()["error"]["code"] == "not_found"


def test_permission_denied_for_roles_without_manage_webhooks(make_staff, api_client):
    hook = Webhook.objects.create(name="x", url="https://e.example", secret="s" * 20)
    for role in ("support_engineer", "support_manager", "executive"):
        client = api_client(make_staff(role))
        for method, path in [
            ("get", "/api/v1/webhooks"),
            ("post", "/api/v1/webhooks"),
            ("get", f"/api/v1/webhooks/{hook.pk}"),
            ("patch", f"/api/v1/webhooks/{hook.pk}"),
            ("delete", f"/api/v1/webhooks/{hook.pk}"),
            ("get", f"/api/v1/webhooks/{hook.pk}/deliveries"),
            ("post", f"/api/v1/webhooks/{hook.pk}/test"),
            ("get", "/api/v1/outbox"),
            ("post", "/api/v1/outbox/1/retry"),
        ]:
            body = {"name": "n", "url": "https://e.example", "event_types": ["*"]}
            resp = getattr(client, method)(path, body, content_type="application/json")
            assert resp.status_code == 403, (role, method, path)
            assert resp.json()["error"]["code"] == "permission_denied"
    assert Webhook.objects.count() == 1


def test_unauthenticated(client):
    from django.test import Client

    assert Client().get("/api/v1/webhooks").status_code == 401


def test_ping_delivery_and_deliveries_page(
    client, receiver, frozen_time, django_capture_on_commit_callbacks
):
    created = create(client, url=receiver.url, event_types=["ticket.created"]).json()
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post(f"/api/v1/webhooks/{created['id']}/test")
    assert resp.status_code == 202
    assert resp.json()["event_type"] == "ping"
    assert len(receiver.requests) == 1
    req = receiver.requests[0]
    assert req.headers["X-Caseline-Event"] == "ping"
    assert req.headers["Idempotency-Key"].startswith(f"ping-{created['id']}-")
    assert verify_signature(
        created["secret"],
        req.body,
        req.headers["X-Caseline-Timestamp"],
        req.headers["X-Caseline-Signature"],
        current_time=req.received_at,
    )
    # a second ping is a new delivery with its own key
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/api/v1/webhooks/{created['id']}/test")
    assert len(set(receiver.keys())) == 2

    page1 = client.get(f"/api/v1/webhooks/{created['id']}/deliveries?limit=1").json()
    assert len(page1["results"]) == 1 and page1["meta"]["has_more"] is True
    first = page1["results"][0]
    assert first["status"] == "sent" and first["attempts"] == 1 and first["sent_at"]
    page2 = client.get(
        f"/api/v1/webhooks/{created['id']}/deliveries?limit=1&cursor={page1['meta']['next_cursor']}"
    ).json()
    assert page2["meta"]["has_more"] is False and page2["results"][0]["id"] < first["id"]
    assert (
        client.get(f"/api/v1/webhooks/{created['id']}/deliveries?status=failed").json()["results"]
        == []
    )
    assert (
        client.get(f"/api/v1/webhooks/{created['id']}/deliveries?status=bogus").status_code == 422
    )


def test_outbox_list_and_retry(
    client, receiver, frozen_time, settings, django_capture_on_commit_callbacks
):
    settings.OUTBOX_MAX_ATTEMPTS = 1
    created = create(client, url=receiver.url).json()
    receiver.statuses = [500]
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"/api/v1/webhooks/{created['id']}/test")
    row = OutboxMessage.objects.get(event_type="ping")
    assert row.status == "failed"

    stuck = client.get("/api/v1/outbox?status=failed").json()["results"]
    assert [r["id"] for r in stuck] == [row.pk]
    assert "HTTP 500" in stuck[0]["last_error"]
    assert client.get("/api/v1/outbox?status=sent").json()["results"] == []
    assert client.get("/api/v1/outbox?kind=email").json()["results"] == []
    assert client.get("/api/v1/outbox?status=nope").status_code == 422
    assert client.get("/api/v1/outbox?kind=fax").status_code == 422

    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post(f"/api/v1/outbox/{row.pk}/retry")
    assert resp.status_code == 200
    row.refresh_from_db()
    assert row.status == "sent"
    pings = [r for r in receiver.requests if r.headers["X-Caseline-Event"] == "ping"]
    assert len(pings) == 2 and len({r.headers["Idempotency-Key"] for r in pings}) == 1
    # the retry is itself an audited event; the "*" webhook hears about it too
    assert "outbox.retried" in {r.headers["X-Caseline-Event"] for r in receiver.requests}
    assert AuditEvent.objects.filter(type="outbox.retried", subject_id=row.pk).exists()
    again = client.post(f"/api/v1/outbox/{row.pk}/retry")
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"


def test_deleting_a_webhook_fails_its_pending_deliveries(client, receiver, frozen_time):
    created = create(client, url=receiver.url).json()
    client.post(f"/api/v1/webhooks/{created['id']}/test")  # on_commit not run: stays pending
    # a "*" webhook also hears of its own creation (webhook.changed)
    assert set(OutboxMessage.objects.values_list("event_type", flat=True)) == {
        "ping",
        "webhook.changed",
    }
    row = OutboxMessage.objects.get(event_type="ping")
    assert row.status == "pending"
    client.delete(f"/api/v1/webhooks/{created['id']}")
    row.refresh_from_db()
    assert row.status == "failed" and row.webhook_id is None
    assert receiver.requests == []
