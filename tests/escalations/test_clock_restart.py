"""Reminders, misses and executive summaries fire from the same durable clock as the SLAs:
a real ``caseline clock`` process on the test database, the shared settable time advanced
for every process, the clock SIGKILLed and restarted (and once crashed inside a batch),
and every cadence reminder, missed update and summary exists exactly once."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from caseline import timesource
from caseline.accounts import roles
from caseline.accounts.models import Organization, Region
from caseline.audit.models import AuditEvent
from caseline.escalations import services, summaries
from caseline.escalations.models import CadenceEntry, ExecutiveSummary, SummarySchedule
from caseline.notify.models import OutboxMessage
from caseline.sla import timers
from caseline.sla.models import Timer

pytestmark = pytest.mark.subprocess

TIMEOUT = 60.0


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def start_clock(env, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "caseline", "clock", "--batch", "2"],
        env=env,
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
    )


def kill(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)


def wait_for(condition, what: str, log: Path) -> None:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > TIMEOUT:
            errors = list(Timer.objects.exclude(last_error="").values_list("key", "last_error")[:5])
            raise AssertionError(
                f"timed out waiting for {what}; timer errors: {errors}\n{log.read_text()[-3000:]}"
            )
        time.sleep(0.05)


def running(log: Path, times: int) -> bool:
    return log.exists() and log.read_text().count("clock: running") >= times


def settled() -> bool:
    """Every timer due by now has fired (committed)."""
    return not Timer.objects.filter(timers.PENDING, due_at__lte=timesource.now()).exists()


def entries(kind: str) -> list[int]:
    return sorted(CadenceEntry.objects.filter(kind=kind).values_list("cycle", flat=True))


def sent() -> list[int]:
    return sorted(
        ExecutiveSummary.objects.filter(status="sent").values_list("occurrence", flat=True)
    )


def test_a_restarted_clock_misses_nothing_and_doubles_nothing(
    subprocess_env, tmp_path, monkeypatch, make_staff, settings
):
    settings.ESCALATION_SUMMARY_DEFAULT = False  # the test sets its own schedule
    monkeypatch.setenv(timesource.ENV_VAR, subprocess_env["CASELINE_TIME_FILE"])
    timesource.set_time(utc(2026, 3, 24, 10))  # frozen for the test and every clock
    region = Region.objects.create(
        code="EMEA-R", name="EMEA", time_zone="Europe/Berlin", shift_calendar="emea-business"
    )
    org = Organization.objects.create(name="Acme Restart", include_sc=False, region=region)
    em = make_staff(roles.ESCALATION_MANAGER, email="em-restart@caseline.test", region=region)
    esc = services.open_escalation(em, organization_id=org.pk, title="Replication down")
    # Customer update every hour, reminder 30 min before: cycle 1 reminder 10:30, due 11:00.
    services.set_cadence(
        esc.pk, em, kind="customer_update", every_seconds=3600, reminder_seconds=1800
    )
    # Summary daily at 13:00 Berlin (12:00 UTC), its draft at 11:00 UTC.
    sched = summaries.set_schedule(esc.pk, em, send_time="13:00")
    assert sched.next_send_at == utc(2026, 3, 24, 12)

    log = tmp_path / "clock.log"
    clock = None
    try:
        clock = start_clock(subprocess_env, log)
        wait_for(lambda: running(log, 1), "the clock to start", log)

        timesource.set_time(utc(2026, 3, 24, 10, 30))
        wait_for(lambda: entries("reminded") == [1], "reminder of cycle 1", log)

        timesource.set_time(utc(2026, 3, 24, 11))
        wait_for(settled, "miss of cycle 1 and the draft", log)
        assert entries("missed") == [1]
        assert ExecutiveSummary.objects.filter(status="draft").count() == 1

        # The clock dies; meanwhile the reminder (11:30) and due (12:00) of cycle 2 and the
        # summary's send (12:00) all fall due. The restarted clock fires each once.
        kill(clock)
        timesource.set_time(utc(2026, 3, 24, 12))
        time.sleep(0.5)
        assert entries("reminded") == [1] and sent() == []
        clock = start_clock(subprocess_env, log)
        wait_for(lambda: running(log, 2) and settled(), "the backlog after a restart", log)
        assert entries("reminded") == [1, 2] and entries("missed") == [1, 2]
        assert sent() == [1]
        assert SummarySchedule.objects.get(escalation=esc).next_send_at == utc(2026, 3, 25, 12)

        # Killed right after time moves (before, while or after it fires cycle 3's reminder).
        timesource.set_time(utc(2026, 3, 24, 12, 30))
        kill(clock)
        clock = start_clock(subprocess_env, log)
        wait_for(lambda: running(log, 3) and settled(), "cycle 3's reminder", log)
        assert entries("reminded") == [1, 2, 3]

        # Next day 12:00 UTC: cycle 3's miss, day 2's draft and send. A clock crashes inside
        # that batch (after its first handler ran, before the commit): nothing is kept.
        kill(clock)
        clock = None
        timesource.set_time(utc(2026, 3, 25, 12))
        crashed = subprocess.run(
            [sys.executable, "-m", "caseline", "clock", "--once", "--batch", "10"],
            env=dict(subprocess_env, CASELINE_FAULT=timers.FAULT_CRASH_MID_BATCH),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert crashed.returncode == timers.CRASH_EXIT_CODE, crashed.stderr
        assert entries("missed") == [1, 2] and sent() == [1]
        clock = start_clock(subprocess_env, log)
        wait_for(lambda: running(log, 4) and settled(), "day 2", log)
        clock.send_signal(signal.SIGTERM)
        assert clock.wait(timeout=20) == 0
    finally:
        kill(clock)

    # Each reminder, miss and summary exactly once.
    assert entries("reminded") == [1, 2, 3]
    assert entries("missed") == [1, 2, 3]
    assert sent() == [1, 2]
    count = AuditEvent.objects.filter(subject_type="escalation", subject_id=esc.pk)
    assert count.filter(type="escalation.update_reminded").count() == 3
    assert count.filter(type="escalation.update_missed").count() == 3
    assert count.filter(type="escalation.summary_sent").count() == 2
    # per day: generated at the draft time, refreshed at the send time
    assert count.filter(type="escalation.summary_generated").count() == 4
    mails = OutboxMessage.objects.filter(subject_type="escalation", subject_id=esc.pk)
    assert mails.filter(idempotency_key__startswith="esc-summary-").count() == 2
    assert mails.filter(idempotency_key__endswith=":draft:email").count() == 2
    assert mails.filter(idempotency_key__endswith=":reminder:email").count() == 3
    # the cadence and the schedule carry on from where they were
    assert SummarySchedule.objects.get(escalation=esc).next_send_at == utc(2026, 3, 26, 12)
    cad = esc.cadences.get()
    assert cad.missed_count == 3 and cad.next_due_at == utc(2026, 3, 25, 13)
