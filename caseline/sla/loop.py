"""The clock loop (``caseline clock``): fire due timers, run the periodic duties, sleep.

One iteration:
  1. fire every due timer (batches of ``batch`` rows, each batch one transaction, see
     ``caseline.sla.timers.fire_batch``), repeating while batches come back full;
  2. about once a second, run the other time-driven duties (``caseline.clockloop.duties``:
     the outbox sweeper) -- not on every wake-up;
  3. sleep until the earliest of: the next due timer, the next duty run, ``max_sleep``
     (5 s) -- or until woken:
     * PostgreSQL: ``LISTEN caseline_timers`` on the loop's own psycopg connection
       (``schedule()`` sends ``NOTIFY`` for a timer due within 5 s). The loop selects on
       that socket; after a lost connection it reconnects (back-off up to 5 s, polling the
       table meanwhile) and re-queries the next due time after every (re)connect;
     * SQLite has no notification channel: the loop polls every ``poll`` seconds (0.2 s).
     In controlled-time mode (``CASELINE_TIME_FILE``) it also polls every 0.2 s at most,
     so a test that advances time is noticed.

SIGTERM / SIGINT (``request_stop``) let the current batch finish and end the loop. A
process killed mid-batch loses nothing: the batch's transaction rolls back and the next
run fires those timers.
"""

from __future__ import annotations

import logging
import os
import select
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, InterfaceError, connection

from caseline import timesource

from . import timers

log = logging.getLogger(__name__)

MAX_SLEEP_SECONDS = 5.0
DUTY_INTERVAL_SECONDS = 1.0
SQLITE_POLL_SECONDS = 0.2
CONTROLLED_TIME_POLL_SECONDS = 0.2
DEFAULT_BATCH = 100
RECONNECT_MAX_SECONDS = 5.0


class _Waker:
    """A self-pipe: ``wake()`` (safe from a signal handler) ends a wait early."""

    def __init__(self) -> None:
        self.r, self.w = os.pipe()
        os.set_blocking(self.r, False)
        os.set_blocking(self.w, False)

    def wake(self) -> None:
        try:
            os.write(self.w, b"x")
        except (BlockingIOError, OSError):
            pass  # the pipe is full: a wake-up is pending anyway

    def drain(self) -> None:
        try:
            while os.read(self.r, 512):
                pass
        except (BlockingIOError, OSError):
            pass

    def close(self) -> None:
        for fd in (self.r, self.w):
            try:
                os.close(fd)
            except OSError:
                pass


class PollWaiter:
    """Sleep for the given time (SQLite: no notification channel)."""

    name = "sleeping"

    def __init__(self, waker: _Waker) -> None:
        self.waker = waker

    def wait(self, seconds: float) -> str:
        if seconds > 0:
            ready, _, _ = select.select([self.waker.r], [], [], seconds)
            if ready:
                self.waker.drain()
                return "woken"
        return "timeout"

    def close(self) -> None:
        pass


