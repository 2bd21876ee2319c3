import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from caseline import timesource

pytestmark = pytest.mark.pure


@pytest.fixture
def time_file(tmp_path, monkeypatch):
    path = tmp_path / "time.json"
    monkeypatch.setenv(timesource.ENV_VAR, str(path))
    return path


def test_real_time_without_file(monkeypatch):
    monkeypatch.delenv(timesource.ENV_VAR, raising=False)
    before = datetime.now(UTC)
    got = timesource.now()
    assert got.tzinfo is not None and before <= got <= datetime.now(UTC)


def test_frozen_and_advance(time_file):
    t0 = datetime(2026, 3, 8, 6, 59, 30, tzinfo=UTC)
    timesource.set_time(t0)
    assert timesource.now() == t0
    assert timesource.advance(45) == t0 + timedelta(seconds=45)
    assert timesource.now() == t0 + timedelta(seconds=45)


def test_offset_keeps_flowing(time_file):
    target = datetime(2030, 1, 1, tzinfo=UTC)
    timesource.set_time(target, frozen=False)
    got = timesource.now()
    assert abs((got - target).total_seconds()) < 2
    timesource.advance(3600)
    assert abs((timesource.now() - target).total_seconds() - 3600) < 2


def test_another_process_sees_the_same_time(time_file):
    t0 = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    timesource.set_time(t0)
    code = "from caseline.timesource import now; print(now().isoformat())"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ},
    )
    assert datetime.fromisoformat(out.stdout.strip()) == t0
    timesource.advance(7200)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert datetime.fromisoformat(out.stdout.strip()) == t0 + timedelta(hours=2)


def test_setting_needs_aware_time(time_file):
    with pytest.raises(ValueError):
        timesource.set_time(datetime(2026, 1, 1))


def test_control_refused_without_env(monkeypatch):
    monkeypatch.delenv(timesource.ENV_VAR, raising=False)
    with pytest.raises(RuntimeError):
        timesource.advance(1)
