"""Auto-assignment respects the on-duty rota and the regions' shift calendars: only people
on shift now get new tickets; people with no shift information at all stay available."""

from __future__ import annotations

from datetime import timedelta

import pytest

from caseline import timesource
from caseline.accounts import roles
from caseline.accounts.models import Contact, Organization, Team
from caseline.accounts.services import create_team
from caseline.oncall import queries
from caseline.sla import calendars
from caseline.tickets import assignment
from caseline.tickets import services as tickets

from .test_oncall import emea_rota

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_staff, regions, frozen):
    # T0 = Tuesday 10:00 UTC: 18:00 in Singapore (APAC office closed), 06:00 in New York.
    regions["APAC"].shift_calendar = "apac-business"  # seeded by the SLA engine
    regions["APAC"].save()
    calendars.invalidate()
    people = {
        "anna": make_staff(roles.SE, region=regions["EMEA"]),  # on the EMEA rota this week
        "ben": make_staff(roles.SE, region=regions["EMEA"]),  # on the rota, not this week
        "cho": make_staff(roles.SE, region=regions["APAC"]),  # office hours, closed now
        "dan": make_staff(roles.SE),  # no region, no rota: no shift information
    }
    emea_rota(people)
    return people


def test_the_filter_keeps_who_is_on_shift_in_order(people, frozen):
    everyone = [people[n] for n in ("anna", "ben", "cho", "dan")]
    assert queries.on_shift_filter(everyone, frozen) == [people["anna"], people["dan"]]
    # Singapore 09:00 next morning: the APAC office is open; Anna is still on the rota.
    morning = frozen + timedelta(hours=15)
    kept = queries.on_shift_filter(everyone, morning)
    assert kept == [people["anna"], people["cho"], people["dan"]]
    assert queries.on_shift_filter([], frozen) == []


def _ticket(team: Team, actor):
    org = Organization.objects.get_or_create(name="Shift Org")[0]
    contact = Contact.objects.get_or_create(name="Requester", organization=org)[0]
    return tickets.create_ticket(
        actor=actor, requester=contact, subject="Disk full", channel="web", team=team
    )


def test_auto_assignment_skips_people_off_shift(people, frozen):
    assert queries.on_shift_filter in assignment.AVAILABILITY_FILTERS  # oncall registered it
    team = create_team(
        name="Night desk",
        members=[people["ben"], people["cho"]],
        assignment_strategy=Team.Strategy.ROUND_ROBIN,
    )
    first = _ticket(team, people["ben"])
    first.refresh_from_db()
    assert first.assignee_id is None  # nobody on shift: left for the next region's rule

    team.members.add(people["anna"])
    second = _ticket(team, people["ben"])
    second.refresh_from_db()
    assert second.assignee_id == people["anna"].pk

    timesource.advance(15 * 3600)  # APAC office open: round-robin moves on to Cho
    third = _ticket(team, people["ben"])
    third.refresh_from_db()
    assert third.assignee_id == people["cho"].pk