class PgListenWaiter:
    """Sleep on ``LISTEN caseline_timers`` with the loop's own psycopg connection."""

    name = "LISTEN " + timers.NOTIFY_CHANNEL

    def __init__(self, waker: _Waker) -> None:
        self.waker = waker
        self.conn: Any = None
        self.failures = 0
        self.connects = 0
        self.notifications = 0

    def _connect(self) -> None:
        import psycopg

        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        self.conn = psycopg.connect(**params, autocommit=True)
        self.conn.execute(f"LISTEN {timers.NOTIFY_CHANNEL}")
        self.connects += 1
        self.failures = 0

    def connect(self) -> bool:
        try:
            self._connect()
            return True
        except Exception as exc:
            self.failures += 1
            self.conn = None
            log.warning("clock: LISTEN connection failed (%s); polling meanwhile", exc)
            return False

    def _drop(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
        self.conn = None

    def wait(self, seconds: float) -> str:
        if self.conn is None:
            if self.connect():
                return "reconnected"  # the caller re-queries: notifications may be lost
            pause = min(seconds, 0.5 * 2 ** min(self.failures, 4), RECONNECT_MAX_SECONDS)
            PollWaiter(self.waker).wait(pause)
            return "timeout"
        if seconds <= 0:
            seconds = 0.0
        try:
            ready, _, _ = select.select([self.conn.fileno(), self.waker.r], [], [], seconds)
            if self.waker.r in ready:
                self.waker.drain()
            if self.conn.fileno() in ready:
                got = sum(1 for _ in self.conn.notifies(timeout=0))
                self.notifications += got
                return "notified"
            return "woken" if ready else "timeout"
        except Exception as exc:  # the server went away: reconnect on the next wait
            log.warning("clock: LISTEN connection lost (%s); reconnecting", exc)
            self._drop()
            return "lost"

    def close(self) -> None:
        self._drop()


@dataclass
class ClockLoop:
    batch: int = DEFAULT_BATCH
    max_sleep: float = MAX_SLEEP_SECONDS
    duty_interval: float = DUTY_INTERVAL_SECONDS
    poll: float | None = None  # None: 0.2 s on SQLite / controlled time, LISTEN only on PG
    duties: bool = True
    on_event: Callable[[str], None] | None = None
    stats: dict[str, int] = field(
        default_factory=lambda: {"fired": 0, "batches": 0, "duty_runs": 0, "errors": 0}
    )

    def __post_init__(self) -> None:
        self.stopping = False
        self._waker = _Waker()
        self.waiter: PollWaiter | PgListenWaiter
        if connection.vendor == "postgresql":
            self.waiter = PgListenWaiter(self._waker)
        else:
            self.waiter = PollWaiter(self._waker)
        if self.poll is None:
            if connection.vendor != "postgresql":
                self.poll = SQLITE_POLL_SECONDS
            elif os.environ.get(timesource.ENV_VAR):
                self.poll = CONTROLLED_TIME_POLL_SECONDS
        elif os.environ.get(timesource.ENV_VAR):
            self.poll = min(self.poll, CONTROLLED_TIME_POLL_SECONDS)
        self._next_duty = 0.0

    def describe(self) -> str:
        how = self.waiter.name
        if self.poll:
            how += f", polling every {self.poll:g} s"
        return f"{connection.vendor}, {how}, batch {self.batch}"

    def request_stop(self) -> None:
        """Finish the current batch, then leave (safe from a signal handler)."""
        self.stopping = True
        self._waker.wake()

    def _emit(self, message: str) -> None:
        if self.on_event is not None:
            self.on_event(message)

    def fire_due(self) -> int:
        total = 0
        while True:
            claimed, fired = timers.fire_batch(self.batch)
            if claimed:
                self.stats["batches"] += 1
            total += fired
            if claimed < self.batch or self.stopping:
                break
        self.stats["fired"] += total
        return total

    def run_duties(self) -> dict[str, int]:
        from caseline.clockloop import duties

        self._next_duty = time.monotonic() + self.duty_interval
        self.stats["duty_runs"] += 1
        return duties()

    def sleep_seconds(self) -> float:
        seconds = self.max_sleep
        if self.duties:
            seconds = min(seconds, self._next_duty - time.monotonic())
        due = timers.next_due()
        if due is not None:
            seconds = min(seconds, (due - timesource.now()).total_seconds())
        if self.poll:
            seconds = min(seconds, self.poll)
        return max(0.0, seconds)

    def run(self, *, once: bool = False) -> dict[str, int]:
        """Run until ``request_stop`` (or one pass with ``once``); returns the stats."""
        db_failures = 0
        if isinstance(self.waiter, PgListenWaiter) and not once:
            self.waiter.connect()  # LISTEN before the first query: nothing slips between
        try:
            while True:
                try:
                    self.fire_due()
                    if self.duties and (once or time.monotonic() >= self._next_duty):
                        self.run_duties()
                    if once or self.stopping:
                        break
                    seconds = self.sleep_seconds()
                    db_failures = 0
                except (DatabaseError, InterfaceError) as exc:
                    # The database went away or a batch failed as a whole: nothing was
                    # marked; start over on a fresh connection after a short pause.
                    self.stats["errors"] += 1
                    db_failures += 1
                    log.warning("clock: database error (%s); retrying", exc)
                    self._emit(f"database error: {exc}")
                    try:
                        connection.close()
                    except Exception:
                        pass
                    if once:
                        raise
                    seconds = min(RECONNECT_MAX_SECONDS, 0.2 * 2 ** min(db_failures, 5))
                if self.stopping:
                    break
                if seconds > 0:
                    self.waiter.wait(seconds)
        finally:
            self.waiter.close()
            self._waker.close()
        return self.stats
