"""Django admin: every page loads, and organization/contact/roster edits go through the
services (validated, audited)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from caseline.accounts import services
from caseline.accounts.models import (
    ApiToken,
    Contact,
    Organization,
    ProductArea,
    Region,
    SMERosterEntry,
    Team,
    User,
)
from caseline.accounts.tokens import create_token
from caseline.audit.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user(make_staff):
    user = make_staff("admin", email="root@caseline.test")
    user.is_staff = True
    user.is_superuser = True
    user.save()
    return user


@pytest.fixture
def browser(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client


def inline(prefix: str, rows: list[dict], initial: int = 0) -> dict[str, str]:
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        for key, value in row.items():
            data[f"{prefix}-{i}-{key}"] = "" if value is None else str(value)
    return data


def org_form(**fields) -> dict[str, str]:
    data = {
        "name": "Acme",
        "tier": "standard",
        "support_entitlement": "standard",
        "region": "",
        "lifecycle_stage": "onboarding",
        "sales_consultant": "",
        "success_manager": "",
        "include_sc": "on",
        "notes": "",
    }
    data.update({k: str(v) for k, v in fields.items()})
    return data


MODELS = [
    ("accounts", "region"),
    ("accounts", "user"),
    ("accounts", "team"),
    ("accounts", "productarea"),
    ("accounts", "organization"),
    ("accounts", "contact"),
    ("accounts", "apitoken"),
    ("audit", "auditevent"),
]


@pytest.mark.parametrize("app,model", MODELS)
def test_changelists_load(browser, app, model, make_staff):
    services.create_organization(name="Acme", domains=["acme.com"])
    services.create_contact(name="Jane", emails=["jane@acme.com"])
    create_token(make_staff("support_engineer"), "x")
    resp = browser.get(reverse(f"admin:{app}_{model}_changelist"))
    assert resp.status_code == 200


@pytest.mark.parametrize(
    "model", ["region", "user", "team", "productarea", "organization", "contact"]
)
def test_add_pages_load(browser, model):
    assert browser.get(reverse(f"admin:accounts_{model}_add")).status_code == 200


def test_add_organization_goes_through_service(browser, admin_user, make_staff):
    sc = make_staff("sales_consultant")
    region = Region.objects.create(code="EMEA", name="EMEA")
    data = org_form(tier="premium", region=region.pk, sales_consultant=sc.pk)
    data |= inline("domains", [{"domain": "Acme.COM"}, {"domain": "acme.io"}])
    data |= inline("owners", [])
    resp = browser.post(reverse("admin:accounts_organization_add"), data)
    assert resp.status_code == 302, resp.content.decode()[:3000]
    org = Organization.objects.get()
    assert org.tier == "premium" and org.region == region and org.sales_consultant == sc
    assert sorted(org.domains.values_list("domain", flat=True)) == ["acme.com", "acme.io"]
    rows = AuditEvent.objects.filter(subject_type="organization", subject_id=org.pk)
    assert [(r.type, r.actor_id) for r in rows] == [("organization.created", admin_user.pk)]
    assert sorted(rows[0].data["domains"]) == ["acme.com", "acme.io"]


def test_change_organization_records_timeline(browser, admin_user):
    org = services.create_organization(name="Acme", domains=["acme.com", "acme.io"])
    doms = {d.domain: d.pk for d in org.domains.all()}
    data = org_form(tier="enterprise")
    data |= inline(
        "domains",
        [
            {"id": doms["acme.com"], "organization": org.pk, "domain": "acme.com"},
            {"id": doms["acme.io"], "organization": org.pk, "domain": "acme.io", "DELETE": "on"},
            {"organization": org.pk, "domain": "ACME.de"},
        ],
        initial=2,
    )
    data |= inline("owners", [])
    resp = browser.post(reverse("admin:accounts_organization_change", args=[org.pk]), data)
    assert resp.status_code == 302, resp.content.decode()[:3000]
    rows = {
        r.field: (r.old, r.new, r.actor_id)
        for r in AuditEvent.objects.filter(type="organization.updated", subject_id=org.pk)
    }
    assert rows == {
        "tier": ("standard", "enterprise", admin_user.pk),
        "domains": (["acme.com", "acme.io"], ["acme.com", "acme.de"], admin_user.pk),
    }


def test_admin_refuses_bad_organization_input(browser, make_staff):
    services.create_organization(name="Taken", domains=["taken.com"])
    se = make_staff("support_engineer")
    url = reverse("admin:accounts_organization_add")
    for data in (
        org_form(sales_consultant=se.pk) | inline("domains", []),  # not an SC
        org_form() | inline("domains", [{"domain": "not a domain"}]),
        org_form() | inline("domains", [{"domain": "TAKEN.com"}]),
        org_form(name="taken") | inline("domains", []),
    ):
        resp = browser.post(url, data | inline("owners", []))
        assert resp.status_code == 200  # the form again, with errors
        assert resp.context["errors"]
    assert Organization.objects.count() == 1


def test_add_contact_goes_through_service(browser, admin_user):
    acme = services.create_organization(name="Acme", domains=["acme.com"])
    data = {"name": "Jane", "organization": "", "phone": "", "title": "", "time_zone": ""}
    data |= inline(
        "emails",
        [
            {"email": "jane@home.example", "is_primary": ""},
            {"email": "Jane@Acme.com", "is_primary": "on"},
        ],
    )
    resp = browser.post(reverse("admin:accounts_contact_add"), data)
    assert resp.status_code == 302, resp.content.decode()[:3000]
    contact = Contact.objects.get()
    assert contact.primary_email == "jane@acme.com"
    assert contact.organization == acme  # placed by its primary email's domain
    row = AuditEvent.objects.get(subject_type="contact", subject_id=contact.pk)
    assert row.type == "contact.created" and row.actor == admin_user


def test_admin_contact_email_conflict_is_a_form_error(browser):
    services.create_contact(name="Jane", emails=["jane@acme.com"])
    data = {"name": "Other", "organization": "", "phone": "", "title": "", "time_zone": ""}
    data |= inline("emails", [{"email": "JANE@acme.com", "is_primary": "on"}])
    resp = browser.post(reverse("admin:accounts_contact_add"), data)
    assert resp.status_code == 200
    assert Contact.objects.count() == 1


def test_roster_inline_swap_uses_set_roster(browser, make_staff):
    a, b = make_staff("support_engineer"), make_staff("support_engineer")
    area = services.create_product_area(name="Replication")
    services.set_roster(area, [a.pk, b.pk])
    entries = {e.user_id: e.pk for e in SMERosterEntry.objects.filter(product_area=area)}
    data = {"name": "Replication", "slug": "replication", "owning_team": "", "keywords": ""}
    data |= inline(
        "roster",
        [
            {"id": entries[a.pk], "product_area": area.pk, "user": a.pk, "position": 2},
            {"id": entries[b.pk], "product_area": area.pk, "user": b.pk, "position": 1},
        ],
        initial=2,
    )
    resp = browser.post(reverse("admin:accounts_productarea_change", args=[area.pk]), data)
    assert resp.status_code == 302, resp.content.decode()[:3000]
    assert list(
        SMERosterEntry.objects.filter(product_area=area)
        .order_by("position")
        .values_list("user_id", "position")
    ) == [(b.pk, 1), (a.pk, 2)]
    row = AuditEvent.objects.filter(type="product_area.updated", field="roster").last()
    assert (row.old, row.new) == ([a.pk, b.pk], [b.pk, a.pk])


def test_team_admin_saves_members(browser, make_staff):
    a = make_staff("support_engineer")
    data = {"name": "Storage", "region": "", "lead": "", "email": "", "members": [a.pk]}
    data["assignment_strategy"] = "round_robin"
    data["created_at_0"], data["created_at_1"] = "2026-01-05", "10:00:00"
    resp = browser.post(reverse("admin:accounts_team_add"), data)
    assert resp.status_code == 302, resp.content.decode()[:3000]
    assert list(Team.objects.get().members.all()) == [a]


def test_tokens_are_read_only_and_revocable(browser, make_staff):
    token, _ = create_token(make_staff("support_engineer"), "x")
    assert browser.get(reverse("admin:accounts_apitoken_add")).status_code == 403
    page = browser.get(reverse("admin:accounts_apitoken_change", args=[token.pk]))
    assert page.status_code == 200 and token.digest in page.content.decode()
    resp = browser.post(
        reverse("admin:accounts_apitoken_changelist"),
        {"action": "revoke_selected", "_selected_action": [token.pk]},
    )
    assert resp.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert ApiToken.objects.filter(revoked_at__isnull=True).count() == 0


def test_audit_events_are_read_only(browser):
    services.create_organization(name="Acme")
    event = AuditEvent.objects.get()
    url = reverse("admin:audit_auditevent_change", args=[event.pk])
    assert browser.get(url).status_code == 200
    assert browser.get(reverse("admin:audit_auditevent_add")).status_code == 403
    browser.post(url, {"type": "forged"})
    event.refresh_from_db()
    assert event.type == "organization.created"
    assert browser.get(reverse("admin:audit_auditevent_delete", args=[event.pk])).status_code == 403


def test_user_admin_lists_roles(browser, make_staff):
    make_staff("support_engineer", "lead", email="two@caseline.test")
    resp = browser.get(reverse("admin:accounts_user_changelist"))
    assert "lead, support_engineer" in resp.content.decode()
    user = User.objects.get(email="two@caseline.test")
    assert browser.get(reverse("admin:accounts_user_change", args=[user.pk])).status_code == 200


def test_product_area_admin_add(browser):
    data = {"name": "Billing", "slug": "billing", "owning_team": "", "keywords": "invoice"}
    data |= inline("roster", [])
    resp = browser.post(reverse("admin:accounts_productarea_add"), data)
    assert resp.status_code == 302, resp.content.decode()[:3000]
    assert ProductArea.objects.get().slug == "billing"
