"""/api/v1/triage-rules: success, 422, 403, 404, 401 for each endpoint; dry-run."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from caseline.accounts.models import Contact, Organization, ProductArea, Team, User
from caseline.audit.models import AuditEvent
from caseline.tickets.models import Ticket, TriageRule

pytestmark = pytest.mark.django_db

BASE = "/api/v1/triage-rules"


@pytest.fixture
def lead(make_staff):
    return make_staff("lead")


@pytest.fixture
def se(make_staff):
    return make_staff("support_engineer")


@pytest.fixture
def customer():
    org = Organization.objects.create(name="Cust Org")
    contact = Contact.objects.create(name="C", organization=org)
    return User.objects.create_user(
        username="c@cust.test", email="c@cust.test", kind="customer", contact=contact
    )


@pytest.fixture
def team():
    return Team.objects.create(name="Storage L2")


@pytest.fixture
def area(team):
    return ProductArea.objects.create(
        name="Replication", slug="replication", owning_team=team, keywords="replication"
    )


def post(client, path, data):
    return client.post(path, data=json.dumps(data), content_type="application/json")


def patch(client, path, data):
    return client.patch(path, data=json.dumps(data), content_type="application/json")


def make_rule(**fields):
    fields.setdefault("name", "r")
    fields.setdefault("set_severity", 2)
    return TriageRule.objects.create(**fields)


# --- list / read --------------------------------------------------------------------------


def test_list_paginates_by_id_with_position(api_client, se):
    rules = [make_rule(name=f"r{i}", position=50 - i) for i in range(5)]
    client = api_client(se)
    resp = client.get(BASE, {"limit": 2})
    assert resp.status_code == 200
    body = resp.json()
    assert [r["id"] for r in body["results"]] == [rules[0].pk, rules[1].pk]
    assert body["results"][0]["position"] == 50
    assert body["meta"]["has_more"] is True
    seen = [r["id"] for r in body["results"]]
    while body["meta"]["has_more"]:
        body = client.get(BASE, {"limit": 2, "cursor": body["meta"]["next_cursor"]}).json()
        seen += [r["id"] for r in body["results"]]
    assert seen == [r.pk for r in rules]


def test_list_filters_active(api_client, se):
    make_rule(name="on")
    make_rule(name="off", active=False)
    body = api_client(se).get(BASE, {"active": "false"}).json()
    assert [r["name"] for r in body["results"]] == ["off"]


def test_list_bad_cursor_is_422(api_client, se):
    resp = api_client(se).get(BASE, {"cursor": "nonsense!"})
    assert resp.status_code == 422
    assert resp.json()["error"]["code"] == "validation_error"


def test_get_one(api_client, se, area):
    r = make_rule(keywords="sso, C++", if_product_area=area)
    resp = api_client(se).get(f"{BASE}/{r.pk}")
    assert resp.status_code == 200
    body = resp.json()
    assert body["keywords"] == ["sso", "C++"]
    assert body["if_product_area_id"] == area.pk
    assert body["set_severity"] == 2


def test_get_missing_is_404(api_client, se):
    resp = api_client(se).get(f"{BASE}/999999")
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "not_found"


def test_customer_cannot_list(api_client, customer):
    make_rule()
    assert api_client(customer).get(BASE).status_code == 403


def test_unauthenticated_is_401(db):
    r = make_rule()
    client = Client()
    assert client.get(BASE).status_code == 401
    assert client.get(f"{BASE}/{r.pk}").status_code == 401
    assert post(client, BASE, {"name": "x", "set_severity": 1}).status_code == 401
    assert patch(client, f"{BASE}/{r.pk}", {"position": 1}).status_code == 401
    assert client.delete(f"{BASE}/{r.pk}").status_code == 401
    assert post(client, f"{BASE}/dry-run", {"subject": "x"}).status_code == 401
    assert TriageRule.objects.get(pk=r.pk).position == 100


# --- create -------------------------------------------------------------------------------


def test_create(api_client, lead, team):
    resp = post(
        api_client(lead),
        BASE,
        {
            "name": "Outages",
            "position": 10,
            "channel": "email",
            "keywords": ["outage", "down"],
            "set_severity": 1,
            "set_team_id": team.pk,
            "stop_processing": True,
        },
    )
    assert resp.status_code == 201, resp.content
    body = resp.json()
    rule = TriageRule.objects.get(pk=body["id"])
    assert rule.keywords == "outage, down"
    assert body["set_team_id"] == team.pk and body["stop_processing"] is True
    assert AuditEvent.objects.filter(
        type="triage_rule.changed", subject_id=rule.pk, actor_id=lead.pk
    ).exists()


@pytest.mark.parametrize(
    "data, field",
    [
        ({"name": "x", "set_severity": 9}, "set_severity"),
        ({"name": "x", "set_severity": 1, "tier": "platinum"}, "tier"),
        ({"name": "x", "set_team_id": 999999}, "set_team_id"),
        ({"name": "x", "keywords": "a"}, "actions"),
        ({"name": "x", "set_severity": "high"}, "set_severity"),
        ({"set_severity": 1}, "name"),
    ],
)
def test_create_invalid_is_422(api_client, lead, data, field):
    resp = post(api_client(lead), BASE, data)
    assert resp.status_code == 422
    err = resp.json()["error"]
    assert err["code"] == "validation_error"
    assert field in err["fields"]
    assert not TriageRule.objects.exists()


@pytest.mark.parametrize("role", ["support_engineer", "executive", "sales_consultant"])
def test_create_forbidden_without_manage_triage(api_client, make_staff, role):
    resp = post(api_client(make_staff(role)), BASE, {"name": "x", "set_severity": 1})
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "permission_denied"
    assert not TriageRule.objects.exists()


# --- update / delete ----------------------------------------------------------------------


def test_patch(api_client, lead):
    r = make_rule(position=100)
    resp = patch(api_client(lead), f"{BASE}/{r.pk}", {"position": 3, "set_priority": "urgent"})
    assert resp.status_code == 200
    assert resp.json()["position"] == 3
    r.refresh_from_db()
    assert (r.position, r.set_priority, r.set_severity) == (3, "urgent", 2)


def test_patch_invalid_is_422_and_changes_nothing(api_client, lead):
    r = make_rule()
    client = api_client(lead)
    resp = patch(client, f"{BASE}/{r.pk}", {"position": 1, "set_severity": 7})
    assert resp.status_code == 422
    assert "set_severity" in resp.json()["error"]["fields"]
    resp = patch(client, f"{BASE}/{r.pk}", {"set_severity": None})
    assert resp.status_code == 422
    assert "actions" in resp.json()["error"]["fields"]
    r.refresh_from_db()
    assert (r.position, r.set_severity) == (100, 2)


def test_patch_forbidden_and_missing(api_client, se, lead):
    r = make_rule()
    assert patch(api_client(se), f"{BASE}/{r.pk}", {"position": 1}).status_code == 403
    assert patch(api_client(lead), f"{BASE}/999999", {"position": 1}).status_code == 404


def test_delete(api_client, lead, se):
    r = make_rule()
    assert api_client(se).delete(f"{BASE}/{r.pk}").status_code == 403
    assert TriageRule.objects.filter(pk=r.pk).exists()
    client = api_client(lead)
    assert client.delete(f"{BASE}/{r.pk}").status_code == 204
    assert not TriageRule.objects.filter(pk=r.pk).exists()
    assert client.delete(f"{BASE}/{r.pk}").status_code == 404


# --- dry run --------------------------------------------------------------------------------


def test_dry_run(api_client, se, team, area):
    org = Organization.objects.create(name="Acme", tier="enterprise")
    r = make_rule(name="ent outage", tier="enterprise", keywords="outage", set_severity=1)
    client = api_client(se)
    events_before = AuditEvent.objects.count()
    resp = post(
        client,
        f"{BASE}/dry-run",
        {
            "subject": "Outage",
            "text": "replication is down",
            "channel": "email",
            "organization_id": org.pk,
        },
    )
    assert resp.status_code == 200, resp.content
    assert resp.json() == {
        "severity": 1,
        "priority": None,
        "product_area": {"id": area.pk, "name": "Replication"},
        "team": {"id": team.pk, "name": "Storage L2"},
        "suggested_product_area": True,
        "rules": [{"id": r.pk, "name": "ent outage"}],
    }
    assert not Ticket.objects.exists()
    assert AuditEvent.objects.count() == events_before


def test_dry_run_422_and_403(api_client, se, customer):
    resp = post(api_client(se), f"{BASE}/dry-run", {"channel": "pigeon", "organization_id": 1e6})
    assert resp.status_code == 422
    resp = post(api_client(se), f"{BASE}/dry-run", {"channel": "pigeon"})
    assert resp.status_code == 422
    assert "channel" in resp.json()["error"]["fields"]
    assert post(api_client(customer), f"{BASE}/dry-run", {"subject": "x"}).status_code == 403


def test_openapi_lists_triage_paths(db):
    doc = Client().get("/api/v1/openapi.json").json()
    assert "/api/v1/triage-rules" in doc["paths"]
    assert "/api/v1/triage-rules/{rule_id}" in doc["paths"]
    assert "/api/v1/triage-rules/dry-run" in doc["paths"]
