from __future__ import annotations

from datetime import UTC, datetime

import pytest

from caseline import timesource

# Tuesday 24 March 2026 10:00 UTC (11:00 in Berlin, 06:00 in New York, 18:00 in Singapore)
T0 = datetime(2026, 3, 24, 10, 0, 0, tzinfo=UTC)


@pytest.fixture
def frozen(tmp_path, monkeypatch):
    monkeypatch.setenv(timesource.ENV_VAR, str(tmp_path / "time.json"))
    timesource.set_time(T0)
    return T0


@pytest.fixture
def regions(db):
    from caseline.accounts.models import Region

    out = {}
    for code, tz, order in (
        ("APAC", "Asia/Singapore", 1),
        ("EMEA", "Europe/Berlin", 2),
        ("AMER", "America/New_York", 3),
    ):
        out[code] = Region.objects.update_or_create(
            code=code, defaults={"name": code, "time_zone": tz, "handoff_order": order}
        )[0]
    return out
