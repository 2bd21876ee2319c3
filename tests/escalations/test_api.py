"""/api/v1 escalations: success, validation errors (422 naming the field), illegal moves
(409), permission denied (403), not found (404); nothing changes on a refusal."""

from __future__ import annotations

from datetime import timedelta

import pytest

from caseline.escalations.models import Escalation, EscalationRequest, Stakeholder

pytestmark = pytest.mark.django_db
J = "application/json"


def post(client, path, body=None):
    return client.post(path, data=body or {}, content_type=J)


def patch(client, path, body):
    return client.patch(path, data=body, content_type=J)


def test_open_from_ticket_and_read_it_back(world, api_client):
    t = world.ticket(severity=2)
    em = api_client(world.em)
    r = post(em, f"/api/v1/tickets/{t.pk}/escalation", {"business_impact": "Orders stopped"})
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["ticket_ids"] == [t.pk] and body["owner"]["id"] == world.em.pk
    assert body["status"] == "open" and body["source"] == "ticket"
    assert body["allowed_transitions"] == ["active", "monitoring", "resolved"]
    assert len(body["checklist"]) == 6
    again = post(em, f"/api/v1/tickets/{t.pk}/escalation")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_escalated"
    # readable by every staff role, listed with filters
    seen = api_client(world.exec).get(f"/api/v1/escalations/{body['id']}")
    assert seen.status_code == 200 and seen.json()["business_impact"] == "Orders stopped"
    listed = em.get("/api/v1/escalations?status=live&owner=" + str(world.em.pk)).json()
    assert [e["id"] for e in listed["results"]] == [body["id"]]
    assert em.get("/api/v1/escalations?status=closed").json()["results"] == []
    bad = em.get("/api/v1/escalations?status=sleeping")
    assert bad.status_code == 422 and "status" in bad.json()["error"]["fields"]


def test_create_with_ticket_ids_validation_and_permissions(world, api_client):
    t = world.ticket()
    r = post(api_client(world.em), "/api/v1/escalations", {"ticket_ids": [t.pk, 999999]})
    assert r.status_code == 422 and "ticket_ids" in r.json()["error"]["fields"]
    r = post(api_client(world.sm), "/api/v1/escalations", {"ticket_ids": [t.pk]})
    assert r.status_code == 422 and "owner_id" in r.json()["error"]["fields"]
    r = post(api_client(world.agent), "/api/v1/escalations", {"ticket_ids": [t.pk]})
    assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied"
    assert not Escalation.objects.exists()
    r = post(
        api_client(world.sm),
        "/api/v1/escalations",
        {"ticket_ids": [t.pk], "owner_id": world.em2.pk, "severity": 1},
    )
    assert r.status_code == 201 and r.json()["owner"]["id"] == world.em2.pk


