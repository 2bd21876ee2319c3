"""The public status page: components set by incidents, public incidents and updates,
14 days of history, JSON, caching; email subscriptions with double opt-in through a real
SMTP listener; bad input changes nothing."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from caseline import timesource
from caseline.audit.models import AuditEvent
from caseline.errors import ValidationFailed
from caseline.incidents import broadcasts, statuspage
from caseline.incidents.models import IncidentComponent, StatusComponent, StatusSubscriber

from .bcast_support import T0, declare, frozen, smtp, world  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.delete(statuspage.CACHE_KEY)
    yield
    cache.delete(statuspage.CACHE_KEY)


def _components(w):
    api = statuspage.create_component(w.im, name="API", group="Platform", position=1)
    repl = statuspage.create_component(w.im, name="Replication", group="Storage")
    return api, repl


def test_public_page_shows_public_incidents_components_and_updates(world, client):
    api, repl = _components(world)
    inc = declare(world)
    hidden = declare(world, title="Internal only", ticket_ids=[])
    statuspage.set_status_page(
        inc.pk,
        world.im,
        public=True,
        public_title="Replication delays in EU-West",
        components={str(repl.pk): "major_outage", str(api.pk): "degraded"},
    )
    repl.refresh_from_db()
    assert repl.status == "major_outage"
    broadcasts.send_broadcast(inc.pk, world.im, body="PUBLIC-UPDATE-1", public=True, channels=[])
    broadcasts.send_broadcast(inc.pk, world.im, body="INTERNAL-UPDATE-2", channels=[])
    broadcasts.send_broadcast(hidden.pk, world.im, body="HIDDEN-UPDATE-3", channels=[])
    cache.delete(statuspage.CACHE_KEY)

    resp = client.get("/status/")  # no login
    assert resp.status_code == 200
    html = resp.content.decode()
    assert "Replication delays in EU-West" in html and "PUBLIC-UPDATE-1" in html
    assert "INTERNAL-UPDATE-2" not in html and "HIDDEN-UPDATE-3" not in html
    assert "Internal only" not in html and "Replication outage" not in html
    assert 'data-component="Replication" data-status="major_outage"' in html
    assert 'data-overall="major_outage"' in html

    data = client.get("/status.json").json()
    assert data["status"] == "major_outage"
    assert [i["title"] for i in data["incidents"]] == ["Replication delays in EU-West"]
    assert [u["body"] for u in data["incidents"][0]["updates"]] == ["PUBLIC-UPDATE-1"]
    assert data["incidents"][0]["next_update_at"]
    assert {c["name"]: c["status"] for c in data["incidents"][0]["components"]} == {
        "API": "degraded",
        "Replication": "major_outage",
    }
    assert client.get("/api/v1/status").json()["status"] == "major_outage"  # no token


def test_resolving_restores_components_and_moves_the_incident_to_history(world):
    from caseline.incidents import services

    api, repl = _components(world)
    inc = declare(world)
    statuspage.set_status_page(
        inc.pk, world.im, public=True, components={str(repl.pk): "partial_outage"}
    )
    timesource.set_time(T0 + timedelta(hours=2))
    services.transition(inc.pk, world.im, "resolved")
    repl.refresh_from_db()
    assert repl.status == "operational"
    data = statuspage.build_snapshot()
    assert data["status"] == "operational" and data["incidents"] == []
    assert [h["id"] for h in data["history"]] == [inc.pk]
    # 14 days later it has left the history.
    data = statuspage.build_snapshot(T0 + timedelta(days=15))
    assert data["history"] == []


def test_the_page_is_cheap_and_cached(world, client):
    _components(world)
    inc = declare(world)
    statuspage.set_status_page(inc.pk, world.im, public=True)
    with CaptureQueriesContext(connection) as first:
        statuspage.build_snapshot()
    assert len(first) <= 4  # components, incidents, updates, impacts
    statuspage.snapshot()
    with CaptureQueriesContext(connection) as cached:
        resp = client.get("/status.json")
    assert resp.status_code == 200 and len(cached) == 0


def test_the_page_shows_readable_times(world, client):
    """The snapshot's ISO strings are shown as dates, not as raw ISO text."""
    inc = declare(world)
    statuspage.set_status_page(inc.pk, world.im, public=True)
    broadcasts.send_broadcast(inc.pk, world.im, body="Looking into it", public=True, channels=[])
    page = client.get("/status/").content.decode()
    assert "Looking into it" in page
    assert "2 Mar 2026, " in page and "T09:" not in page


