"""The clock loop: in-process (sleep computation, LISTEN/NOTIFY wake-up and reconnect on
PostgreSQL, stop requests) and as real `caseline clock` processes sharing the test database
and a controlled time: a timer fires at its due moment, a clock killed mid-run loses
nothing, two clocks never fire a timer twice, SIGTERM exits 0."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection, connections

from caseline import timesource
from caseline.audit.models import AuditEvent
from caseline.sla import loop as clockloop
from caseline.sla import timers
from caseline.sla.models import Timer

TIMEOUT = 60.0


def wait_for(condition, what: str, timeout: float = TIMEOUT, log: Path | None = None) -> float:
    """Poll ``condition`` every 20 ms; return the seconds it took (bounded by ``timeout``)."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            detail = log.read_text()[-3000:] if log and log.exists() else ""
            raise AssertionError(f"timed out waiting for {what}\n{detail}")
        time.sleep(0.02)
    return time.monotonic() - started


def note_keys() -> list[str]:
    return [
        e["key"]
        for e in AuditEvent.objects.filter(type="timer.note").values_list("data", flat=True)
    ]


def bulk_notes(prefix: str, n: int, due) -> None:
    Timer.objects.bulk_create(
        Timer(
            kind="audit.note",
            subject_type="ticket",
            subject_id=i,
            due_at=due + timedelta(microseconds=i),
            key=f"{prefix}-{i}",
        )
        for i in range(n)
    )


# --- in-process --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_loop_sleeps_until_the_next_due_timer_at_most_five_seconds(monkeypatch):
    monkeypatch.delenv(timesource.ENV_VAR, raising=False)
    loop = clockloop.ClockLoop(duties=False)
    try:
        if connection.vendor == "postgresql":
            assert isinstance(loop.waiter, clockloop.PgListenWaiter) and loop.poll is None
            assert loop.sleep_seconds() == clockloop.MAX_SLEEP_SECONDS  # nothing scheduled
            timers.schedule("audit.note", "ticket", 1, timesource.now() + timedelta(hours=1), "h")
            assert loop.sleep_seconds() == clockloop.MAX_SLEEP_SECONDS
            timers.schedule("audit.note", "ticket", 1, timesource.now() + timedelta(seconds=3), "s")
            assert 2.0 < loop.sleep_seconds() <= 3.0
        else:  # SQLite: no channel, short polling
            assert isinstance(loop.waiter, clockloop.PollWaiter)
            assert loop.poll == clockloop.SQLITE_POLL_SECONDS
            timers.schedule("audit.note", "ticket", 1, timesource.now() + timedelta(seconds=3), "s")
            assert loop.sleep_seconds() == clockloop.SQLITE_POLL_SECONDS
        timers.schedule("audit.note", "ticket", 1, timesource.now() - timedelta(seconds=1), "due")
        assert loop.sleep_seconds() == 0.0  # overdue: no sleep at all
        with_duties = clockloop.ClockLoop(duties=True)
        with_duties.run_duties()
        assert with_duties.sleep_seconds() <= clockloop.DUTY_INTERVAL_SECONDS
        with_duties.waiter.close()
    finally:
        loop.waiter.close()


def test_controlled_time_makes_every_loop_poll(tmp_path, monkeypatch, db):
    monkeypatch.setenv(timesource.ENV_VAR, str(tmp_path / "time.json"))
    loop = clockloop.ClockLoop(duties=False)
    assert loop.poll == clockloop.CONTROLLED_TIME_POLL_SECONDS
    assert clockloop.ClockLoop(poll=3.0).poll == clockloop.CONTROLLED_TIME_POLL_SECONDS
    loop.waiter.close()


class LoopThread:
    """A ClockLoop running in a thread with its own database connection."""

    def __init__(self, **kwargs) -> None:
        self.loop = clockloop.ClockLoop(**kwargs)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.loop.run()
        except BaseException as exc:
            self.error = exc
        finally:
            connections.close_all()

    def __enter__(self) -> clockloop.ClockLoop:
        self.thread.start()
        return self.loop

    def __exit__(self, *exc) -> None:
        self.loop.request_stop()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the loop did not stop"
        assert self.error is None, self.error


