from __future__ import annotations

import pytest

from caseline import events


@pytest.fixture
def published():
    """Every domain event published during the test, in order."""
    seen: list[events.DomainEvent] = []
    handler = seen.append
    events.subscribe("*", handler)
    yield seen
    events._wildcard.remove(handler)


@pytest.fixture
def regions(db):
    from caseline.accounts.models import Region

    return {
        code: Region.objects.create(code=code, name=code, time_zone=tz, handoff_order=i)
        for i, (code, tz) in enumerate(
            [("AMER", "America/New_York"), ("EMEA", "Europe/Berlin"), ("APAC", "Asia/Singapore")]
        )
    }


@pytest.fixture
def sc(make_staff):
    return make_staff("sales_consultant", email="sc@caseline.test")


@pytest.fixture
def csm(make_staff):
    return make_staff("customer_success_manager", email="csm@caseline.test")


@pytest.fixture
def se(make_staff):
    return make_staff("support_engineer", email="se@caseline.test")