def test_subscription_double_opt_in_updates_and_unsubscribe(
    world, smtp, client, django_capture_on_commit_callbacks
):
    inc = declare(world)
    statuspage.set_status_page(inc.pk, world.im, public=True)
    with django_capture_on_commit_callbacks(execute=True):
        resp = client.post("/status/subscribe/", {"email": "Watcher@Example.test"})
    assert resp.status_code == 200 and b'data-subscribed="1"' in resp.content
    (rcpts, confirm_mail) = smtp.parsed()[-1]
    assert rcpts == ["watcher@example.test"]
    link = re.search(r"https?://\S+/status/confirm/\S+/", confirm_mail.get_content()).group(0)
    path = "/" + link.split("/", 3)[3]
    # Not confirmed yet: a public broadcast does not reach the address.
    with django_capture_on_commit_callbacks(execute=True):
        broadcasts.send_broadcast(inc.pk, world.im, body="First", public=True, channels=[])
    assert len(smtp.parsed()) == 1
    assert client.get(path).status_code == 200  # a button, nothing confirmed by a GET
    assert StatusSubscriber.objects.get().confirmed_at is None
    resp = client.post(path)
    assert resp.status_code == 200 and b'data-done="confirm"' in resp.content
    with django_capture_on_commit_callbacks(execute=True):
        b = broadcasts.send_broadcast(inc.pk, world.im, body="Second", public=True, channels=[])
    rcpts, update = smtp.parsed()[-1]
    assert rcpts == ["watcher@example.test"]
    text = update.get_body(preferencelist=("plain",)).get_content()
    assert "Second" in text and "Next update: by" in text
    unsubscribe = update["List-Unsubscribe"].strip().strip("<>")
    assert "/status/unsubscribe/" in unsubscribe and unsubscribe in text
    assert {r["channel"] for r in broadcasts.deliveries(b)} == {"subscriber"}
    resp = client.post("/" + unsubscribe.split("/", 3)[3])  # one-click, no CSRF token
    assert resp.status_code == 200 and b'data-done="unsubscribe"' in resp.content
    with django_capture_on_commit_callbacks(execute=True):
        broadcasts.send_broadcast(inc.pk, world.im, body="Third", public=True, channels=[])
    assert len(smtp.parsed()) == 2
    assert client.post(path).status_code == 404  # the old confirmation link is dead


def test_subscribe_api_is_public_validated_and_rate_limited(world, client):
    resp = client.post(
        "/api/v1/status/subscriptions", data={"email": "nope"}, content_type="application/json"
    )
    assert resp.status_code == 422 and "email" in resp.json()["error"]["fields"]
    assert not StatusSubscriber.objects.exists()
    codes = []
    for i in range(statuspage.SUBSCRIBE_PER_MINUTE + 1):
        resp = client.post(
            "/api/v1/status/subscriptions",
            data={"email": f"s{i}@example.test"},
            content_type="application/json",
        )
        codes.append(resp.status_code)
    assert codes[:-1] == [202] * statuspage.SUBSCRIBE_PER_MINUTE and codes[-1] == 429
    assert StatusSubscriber.objects.count() == statuspage.SUBSCRIBE_PER_MINUTE
    sub = StatusSubscriber.objects.first()
    resp = client.post(
        "/api/v1/status/subscriptions/confirm",
        data={"token": sub.token},
        content_type="application/json",
    )
    assert resp.status_code == 200
    resp = client.post(
        "/api/v1/status/subscriptions/confirm",
        data={"token": "x" * 20},
        content_type="application/json",
    )
    assert resp.status_code == 404


def test_the_same_address_gets_one_confirmation_per_ten_minutes(world):
    from caseline.notify.models import OutboxMessage

    statuspage.subscribe("a@example.test")
    statuspage.subscribe("A@example.test")
    assert OutboxMessage.objects.filter(subject_type="status_subscriber").count() == 1
    timesource.set_time(T0 + timedelta(minutes=11))
    statuspage.subscribe("a@example.test")
    assert OutboxMessage.objects.filter(subject_type="status_subscriber").count() == 2