@pytest.mark.django_db(transaction=True)
def test_a_running_loop_fires_a_new_timer_and_stops_on_request(monkeypatch):
    """Real time. On PostgreSQL the loop sleeps on LISTEN (max_sleep 5 s, no duties): the
    timer scheduled 0.3 s ahead is picked up because NOTIFY woke it."""
    monkeypatch.delenv(timesource.ENV_VAR, raising=False)
    with LoopThread(duties=False) as loop:
        time.sleep(0.3)  # the loop is asleep now
        timers.schedule(
            "audit.note", "ticket", 1, timesource.now() + timedelta(seconds=0.3), "wake-me"
        )
        wait_for(lambda: note_keys() == ["wake-me"], "the timer to fire", timeout=20)
    assert loop.stats["fired"] == 1
    if connection.vendor == "postgresql":
        assert loop.waiter.notifications >= 1
    event = AuditEvent.objects.get(type="timer.note")
    print(f"fired {(event.at - Timer.objects.get().due_at).total_seconds():.3f} s after due")


@pytest.mark.django_db(transaction=True)
def test_the_listen_connection_is_reestablished_after_it_drops(monkeypatch):
    monkeypatch.delenv(timesource.ENV_VAR, raising=False)
    if connection.vendor != "postgresql":
        # SQLite: nothing to reconnect; the poll waiter is always ready.
        loop = clockloop.ClockLoop(duties=False)
        assert loop.waiter.wait(0.01) == "timeout"
        loop.request_stop()
        assert loop.waiter.wait(1.0) == "woken"
        return
    with LoopThread(duties=False) as loop:
        wait_for(lambda: loop.waiter.conn is not None, "LISTEN connection")
        pid = loop.waiter.conn.info.backend_pid
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        wait_for(lambda: loop.waiter.connects >= 2, "the reconnect", timeout=20)
        timers.schedule(
            "audit.note", "ticket", 2, timesource.now() + timedelta(seconds=0.2), "after-reconnect"
        )
        wait_for(lambda: note_keys() == ["after-reconnect"], "the timer to fire", timeout=20)
        assert loop.waiter.conn.info.backend_pid != pid


# --- real processes ----------------------------------------------------------------------------


