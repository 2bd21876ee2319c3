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


# --- regions, teams, users and product areas go through the services --------------------


def _audit(subject_type, pk):
    return [
        (r.type, r.field, r.old, r.new, r.actor_id)
        for r in AuditEvent.objects.filter(subject_type=subject_type, subject_id=pk).order_by("id")
    ]


def region_form(**fields):
    data = {
        "code": "EMEA",
        "name": "Europe",
        "time_zone": "Europe/Berlin",
        "shift_calendar": "",
        "handoff_order": "1",
    }
    data.update({k: str(v) for k, v in fields.items()})
    return data


def test_region_admin_add_and_change_are_audited(browser, admin_user):
    resp = browser.post(reverse("admin:accounts_region_add"), region_form(code="emea"))
    assert resp.status_code == 302, resp.content.decode()[:3000]
    region = Region.objects.get()
    assert region.code == "EMEA"
    resp = browser.post(
        reverse("admin:accounts_region_change", args=[region.pk]),
        region_form(time_zone="Europe/Dublin"),
    )
    assert resp.status_code == 302, resp.content.decode()[:3000]
    assert _audit("region", region.pk) == [
        ("region.created", "", None, None, admin_user.pk),
        ("region.updated", "time_zone", "Europe/Berlin", "Europe/Dublin", admin_user.pk),
    ]
    # bad input is a form error, nothing saved
    resp = browser.post(
        reverse("admin:accounts_region_change", args=[region.pk]), region_form(time_zone="Mars/X")
    )
    assert resp.status_code == 200 and resp.context["errors"]
    resp = browser.post(reverse("admin:accounts_region_add"), region_form(code="Emea"))
    assert resp.status_code == 200 and Region.objects.count() == 1


def test_team_admin_change_is_audited(browser, admin_user, make_staff):
    a, b = make_staff("support_engineer"), make_staff("support_engineer")
    team = services.create_team(name="Storage", members=[a])
    data = {
        "name": "Storage EMEA",
        "region": "",
        "lead": str(b.pk),
        "email": "",
        "members": [a.pk, b.pk],
        "assignment_strategy": "least_load",
    }
    resp = browser.post(reverse("admin:accounts_team_change", args=[team.pk]), data)
    assert resp.status_code == 302, resp.content.decode()[:3000]
    rows = {r[1]: r[2:] for r in _audit("team", team.pk) if r[0] == "team.updated"}
    assert rows == {
        "name": ("Storage", "Storage EMEA", admin_user.pk),
        "lead": (None, b.pk, admin_user.pk),
        "members": ([a.pk], sorted([a.pk, b.pk]), admin_user.pk),
        "assignment_strategy": ("round_robin", "least_load", admin_user.pk),
    }
    # a customer cannot be a member: refused as a form error
    cust = User.objects.create_user(username="c@x.test", email="c@x.test", kind="customer")
    data["members"] = [cust.pk]
    resp = browser.post(reverse("admin:accounts_team_change", args=[team.pk]), data)
    assert resp.status_code == 200 and resp.context["errors"]
    assert sorted(team.members.values_list("pk", flat=True)) == sorted([a.pk, b.pk])


def staff_form(user, **fields):
    data = {
        "email": user.email,
        "display_name": user.display_name,
        "groups": [g.pk for g in user.groups.all()],
        "region": "",
        "time_zone": user.time_zone,
        "open_ticket_cap": str(user.open_ticket_cap),
        "skills": [],
        "is_active": "on",
    }
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def test_user_admin_change_goes_through_update_staff(browser, admin_user, make_staff, roles):
    se = make_staff("support_engineer")
    data = staff_form(
        se, display_name="Sam", groups=[roles["support_engineer"].pk, roles["lead"].pk]
    )
    data["is_away"] = "on"
    resp = browser.post(reverse("admin:accounts_user_change", args=[se.pk]), data)
    assert resp.status_code == 302, resp.content.decode()[:3000]
    se.refresh_from_db()
    assert se.display_name == "Sam" and se.is_away
    assert se.role_names == ["lead", "support_engineer"]
    rows = {r[1]: r[2:] for r in _audit("user", se.pk) if r[0] == "staff.updated"}
    assert rows["display_name"] == ("", "Sam", admin_user.pk)
    assert rows["roles"] == (["support_engineer"], ["lead", "support_engineer"], admin_user.pk)
    assert rows["is_away"] == (False, True, admin_user.pk)


