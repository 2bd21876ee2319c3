"""Staff (roles as groups), teams, product areas and SME rosters."""

from __future__ import annotations

import pytest

from caseline.accounts import services
from caseline.accounts.models import ProductArea, SMERosterEntry, Team, User
from caseline.accounts.roles import ROLES
from caseline.audit.models import AuditEvent
from caseline.errors import Conflict, NotFound, ValidationFailed

pytestmark = pytest.mark.django_db


# --- staff ------------------------------------------------------------------------------


def test_create_staff_with_roles_region_teams_skills(regions, published):
    team = services.create_team(name="Storage L2")
    area = services.create_product_area(name="Replication")
    user = services.create_staff(
        email="Ann@Caseline.test",
        display_name="Ann",
        roles=["support_engineer", "lead"],
        region="EMEA",
        teams=[team.pk],
        skills=[area.pk],
        time_zone="Europe/Berlin",
        open_ticket_cap=12,
        password="a-long-Passphrase-9",
    )
    user.refresh_from_db()
    assert (user.email, user.username, user.kind) == (
        "ann@caseline.test",
        "ann@caseline.test",
        "staff",
    )
    assert user.role_names == ["lead", "support_engineer"]
    assert user.has_perm("accounts.manage_teams") and not user.has_perm("accounts.manage_staff")
    assert list(user.teams.all()) == [team] and list(user.skills.all()) == [area]
    assert user.region.code == "EMEA" and user.open_ticket_cap == 12
    assert user.check_password("a-long-Passphrase-9")
    assert user.is_staff is False and user.is_superuser is False
    assert published[-1].type == "staff.created"


def test_staff_without_password_cannot_log_in():
    user = services.create_staff(email="api@caseline.test")
    assert not user.has_usable_password()


def test_unknown_role_lists_valid_roles():
    with pytest.raises(ValidationFailed) as exc:
        services.create_staff(email="x@caseline.test", roles=["support_engineer", "wizard"])
    message = exc.value.fields["roles"]
    assert "wizard" in message and all(role in message for role in ROLES)
    assert exc.value.status == 422
    assert not User.objects.filter(email="x@caseline.test").exists()


def test_admin_role_grants_admin_site_not_superuser():
    user = services.create_staff(email="boss@caseline.test", roles=["admin"])
    assert user.is_staff and not user.is_superuser
    services.update_staff(user, roles=["support_manager"])
    user.refresh_from_db()
    assert not user.is_staff and user.role_names == ["support_manager"]


@pytest.mark.parametrize(
    "field,value",
    [
        ("time_zone", "Mars/Olympus"),
        ("time_zone", ""),
        ("email", "nope"),
        ("open_ticket_cap", -1),
        ("open_ticket_cap", "ten"),
        ("password", "short"),
        ("teams", [999]),
        ("skills", [999]),
        ("region", "XX"),
    ],
)
def test_staff_field_validation(field, value, regions):
    data = {"email": "x@caseline.test", field: value}
    with pytest.raises(ValidationFailed) as exc:
        services.create_staff(**data)
    assert field in exc.value.fields


def test_staff_email_must_be_unique(make_staff):
    make_staff(email="taken@caseline.test")
    with pytest.raises(Conflict) as exc:
        services.create_staff(email="TAKEN@caseline.test")
    assert "email" in exc.value.fields


def test_update_staff_records_changes(make_staff, regions, published):
    manager = make_staff("support_manager")
    user = services.create_staff(email="bo@caseline.test", roles=["support_engineer"])
    team = services.create_team(name="EMEA support")
    published.clear()
    services.update_staff(
        user.pk,
        actor=manager,
        is_away=True,
        roles=["support_engineer", "sales_consultant"],
        teams=[team.pk],
        region="AMER",
        password="Another-long-pass-1",
    )
    rows = {r.field: (r.old, r.new) for r in AuditEvent.objects.filter(type="staff.updated")}
    assert rows["is_away"] == (False, True)
    assert rows["roles"] == (["support_engineer"], ["sales_consultant", "support_engineer"])
    assert rows["teams"] == ([], [team.pk])
    assert rows["region"] == (None, "AMER")
    assert rows["password"] == (None, "changed")  # never the password itself
    assert [e.type for e in published] == ["staff.updated"]
    user.refresh_from_db()
    assert user.check_password("Another-long-pass-1")


def test_cannot_deactivate_yourself_but_others(make_staff):
    manager = make_staff("support_manager")
    other = make_staff("support_engineer")
    with pytest.raises(ValidationFailed):
        services.update_staff(manager, actor=manager, is_active=False)
    services.update_staff(other, actor=manager, is_active=False)
    other.refresh_from_db()
    assert not other.is_active


def test_update_staff_refuses_customers():
    contact = services.create_contact(name="C", emails=["c@example.com"])
    customer = User.objects.create_user(
        username="c@example.com", email="c@example.com", kind=User.Kind.CUSTOMER, contact=contact
    )
    with pytest.raises(NotFound):
        services.update_staff(customer, display_name="x")


# --- teams ------------------------------------------------------------------------------


