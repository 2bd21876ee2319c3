"""/api/v1 accounts endpoints: success, validation (422), permission (403), not found
(404) and unauthenticated (401) for each; pagination; constant query counts."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from caseline.accounts import services
from caseline.accounts.models import ApiToken, Contact, Organization, Region, User
from caseline.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

J = "application/json"


@pytest.fixture
def regions(db):
    return {
        code: Region.objects.create(code=code, name=code, handoff_order=i)
        for i, code in enumerate(["AMER", "EMEA", "APAC"])
    }


@pytest.fixture
def people(make_staff):
    return {
        "se": make_staff("support_engineer"),
        "sc": make_staff("sales_consultant"),
        "csm": make_staff("customer_success_manager"),
        "lead": make_staff("lead"),
        "sm": make_staff("support_manager"),
        "exec": make_staff("executive"),
        "admin": make_staff("admin"),
    }


@pytest.fixture
def acme(people, regions):
    return services.create_organization(
        name="Acme",
        domains=["acme.com"],
        tier="enterprise",
        region="EMEA",
        sales_consultant=people["sc"],
        success_manager=people["csm"],
    )


@pytest.fixture
def customer(acme):
    contact = services.create_contact(name="Cara Customer", emails=["cara@acme.com"])
    return User.objects.create_user(
        username="cara@acme.com", email="cara@acme.com", kind=User.Kind.CUSTOMER, contact=contact
    )


@pytest.fixture
def as_(api_client, people):
    clients: dict[str, Client] = {}

    def get(who) -> Client:
        user = people[who] if isinstance(who, str) else who
        if user.pk not in clients:
            clients[user.pk] = api_client(user)
        return clients[user.pk]

    return get


def post(client, url, data):
    return client.post(url, data=json.dumps(data), content_type=J)


def patch(client, url, data):
    return client.patch(url, data=json.dumps(data), content_type=J)


def put(client, url, data):
    return client.put(url, data=json.dumps(data), content_type=J)


def assert_error(resp, status, code, *fields):
    assert resp.status_code == status, resp.content
    body = resp.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    for field in fields:
        assert field in body["error"]["fields"], body["error"]["fields"]
    return body["error"]


# --- 401 and customers ------------------------------------------------------------------

ENDPOINTS = [
    ("get", "/api/v1/organizations"),
    ("post", "/api/v1/organizations"),
    ("get", "/api/v1/organizations/1"),
    ("patch", "/api/v1/organizations/1"),
    ("get", "/api/v1/contacts"),
    ("post", "/api/v1/contacts"),
    ("get", "/api/v1/contacts/1"),
    ("patch", "/api/v1/contacts/1"),
    ("post", "/api/v1/contacts/1/merge"),
    ("get", "/api/v1/staff"),
    ("post", "/api/v1/staff"),
    ("get", "/api/v1/staff/1"),
    ("patch", "/api/v1/staff/1"),
    ("get", "/api/v1/teams"),
    ("post", "/api/v1/teams"),
    ("get", "/api/v1/teams/1"),
    ("patch", "/api/v1/teams/1"),
    ("get", "/api/v1/product-areas"),
    ("post", "/api/v1/product-areas"),
    ("get", "/api/v1/product-areas/1"),
    ("patch", "/api/v1/product-areas/1"),
    ("put", "/api/v1/product-areas/1/roster"),
]
ALL_ENDPOINTS = ENDPOINTS + [
    ("get", "/api/v1/me"),
    ("get", "/api/v1/tokens"),
    ("post", "/api/v1/tokens"),
    ("delete", "/api/v1/tokens/cl_abcdefg"),
]

BODIES = {
    "/api/v1/organizations": {"name": "Cust Org"},
    "/api/v1/organizations/1": {"notes": "x"},
    "/api/v1/contacts": {"name": "X", "emails": ["x@example.com"]},
    "/api/v1/contacts/1": {"name": "X"},
    "/api/v1/contacts/1/merge": {"into": 2},
    "/api/v1/staff": {"email": "new@caseline.test"},
    "/api/v1/staff/1": {"is_away": True},
    "/api/v1/teams": {"name": "T"},
    "/api/v1/teams/1": {"name": "T"},
    "/api/v1/product-areas": {"name": "P"},
    "/api/v1/product-areas/1": {"name": "P"},
    "/api/v1/product-areas/1/roster": {"user_ids": []},
}


def call(client, method, path):
    if method in ("get", "delete"):
        return getattr(client, method)(path)
    return getattr(client, method)(path, data=json.dumps(BODIES.get(path, {})), content_type=J)


@pytest.mark.parametrize("method,path", ALL_ENDPOINTS)
def test_unauthenticated_is_401(db, method, path):
    assert_error(call(Client(), method, path), 401, "unauthenticated")
    bad = Client(HTTP_AUTHORIZATION="Bearer cl_not-a-real-token")
    assert_error(call(bad, method, path), 401, "unauthenticated")


@pytest.mark.parametrize("method,path", ENDPOINTS)
def test_customers_are_refused_the_directory(api_client, customer, method, path):
    assert_error(call(api_client(customer), method, path), 403, "permission_denied")


def test_customer_me_shows_contact_and_organization(api_client, customer, acme):
    resp = api_client(customer).get("/api/v1/me")
    assert resp.status_code == 200
    body = resp.json()
    assert body["kind"] == "customer" and body["roles"] == [] and body["permissions"] == []
    assert body["organization_id"] == acme.pk
    assert body["contact"] == {
        "id": customer.contact_id,
        "name": "Cara Customer",
        "emails": ["cara@acme.com"],
        "organization_id": acme.pk,
    }


def test_staff_me_shows_roles_and_permissions(as_, people, regions):
    services.update_staff(people["lead"], region="APAC")
    body = as_("lead").get("/api/v1/me").json()
    assert body["id"] == people["lead"].pk and body["kind"] == "staff"
    assert body["roles"] == ["lead"] and body["region"] == "APAC"
    assert "manage_teams" in body["permissions"] and "manage_staff" not in body["permissions"]
    assert body["contact"] is None and body["organization_id"] is None


# --- organizations ----------------------------------------------------------------------


def test_create_organization(as_, people, regions):
    area = services.create_product_area(name="Replication")
    resp = post(
        as_("csm"),
        "/api/v1/organizations",
        {
            "name": "Globex",
            "domains": ["Globex.com", "globex.io"],
            "tier": "premium",
            "region": "AMER",
            "lifecycle_stage": "renewing",
            "sales_consultant_id": people["sc"].pk,
            "success_manager_id": people["csm"].pk,
            "include_sc": False,
            "owners": [{"product_area_id": area.pk, "user_id": people["se"].pk}],
        },
    )
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["name"] == "Globex" and body["domains"] == ["globex.com", "globex.io"]
    assert body["region"] == "AMER" and body["tier"] == "premium"
    assert body["sc"] == {
        "id": people["sc"].pk,
        "email": people["sc"].email,
        "name": str(people["sc"]),
    }
    assert body["csm"]["id"] == people["csm"].pk
    assert body["include_sc"] is False
    assert body["owners"] == [{"product_area_id": area.pk, "user_id": people["se"].pk}]
    row = AuditEvent.objects.get(type="organization.created", subject_id=body["id"])
    assert row.actor == people["csm"]


def test_create_organization_validation(as_, people, acme):
    err = assert_error(
        post(as_("admin"), "/api/v1/organizations", {"name": "X", "domains": ["bad domain"]}),
        422,
        "validation_error",
        "domains",
    )
    assert "bad domain" in err["fields"]["domains"]
    assert_error(post(as_("admin"), "/api/v1/organizations", {}), 422, "validation_error", "name")
    assert_error(
        post(as_("admin"), "/api/v1/organizations", {"name": "X", "domains": "acme.com"}),
        422,
        "validation_error",
        "domains",
    )
    assert_error(
        post(
            as_("admin"),
            "/api/v1/organizations",
            {"name": "X", "sales_consultant_id": people["se"].pk},
        ),
        422,
        "validation_error",
        "sales_consultant",
    )
    err = assert_error(
        post(as_("admin"), "/api/v1/organizations", {"name": "X", "domains": ["ACME.com"]}),
        409,
        "conflict",
        "domains",
    )
    assert "acme.com" in err["message"]
    assert list(Organization.objects.values_list("name", flat=True)) == ["Acme"]


@pytest.mark.parametrize("who", ["se", "sc", "lead", "exec"])
def test_create_organization_forbidden(as_, who):
    assert_error(post(as_(who), "/api/v1/organizations", {"name": "X"}), 403, "permission_denied")


def test_get_and_patch_organization(as_, acme, people):
    resp = as_("exec").get(f"/api/v1/organizations/{acme.pk}")
    assert resp.status_code == 200 and resp.json()["domains"] == ["acme.com"]
    assert_error(as_("se").get("/api/v1/organizations/999999"), 404, "not_found")
    resp = patch(
        as_("sm"),
        f"/api/v1/organizations/{acme.pk}",
        {
            "domains": ["acme.com", "acme.de"],
            "lifecycle_stage": "churned",
            "sales_consultant_id": None,
        },
    )
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["domains"] == ["acme.com", "acme.de"]
    assert body["lifecycle_stage"] == "churned" and body["sc"] is None
    assert body["tier"] == "enterprise"  # untouched by PATCH
    assert_error(
        patch(as_("sm"), f"/api/v1/organizations/{acme.pk}", {"tier": "platinum"}),
        422,
        "validation_error",
        "tier",
    )
    assert_error(
        patch(as_("se"), f"/api/v1/organizations/{acme.pk}", {"tier": "basic"}),
        403,
        "permission_denied",
    )
    assert_error(
        patch(as_("sm"), "/api/v1/organizations/999999", {"tier": "basic"}), 404, "not_found"
    )
    acme.refresh_from_db()
    assert acme.tier == "enterprise"


def test_list_organizations_filters_and_pages(as_, people, regions):
    for i in range(5):
        services.create_organization(
            name=f"Org {i}",
            tier="enterprise" if i % 2 else "basic",
            region="AMER" if i < 3 else "APAC",
            lifecycle_stage="adopting" if i == 4 else "onboarding",
        )
    client = as_("se")

    def names(url):
        resp = client.get(url)
        assert resp.status_code == 200, resp.content
        return [r["name"] for r in resp.json()["results"]]

    assert names("/api/v1/organizations") == [f"Org {i}" for i in (4, 3, 2, 1, 0)]
    assert names("/api/v1/organizations?tier=enterprise") == ["Org 3", "Org 1"]
    assert names("/api/v1/organizations?region=apac") == ["Org 4", "Org 3"]
    assert names("/api/v1/organizations?lifecycle_stage=adopting") == ["Org 4"]
    assert names("/api/v1/organizations?q=g 2") == ["Org 2"]
    first = client.get("/api/v1/organizations?limit=2").json()
    assert first["meta"]["has_more"] is True
    second = client.get(first["links"]["next"]).json()
    assert [r["name"] for r in second["results"]] == ["Org 2", "Org 1"]
    assert_error(client.get("/api/v1/organizations?tier=gold"), 422, "validation_error", "tier")
    assert_error(client.get("/api/v1/organizations?limit=500"), 422, "validation_error", "limit")


# --- contacts ---------------------------------------------------------------------------


def test_create_contact_and_conflicts(as_, acme):
    resp = post(
        as_("se"),
        "/api/v1/contacts",
        {"name": "Jane", "emails": ["Jane@acme.com", "jane@home.example"], "phone": "123"},
    )
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["emails"] == ["jane@acme.com", "jane@home.example"]
    assert body["primary_email"] == "jane@acme.com"
    assert body["organization_id"] == acme.pk  # placed by domain
    err = assert_error(
        post(as_("sc"), "/api/v1/contacts", {"name": "Dup", "emails": ["JANE@ACME.COM"]}),
        409,
        "conflict",
        "emails",
    )
    assert "jane@acme.com" in err["message"]
    assert_error(
        post(as_("sc"), "/api/v1/contacts", {"name": "Bad", "emails": ["nope"]}),
        422,
        "validation_error",
        "emails",
    )
    assert_error(
        post(as_("sc"), "/api/v1/contacts", {"emails": ["x@example.com"]}),
        422,
        "validation_error",
        "name",
    )
    assert_error(post(as_("exec"), "/api/v1/contacts", {"name": "X"}), 403, "permission_denied")
    resp = post(
        as_("se"),
        "/api/v1/contacts",
        {"name": "Solo", "emails": ["solo@acme.com"], "organization_id": None},
    )
    assert resp.json()["organization_id"] is None
    assert Contact.objects.count() == 2


def test_get_patch_contact(as_, acme):
    c = services.create_contact(name="Jane", emails=["jane@acme.com"])
    assert as_("exec").get(f"/api/v1/contacts/{c.pk}").json()["name"] == "Jane"
    assert_error(as_("se").get("/api/v1/contacts/999999"), 404, "not_found")
    resp = patch(
        as_("se"),
        f"/api/v1/contacts/{c.pk}",
        {"emails": ["j.doe@acme.com", "jane@acme.com"], "title": "CTO"},
    )
    assert resp.status_code == 200
    assert resp.json()["primary_email"] == "j.doe@acme.com" and resp.json()["title"] == "CTO"
    assert_error(
        patch(as_("se"), f"/api/v1/contacts/{c.pk}", {"time_zone": "Nowhere/Land"}),
        422,
        "validation_error",
        "time_zone",
    )
    assert_error(
        patch(as_("exec"), f"/api/v1/contacts/{c.pk}", {"title": "x"}), 403, "permission_denied"
    )
    assert_error(patch(as_("se"), "/api/v1/contacts/999999", {"title": "x"}), 404, "not_found")


def test_merge_contact(as_, acme, people):
    a = services.create_contact(name="A", emails=["a@acme.com"])
    b = services.create_contact(name="B", emails=["b@acme.com"])
    assert_error(
        post(as_("exec"), f"/api/v1/contacts/{a.pk}/merge", {"into": b.pk}),
        403,
        "permission_denied",
    )
    assert_error(
        post(as_("se"), f"/api/v1/contacts/{a.pk}/merge", {"into": a.pk}),
        422,
        "validation_error",
        "into",
    )
    assert_error(
        post(as_("se"), f"/api/v1/contacts/{a.pk}/merge", {}), 422, "validation_error", "into"
    )
    assert_error(
        post(as_("se"), f"/api/v1/contacts/{a.pk}/merge", {"into": 999999}), 404, "not_found"
    )
    assert_error(post(as_("se"), "/api/v1/contacts/999999/merge", {"into": a.pk}), 404, "not_found")
    resp = post(as_("sc"), f"/api/v1/contacts/{a.pk}/merge", {"into": b.pk})
    assert resp.status_code == 200, resp.content
    assert resp.json()["id"] == b.pk and set(resp.json()["emails"]) == {"a@acme.com", "b@acme.com"}
    assert as_("se").get(f"/api/v1/contacts/{a.pk}").json()["merged_into_id"] == b.pk
    c = services.create_contact(name="C", emails=["c@acme.com"])
    assert_error(
        post(as_("se"), f"/api/v1/contacts/{c.pk}/merge", {"into": a.pk}), 409, "conflict", "into"
    )


def test_list_contacts_filters(as_, acme):
    jane = services.create_contact(name="Jane Doe", emails=["jane@acme.com", "jd@x.example"])
    services.create_contact(name="Bob", emails=["bob@other.example"])
    gone = services.create_contact(name="Gone Jane", emails=["gone@acme.com"])
    services.merge_contacts(gone, jane)
    client = as_("se")

    def names(url):
        resp = client.get(url)
        assert resp.status_code == 200, resp.content
        return [r["name"] for r in resp.json()["results"]]

    assert names("/api/v1/contacts") == ["Bob", "Jane Doe"]
    assert names("/api/v1/contacts?include_merged=true") == ["Gone Jane", "Bob", "Jane Doe"]
    assert names(f"/api/v1/contacts?organization={acme.pk}") == ["Jane Doe"]
    assert names("/api/v1/contacts?email=JD@X.EXAMPLE") == ["Jane Doe"]
    assert names("/api/v1/contacts?email=gone@acme.com") == ["Jane Doe"]  # moved by merge
    assert names("/api/v1/contacts?email=jd@x") == []  # exact, not contains
    assert names("/api/v1/contacts?q=other.example") == ["Bob"]
    assert names("/api/v1/contacts?q=jane") == ["Jane Doe"]
    assert_error(client.get("/api/v1/contacts?organization=abc"), 422, "validation_error")


# --- staff ------------------------------------------------------------------------------


def test_create_staff(as_, people, regions):
    team = services.create_team(name="Storage")
    area = services.create_product_area(name="Replication")
    resp = post(
        as_("sm"),
        "/api/v1/staff",
        {
            "email": "New.Person@Caseline.test",
            "display_name": "New Person",
            "roles": ["support_engineer", "incident_manager"],
            "region": "EMEA",
            "teams": [team.pk],
            "skills": [area.pk],
            "time_zone": "Europe/Paris",
            "open_ticket_cap": 10,
        },
    )
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["email"] == "new.person@caseline.test"
    assert body["roles"] == ["incident_manager", "support_engineer"]
    assert (body["region"], body["teams"], body["skills"]) == ("EMEA", [team.pk], [area.pk])
    assert body["is_away"] is False and body["is_active"] is True
    assert "password" not in body


def test_create_staff_errors(as_, people):
    err = assert_error(
        post(as_("admin"), "/api/v1/staff", {"email": "x@caseline.test", "roles": ["guru"]}),
        422,
        "validation_error",
        "roles",
    )
    assert "support_engineer" in err["fields"]["roles"]
    assert_error(
        post(as_("admin"), "/api/v1/staff", {"email": "x@caseline.test", "time_zone": "X/Y"}),
        422,
        "validation_error",
        "time_zone",
    )
    assert_error(
        post(
            as_("admin"), "/api/v1/staff", {"email": "x@caseline.test", "open_ticket_cap": "many"}
        ),
        422,
        "validation_error",
        "open_ticket_cap",
    )
    assert_error(
        post(as_("admin"), "/api/v1/staff", {"email": people["se"].email}), 409, "conflict", "email"
    )
    for who in ("se", "lead", "exec", "csm"):
        assert_error(
            post(as_(who), "/api/v1/staff", {"email": "y@caseline.test"}), 403, "permission_denied"
        )
    assert not User.objects.filter(email__in=["x@caseline.test", "y@caseline.test"]).exists()


def test_get_patch_staff(as_, people, customer):
    se = people["se"]
    assert as_("exec").get(f"/api/v1/staff/{se.pk}").json()["roles"] == ["support_engineer"]
    assert_error(as_("se").get("/api/v1/staff/999999"), 404, "not_found")
    assert_error(as_("se").get(f"/api/v1/staff/{customer.pk}"), 404, "not_found")
    resp = patch(as_("sm"), f"/api/v1/staff/{se.pk}", {"is_away": True, "roles": ["lead"]})
    assert resp.status_code == 200
    assert resp.json()["is_away"] is True and resp.json()["roles"] == ["lead"]
    assert_error(
        patch(as_("sm"), f"/api/v1/staff/{se.pk}", {"roles": ["nope"]}),
        422,
        "validation_error",
        "roles",
    )
    assert_error(
        patch(as_("lead"), f"/api/v1/staff/{se.pk}", {"is_away": False}), 403, "permission_denied"
    )
    assert_error(patch(as_("sm"), "/api/v1/staff/999999", {"is_away": False}), 404, "not_found")
    assert_error(
        patch(as_("sm"), f"/api/v1/staff/{people['sm'].pk}", {"is_active": False}),
        422,
        "validation_error",
        "is_active",
    )


def test_list_staff_filters(as_, people, regions, customer):
    team = services.create_team(name="Storage", members=[people["se"], people["lead"]])
    services.update_staff(people["se"], region="EMEA")
    services.update_staff(people["lead"], is_away=True)
    client = as_("exec")

    def ids(url):
        resp = client.get(url + ("&" if "?" in url else "?") + "limit=100")
        assert resp.status_code == 200, resp.content
        return {r["id"] for r in resp.json()["results"]}

    assert customer.pk not in ids("/api/v1/staff")
    assert ids("/api/v1/staff") == {u.pk for u in people.values()}
    assert ids("/api/v1/staff?role=support_engineer") == {people["se"].pk}
    assert ids(f"/api/v1/staff?team={team.pk}") == {people["se"].pk, people["lead"].pk}
    assert ids("/api/v1/staff?region=EMEA") == {people["se"].pk}
    assert ids(f"/api/v1/staff?team={team.pk}&available=true") == {people["se"].pk}
    assert ids("/api/v1/staff?available=false") == {people["lead"].pk}
    assert_error(client.get("/api/v1/staff?role=wizard"), 422, "validation_error", "role")


# --- teams ------------------------------------------------------------------------------


def test_teams_endpoints(as_, people, regions):
    resp = post(
        as_("lead"),
        "/api/v1/teams",
        {
            "name": "EMEA support",
            "region": "EMEA",
            "lead_id": people["lead"].pk,
            "members": [people["se"].pk],
            "assignment_strategy": "least_load",
        },
    )
    assert resp.status_code == 201, resp.content
    team = resp.json()
    assert team["lead"]["id"] == people["lead"].pk and team["members"] == [people["se"].pk]
    assert team["region"] == "EMEA" and team["assignment_strategy"] == "least_load"
    assert_error(
        post(as_("lead"), "/api/v1/teams", {"name": "X", "assignment_strategy": "dice"}),
        422,
        "validation_error",
        "assignment_strategy",
    )
    assert_error(post(as_("lead"), "/api/v1/teams", {"name": "emea SUPPORT"}), 409, "conflict")
    assert_error(post(as_("se"), "/api/v1/teams", {"name": "Y"}), 403, "permission_denied")
    url = f"/api/v1/teams/{team['id']}"
    assert as_("exec").get(url).json()["name"] == "EMEA support"
    assert_error(as_("se").get("/api/v1/teams/999999"), 404, "not_found")
    resp = patch(as_("sm"), url, {"members": [people["se"].pk, people["sc"].pk], "lead_id": None})
    assert resp.status_code == 200
    assert resp.json()["members"] == sorted([people["se"].pk, people["sc"].pk])
    assert resp.json()["lead"] is None
    assert_error(patch(as_("sm"), url, {"members": [999999]}), 422, "validation_error", "members")
    # the reply style the reply checker applies, audited like any team change
    assert team["reply_greeting_required"] is False
    resp = patch(as_("sm"), url, {"reply_greeting_required": True})
    assert resp.status_code == 200 and resp.json()["reply_greeting_required"] is True
    assert resp.json()["reply_closing_required"] is False
    assert AuditEvent.objects.filter(
        type="team.updated", subject_id=team["id"], field="reply_greeting_required", new=True
    ).exists()
    assert_error(patch(as_("csm"), url, {"name": "Z"}), 403, "permission_denied")
    assert_error(patch(as_("sm"), "/api/v1/teams/999999", {"name": "Z"}), 404, "not_found")
    listing = as_("se").get("/api/v1/teams?region=EMEA").json()
    assert [t["name"] for t in listing["results"]] == ["EMEA support"]
    assert as_("se").get("/api/v1/teams?region=APAC").json()["results"] == []


# --- product areas ----------------------------------------------------------------------


def test_product_area_endpoints(as_, people):
    team = services.create_team(name="Storage")
    resp = post(
        as_("lead"),
        "/api/v1/product-areas",
        {"name": "Data Replication", "owning_team_id": team.pk, "keywords": ["Replica", "lag"]},
    )
    assert resp.status_code == 201, resp.content
    area = resp.json()
    assert area["slug"] == "data-replication" and area["keywords"] == ["replica", "lag"]
    assert area["owning_team_id"] == team.pk and area["roster"] == []
    assert_error(
        post(as_("lead"), "/api/v1/product-areas", {"name": "X", "owning_team_id": 999999}),
        422,
        "validation_error",
        "owning_team",
    )
    assert_error(post(as_("se"), "/api/v1/product-areas", {"name": "Y"}), 403, "permission_denied")
    url = f"/api/v1/product-areas/{area['id']}"
    assert as_("exec").get(url).json()["name"] == "Data Replication"
    assert_error(as_("se").get("/api/v1/product-areas/999999"), 404, "not_found")
    resp = patch(as_("admin"), url, {"keywords": ["geo"]})
    assert resp.status_code == 200 and resp.json()["keywords"] == ["geo"]
    assert_error(patch(as_("admin"), url, {"name": ""}), 422, "validation_error", "name")
    assert_error(patch(as_("sc"), url, {"name": "Z"}), 403, "permission_denied")
    assert_error(patch(as_("sm"), "/api/v1/product-areas/999999", {"name": "Z"}), 404, "not_found")
    listing = as_("se").get(f"/api/v1/product-areas?owning_team={team.pk}").json()
    assert [a["id"] for a in listing["results"]] == [area["id"]]


def test_roster_endpoint(as_, people):
    area = services.create_product_area(name="Replication")
    url = f"/api/v1/product-areas/{area.pk}/roster"
    se, lead, sm = people["se"], people["lead"], people["sm"]
    resp = put(as_("lead"), url, {"user_ids": [lead.pk, se.pk, sm.pk]})
    assert resp.status_code == 200, resp.content
    assert [(e["position"], e["user"]["id"]) for e in resp.json()["roster"]] == [
        (1, lead.pk),
        (2, se.pk),
        (3, sm.pk),
    ]
    resp = put(as_("lead"), url, {"user_ids": [sm.pk, se.pk]})
    assert [e["user"]["id"] for e in resp.json()["roster"]] == [sm.pk, se.pk]
    assert_error(
        put(as_("lead"), url, {"user_ids": [se.pk, se.pk]}), 422, "validation_error", "user_ids"
    )
    assert_error(put(as_("lead"), url, {}), 422, "validation_error", "user_ids")
    assert_error(put(as_("se"), url, {"user_ids": []}), 403, "permission_denied")
    assert_error(
        put(as_("lead"), "/api/v1/product-areas/999999/roster", {"user_ids": []}), 404, "not_found"
    )
    got = as_("se").get(f"/api/v1/product-areas/{area.pk}").json()
    assert [e["user"]["id"] for e in got["roster"]] == [sm.pk, se.pk]


# --- tokens -----------------------------------------------------------------------------


def test_tokens_create_list_revoke(api_client, people):
    se = people["se"]
    client = api_client(se)  # one token already ("test")
    resp = post(client, "/api/v1/tokens", {"name": "laptop"})
    assert resp.status_code == 201, resp.content
    body = resp.json()
    secret, prefix = body["token"], body["prefix"]
    assert secret.startswith(prefix) and body["user_id"] == se.pk
    assert ApiToken.objects.get(prefix=prefix).digest != secret
    new_client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    listing = new_client.get("/api/v1/tokens").json()
    assert {t["name"] for t in listing["results"]} == {"test", "laptop"}
    assert all("token" not in t and "digest" not in t for t in listing["results"])
    # other users' tokens are not listed
    api_client(people["sc"])
    assert len(new_client.get("/api/v1/tokens").json()["results"]) == 2
    assert client.delete(f"/api/v1/tokens/{prefix}").status_code == 204
    assert new_client.get("/api/v1/me").status_code == 401
    assert_error(client.delete(f"/api/v1/tokens/{prefix}"), 404, "not_found")
    revoked = client.get("/api/v1/tokens?include_revoked=true").json()["results"]
    assert {t["name"]: bool(t["revoked_at"]) for t in revoked} == {"test": False, "laptop": True}
    assert_error(
        post(client, "/api/v1/tokens", {"name": "x" * 101}), 422, "validation_error", "name"
    )


def test_revoking_someone_elses_token(api_client, people):
    other_token, other_secret = services.create_api_token(people["sc"], "sc")
    assert_error(
        api_client(people["se"]).delete(f"/api/v1/tokens/{other_token.prefix}"), 404, "not_found"
    )
    assert Client(HTTP_AUTHORIZATION=f"Bearer {other_secret}").get("/api/v1/me").status_code == 200
    resp = api_client(people["sm"]).delete(f"/api/v1/tokens/{other_token.prefix}")
    assert resp.status_code == 204
    assert Client(HTTP_AUTHORIZATION=f"Bearer {other_secret}").get("/api/v1/me").status_code == 401


def test_revoking_a_shared_prefix_revokes_only_the_callers_token(api_client, people):
    """Prefixes are 10 characters, not unique: revoking one's own token by its prefix
    must never reach another user's token that happens to share it (nor an admin's)."""
    theirs, their_secret = services.create_api_token(people["admin"], "admin's")
    mine, my_secret = services.create_api_token(people["se"], "mine")
    # The other user's token is older (found first by prefix alone); give both one prefix.
    ApiToken.objects.filter(pk=mine.pk).update(prefix=theirs.prefix)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {my_secret}")
    assert client.delete(f"/api/v1/tokens/{theirs.prefix}").status_code == 204
    assert Client(HTTP_AUTHORIZATION=f"Bearer {their_secret}").get("/api/v1/me").status_code == 200
    assert client.get("/api/v1/me").status_code == 401
    assert ApiToken.objects.get(pk=theirs.pk).revoked_at is None
    assert ApiToken.objects.get(pk=mine.pk).revoked_at is not None
    # A support manager revoking "anyone's" token by that prefix still cannot reach the admin's.
    assert_error(
        api_client(people["sm"]).delete(f"/api/v1/tokens/{theirs.prefix}"), 404, "not_found"
    )
    assert ApiToken.objects.get(pk=theirs.pk).revoked_at is None


def test_revoking_an_ambiguous_prefix_without_an_id_is_refused(people):
    """The CLI and other prefix-only callers never guess whose token is meant."""
    from caseline.accounts.tokens import revoke_token
    from caseline.errors import Conflict

    a, _ = services.create_api_token(people["se"], "a")
    b, _ = services.create_api_token(people["sc"], "b")
    ApiToken.objects.filter(pk=b.pk).update(prefix=a.prefix)
    with pytest.raises(Conflict):
        revoke_token(a.prefix)
    assert not ApiToken.objects.filter(revoked_at__isnull=False, pk__in=[a.pk, b.pk]).exists()
    assert revoke_token(a.prefix, token_id=b.pk).pk == b.pk


def test_customers_manage_their_own_tokens(api_client, customer):
    client = api_client(customer)
    resp = post(client, "/api/v1/tokens", {"name": "portal script"})
    assert resp.status_code == 201
    assert len(client.get("/api/v1/tokens").json()["results"]) == 2
    assert client.delete(f"/api/v1/tokens/{resp.json()['prefix']}").status_code == 204


# --- performance shape: list endpoints do not issue a query per row ---------------------


def _count(client, url) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def _grow(people, n, offset):
    for i in range(offset, offset + n):
        org = services.create_organization(
            name=f"Org {i}",
            domains=[f"org{i}.example"],
            sales_consultant=people["sc"],
            success_manager=people["csm"],
        )
        services.create_contact(name=f"C {i}", emails=[f"c{i}@org{i}.example"], organization=org)
        team = services.create_team(name=f"Team {i}", lead=people["lead"], members=[people["se"]])
        area = services.create_product_area(name=f"Area {i}", owning_team=team)
        services.set_roster(area, [people["se"], people["lead"]])
        services.create_staff(email=f"s{i}@caseline.test", roles=["support_engineer"], teams=[team])


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/organizations",
        "/api/v1/contacts",
        "/api/v1/staff",
        "/api/v1/teams",
        "/api/v1/product-areas",
    ],
)
def test_list_query_count_is_constant(as_, people, url):
    client = as_("se")
    client.get("/api/v1/me")  # first use of the token stamps last_used_at
    _grow(people, 2, 0)
    small = _count(client, url)
    _grow(people, 8, 2)
    assert _count(client, url) == small


def test_staff_mark_themselves_away_and_back(make_staff, api_client):
    agent = make_staff("support_engineer")
    client = api_client(agent)
    resp = client.patch("/api/v1/me", data={"is_away": True}, content_type="application/json")
    assert resp.status_code == 200, resp.content
    agent.refresh_from_db()
    assert agent.is_away is True
    bad = client.patch(
        "/api/v1/me", data={"time_zone": "Mars/Olympus"}, content_type="application/json"
    )
    assert bad.status_code == 422
    agent.refresh_from_db()
    assert agent.time_zone == "UTC"
    client.patch("/api/v1/me", data={"is_away": False}, content_type="application/json")
    agent.refresh_from_db()
    assert agent.is_away is False


# --- the admin role is the admins' to give --------------------------------------------


def _audit_roles(user):
    return list(
        AuditEvent.objects.filter(subject_type="user", subject_id=user.pk, field="roles")
        .order_by("id")
        .values_list("old", "new")
    )


def test_support_manager_cannot_create_an_admin(as_, people):
    err = assert_error(
        post(as_("sm"), "/api/v1/staff", {"email": "boss@caseline.test", "roles": ["admin"]}),
        403,
        "permission_denied",
        "roles",
    )
    assert "admin" in err["message"]
    assert not User.objects.filter(email="boss@caseline.test").exists()
    # validation still comes first: an unknown role is 422 for anyone
    assert_error(
        post(as_("sm"), "/api/v1/staff", {"email": "boss@caseline.test", "roles": ["root"]}),
        422,
        "validation_error",
        "roles",
    )
    # an admin may
    resp = post(as_("admin"), "/api/v1/staff", {"email": "boss@caseline.test", "roles": ["admin"]})
    assert resp.status_code == 201, resp.content
    boss = User.objects.get(email="boss@caseline.test")
    assert boss.is_staff and boss.groups.filter(name="admin").exists()


def test_support_manager_cannot_grant_or_remove_the_admin_role(as_, people):
    se, admin = people["se"], people["admin"]
    assert_error(
        patch(as_("sm"), f"/api/v1/staff/{se.pk}", {"roles": ["support_engineer", "admin"]}),
        403,
        "permission_denied",
        "roles",
    )
    se.refresh_from_db()
    assert se.role_names == ["support_engineer"] and not se.is_staff
    assert _audit_roles(se) == []
    # the support manager cannot promote themselves either
    sm = people["sm"]
    assert_error(
        patch(as_("sm"), f"/api/v1/staff/{sm.pk}", {"roles": ["support_manager", "admin"]}),
        403,
        "permission_denied",
    )
    # an admin grants it (audited) and removes it again
    resp = patch(as_("admin"), f"/api/v1/staff/{se.pk}", {"roles": ["support_engineer", "admin"]})
    assert resp.status_code == 200 and resp.json()["roles"] == ["admin", "support_engineer"]
    se.refresh_from_db()
    assert se.is_staff
    resp = patch(as_("admin"), f"/api/v1/staff/{se.pk}", {"roles": ["support_engineer"]})
    assert resp.status_code == 200
    assert _audit_roles(se) == [
        (["support_engineer"], ["admin", "support_engineer"]),
        (["admin", "support_engineer"], ["support_engineer"]),
    ]
    assert_error(
        patch(as_("admin"), "/api/v1/staff/999999", {"roles": ["admin"]}), 404, "not_found"
    )
    assert admin.role_names == ["admin"]


@pytest.mark.parametrize(
    "change",
    [
        {"display_name": "Not the boss"},
        {"password": "a-Brand-new-passphrase-9"},
        {"is_active": False},
        {"roles": ["support_engineer"]},
        {"email": "taken-over@caseline.test"},
    ],
)
def test_support_manager_cannot_change_an_admin_user(as_, people, change):
    admin = people["admin"]
    before = (admin.email, admin.display_name, admin.password, admin.is_active)
    assert_error(patch(as_("sm"), f"/api/v1/staff/{admin.pk}", change), 403, "permission_denied")
    admin.refresh_from_db()
    assert (admin.email, admin.display_name, admin.password, admin.is_active) == before
    assert admin.role_names == ["admin"]
    assert (
        not AuditEvent.objects.filter(subject_type="user", subject_id=admin.pk)
        .exclude(type="staff.updated", field="")
        .exists()
    )


def test_admins_change_admins_and_sm_still_manages_others(as_, people, make_staff):
    other_admin = make_staff("admin")
    resp = patch(as_("admin"), f"/api/v1/staff/{other_admin.pk}", {"display_name": "Ada"})
    assert resp.status_code == 200 and resp.json()["display_name"] == "Ada"
    resp = patch(as_("sm"), f"/api/v1/staff/{people['se'].pk}", {"display_name": "Sam"})
    assert resp.status_code == 200, resp.content
    # the admin may edit themselves through /staff too
    resp = patch(as_("admin"), f"/api/v1/staff/{people['admin'].pk}", {"is_away": True})
    assert resp.status_code == 200


def test_superusers_are_changed_only_by_superusers(as_, people, make_staff):
    root = make_staff("admin", is_superuser=True, is_staff=True)
    assert_error(
        patch(as_("admin"), f"/api/v1/staff/{root.pk}", {"is_active": False}),
        403,
        "permission_denied",
    )
    root.refresh_from_db()
    assert root.is_active
    resp = patch(as_(root), f"/api/v1/staff/{people['admin'].pk}", {"display_name": "Adm"})
    assert resp.status_code == 200


def test_support_manager_cannot_revoke_an_admins_token(api_client, people):
    token, secret = services.create_api_token(people["admin"], "admin laptop")
    assert_error(
        api_client(people["sm"]).delete(f"/api/v1/tokens/{token.prefix}"), 404, "not_found"
    )
    assert Client(HTTP_AUTHORIZATION=f"Bearer {secret}").get("/api/v1/me").status_code == 200
    resp = api_client(people["admin"]).delete(f"/api/v1/tokens/{token.prefix}")
    assert resp.status_code == 204


def test_services_enforce_the_admin_rule_for_every_caller(people):
    """The Django admin and the CLI use the same services: the rule lives there."""
    from caseline.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.update_staff(people["se"], actor=people["sm"], roles=["admin"])
    with pytest.raises(PermissionDenied):
        services.create_staff(actor=people["lead"], email="x@caseline.test", roles=["admin"])
    # the system (actor None: createadmin, demo) may
    services.update_staff(people["se"], roles=["admin"])
    assert people["se"].groups.filter(name="admin").exists()
