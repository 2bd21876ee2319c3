"""The incidents API: success paths, 422, 409, 403, 404 (both databases)."""

from __future__ import annotations

import pytest

from caseline import timesource
from tests.incidents.core_support import events, frozen, world  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def clients(world, api_client):
    return {name: api_client(getattr(world, name)) for name in ("im", "sm", "agent", "exec", "e1")}


def _post(c, path, body=None):
    return c.post(path, data=body or {}, content_type="application/json")


def test_declare_read_and_list_with_filters(world, clients):
    t1, t2 = world.ticket(world.orgs[0]), world.ticket(world.orgs[1])
    r = _post(
        clients["agent"],
        "/api/v1/incidents",
        {"title": "Sync down", "ticket_ids": [t1.pk, t2.pk], "incident_manager_id": world.im.pk},
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["severity"] == 1 and body["source"] == "tickets"
    assert body["incident_manager"]["id"] == world.im.pk
    assert {o["id"] for o in body["organizations"]} == {world.orgs[0].pk, world.orgs[1].pk}
    assert body["allowed_transitions"] == ["identified", "monitoring", "resolved"]
    assert body["owner_target"]["state"] == "active"
    assert body["pages"][0]["recipient"]["id"] == world.e1.pk
    inc_id = body["id"]
    r = _post(clients["agent"], f"/api/v1/tickets/{world.ticket().pk}/incident", {"severity": 3})
    assert r.status_code == 201 and r.json()["source"] == "ticket"
    c = clients["exec"]
    assert c.get(f"/api/v1/incidents/{inc_id}").json()["title"] == "Sync down"
    ids = lambda q: [x["id"] for x in c.get(f"/api/v1/incidents{q}").json()["results"]]  # noqa: E731
    assert len(ids("")) == 2
    assert ids("?severity=1") == [inc_id]
    assert ids(f"?organization={world.orgs[1].pk}") == [inc_id]
    assert ids(f"?ticket={t2.pk}") == [inc_id]
    assert ids(f"?manager={world.im.pk}") == [inc_id]
    assert len(ids("?manager=none")) == 1
    assert ids("?q=sync%20down") == [inc_id]
    assert len(ids("?status=live")) == 2 and ids("?status=closed") == []
    r = c.get("/api/v1/incidents?status=bogus")
    assert r.status_code == 422 and "status" in r.json()["error"]["fields"]
    assert c.get("/api/v1/incidents/99999").status_code == 404


def test_refusals(world, clients):
    r = _post(clients["exec"], "/api/v1/incidents", {"title": "X"})
    assert r.status_code == 403
    r = _post(clients["agent"], "/api/v1/incidents", {"title": "", "severity": 9})
    assert r.status_code == 422
    assert set(r.json()["error"]["fields"]) == {"title", "severity"}
    r = _post(clients["agent"], "/api/v1/tickets/99999/incident")
    assert r.status_code == 404
    inc = _post(clients["im"], "/api/v1/incidents", {"title": "X", "severity": 2}).json()
    r = _post(clients["agent"], f"/api/v1/incidents/{inc['id']}/transition", {"status": "resolved"})
    assert r.status_code == 403
    r = _post(clients["im"], f"/api/v1/incidents/{inc['id']}/transition", {"status": "closed"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "illegal_transition"
    assert events("incident.status_changed", inc["id"]) == []


def test_run_an_incident_through_the_api(world, clients):
    im, sm = clients["im"], clients["sm"]
    inc = _post(im, "/api/v1/incidents", {"title": "Outage", "ticket_ids": [world.ticket().pk]})
    inc_id = inc.json()["id"]
    base = f"/api/v1/incidents/{inc_id}"
    # tickets
    t = world.ticket(world.orgs[2])
    r = _post(clients["agent"], f"{base}/tickets", {"ticket_ids": [t.pk]})
    assert r.status_code == 200 and len(r.json()["tickets"]) == 2
    r = im.delete(f"{base}/tickets/{t.pk}")
    assert r.status_code == 200 and len(r.json()["tickets"]) == 1
    # roles
    r = _post(sm, f"{base}/roles", {"role": "communications_lead", "user_id": world.agent2.pk})
    assert r.status_code == 201 and r.json()["role"] == "communications_lead"
    r = _post(sm, f"{base}/roles", {"role": "sme", "user_id": world.agent.pk})
    sme_id = r.json()["id"]
    assert _post(sm, f"{base}/roles", {"role": "sme", "user_id": world.agent.pk}).status_code == 409
    r = _post(sm, f"{base}/roles/{sme_id}/renounce")
    assert r.status_code == 200 and r.json()["renounced_at"] is not None
    # owner handoff + ack by the receiver only
    r = _post(im, f"{base}/owner", {"user_id": world.agent.pk})
    assert r.status_code == 200 and r.json()["pending_handoff"]["to"]["id"] == world.agent.pk
    assert r.json()["case_owner"] is None
    assert _post(im, f"{base}/owner/acknowledge").status_code == 403
    timesource.advance(60)
    r = _post(clients["agent"], f"{base}/owner/acknowledge")
    assert r.status_code == 200
    body = r.json()
    assert body["case_owner"]["id"] == world.agent.pk and body["pending_handoff"] is None
    assert body["owner_target"]["state"] == "fulfilled"
    assert _post(clients["agent"], f"{base}/owner/acknowledge").status_code == 409
    # tasks
    r = _post(im, f"{base}/tasks", {"title": "Roll back", "assignee_id": world.agent.pk})
    assert r.status_code == 201
    task_id = r.json()["id"]
    r = im.patch(
        f"/api/v1/incident-tasks/{task_id}", data={"done": True}, content_type="application/json"
    )
    assert r.status_code == 200 and r.json()["done"] is True
    assert _post(im, f"{base}/tasks", {"title": ""}).status_code == 422
    # timeline
    r = _post(im, f"{base}/notes", {"text": "Cert expired", "pinned": True})
    assert r.status_code == 201 and r.json()["pinned"]
    note_id = r.json()["id"]
    r = _post(im, f"/api/v1/incident-timeline/{note_id}/pin", {"pinned": False})
    assert r.json()["pinned"] is False
    tl = clients["exec"].get(f"{base}/timeline").json()["results"]
    assert tl[0]["event_type"] == "incident.declared" and any(e["kind"] == "note" for e in tl)
    assert clients["exec"].get(f"{base}/timeline?pinned=true").json()["results"] == []
    # pages: the on-duty person acknowledges
    pages = clients["exec"].get(f"{base}/pages").json()
    assert [p["recipient"]["id"] for p in pages] == [world.e1.pk]
    assert (
        _post(clients["agent"], f"/api/v1/incident-pages/{pages[0]['id']}/acknowledge").status_code
        == 403
    )
    r = _post(clients["e1"], f"/api/v1/incident-pages/{pages[0]['id']}/acknowledge")
    assert r.status_code == 200 and r.json()["state"] == "acknowledged"
    r = _post(im, f"{base}/pages")
    assert r.status_code == 201 and r.json()[0]["chain"] == 2
    # patch + transitions
    r = im.patch(base, data={"summary": "Sync down for EMEA"}, content_type="application/json")
    assert r.status_code == 200 and r.json()["summary"] == "Sync down for EMEA"
    for to in ("identified", "monitoring", "resolved", "closed"):
        r = _post(im, f"{base}/transition", {"status": to})
        assert r.status_code == 200, r.content
    body = r.json()
    assert body["status"] == "closed" and body["allowed_transitions"] == []
    assert all(body[f"{s}_at"] for s in ("identified", "monitoring", "resolved", "closed"))
    assert _post(im, f"{base}/notes", {"text": "late note"}).status_code == 201
    assert _post(im, f"{base}/tasks", {"title": "x"}).status_code == 409


def test_paging_targets(world, clients):
    r = _post(clients["sm"], "/api/v1/paging-targets", {"name": "Pager", "url": "ftp://x"})
    assert r.status_code == 422 and "url" in r.json()["error"]["fields"]
    r = _post(
        clients["sm"],
        "/api/v1/paging-targets",
        {"name": "Pager", "url": "https://pager.example.com/x"},
    )
    assert r.status_code == 201 and len(r.json()["secret"]) >= 16
    listed = clients["im"].get("/api/v1/paging-targets").json()
    assert listed == [
        {
            "id": r.json()["id"],
            "name": "Pager",
            "url": "https://pager.example.com/x",
            "active": True,
            "secret": None,
        }
    ]
    assert clients["agent"].get("/api/v1/paging-targets").status_code == 403
