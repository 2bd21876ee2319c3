"""The demo rotas: follow the sun on weekdays, AMER backstop at night and on weekends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from caseline.oncall import queries
from caseline.oncall.demo import seed_demo_rotas
from caseline.oncall.models import Schedule

pytestmark = pytest.mark.django_db


def test_demo_rotas(frozen):
    from caseline.demo.seed import seed

    report = seed(tickets=0)
    assert report.created.get("oncall schedules") == 3
    assert seed_demo_rotas() == 0  # idempotent
    assert Schedule.objects.count() == 3
    tue = lambda h: datetime(2026, 3, 24, h, tzinfo=UTC)  # noqa: E731
    assert queries.on_duty("APAC", tue(3))  # 11:00 Singapore
    assert queries.on_duty("EMEA", tue(10))  # 11:00 Berlin
    assert queries.on_duty("AMER", tue(15))  # 11:00 New York
    assert not queries.on_duty("EMEA", tue(20))  # 21:00 Berlin
    sunday = datetime(2026, 3, 29, 12, tzinfo=UTC)
    assert queries.on_duty("AMER", sunday)  # the backstop
    assert not queries.on_duty("EMEA", sunday)
    assert queries.next_region_on_shift("APAC", sunday).code == "AMER"
    engineer = queries.on_duty("EMEA", tue(10))[0]
    assert queries.is_on_shift(engineer, tue(10))
