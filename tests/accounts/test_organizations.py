"""Organization services: domains, SC/CSM roles, owners, audit and events."""

from __future__ import annotations

import pytest

from caseline.accounts import services
from caseline.accounts.models import Organization, OrganizationDomain, OrganizationOwner
from caseline.audit.models import AuditEvent
from caseline.errors import Conflict, NotFound, ValidationFailed

pytestmark = pytest.mark.django_db


def test_create_organization_normalizes_domains_and_records(regions, sc, csm, se, published):
    org = services.create_organization(
        actor=se,
        name="  Acme Corp ",
        domains=["Acme.COM", "acme.com.", "eu.acme.com", "@acme.io"],
        tier="enterprise",
        region="emea",
        lifecycle_stage="adopting",
        sales_consultant=sc.pk,
        success_manager=csm.pk,
        support_entitlement="premium-24x7",
        notes="key account",
    )
    org.refresh_from_db()
    assert org.name == "Acme Corp"
    assert sorted(org.domains.values_list("domain", flat=True)) == [
        "acme.com",
        "acme.io",
        "eu.acme.com",
    ]
    assert (org.tier, org.region.code, org.lifecycle_stage) == ("enterprise", "EMEA", "adopting")
    assert (org.sales_consultant, org.success_manager) == (sc, csm)
    assert org.include_sc is True
    row = AuditEvent.objects.get(subject_type="organization", subject_id=org.pk)
    assert row.type == "organization.created" and row.actor == se
    assert row.data["domains"] == ["acme.com", "eu.acme.com", "acme.io"]
    assert [e.type for e in published] == ["organization.created"]
    assert published[0].subject_id == org.pk


@pytest.mark.parametrize(
    "domain", ["not a domain", "localhost", "-bad.com", "exa_mple.com", "1.2.3.4", "a..b.com", ""]
)
def test_invalid_domains_are_refused(domain):
    with pytest.raises(ValidationFailed) as exc:
        services.create_organization(name="Bad", domains=[domain])
    assert "domains" in exc.value.fields
    assert not Organization.objects.exists()


def test_idn_domain_is_stored_as_ascii():
    org = services.create_organization(name="Bücher", domains=["Bücher.de"])
    assert list(org.domains.values_list("domain", flat=True)) == ["xn--bcher-kva.de"]


def test_domain_unique_across_organizations():
    services.create_organization(name="Acme", domains=["acme.com"])
    with pytest.raises(Conflict) as exc:
        services.create_organization(name="Other", domains=["ACME.com"])
    assert "acme.com" in exc.value.fields["domains"]
    assert exc.value.status == 409
    assert Organization.objects.count() == 1


def test_name_unique_case_insensitively():
    services.create_organization(name="Acme")
    with pytest.raises(Conflict) as exc:
        services.create_organization(name="ACME")
    assert "name" in exc.value.fields


def test_sc_and_csm_must_hold_their_roles(sc, csm, se):
    with pytest.raises(ValidationFailed) as exc:
        services.create_organization(name="X", sales_consultant=csm.pk, success_manager=sc.pk)
    assert set(exc.value.fields) == {"sales_consultant", "success_manager"}
    assert "Sales consultant" in exc.value.fields["sales_consultant"]
    with pytest.raises(ValidationFailed):
        services.create_organization(name="X", sales_consultant=999_999)
    assert not Organization.objects.exists()


def test_customer_cannot_be_sc(make_staff):
    from caseline.accounts.models import User

    user = make_staff("sales_consultant", kind=User.Kind.CUSTOMER)
    with pytest.raises(ValidationFailed) as exc:
        services.create_organization(name="X", sales_consultant=user.pk)
    assert "not an active staff user" in exc.value.fields["sales_consultant"]


def test_bad_enums_and_region_listed_together(regions):
    with pytest.raises(ValidationFailed) as exc:
        services.create_organization(
            name="", tier="gold", lifecycle_stage="dead", region="MARS", include_sc="yes"
        )
    assert set(exc.value.fields) == {"name", "tier", "lifecycle_stage", "region", "include_sc"}
    assert "AMER" in exc.value.fields["region"]


