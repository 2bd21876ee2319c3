"""The one timer table: scheduling, cancelling, and firing due timers exactly once.

Scheduling (inside the caller's transaction):
  ``schedule(kind, subject_type, subject_id, due_at, key, payload)`` is idempotent on
  ``key``: the same key with the same due time does nothing; a different due time moves a
  timer that has not fired (and re-arms a cancelled or failed one); a fired timer is never
  changed. On PostgreSQL a timer due within ``NOTIFY_HORIZON_SECONDS`` also sends
  ``NOTIFY caseline_timers`` (delivered at commit) so a sleeping clock loop wakes at once.
  ``cancel(key)`` and ``cancel_for(subject_type, subject_id, kinds)`` cancel pending ones.

Handlers:
  ``@handler("sla.warning")`` registers ``fn(timer)`` for a kind. It runs INSIDE the
  claiming transaction, in its own savepoint, so it must only do cheap writes to the same
  database: append audit events, write outbox rows, schedule further timers. Anything
  slow or anything that leaves the process goes through the outbox. Apps register their
  kinds in ``AppConfig.ready()``.

Firing (``claim_and_fire``, called by the clock loop):
  one transaction claims up to ``limit`` due rows in due order -- on PostgreSQL with
  ``SELECT ... FOR UPDATE SKIP LOCKED`` (several clock processes share the work and never
  fire a row twice); on SQLite, which ignores SKIP LOCKED, the transaction is BEGIN
  IMMEDIATE (settings), so claimers are serialised by the write lock -- runs each handler
  in a savepoint, and marks the fired rows in the same transaction. A process killed
  mid-batch rolls the whole batch back: nothing is marked, nothing is lost, the next run
  fires it. A handler that raises (or a kind with no handler) rolls back its own savepoint
  only; the row records ``attempts`` and ``last_error`` and is retried after an
  exponential back-off (``claimed_until``; ``due_at`` keeps the business moment); after
  ``TIMER_MAX_ATTEMPTS`` it is marked failed (``failed_at``) and shown in the admin, where
  it can be re-armed.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q

from caseline.audit.services import record
from caseline.errors import Conflict, NotFound
from caseline.timesource import now

from .models import Timer

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "caseline_timers"
NOTIFY_HORIZON_SECONDS = 5.0
DEFAULT_LIMIT = 500
BACKOFF_BASE_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 3600.0
MAX_ATTEMPTS = 10
# Seconds of handler work after which a batch commits (TIMER_BATCH_BUDGET_SECONDS).
BATCH_BUDGET_SECONDS = 0.25
_ERROR_MAX = 2000
# Test hook: with CASELINE_FAULT=timer-crash-mid-batch a clock process exits after running
# the first handler of a batch and before the batch commits (the "killed mid-batch" test).
FAULT_ENV = "CASELINE_FAULT"
FAULT_CRASH_MID_BATCH = "timer-crash-mid-batch"
CRASH_EXIT_CODE = 71

TimerHandler = Callable[[Timer], Any]
_registry: dict[str, TimerHandler] = {}

# A timer that may fire: not fired, not cancelled, not given up. Matches the partial index.
PENDING = Q(fired_at__isnull=True, cancelled_at__isnull=True, failed_at__isnull=True)


# --- the registry --------------------------------------------------------------------------


def handler(kind: str) -> Callable[[TimerHandler], TimerHandler]:
    """Register the decorated ``fn(timer)`` as the action of timers of ``kind``."""
    if not kind or len(kind) > 60:
        raise ValueError("a timer kind is 1-60 characters")

    def register(fn: TimerHandler) -> TimerHandler:
        existing = _registry.get(kind)
        if existing is not None and _name(existing) != _name(fn):
            raise ValueError(f"timer kind {kind!r} already has a handler: {_name(existing)}")
        _registry[kind] = fn
        return fn

    return register


def _name(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def get_handler(kind: str) -> TimerHandler | None:
    return _registry.get(kind)


def registered_kinds() -> list[str]:
    return sorted(_registry)


# --- scheduling ------------------------------------------------------------------------------


NOTIFY_HORIZON = timedelta(seconds=NOTIFY_HORIZON_SECONDS)


def notify_clock_loop() -> None:
    """On PostgreSQL wake sleeping clock loops (the notification is delivered at commit);
    for a caller that wrote timers due within ``NOTIFY_HORIZON`` itself (bulk)."""
    if connection.vendor != "postgresql":
        return  # SQLite has no channel: the loop polls
    with connection.cursor() as cursor:
        # An empty payload: PostgreSQL folds identical notifications of one transaction.
        cursor.execute("SELECT pg_notify(%s, '')", [NOTIFY_CHANNEL])


def _notify_if_soon(due_at: datetime) -> None:
    """On PostgreSQL wake sleeping clock loops (at commit) when the timer is due soon."""
    if connection.vendor != "postgresql":
        return  # SQLite has no channel: the loop polls
    if due_at <= now() + NOTIFY_HORIZON:
        notify_clock_loop()


def schedule(
    kind: str,
    subject_type: str,
    subject_id: int,
    due_at: datetime,
    key: str,
    payload: dict[str, Any] | None = None,
) -> Timer:
    """Create or move the timer ``key`` (idempotent; runs in the caller's transaction).

    * new key: a pending timer is created;
    * same key, same ``due_at``, pending: nothing changes;
    * same key, another ``due_at`` (or a cancelled / failed timer): the timer is moved and
      re-armed with the new payload, attempts and error cleared;
    * same key, already fired: nothing changes (a repeated schedule never fires twice).

    The key names one occurrence (e.g. ``sla:ticket-42:resolution:breach``); a recurring
    action uses a new key per occurrence. ``kind`` and the subject of an existing key
    cannot change (``ValueError``: a programming error).
    """
    if due_at.tzinfo is None:
        raise ValueError("due_at must be an aware datetime")
    if not key or len(key) > 200:
        raise ValueError("a timer key is 1-200 characters")
    if not subject_type or len(subject_type) > 40:
        raise ValueError("subject_type is 1-40 characters")
    if not kind or len(kind) > 60:
        raise ValueError("a timer kind is 1-60 characters")
    due_at = due_at.astimezone(UTC)
    payload = dict(payload or {})
    subject_id = int(subject_id)
    with transaction.atomic():
        timer = Timer.objects.select_for_update().filter(key=key).first()
        if timer is None:
            try:
                with transaction.atomic():  # savepoint: a concurrent schedule of the same key
                    timer = Timer.objects.create(
                        kind=kind,
                        subject_type=subject_type,
                        subject_id=subject_id,
                        due_at=due_at,
                        key=key,
                        payload=payload,
                        created_at=now(),
                    )
            except IntegrityError:
                timer = Timer.objects.select_for_update().get(key=key)
            else:
                _notify_if_soon(due_at)
                return timer
        if (timer.kind, timer.subject_type, timer.subject_id) != (kind, subject_type, subject_id):
            raise ValueError(
                f"timer key {key!r} belongs to {timer.kind} on "
                f"{timer.subject_type}#{timer.subject_id}, not {kind} on {subject_type}#{subject_id}"
            )
        if timer.fired_at is not None:
            return timer
        if timer.due_at == due_at and timer.cancelled_at is None and timer.failed_at is None:
            return timer
        timer.due_at = due_at
        timer.payload = payload
        timer.cancelled_at = None
        timer.failed_at = None
        timer.claimed_until = None
        timer.attempts = 0
        timer.last_error = ""
        timer.save(
            update_fields=[
                "due_at",
                "payload",
                "cancelled_at",
                "failed_at",
                "claimed_until",
                "attempts",
                "last_error",
            ]
        )
        _notify_if_soon(due_at)
    return timer


def cancel(key: str) -> bool:
    """Cancel the timer ``key`` unless it fired already; True when one was cancelled."""
    return (
        Timer.objects.filter(key=key, fired_at__isnull=True, cancelled_at__isnull=True).update(
            cancelled_at=now(), claimed_until=None
        )
        == 1
    )


def cancel_for(subject_type: str, subject_id: int, kinds: Iterable[str] | None = None) -> int:
    """Cancel every unfired timer of a subject (optionally only some kinds); returns count."""
    qs = Timer.objects.filter(
        subject_type=subject_type,
        subject_id=subject_id,
        fired_at__isnull=True,
        cancelled_at__isnull=True,
    )
    if kinds is not None:
        qs = qs.filter(kind__in=list(kinds))
    return qs.update(cancelled_at=now(), claimed_until=None)


def retry(timer_id: int, *, actor: Any = None) -> Timer:
    """Re-arm a failed or cancelled timer so the clock fires it at once (an admin action)."""
    with transaction.atomic():
        timer = Timer.objects.select_for_update().filter(pk=timer_id).first()
        if timer is None:
            raise NotFound(f"timer {timer_id} not found")
        if timer.fired_at is not None:
            raise Conflict("this timer has fired already")
        old_state = timer.state
        Timer.objects.filter(pk=timer.pk).update(
            failed_at=None, cancelled_at=None, claimed_until=None, attempts=0
        )
        record(
            "timer.retried",
            "timer",
            timer.pk,
            actor=actor,
            changes={"state": (old_state, "pending")} if old_state != "pending" else None,
            data={"key": timer.key, "kind": timer.kind, "last_error": timer.last_error[:500]},
        )
        _notify_if_soon(timer.due_at)
    timer.refresh_from_db()
    return timer


# --- reading ---------------------------------------------------------------------------------


def _claimable(current: datetime):
    return Timer.objects.filter(PENDING).filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lte=current)
    )


def next_due() -> datetime | None:
    """The due time of the earliest timer that may fire (None when there is none).

    Rows waiting out a retry back-off are left out; the loop never sleeps more than 5 s,
    so a retry fires at most that long after its back-off ends.
    """
    return _claimable(now()).order_by("due_at").values_list("due_at", flat=True).first()


# --- firing ----------------------------------------------------------------------------------


def max_attempts() -> int:
    return int(getattr(settings, "TIMER_MAX_ATTEMPTS", MAX_ATTEMPTS))


def backoff_seconds(attempts: int, *, rng: random.Random | None = None) -> float:
    """Delay before the next try after ``attempts`` failed ones: 5 s * 2^(n-1), capped at
    1 h, +-20 % jitter."""
    base = float(getattr(settings, "TIMER_BACKOFF_BASE_SECONDS", BACKOFF_BASE_SECONDS))
    cap = float(getattr(settings, "TIMER_BACKOFF_CAP_SECONDS", BACKOFF_CAP_SECONDS))
    raw = min(cap, base * (2 ** max(0, attempts - 1)))
    return min(cap, raw * (rng or random).uniform(0.8, 1.2))


def _record_failure(timer: Timer, error: str) -> None:
    attempts = timer.attempts + 1
    current = now()
    fields: dict[str, Any] = {"attempts": attempts, "last_error": error[:_ERROR_MAX]}
    if attempts >= max_attempts():
        fields.update(failed_at=current, claimed_until=None)
        fields["last_error"] = f"{error} (gave up after {attempts} attempts)"[:_ERROR_MAX]
    else:
        fields["claimed_until"] = current + timedelta(seconds=backoff_seconds(attempts))
    with transaction.atomic():  # its own savepoint
        Timer.objects.filter(pk=timer.pk).update(**fields)


def _fault_mid_batch() -> None:
    """Test hook only: die inside the batch's transaction (never set in production)."""
    if os.environ.get(FAULT_ENV) == FAULT_CRASH_MID_BATCH:
        os._exit(CRASH_EXIT_CODE)


def batch_budget_seconds() -> float:
    return float(getattr(settings, "TIMER_BATCH_BUDGET_SECONDS", BATCH_BUDGET_SECONDS))


def fire_batch(limit: int = DEFAULT_LIMIT, budget: float | None = None) -> tuple[int, int]:
    """Claim up to ``limit`` due timers and run their handlers in one transaction.

    The batch commits after ``budget`` seconds of handler work even if rows remain (they
    stay pending, untouched, for the next batch), so when thousands fall due in the same
    second the first actions become visible within a fraction of a second instead of
    after ``limit`` slow handlers.

    Returns ``(claimed, fired)``; ``claimed == limit`` means more may be due.
    """
    budget = batch_budget_seconds() if budget is None else budget
    if not _claimable(now()).filter(due_at__lte=now()).exists():
        # A cheap indexed read: on SQLite no write lock is taken when nothing is due.
        return 0, 0
    fired_ids: list[int] = []
    with transaction.atomic():  # BEGIN IMMEDIATE on SQLite: claimers take turns here
        current = now()  # after the lock: a waiting claimer must not use a stale instant
        qs = _claimable(current).filter(due_at__lte=current).order_by("due_at", "id")
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True)
        batch = list(qs[:limit])
        out_of_time = False
        started = time.monotonic()
        for done, timer in enumerate(batch):
            if done and time.monotonic() - started > budget:
                # Out of time: commit what ran; the rest is still due (report a full batch).
                batch, out_of_time = batch[:done], True
                break
            fn = _registry.get(timer.kind)
            if fn is None:
                log.error("timer %s: no handler for kind %r", timer.key, timer.kind)
                _record_failure(timer, f"no handler registered for timer kind {timer.kind!r}")
                continue
            try:
                with transaction.atomic():  # the handler's savepoint
                    fn(timer)
            except Exception as exc:
                log.exception("timer %s (%s) failed", timer.key, timer.kind)
                _record_failure(timer, f"{exc.__class__.__name__}: {exc}")
                continue
            fired_ids.append(timer.pk)
            _fault_mid_batch()
        if fired_ids:
            Timer.objects.filter(pk__in=fired_ids).update(
                fired_at=now(), claimed_until=None, attempts=F("attempts") + 1, last_error=""
            )
    return (limit if out_of_time else len(batch)), len(fired_ids)