def start_clock(env, log: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "caseline", "clock", *args],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def run_clock_once(env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "caseline", "clock", "--once", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.kill()
    proc.wait(timeout=10)


def running(log: Path) -> bool:
    return log.exists() and "clock: running" in log.read_text()


@pytest.mark.subprocess
def test_clock_process_fires_at_the_due_moment_and_survives_sigkill(
    subprocess_env, tmp_path, monkeypatch
):
    monkeypatch.setenv(timesource.ENV_VAR, subprocess_env["CASELINE_TIME_FILE"])
    t0 = timesource.now().replace(microsecond=0)
    timesource.set_time(t0)  # frozen for the test and every clock process
    clock = restarted = None
    log = tmp_path / "clock.log"
    try:
        clock = start_clock(subprocess_env, log, "--batch", "10")
        wait_for(lambda: running(log), "the clock to start", log=log)
        due = t0 + timedelta(seconds=60)
        timers.schedule("audit.note", "ticket", 42, due, "sla:42:ack:breach", {"note": "breach"})
        timesource.advance(59)
        time.sleep(0.6)  # three polls of the clock: it must not fire early
        assert note_keys() == []
        timesource.advance(1)
        took = wait_for(lambda: note_keys() == ["sla:42:ack:breach"], "the firing", log=log)
        event = AuditEvent.objects.get(type="timer.note")
        # Frozen product time: the action is recorded at the due moment itself.
        assert timedelta(0) <= event.at - due <= timedelta(seconds=1)
        assert event.ticket_id == 42 and event.data["note"] == "breach"
        print(f"seen {took:.2f} s (real) after time reached the due moment")

        # A backlog, then SIGKILL while the clock works through it in batches of 10.
        bulk_notes("backlog", 3000, due + timedelta(seconds=1))
        timesource.advance(5)
        wait_for(lambda: len(note_keys()) > 1, "the backlog to start", log=log)
        clock.send_signal(signal.SIGKILL)
        clock.wait(timeout=10)
        fired = Timer.objects.filter(key__startswith="backlog", fired_at__isnull=False).count()
        recorded = len(note_keys()) - 1
        # every committed batch has both its marks and its audit rows; nothing half-done
        assert fired == recorded
        print(f"killed after {fired} of 3000 backlog timers")

        restarted = start_clock(subprocess_env, log, "--batch", "500")
        wait_for(lambda: not Timer.objects.filter(timers.PENDING).exists(), "the backlog", log=log)
        keys = note_keys()
        assert len(keys) == 3001 and len(set(keys)) == 3001  # all fired, none twice
        restarted.send_signal(signal.SIGTERM)
        assert restarted.wait(timeout=20) == 0
        assert "clock: stopped" in log.read_text()
    finally:
        stop(clock)
        stop(restarted)


@pytest.mark.subprocess
def test_a_clock_dying_inside_a_batch_loses_nothing(subprocess_env, tmp_path, monkeypatch):
    """Deterministic mid-batch crash: the fault hook exits right after the first handler
    ran, before the batch commits. Nothing is marked and no audit row exists; the next run
    fires every timer once."""
    monkeypatch.setenv(timesource.ENV_VAR, subprocess_env["CASELINE_TIME_FILE"])
    t0 = timesource.now()
    timesource.set_time(t0)
    bulk_notes("crash", 5, t0 - timedelta(seconds=1))
    crashed = run_clock_once(dict(subprocess_env, CASELINE_FAULT=timers.FAULT_CRASH_MID_BATCH))
    assert crashed.returncode == timers.CRASH_EXIT_CODE, crashed.stderr
    assert note_keys() == []
    assert Timer.objects.filter(timers.PENDING).count() == 5
    healthy = run_clock_once(subprocess_env)
    assert healthy.returncode == 0, healthy.stderr
    assert "fired 5 timer(s)" in healthy.stdout
    assert sorted(note_keys()) == [f"crash-{i}" for i in range(5)]
    assert run_clock_once(subprocess_env).stdout.strip() == "clock: fired 0 timer(s)"


@pytest.mark.subprocess
def test_two_clock_processes_never_fire_a_timer_twice(subprocess_env, tmp_path, monkeypatch):
    monkeypatch.setenv(timesource.ENV_VAR, subprocess_env["CASELINE_TIME_FILE"])
    t0 = timesource.now()
    timesource.set_time(t0)
    bulk_notes("pair", 1500, t0 + timedelta(seconds=10))
    logs = [tmp_path / "clock-a.log", tmp_path / "clock-b.log"]
    clocks = []
    try:
        clocks = [start_clock(subprocess_env, log, "--batch", "10") for log in logs]
        for log in logs:
            wait_for(lambda log=log: running(log), "the clocks to start", log=log)
        timesource.advance(11)
        wait_for(lambda: not Timer.objects.filter(timers.PENDING).exists(), "all timers")
        keys = note_keys()
        assert len(keys) == 1500 and len(set(keys)) == 1500
        for proc in clocks:
            proc.send_signal(signal.SIGTERM)
        assert [proc.wait(timeout=20) for proc in clocks] == [0, 0]
        # both processes took part (the batches are small and interleave)
        fired_by = [int(log.read_text().split("firing ")[1].split()[0]) for log in logs]
        print(f"fired per process: {fired_by}")
        assert sum(fired_by) == 1500
    finally:
        for proc in clocks:
            stop(proc)
