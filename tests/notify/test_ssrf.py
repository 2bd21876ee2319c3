"""Webhooks may only target public addresses (server-side request forgery guard):
refused with 422 when saved, and refused again when a delivery connects."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from caseline.accounts.services import create_organization
from caseline.audit.models import AuditEvent
from caseline.notify import netguard, services
from caseline.notify.models import OutboxMessage, Webhook

pytestmark = pytest.mark.django_db

PRIVATE_URLS = [
    "http://127.0.0.1:8000/hook",
    "http://127.1.2.3/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://10.1.2.3/hook",
    "http://172.16.0.1/hook",
    "http://172.31.255.254/hook",
    "http://192.168.1.10/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/hook",
    "http://[fd00::1]/hook",
    "http://0.0.0.0/hook",
    "http://100.64.0.1/hook",
    "http://localhost:9000/hook",
    "http://LocalHost/hook",
    "https://api.localhost/hook",
    "http://localhost.localdomain/hook",
]


@pytest.fixture
def no_private(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False


@pytest.fixture
def admin_client(make_staff, api_client):
    return api_client(make_staff("admin"))


def create(client, url):
    return client.post(
        "/api/v1/webhooks",
        {"name": "Hook", "url": url, "event_types": ["*"]},
        content_type="application/json",
    )


@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_private_targets_are_refused_with_422(no_private, admin_client, url):
    resp = create(admin_client, url)
    assert resp.status_code == 422, resp.content
    err = resp.json()["error"]
    assert err["code"] == "validation_error" and "url" in err["fields"]
    assert "public" in err["fields"]["url"]
    assert not Webhook.objects.exists()


def test_public_targets_are_accepted(no_private, admin_client):
    # public literals and names that do not resolve here (checked again at delivery)
    for url in ("https://93.184.215.14/hook", "https://hooks.example.com/caseline"):
        resp = create(admin_client, url)
        assert resp.status_code == 201, resp.content


def test_patch_to_a_private_target_is_refused(no_private, admin_client):
    hook = Webhook.objects.create(
        name="h", url="https://hooks.example.com/x", secret="s" * 32, event_types=["*"]
    )
    resp = admin_client.patch(
        f"/api/v1/webhooks/{hook.pk}",
        {"url": "http://169.254.169.254/latest/"},
        content_type="application/json",
    )
    assert resp.status_code == 422 and "url" in resp.json()["error"]["fields"]
    hook.refresh_from_db()
    assert hook.url == "https://hooks.example.com/x"
    assert not AuditEvent.objects.filter(type="webhook.changed", subject_id=hook.pk).exists()


def test_names_resolving_to_private_addresses_are_refused(no_private):
    # "localhost" resolves through the system resolver; a name is checked by its addresses
    assert netguard.resolve_problem("localhost", 80) is not None
    with pytest.raises(Exception) as exc:
        services.clean_webhook_fields(
            {"name": "x", "url": "http://localhost:1/", "event_types": ["*"]}, creating=True
        )
    assert "url" in exc.value.fields


def test_the_setting_allows_private_targets(settings, admin_client, receiver):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    resp = create(admin_client, receiver.url)
    assert resp.status_code == 201, resp.content


def test_is_public():
    public = ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"]
    private = [
        "127.0.0.1",
        "10.0.0.1",
        "192.168.0.1",
        "172.20.1.1",
        "169.254.1.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:10.0.0.1",
        "2002:7f00:1::1",
        "224.0.0.1",
    ]
    assert all(netguard.is_public(ipaddress.ip_address(a)) for a in public)
    assert not any(netguard.is_public(ipaddress.ip_address(a)) for a in private)


def test_delivery_refuses_a_target_that_became_private(
    settings, make_webhook, receiver, frozen_time
):
    """Saved while allowed (or while its name pointed elsewhere): at delivery time the
    connection is checked again, no request leaves, and the row fails for good."""
    hook = make_webhook(receiver.url)
    settings.WEBHOOK_ALLOW_PRIVATE = False
    create_organization(name="Acme")
    row = OutboxMessage.objects.get(webhook=hook)
    assert services.deliver(row.pk) == "failed"
    row.refresh_from_db()
    assert row.status == "failed" and "refused" in row.last_error
    assert receiver.requests == []
    # allowed again, an admin retry delivers
    settings.WEBHOOK_ALLOW_PRIVATE = True
    services.retry_outbox(row.pk)
    assert services.deliver(row.pk) == "sent"
    assert len(receiver.requests) == 1


def test_delivery_checks_every_resolved_address(settings, monkeypatch):
    """DNS rebinding: the name resolved to a public address when saved, now to 127.0.0.1;
    the connection checks the answer it connects to."""
    settings.WEBHOOK_ALLOW_PRIVATE = False
    real = socket.getaddrinfo

    def rebound(host, port, *args, **kwargs):
        if host == "rebind.example.com":
            return real("127.0.0.1", port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebound)
    with pytest.raises(netguard.BlockedAddress):
        netguard.guarded_create_connection(("rebind.example.com", 80), timeout=1)
    opener = netguard.build_opener()
    with pytest.raises(Exception) as exc:
        opener.open("http://rebind.example.com/hook", timeout=1)
    assert isinstance(getattr(exc.value, "reason", exc.value), netguard.BlockedAddress)