def test_team_create_and_update(make_staff, regions, published):
    lead = make_staff("lead")
    a, b = make_staff("support_engineer"), make_staff("support_engineer")
    team = services.create_team(
        name="Storage L2",
        region="EMEA",
        lead=lead.pk,
        members=[a.pk, b.pk],
        email="Storage@Caseline.test",
        assignment_strategy="least_load",
    )
    assert set(team.members.all()) == {a, b}
    assert team.email == "storage@caseline.test" and team.lead == lead
    services.update_team(team, members=[b.pk], assignment_strategy="manual")
    team.refresh_from_db()
    assert list(team.members.all()) == [b] and team.assignment_strategy == "manual"
    rows = {r.field: (r.old, r.new) for r in AuditEvent.objects.filter(type="team.updated")}
    assert rows == {
        "members": (sorted([a.pk, b.pk]), [b.pk]),
        "assignment_strategy": ("least_load", "manual"),
    }
    assert [e.type for e in published][-2:] == ["team.created", "team.updated"]


def test_team_validation(make_staff):
    customer = User.objects.create_user(username="c@x.com", email="c@x.com", kind="customer")
    with pytest.raises(ValidationFailed) as exc:
        services.create_team(
            name="",
            lead=customer.pk,
            members=[999],
            email="bad",
            assignment_strategy="random",
        )
    assert set(exc.value.fields) == {"name", "lead", "members", "email", "assignment_strategy"}
    services.create_team(name="Storage")
    with pytest.raises(Conflict):
        services.create_team(name="storage")
    assert Team.objects.count() == 1


# --- product areas and rosters ----------------------------------------------------------


def test_product_area_slug_and_keywords(published):
    team = services.create_team(name="Storage")
    area = services.create_product_area(
        name="Data Replication", owning_team=team.pk, keywords=["Replica", " lag ", "replica"]
    )
    assert area.slug == "data-replication"
    assert area.keywords == "replica, lag"
    assert services.keyword_list(area.keywords) == ["replica", "lag"]
    services.update_product_area(area, name="Replication")
    area.refresh_from_db()
    assert area.slug == "replication"  # auto slug follows the name
    services.update_product_area(area, slug="repl")
    services.update_product_area(area, name="Geo Replication")
    area.refresh_from_db()
    assert area.slug == "repl"  # a chosen slug stays
    assert [e.type for e in published][-4:] == [
        "product_area.created",
        "product_area.updated",
        "product_area.updated",
        "product_area.updated",
    ]


def test_product_area_validation():
    services.create_product_area(name="Billing")
    with pytest.raises(Conflict):
        services.create_product_area(name="BILLING")
    with pytest.raises(Conflict) as exc:
        services.create_product_area(name="Billing!")  # same slug
    assert "slug" in exc.value.fields
    with pytest.raises(ValidationFailed) as exc:
        services.create_product_area(name="X", slug="Not A Slug", owning_team=999)
    assert set(exc.value.fields) == {"slug", "owning_team"}
    with pytest.raises(ValidationFailed):
        services.create_product_area(name="!!!")
    assert ProductArea.objects.count() == 1


def roster(area) -> list[int]:
    return list(
        SMERosterEntry.objects.filter(product_area=area)
        .order_by("position")
        .values_list("user_id", flat=True)
    )


def test_roster_keeps_backup_order_and_replaces(make_staff, published):
    a, b, c = (make_staff("support_engineer") for _ in range(3))
    area = services.create_product_area(name="Replication")
    services.set_roster(area, [c.pk, a.pk, b.pk])
    assert roster(area) == [c.pk, a.pk, b.pk]
    assert list(
        SMERosterEntry.objects.filter(product_area=area)
        .order_by("position")
        .values_list("position", flat=True)
    ) == [1, 2, 3]
    published.clear()
    services.set_roster(area.pk, [a.pk, c.pk])  # reorder and drop b
    assert roster(area) == [a.pk, c.pk]
    row = AuditEvent.objects.filter(type="product_area.updated", field="roster").last()
    assert (row.old, row.new) == ([c.pk, a.pk, b.pk], [a.pk, c.pk])
    assert [e.type for e in published] == ["product_area.updated"]
    published.clear()
    services.set_roster(area, [a.pk, c.pk])  # unchanged: no event
    assert published == []


def test_roster_refusals_change_nothing(make_staff):
    a, b = make_staff("support_engineer"), make_staff("support_engineer")
    area = services.create_product_area(name="Replication")
    services.set_roster(area, [a.pk, b.pk])
    with pytest.raises(ValidationFailed) as exc:
        services.set_roster(area, [b.pk, a.pk, b.pk])
    assert "twice" in exc.value.fields["user_ids"]
    customer = User.objects.create_user(username="c@x.com", email="c@x.com", kind="customer")
    with pytest.raises(ValidationFailed):
        services.set_roster(area, [customer.pk])
    with pytest.raises(ValidationFailed):
        services.set_roster(area, [999_999])
    with pytest.raises(NotFound):
        services.set_roster(999_999, [a.pk])
    assert roster(area) == [a.pk, b.pk]


def test_ids_out_of_range_are_validation_errors_not_crashes(make_staff):
    """Python callers (admin, CLI, other apps) get a 422 too, never an OverflowError."""
    team = services.create_team(name="Overflow")
    for bad in (2**63, -(2**70), "99999999999999999999", 0):
        with pytest.raises(ValidationFailed) as exc:
            services.update_team(team, lead=bad)
        assert "lead" in exc.value.fields
        with pytest.raises(ValidationFailed) as exc:
            services.update_team(team, members=[bad])
        assert "members" in exc.value.fields
