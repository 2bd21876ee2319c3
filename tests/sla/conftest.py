from __future__ import annotations

from datetime import UTC, datetime

import pytest

from caseline import timesource

T0 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


@pytest.fixture
def frozen(tmp_path, monkeypatch):
    """Controlled, frozen product time starting at T0 (advance with timesource.advance)."""
    monkeypatch.setenv(timesource.ENV_VAR, str(tmp_path / "time.json"))
    timesource.set_time(T0)
    return T0