def test_update_records_each_changed_field(regions, sc, se, published):
    org = services.create_organization(name="Acme", domains=["acme.com"], region="AMER")
    published.clear()
    services.update_organization(
        org,
        actor=se,
        tier="premium",
        region="APAC",
        domains=["acme.org", "acme.com"],
        sales_consultant=sc.pk,
        include_sc=False,
        name="Acme",  # unchanged: no row
    )
    rows = {
        r.field: (r.old, r.new)
        for r in AuditEvent.objects.filter(type="organization.updated", subject_id=org.pk)
    }
    assert rows == {
        "tier": ("standard", "premium"),
        "region": ("AMER", "APAC"),
        "domains": (["acme.com"], ["acme.com", "acme.org"]),
        "sales_consultant": (None, sc.pk),
        "include_sc": (True, False),
    }
    assert [e.type for e in published] == ["organization.updated"]
    assert published[0].data["changes"]["tier"] == ["standard", "premium"]
    org.refresh_from_db()
    assert org.tier == "premium" and org.region.code == "APAC" and not org.include_sc


def test_update_without_changes_records_nothing(published):
    org = services.create_organization(name="Acme", domains=["acme.com"])
    published.clear()
    services.update_organization(org, name="Acme", domains=["ACME.com"])
    assert published == []
    assert AuditEvent.objects.filter(type="organization.updated").count() == 0


def test_update_replaces_domains_and_bad_input_changes_nothing():
    org = services.create_organization(name="Acme", domains=["acme.com", "acme.io"])
    services.update_organization(org.pk, domains=["acme.net"])
    assert list(org.domains.values_list("domain", flat=True)) == ["acme.net"]
    with pytest.raises(ValidationFailed):
        services.update_organization(org.pk, name="Renamed", domains=["acme.org"], tier="x")
    org.refresh_from_db()
    assert org.name == "Acme"
    assert list(org.domains.values_list("domain", flat=True)) == ["acme.net"]


def test_update_missing_organization_is_not_found():
    with pytest.raises(NotFound):
        services.update_organization(12345, name="x")


def test_owners_set_and_unset(se, make_staff):
    other = make_staff("support_engineer")
    repl = services.create_product_area(name="Replication")
    billing = services.create_product_area(name="Billing")
    org = services.create_organization(
        name="Acme", owners=[{"product_area_id": repl.pk, "user_id": se.pk}]
    )
    assert list(OrganizationOwner.objects.values_list("product_area_id", "user_id")) == [
        (repl.pk, se.pk)
    ]
    services.update_organization(
        org,
        owners=[
            {"product_area_id": billing.pk, "user_id": other.pk},
            {"product_area_id": repl.pk, "user_id": other.pk},
        ],
    )
    assert set(OrganizationOwner.objects.values_list("product_area_id", "user_id")) == {
        (billing.pk, other.pk),
        (repl.pk, other.pk),
    }
    row = AuditEvent.objects.get(type="organization.updated", field="owners")
    assert row.old == [{"product_area_id": repl.pk, "user_id": se.pk}]
    services.update_organization(org, owners=[])
    assert not OrganizationOwner.objects.exists()


def test_owner_validation(se):
    area = services.create_product_area(name="Replication")
    with pytest.raises(ValidationFailed) as exc:
        services.create_organization(
            name="Acme",
            owners=[
                {"product_area_id": area.pk, "user_id": se.pk},
                {"product_area_id": area.pk, "user_id": se.pk},
            ],
        )
    assert "listed twice" in exc.value.fields["owners.1"]
    with pytest.raises(ValidationFailed) as exc:
        services.create_organization(
            name="Acme", owners=[{"product_area_id": 999, "user_id": se.pk}]
        )
    assert "no product area" in exc.value.fields["owners.0"]


@pytest.fixture
def mapped():
    acme = services.create_organization(name="Acme", domains=["example.com"])
    eu = services.create_organization(name="Acme EU", domains=["eu.example.com"])
    return acme, eu


@pytest.mark.parametrize(
    "address,expected",
    [
        ("jane@example.com", "Acme"),
        ("JANE@Example.COM", "Acme"),
        ("ops@a.b.example.com", "Acme"),
        ("ops@eu.example.com", "Acme EU"),
        ("ops@x.eu.example.com", "Acme EU"),
        ("Jane Doe <jane@example.com>", "Acme"),
        ("jane@notexample.com", None),
        ("jane@example.com.evil.org", None),
        ("jane@com", None),
        ("no-at-sign", None),
        ("", None),
    ],
)
def test_organization_for_email(mapped, address, expected):
    org = services.organization_for_email(address)
    assert (org.name if org else None) == expected


def test_domain_rows_are_lowercase(mapped):
    assert all(d == d.lower() for d in OrganizationDomain.objects.values_list("domain", flat=True))