def test_user_admin_cannot_set_superuser_or_permissions(browser, make_staff):
    se = make_staff("support_engineer")
    from django.contrib.auth.models import Permission

    perm = Permission.objects.get(codename="manage_webhooks")
    data = staff_form(se, is_superuser="on", is_staff="on", user_permissions=[perm.pk])
    resp = browser.post(reverse("admin:accounts_user_change", args=[se.pk]), data)
    assert resp.status_code == 302, resp.content.decode()[:3000]
    se.refresh_from_db()
    assert not se.is_superuser and not se.is_staff
    assert not se.user_permissions.exists() and not se.has_perm("accounts.manage_webhooks")
    page = browser.get(reverse("admin:accounts_user_change", args=[se.pk])).content.decode()
    assert 'name="is_superuser"' not in page and 'name="user_permissions"' not in page


def test_user_admin_add_creates_staff_through_the_service(browser, admin_user, roles):
    data = {
        "email": "New.Hire@Caseline.test",
        "display_name": "New Hire",
        "groups": [roles["support_engineer"].pk],
        "region": "",
        "time_zone": "Europe/Paris",
        "password1": "a-Good-passphrase-2026",
        "password2": "a-Good-passphrase-2026",
    }
    resp = browser.post(reverse("admin:accounts_user_add"), data)
    assert resp.status_code == 302, resp.content.decode()[:3000]
    user = User.objects.get(email="new.hire@caseline.test")
    assert user.username == user.email and user.kind == "staff"
    assert user.check_password("a-Good-passphrase-2026")
    assert _audit("user", user.pk)[0][0] == "staff.created"
    assert _audit("user", user.pk)[0][4] == admin_user.pk
    # a clashing email is a form error
    resp = browser.post(reverse("admin:accounts_user_add"), data)
    assert resp.status_code == 200 and resp.context["errors"]


def test_user_admin_password_change_is_audited(browser, admin_user, make_staff):
    se = make_staff("support_engineer")
    url = reverse("admin:auth_user_password_change", args=[se.pk]).replace(
        "auth/user", "accounts/user"
    )
    resp = browser.post(
        url, {"password1": "another-Long-pass-77", "password2": "another-Long-pass-77"}
    )
    assert resp.status_code == 302, resp.content.decode()[:3000]
    se.refresh_from_db()
    assert se.check_password("another-Long-pass-77")
    assert ("staff.updated", "password", None, "changed", admin_user.pk) in _audit("user", se.pk)


def test_customer_user_admin_change_is_audited(browser, admin_user):
    contact = services.create_contact(name="Cara", emails=["cara@acme.com"])
    cust = User.objects.create_user(
        username="cara@acme.com", email="cara@acme.com", kind="customer", contact=contact
    )
    resp = browser.post(
        reverse("admin:accounts_user_change", args=[cust.pk]), {"display_name": "Cara C."}
    )
    assert resp.status_code == 302, resp.content.decode()[:3000]
    cust.refresh_from_db()
    assert cust.display_name == "Cara C." and not cust.is_active
    rows = {r[1]: r[2:] for r in _audit("user", cust.pk)}
    assert rows["is_active"] == (True, False, admin_user.pk)
    assert rows["display_name"] == ("", "Cara C.", admin_user.pk)


def test_non_superuser_admin_cannot_change_a_superuser(make_staff, admin_user):
    """An admin-role user with admin-site access but no superuser flag."""
    from django.contrib.auth.models import Permission

    deputy = make_staff("admin", email="deputy@caseline.test")
    deputy.is_staff = True
    deputy.save()
    deputy.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_user", "change_user"])
    )
    client = Client()
    client.force_login(deputy)
    url = reverse("admin:accounts_user_change", args=[admin_user.pk])
    resp = client.post(url, staff_form(admin_user, display_name="pwned"))
    assert resp.status_code == 403
    admin_user.refresh_from_db()
    assert admin_user.display_name != "pwned"


def test_product_area_admin_change_is_audited(browser, admin_user):
    area = services.create_product_area(name="Billing", keywords=["invoice"])
    data = {"name": "Billing", "slug": "billing", "owning_team": "", "keywords": "invoice, vat"}
    data |= inline("roster", [])
    resp = browser.post(reverse("admin:accounts_productarea_change", args=[area.pk]), data)
    assert resp.status_code == 302, resp.content.decode()[:3000]
    rows = [r for r in _audit("product_area", area.pk) if r[0] == "product_area.updated"]
    assert rows == [("product_area.updated", "keywords", "invoice", "invoice, vat", admin_user.pk)]
