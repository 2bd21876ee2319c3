"""The on-shift filter's per-process rota cache (caseline.tablestamp): every change to the
rows counts at the next call, also when it bypasses the services and their signals (as a
change made by another process does: plain queryset writes here) and when it is rolled
back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction

from caseline.accounts import roles
from caseline.oncall import queries
from caseline.oncall.models import Layer, LayerMember, Override, Schedule

from .test_oncall import emea_rota

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(make_staff, regions, frozen):
    people = {
        "anna": make_staff(roles.SE, region=regions["EMEA"]),  # on duty this week
        "ben": make_staff(roles.SE, region=regions["EMEA"]),  # on the rota, not this week
        "dan": make_staff(roles.SE),  # no shift information
    }
    emea_rota(people)
    return people


def _kept(people, at):
    return [u.email.split("@")[0] for u in queries.on_shift_filter(list(people.values()), at)]


def _names(people, *names):
    return [people[n].email.split("@")[0] for n in names]


def test_changes_without_the_services_count_at_the_next_call(people, frozen):
    assert _kept(people, frozen) == _names(people, "anna", "dan")
    schedule = Schedule.objects.get(name="EMEA primary")
    # an override for Ben, written as another process would (no signal in this one)
    Override.objects.bulk_create(
        [
            Override(
                schedule=schedule,
                user=people["ben"],
                start=frozen - timedelta(hours=1),
                end=frozen + timedelta(hours=1),
            )
        ]
    )
    assert _kept(people, frozen) == _names(people, "ben", "dan")
    # the override ends: Anna is back, without any write
    assert _kept(people, frozen + timedelta(hours=2)) == _names(people, "anna", "dan")
    Override.objects.all().delete()
    # the layer's members swapped in place (same row count, same ids)
    LayerMember.objects.filter(user=people["anna"]).update(position=99)
    LayerMember.objects.filter(user=people["ben"]).update(position=1)
    LayerMember.objects.filter(user=people["anna"]).update(position=2)
    assert _kept(people, frozen) == _names(people, "ben", "dan")
    # the layer ends / the schedule is switched off
    Layer.objects.update(ends_at=frozen - timedelta(minutes=1))
    assert _kept(people, frozen) == _names(people, "dan")
    Layer.objects.update(ends_at=None)
    Schedule.objects.update(active=False)
    assert _kept(people, frozen) == _names(people, "anna", "ben", "dan")


def test_a_rolled_back_change_is_not_kept(people, frozen):
    assert _kept(people, frozen) == _names(people, "anna", "dan")
    schedule = Schedule.objects.get(name="EMEA primary")
    with pytest.raises(RuntimeError), transaction.atomic():
        Override.objects.bulk_create(
            [
                Override(
                    schedule=schedule,
                    user=people["ben"],
                    start=frozen - timedelta(hours=1),
                    end=frozen + timedelta(hours=1),
                )
            ]
        )
        assert _kept(people, frozen) == _names(people, "ben", "dan")  # cached inside
        raise RuntimeError("roll back")
    assert _kept(people, frozen) == _names(people, "anna", "dan")


def test_the_region_calendar_comes_from_the_loaded_candidates(people, frozen, regions):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from caseline.accounts.models import User

    users = list(User.objects.filter(pk__in=[u.pk for u in people.values()]).order_by("id"))
    queries.on_shift_filter(users, frozen)  # the rota cache warm
    with CaptureQueriesContext(connection) as plain:
        queries.on_shift_filter(users, frozen)
    loaded = list(
        User.objects.filter(pk__in=[u.pk for u in people.values()])
        .select_related("region")
        .order_by("id")
    )
    with CaptureQueriesContext(connection) as joined:
        kept = queries.on_shift_filter(loaded, frozen)
    assert [u.pk for u in kept] == [u.pk for u in queries.on_shift_filter(users, frozen)]
    assert len(plain) == 2  # the rotas' content check, the regions
    assert len(joined) == 1  # no region query
