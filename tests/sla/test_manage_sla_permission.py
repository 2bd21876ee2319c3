"""Changing SLA calendars and policies takes ``manage_sla`` (not ``manage_triage``)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission

from caseline.accounts import roles
from caseline.sla.models import Calendar


def group_with(name: str, *codenames: str) -> Group:
    group = Group.objects.create(name=name)
    group.permissions.add(*Permission.objects.filter(codename__in=codenames))
    return group


@pytest.mark.parametrize(
    ("perms", "status"),
    [(("view_all_tickets", "manage_triage"), 403), (("view_all_tickets", "manage_sla"), 201)],
)
def test_creating_a_calendar_needs_manage_sla(db, make_staff, api_client, perms, status):
    group_with("custom-role", *perms)
    client = api_client(make_staff("custom-role"))
    r = client.post(
        "/api/v1/sla/calendars",
        data={"name": "perm-check", "time_zone": "UTC", "hours": "Mon-Fri 09:00-17:00"},
        content_type="application/json",
    )
    assert r.status_code == status, r.content
    assert Calendar.objects.filter(name="perm-check").exists() == (status == 201)


def test_roles_holding_manage_sla(db):
    holders = set(
        Group.objects.filter(permissions__codename="manage_sla").values_list("name", flat=True)
    )
    assert holders == {roles.LEAD, roles.SUPPORT_MANAGER, roles.ADMIN}