def test_not_found(world, api_client):
    em = api_client(world.em)
    assert em.get("/api/v1/escalations/424242").status_code == 404
    assert post(em, "/api/v1/tickets/424242/escalation").status_code == 404
    r = post(em, "/api/v1/escalations/424242/transition", {"status": "active"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert post(em, "/api/v1/escalation-requests/424242/accept").status_code == 404
    assert patch(em, "/api/v1/escalation-commitments/424242", {"status": "done"}).status_code == 404


def test_transitions_over_the_api(world, api_client):
    em = api_client(world.em)
    esc_id = post(em, f"/api/v1/tickets/{world.ticket().pk}/escalation").json()["id"]
    r = post(em, f"/api/v1/escalations/{esc_id}/transition", {"status": "closed"})
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "illegal_transition" and "active" in err["fields"]["status"]
    r = post(em, f"/api/v1/escalations/{esc_id}/transition", {"status": "resolved"})
    assert r.status_code == 422 and "root_cause" in r.json()["error"]["fields"]
    r = post(em, f"/api/v1/escalations/{esc_id}/transition", {"status": "asleep"})
    assert r.status_code == 422
    assert Escalation.objects.get(pk=esc_id).status == "open"
    r = post(
        em,
        f"/api/v1/escalations/{esc_id}/transition",
        {"status": "resolved", "root_cause": "Expired certificate"},
    )
    assert r.status_code == 200 and r.json()["resolved_at"] is not None
    r = post(
        api_client(world.agent), f"/api/v1/escalations/{esc_id}/transition", {"status": "closed"}
    )
    assert r.status_code == 403


def test_intake_over_the_api(world, api_client):
    agent = api_client(world.agent)
    t = world.ticket()
    r = post(
        agent,
        "/api/v1/escalation-requests",
        {"ticket_ids": [t.pk], "business_impact": "Go-live blocked", "reason": "Asked by SC"},
    )
    assert r.status_code == 201, r.content
    req_id = r.json()["id"]
    r = post(agent, "/api/v1/escalation-requests", {"business_impact": "", "reason": ""})
    assert r.status_code == 422
    assert {"organization_id", "business_impact", "reason"} <= set(r.json()["error"]["fields"])
    # an agent cannot decide; another agent does not see it
    assert (
        post(agent, f"/api/v1/escalation-requests/{req_id}/decline", {"reason": "x"}).status_code
        == 403
    )
    other = api_client(world.exec)
    assert other.get(f"/api/v1/escalation-requests/{req_id}").status_code == 404
    em = api_client(world.em)
    assert [
        q["id"] for q in em.get("/api/v1/escalation-requests?status=pending").json()["results"]
    ] == [req_id]
    r = post(em, f"/api/v1/escalation-requests/{req_id}/decline", {"reason": ""})
    assert r.status_code == 422
    r = post(em, f"/api/v1/escalation-requests/{req_id}/decline", {"reason": "A lead handles it"})
    assert r.status_code == 200 and r.json()["status"] == "declined"
    mine = agent.get(f"/api/v1/escalation-requests/{req_id}").json()
    assert (mine["status"], mine["decline_reason"]) == ("declined", "A lead handles it")
    assert post(em, f"/api/v1/escalation-requests/{req_id}/accept").status_code == 409
    assert EscalationRequest.objects.get(pk=req_id).escalation is None


def test_stakeholders_steps_cadence_commitments_over_the_api(world, api_client, frozen):
    em = api_client(world.em)
    esc = post(em, f"/api/v1/tickets/{world.ticket().pk}/escalation").json()
    base = f"/api/v1/escalations/{esc['id']}"
    r = post(em, f"{base}/stakeholders", {"contact_id": world.contact.pk, "role": "decision_maker"})
    assert r.status_code == 201 and r.json()["side"] == "customer"
    sid = r.json()["id"]
    r = post(em, f"{base}/stakeholders", {"contact_id": world.contact.pk, "role": "sme"})
    assert r.status_code == 422 and "role" in r.json()["error"]["fields"]
    r = post(em, f"{base}/stakeholders/{sid}/renounce")
    assert r.status_code == 200 and r.json()["renounced_at"] is not None
    assert post(em, f"{base}/stakeholders/999999/renounce").status_code == 404
    assert Stakeholder.objects.filter(escalation_id=esc["id"]).count() == 1
    step = esc["checklist"][0]["id"]
    r = post(em, f"{base}/steps/{step}", {"done": True})
    assert r.status_code == 200 and r.json()["done_by"]["id"] == world.em.pk
    r = api_client(world.exec).get(f"{base}/sme-suggestions")
    assert r.status_code == 200 and r.json()["suggestions"] == []
    r = em.put(
        f"{base}/cadence", data={"kind": "customer_update", "every_seconds": 60}, content_type=J
    )
    assert r.status_code == 422 and "every_seconds" in r.json()["error"]["fields"]
    r = em.put(
        f"{base}/cadence",
        data={"kind": "customer_update", "every_seconds": 14400},
        content_type=J,
    )
    assert r.status_code == 200
    assert r.json()["next_due_at"].startswith(
        (frozen + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M")
    )
    r = post(em, f"{base}/updates", {"kind": "customer_update", "text": "All hands on deck"})
    assert r.status_code == 201 and r.json()["next_due_at"] is not None
    r = post(em, f"{base}/updates", {"kind": "internal_sync"})
    assert r.status_code == 422 and "kind" in r.json()["error"]["fields"]
    due = (frozen + timedelta(days=1)).isoformat()
    r = post(
        em,
        f"{base}/commitments",
        {"what": "Patch", "to_whom": "Ann", "owner_id": world.agent.pk, "due_at": due},
    )
    assert r.status_code == 201, r.content
    cid = r.json()["id"]
    later = (frozen + timedelta(days=2)).isoformat()
    r = patch(em, f"/api/v1/escalation-commitments/{cid}", {"due_at": later})
    assert r.status_code == 422 and "reason" in r.json()["error"]["fields"]
    r = patch(em, f"/api/v1/escalation-commitments/{cid}", {"due_at": later, "reason": "Late QA"})
    assert r.status_code == 200 and len(r.json()["slips"]) == 1
    assert "Late QA" in r.json()["slips"][0]["draft_notice"]
    detail = em.get(base).json()
    assert detail["commitments"][0]["slips"][0]["reason"] == "Late QA"
    assert detail["cadences"][0]["recent"][0]["kind"] == "done"
    assert [s["renounced_at"] is not None for s in detail["stakeholders"]] == [True]
    timeline = api_client(world.agent).get(f"{base}/timeline?limit=3")
    assert timeline.status_code == 200 and timeline.json()["meta"]["has_more"] is True
    first = [e["type"] for e in timeline.json()["results"]]
    assert first == [
        "escalation.opened",
        "escalation.stakeholder_added",
        "escalation.stakeholder_renounced",
    ]
    assert em.get("/api/v1/escalations/424242/timeline").status_code == 404
    assert api_client(world.customer).get(f"{base}/timeline").status_code == 403


def test_escalation_types_over_the_api(world, api_client):
    em = api_client(world.em)
    assert [t["name"] for t in em.get("/api/v1/escalation-types").json()["results"]] == ["Standard"]
    r = post(em, "/api/v1/escalation-types", {"name": "Security", "checklist": ["Call CISO", ""]})
    assert r.status_code == 422 and "checklist.1" in r.json()["error"]["fields"]
    r = post(em, "/api/v1/escalation-types", {"name": "Security", "checklist": ["Call CISO"]})
    assert r.status_code == 201
    r = patch(em, f"/api/v1/escalation-types/{r.json()['id']}", {"active": False})
    assert r.status_code == 200 and r.json()["active"] is False
    assert (
        post(api_client(world.agent), "/api/v1/escalation-types", {"name": "X"}).status_code == 403
    )