def claim_and_fire(limit: int = DEFAULT_LIMIT) -> int:
    """Fire up to ``limit`` due timers (one transaction); returns how many fired."""
    return fire_batch(limit)[1]


def fire_all_due(
    limit: int = DEFAULT_LIMIT, *, should_stop: Callable[[], bool] | None = None
) -> int:
    """Fire batches until nothing is due any more; returns how many fired.

    A handler may schedule a timer that is already due (the SLA clocks chain their steps:
    a breach schedules its after-breach rules), so a short batch that fired something is
    followed by another look."""
    total = 0
    while True:
        claimed, fired = fire_batch(limit)
        total += fired
        if should_stop is not None and should_stop():
            return total
        if claimed < limit and (
            not fired or not _claimable(now()).filter(due_at__lte=now()).exists()
        ):
            return total


# --- built-in kinds --------------------------------------------------------------------------


@handler("audit.note")
def audit_note(timer: Timer) -> None:
    """Append a ``timer.note`` audit event to the subject's timeline (the payload's
    ``note``). The simplest real action: operations use it to check that the clock runs,
    tests and the benchmark measure firing latency with it."""
    record(
        "timer.note",
        timer.subject_type,
        timer.subject_id,
        ticket_id=timer.subject_id if timer.subject_type == "ticket" else None,
        data={
            "key": timer.key,
            "due_at": timer.due_at.isoformat(),
            "note": str(timer.payload.get("note", "")),
        },
    )