def test_components_api_and_bad_input_changes_nothing(world, api_client):
    im, agent = api_client(world.im), api_client(world.agent)
    resp = agent.post(
        "/api/v1/status/components", data={"name": "API"}, content_type="application/json"
    )
    assert resp.status_code == 403
    resp = im.post(
        "/api/v1/status/components",
        data={"name": "API", "group": "Platform"},
        content_type="application/json",
    )
    assert resp.status_code == 201
    comp_id = resp.json()["id"]
    for bad in ({"name": ""}, {"name": "x" * 101}, {"name": "API"}):
        resp = im.post("/api/v1/status/components", data=bad, content_type="application/json")
        assert resp.status_code == 422 and "name" in resp.json()["error"]["fields"], bad
    assert StatusComponent.objects.count() == 1
    assert agent.get("/api/v1/status/components").json()[0]["status"] == "operational"
    resp = im.patch(
        f"/api/v1/status/components/{comp_id}",
        data={"group": "Core"},
        content_type="application/json",
    )
    assert resp.json()["group"] == "Core"

    inc = declare(world)
    before = AuditEvent.objects.count()
    url = f"/api/v1/incidents/{inc.pk}/status-page"
    for bad, field in (
        ({"components": {str(comp_id): "on_fire"}}, f"components.{comp_id}"),
        ({"components": {"99999": "degraded"}}, "components.99999"),
        ({"public_title": "x" * 301}, "public_title"),
    ):
        resp = im.patch(url, data=bad, content_type="application/json")
        assert resp.status_code == 422 and field in resp.json()["error"]["fields"], resp.json()
    assert AuditEvent.objects.count() == before
    assert not IncidentComponent.objects.exists()
    resp = im.patch(
        url,
        data={"public": True, "components": {str(comp_id): "degraded"}},
        content_type="application/json",
    )
    assert resp.status_code == 200 and resp.json()["components"] == {str(comp_id): "degraded"}
    assert (
        agent.patch(url, data={"public": False}, content_type="application/json").status_code == 403
    )
    assert im.delete(f"/api/v1/status/components/{comp_id}").status_code == 204


def test_cadence_api(world, api_client):
    inc = declare(world)
    im = api_client(world.im)
    url = f"/api/v1/incidents/{inc.pk}/broadcast-cadence"
    resp = im.put(url, data={"every_seconds": 1800}, content_type="application/json")
    assert resp.status_code == 200 and resp.json()["every_seconds"] == 1800
    assert resp.json()["next_update_at"].startswith("2026-03-02T09:30")
    resp = im.put(url, data={"every_seconds": 12}, content_type="application/json")
    assert resp.status_code == 422 and "every_seconds" in resp.json()["error"]["fields"]
    resp = im.put(url, data={"every_seconds": None}, content_type="application/json")
    assert resp.json() == {
        "incident_id": inc.pk,
        "every_seconds": 3600,
        "configured": None,
        "next_update_at": "2026-03-02T10:00:00Z",
    }


def test_invalid_email_raises_validation_failed(world):
    for bad in ("", "x@", None, "a" * 250 + "@x.test"):
        with pytest.raises(ValidationFailed):
            statuspage.subscribe(bad)
    assert not StatusSubscriber.objects.exists()


def test_admin_saves_components_and_chat_webhooks_through_the_services(
    world, make_staff, client, settings
):
    from caseline.incidents.models import ChatWebhook

    settings.WEBHOOK_ALLOW_PRIVATE = False
    admin_user = make_staff(email="root@caseline.test", is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    resp = client.post(
        "/admin/incidents/statuscomponent/add/",
        {"name": "Search", "group": "Platform", "description": "", "position": 3},
    )
    assert resp.status_code == 302, resp.content[:500]
    comp = StatusComponent.objects.get(name="Search")
    assert AuditEvent.objects.filter(type="status_component.changed", subject_id=comp.pk).exists()
    resp = client.post(
        "/admin/incidents/chatwebhook/add/",
        {"name": "#ops", "url": "http://127.0.0.1:9/hook", "active": "on"},
    )
    assert resp.status_code == 200 and not ChatWebhook.objects.exists()  # SSRF guard
    resp = client.post(
        "/admin/incidents/chatwebhook/add/",
        {"name": "#ops", "url": "https://chat.example.com/hook", "active": "on"},
    )
    assert resp.status_code == 302
    assert ChatWebhook.objects.get().webhook.event_types == []
