"""The learning API: success paths, 422, 403, 404, exports, trends."""

from __future__ import annotations

from datetime import timedelta

import pytest

from caseline.learning.models import RootCauseCategory

from .conftest import T0

pytestmark = pytest.mark.django_db


def _j(client, method, path, body=None):
    kw = {"content_type": "application/json"}
    if body is not None:
        kw["data"] = body
    return getattr(client, method)(path, **kw)


def test_postmortem_flow_over_the_api(world, api_client):
    pm = world.resolved_escalation().postmortem
    lead = api_client(world.lead)
    agent = api_client(world.agent)

    r = _j(agent, "get", "/api/v1/postmortems?status=draft")
    assert r.status_code == 200
    assert [x["id"] for x in r.json()["results"]] == [pm.pk]
    r = _j(agent, "get", f"/api/v1/postmortems/{pm.pk}")
    body = r.json()
    assert body["root_cause"] == "Replica lag after a config push"
    assert body["review"]["latest_at"].startswith("2026-12-03T22:00")
    assert body["timeline"]

    # Readers cannot write.
    r = _j(agent, "patch", f"/api/v1/postmortems/{pm.pk}", {"summary": "x"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied"

    cat = RootCauseCategory.objects.get(name="Capacity")
    r = _j(
        lead,
        "patch",
        f"/api/v1/postmortems/{pm.pk}",
        {"summary": "Lag", "root_cause_category_id": cat.pk, "author_ids": [world.lead.pk]},
    )
    assert r.status_code == 200, r.content
    assert r.json()["root_cause_category"] == "Capacity"
    assert [a["id"] for a in r.json()["authors"]] == [world.lead.pk]

    r = _j(lead, "patch", f"/api/v1/postmortems/{pm.pk}", {"root_cause_category_id": 99999})
    assert r.status_code == 422
    assert "root_cause_category_id" in r.json()["error"]["fields"]

    r = _j(
        lead,
        "post",
        f"/api/v1/postmortems/{pm.pk}/timeline",
        {"at": (T0 - timedelta(hours=4)).isoformat(), "text": "Config pushed"},
    )
    assert r.status_code == 201
    item_id = r.json()["id"]
    r = _j(lead, "patch", f"/api/v1/postmortems/{pm.pk}/timeline/{item_id}", {"text": "Pushed"})
    assert r.status_code == 200 and r.json()["text"] == "Pushed"
    assert _j(lead, "delete", f"/api/v1/postmortems/{pm.pk}/timeline/{item_id}").status_code == 204
    assert _j(lead, "delete", f"/api/v1/postmortems/{pm.pk}/timeline/{item_id}").status_code == 404

    r = _j(
        lead,
        "post",
        f"/api/v1/postmortems/{pm.pk}/action-items",
        {
            "what": "Alert",
            "owner_id": world.agent.pk,
            "due_at": (T0 + timedelta(days=5)).isoformat(),
        },
    )
    assert r.status_code == 201, r.content
    action = r.json()["id"]
    r = _j(lead, "patch", f"/api/v1/postmortem-action-items/{action}", {"status": "wont_do"})
    assert r.status_code == 422 and "reason" in r.json()["error"]["fields"]
    r = _j(lead, "patch", f"/api/v1/postmortem-action-items/{action}", {"status": "done"})
    assert r.status_code == 200 and r.json()["status"] == "done"
    assert _j(agent, "get", f"/api/v1/postmortem-action-items/{action}").status_code == 200

    latest = body["review"]["latest_at"]
    r = _j(
        lead,
        "patch",
        f"/api/v1/postmortems/{pm.pk}/review",
        {"scheduled_at": "2026-12-10T15:00:00+00:00"},
    )
    assert r.status_code == 422 and "reason" in r.json()["error"]["fields"]
    r = _j(
        lead,
        "patch",
        f"/api/v1/postmortems/{pm.pk}/review",
        {"scheduled_at": "2026-12-10T15:00:00+00:00", "reason": "Vendor on holiday"},
    )
    assert r.status_code == 200 and r.json()["review"]["sequence"] == 1
    assert r.json()["review"]["latest_at"] == latest

    r = _j(lead, "post", f"/api/v1/postmortems/{pm.pk}/status", {"status": "in_review"})
    assert r.status_code == 200 and r.json()["status"] == "in_review"
    r = _j(lead, "post", f"/api/v1/postmortems/{pm.pk}/publish")
    assert r.status_code == 200 and r.json()["status"] == "published"
    r = _j(lead, "patch", f"/api/v1/postmortems/{pm.pk}", {"summary": "late edit"})
    assert r.status_code == 409

    r = agent.get(f"/api/v1/postmortems/{pm.pk}/export.md")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/markdown")
    assert b"## Root cause" in r.content
    r = agent.get(f"/api/v1/postmortems/{pm.pk}/export.pdf")
    assert r.status_code == 200 and r["Content-Type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")


def test_not_found_and_bad_input(world, api_client):
    lead = api_client(world.lead)
    assert _j(lead, "get", "/api/v1/postmortems/999999").status_code == 404
    assert _j(lead, "get", "/api/v1/postmortems/999999/export.pdf").status_code == 404
    assert (
        _j(lead, "patch", "/api/v1/postmortem-action-items/999999", {"status": "done"}).status_code
        == 404
    )
    assert (
        _j(lead, "patch", "/api/v1/postmortems/999999/review", {"location": "Room 1"}).status_code
        == 404
    )
    r = _j(lead, "post", "/api/v1/postmortems", {})
    assert r.status_code == 422
    r = _j(lead, "post", "/api/v1/postmortems", {"escalation_id": 999999})
    assert r.status_code == 422 and "escalation_id" in r.json()["error"]["fields"]
    esc = world.resolved_escalation()
    r = _j(lead, "post", "/api/v1/postmortems", {"escalation_id": esc.pk})
    assert r.status_code == 409 and r.json()["error"]["code"] == "postmortem_exists"
    r = _j(lead, "post", f"/api/v1/postmortems/{esc.postmortem.pk}/status", {"status": "nope"})
    assert r.status_code == 422


def test_categories_and_trends(world, api_client):
    lead, agent = api_client(world.lead), api_client(world.agent)
    r = _j(agent, "get", "/api/v1/root-cause-categories")
    assert "Third-party" in [c["name"] for c in r.json()["results"]]
    assert _j(agent, "post", "/api/v1/root-cause-categories", {"name": "X"}).status_code == 403
    r = _j(lead, "post", "/api/v1/root-cause-categories", {"name": "Security"})
    assert r.status_code == 201
    r = _j(lead, "patch", f"/api/v1/root-cause-categories/{r.json()['id']}", {"active": False})
    assert r.status_code == 200 and r.json()["active"] is False
    assert (
        _j(lead, "patch", "/api/v1/root-cause-categories/999999", {"active": False}).status_code
        == 404
    )

    world.resolved_escalation()
    r = _j(agent, "get", "/api/v1/trends")
    assert r.status_code == 200
    data = r.json()
    assert data["totals"]["escalations"] == 1
    assert data["mttr"]["escalations"] == 0.0
    assert _j(agent, "get", "/api/v1/trends?since=2026-12-01T00:00:00").status_code == 422


def test_web_pages_and_panels(world, client):
    pm = world.resolved_escalation().postmortem
    client.force_login(world.lead)
    r = client.get("/postmortems/")
    assert r.status_code == 200 and pm.reference.encode() in r.content
    r = client.get(f"/postmortems/{pm.pk}/")
    assert r.status_code == 200 and b"Review meeting" in r.content
    r = client.post(
        f"/postmortems/{pm.pk}/sections", {"summary": "From the web", "title": pm.title}
    )
    assert r.status_code == 302
    pm.refresh_from_db()
    assert pm.summary == "From the web"
    r = client.post(
        f"/postmortems/{pm.pk}/actions",
        {"what": "Web action", "owner_id": world.agent.pk, "due_at": "2026-12-20T10:00"},
    )
    assert r.status_code == 302 and pm.action_items.filter(what="Web action").exists()
    r = client.get("/trends/")
    assert r.status_code == 200 and b"trends-data" in r.content
    r = client.get(f"/postmortems/escalation/{pm.escalation_id}/panel")
    assert r.status_code == 200 and pm.reference.encode() in r.content
    r = client.get("/postmortems/incident/999999/panel")
    assert r.status_code == 200 and b"None yet" in r.content
    client.force_login(world.agent)
    assert client.post(f"/postmortems/{pm.pk}/sections", {"summary": "x"}).status_code == 403
