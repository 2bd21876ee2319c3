"""The timer table's services on a real database: scheduling is idempotent on the key,
moving and cancelling work, every due timer fires once in due order, failing handlers
are retried with back-off without blocking the others, and concurrent claimers never fire
a timer twice."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, connections

from caseline import timesource
from caseline.audit.models import AuditEvent
from caseline.audit.services import record
from caseline.errors import Conflict
from caseline.sla import timers
from caseline.sla.models import Timer

pytestmark = pytest.mark.django_db

ORDER: list[str] = []


@timers.handler("test.order")
def _order(timer: Timer) -> None:
    ORDER.append(timer.key)


@timers.handler("test.flaky")
def _flaky(timer: Timer) -> None:
    """Writes an audit row, then fails while attempts < payload["fail_times"]."""
    record("timer.note", timer.subject_type, timer.subject_id, data={"key": timer.key})
    if timer.attempts < int(timer.payload.get("fail_times", 0)):
        raise RuntimeError(f"flaky failure {timer.attempts + 1}")


@timers.handler("test.reschedule")
def _reschedule(timer: Timer) -> None:
    """A handler that schedules the next occurrence (a recurring reminder)."""
    n = int(timer.payload["n"])
    timers.schedule(
        "test.reschedule",
        timer.subject_type,
        timer.subject_id,
        timer.due_at + timedelta(hours=1),
        f"recurring-{n + 1}",
        {"n": n + 1},
    )


@timers.handler("test.slow")
def _slow(timer: Timer) -> None:
    """A handler that takes 50 ms of wall time (a heavy action)."""
    ORDER.append(timer.key)
    time.sleep(0.05)


def note(key: str, due, subject_id: int = 1, **payload) -> Timer:
    return timers.schedule("audit.note", "ticket", subject_id, due, key, payload)


def notes(key: str | None = None) -> list[AuditEvent]:
    qs = AuditEvent.objects.filter(type="timer.note").order_by("id")
    return [e for e in qs if key is None or e.data.get("key") == key]


# --- scheduling ------------------------------------------------------------------------------


def test_schedule_is_idempotent_on_the_key(frozen):
    first = note("sla:t1:ack:breach", frozen + timedelta(minutes=5), note="a")
    again = note("sla:t1:ack:breach", frozen + timedelta(minutes=5), note="b")
    assert again.pk == first.pk
    assert Timer.objects.count() == 1
    timer = Timer.objects.get()
    assert timer.payload == {"note": "a"}  # same due time: nothing changed
    assert timer.state == "pending" and timer.fired_at is None and timer.created_at == frozen


def test_schedule_with_another_due_time_moves_the_timer(frozen):
    note("eta:7", frozen + timedelta(minutes=5), note="old")
    moved = note("eta:7", frozen + timedelta(minutes=1), note="new")
    assert Timer.objects.count() == 1
    moved.refresh_from_db()
    assert moved.due_at == frozen + timedelta(minutes=1)
    assert moved.payload == {"note": "new"}
    timesource.advance(61)
    assert timers.claim_and_fire() == 1
    assert [e.data["note"] for e in notes("eta:7")] == ["new"]


def test_a_fired_timer_is_never_changed_or_fired_again(frozen):
    note("k", frozen)
    assert timers.claim_and_fire() == 1
    fired = Timer.objects.get(key="k")
    again = note("k", frozen + timedelta(minutes=3))
    assert again.fired_at == fired.fired_at and again.due_at == frozen
    timesource.advance(600)
    assert timers.claim_and_fire() == 0
    assert len(notes("k")) == 1


def test_schedule_rejects_bad_input_and_a_key_of_another_kind(frozen):
    from datetime import datetime

    with pytest.raises(ValueError, match="aware"):
        note("naive", datetime(2026, 3, 2, 9, 0))
    with pytest.raises(ValueError, match="key"):
        note("", frozen)
    note("shared", frozen)
    with pytest.raises(ValueError, match="belongs to audit.note"):
        timers.schedule("test.order", "ticket", 1, frozen, "shared")
    with pytest.raises(ValueError, match="belongs to"):
        timers.schedule("audit.note", "ticket", 2, frozen, "shared")
    assert Timer.objects.count() == 1


def test_due_times_are_stored_in_utc(frozen):
    from zoneinfo import ZoneInfo

    local = (frozen + timedelta(hours=2)).astimezone(ZoneInfo("America/New_York"))
    timer = note("tz", local)
    timer.refresh_from_db()
    assert timer.due_at == frozen + timedelta(hours=2)
    assert timer.due_at.utcoffset() == timedelta(0)


# --- firing ----------------------------------------------------------------------------------


def test_only_due_timers_fire_and_each_fires_once(frozen):
    note("now", frozen)
    note("soon", frozen + timedelta(seconds=30))
    assert timers.claim_and_fire() == 1
    assert timers.claim_and_fire() == 0
    assert [e.data["key"] for e in notes()] == ["now"]
    event = notes("now")[0]
    assert event.at == frozen and event.ticket_id == 1  # on the ticket's timeline
    timesource.advance(30)
    assert timers.claim_and_fire() == 1
    assert [e.data["key"] for e in notes()] == ["now", "soon"]
    assert Timer.objects.filter(fired_at__isnull=True).count() == 0
    assert set(Timer.objects.values_list("attempts", flat=True)) == {1}


def test_due_timers_fire_in_due_order_across_batches(frozen):
    ORDER.clear()
    for i, offset in enumerate([50, 10, 40, 0, 30, 20, 60]):
        timers.schedule("test.order", "ticket", i, frozen - timedelta(seconds=offset), f"o{offset}")
    assert timers.claim_and_fire(limit=3) == 3
    assert ORDER == ["o60", "o50", "o40"]
    assert timers.fire_all_due(limit=3) == 4
    assert ORDER == ["o60", "o50", "o40", "o30", "o20", "o10", "o0"]


def test_a_batch_commits_when_its_time_budget_is_spent_and_the_rest_stays_due(frozen):
    """5,000 deadlines in one second must not wait for one 500-row transaction: after the
    budget the batch commits; the untouched rows fire in the next batches."""
    ORDER.clear()
    for i in range(10):
        timers.schedule("test.slow", "ticket", i, frozen - timedelta(seconds=10 - i), f"s{i}")
    claimed, fired = timers.fire_batch(limit=10, budget=0.1)
    # 50 ms per handler: the budget is spent after the 3rd at the latest (sooner on a slow
    # machine), and the batch reports itself full so the loop goes on at once.
    assert claimed == 10 and 1 <= fired <= 3
    assert Timer.objects.filter(fired_at__isnull=False).count() == fired
    assert Timer.objects.filter(fired_at__isnull=True, claimed_until__isnull=True).count() == (
        10 - fired
    )
    assert timers.fire_all_due(limit=10) == 10 - fired  # the default budget, in due order
    assert ORDER == [f"s{i}" for i in range(10)]


def test_a_failing_handler_is_retried_with_backoff_and_blocks_no_one(frozen):
    timers.schedule("test.flaky", "ticket", 1, frozen, "flaky", {"fail_times": 2})
    note("healthy-1", frozen)
    note("healthy-2", frozen + timedelta(seconds=1))
    timesource.advance(1)
    assert timers.claim_and_fire() == 2  # the two healthy ones
    flaky = Timer.objects.get(key="flaky")
    assert flaky.fired_at is None and flaky.attempts == 1
    assert flaky.last_error == "RuntimeError: flaky failure 1"
    assert flaky.due_at == frozen  # the business moment stays
    wait = (flaky.claimed_until - timesource.now()).total_seconds()
    assert 0.8 * timers.BACKOFF_BASE_SECONDS <= wait <= 1.2 * timers.BACKOFF_BASE_SECONDS
    # the failed attempt's own writes were rolled back with its savepoint
    assert notes("flaky") == []
    assert timers.claim_and_fire() == 0  # backing off
    assert timers.next_due() is None  # and not reported as due (the loop would spin)
    timesource.advance(wait + 0.01)
    assert timers.claim_and_fire() == 0  # second failure
    flaky.refresh_from_db()
    assert flaky.attempts == 2 and flaky.last_error.endswith("failure 2")
    timesource.advance((flaky.claimed_until - timesource.now()).total_seconds() + 0.01)
    assert timers.claim_and_fire() == 1
    flaky.refresh_from_db()
    assert flaky.fired_at is not None and flaky.attempts == 3 and flaky.last_error == ""
    assert len(notes("flaky")) == 1


def test_a_timer_that_keeps_failing_is_given_up_and_can_be_rearmed(frozen, settings):
    settings.TIMER_MAX_ATTEMPTS = 2
    timers.schedule("test.flaky", "ticket", 3, frozen, "doomed", {"fail_times": 2})
    assert timers.claim_and_fire() == 0
    timesource.advance(timers.BACKOFF_BASE_SECONDS * 1.3)
    assert timers.claim_and_fire() == 0
    doomed = Timer.objects.get(key="doomed")
    assert doomed.state == "failed" and doomed.attempts == 2
    assert "gave up after 2 attempts" in doomed.last_error
    timesource.advance(7200)
    assert timers.claim_and_fire() == 0 and timers.next_due() is None
    # The admin's "retry": pending again, fires at once, with an audit trail.
    timers.retry(doomed.pk)
    retried = AuditEvent.objects.get(type="timer.retried", subject_id=doomed.pk)
    assert (retried.old, retried.new) == ("failed", "pending")
    Timer.objects.filter(pk=doomed.pk).update(payload={"fail_times": 0})
    assert timers.claim_and_fire() == 1
    with pytest.raises(Conflict):
        timers.retry(doomed.pk)


def test_an_unknown_kind_is_an_error_on_the_row_not_a_crash(frozen):
    timers.schedule("no.such.kind", "ticket", 1, frozen, "orphan")
    note("fine", frozen)
    assert timers.claim_and_fire() == 1
    orphan = Timer.objects.get(key="orphan")
    assert orphan.fired_at is None and orphan.attempts == 1
    assert "no handler registered for timer kind 'no.such.kind'" in orphan.last_error
    assert orphan.claimed_until > timesource.now()  # retried later (a newer clock may know it)


def test_a_handler_may_schedule_further_timers_in_the_same_transaction(frozen):
    timers.schedule("test.reschedule", "ticket", 9, frozen, "recurring-1", {"n": 1})
    assert timers.claim_and_fire() == 1
    follow = Timer.objects.get(key="recurring-2")
    assert follow.due_at == frozen + timedelta(hours=1) and follow.state == "pending"
    assert timers.next_due() == frozen + timedelta(hours=1)


# --- cancelling and reading ------------------------------------------------------------------


def test_cancel_and_cancel_for(frozen):
    note("a", frozen, subject_id=1)
    timers.schedule("test.order", "ticket", 1, frozen, "b")
    note("c", frozen, subject_id=1)
    note("other-subject", frozen, subject_id=2)
    assert timers.cancel("a") is True
    assert timers.cancel("a") is False  # already cancelled
    assert timers.cancel("missing") is False
    assert timers.cancel_for("ticket", 1, kinds=["test.order"]) == 1
    assert timers.cancel_for("ticket", 1) == 1  # "c"; "a" and "b" are cancelled already
    assert timers.claim_and_fire() == 1
    assert [e.data["key"] for e in notes()] == ["other-subject"]
    assert timers.cancel("other-subject") is False  # fired: stays fired
    # scheduling a cancelled key again re-arms it (a paused SLA clock resumes)
    note("a", frozen + timedelta(minutes=1))
    assert Timer.objects.get(key="a").state == "pending"
    timesource.advance(60)
    assert timers.claim_and_fire() == 1 and len(notes("a")) == 1


def test_next_due_is_the_earliest_pending_timer(frozen):
    assert timers.next_due() is None
    note("late", frozen + timedelta(hours=2))
    note("early", frozen + timedelta(minutes=2))
    note("cancelled", frozen + timedelta(minutes=1))
    timers.cancel("cancelled")
    assert timers.next_due() == frozen + timedelta(minutes=2)
    timesource.advance(120)
    timers.claim_and_fire()
    assert timers.next_due() == frozen + timedelta(hours=2)


def test_the_pending_index_is_partial():
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'timer_pending_due_idx'"
            )
        else:
            cursor.execute("SELECT sql FROM sqlite_master WHERE name = 'timer_pending_due_idx'")
        (definition,) = cursor.fetchone()
    assert "WHERE" in definition.upper() and "fired_at" in definition


@pytest.mark.django_db(transaction=True)
def test_schedule_wakes_the_clock_through_notify_on_postgresql(frozen):
    """On PostgreSQL a timer due within 5 s sends NOTIFY caseline_timers when its
    transaction commits; a far one does not. SQLite has no channel (the loop polls)."""
    from django.db import transaction

    if connection.vendor != "postgresql":
        note("soon", frozen + timedelta(seconds=2))
        assert Timer.objects.get().state == "pending"
        return
    import psycopg

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    with psycopg.connect(**params, autocommit=True) as listener:
        listener.execute("LISTEN caseline_timers")
        note("far", frozen + timedelta(minutes=10))
        assert list(listener.notifies(timeout=0.3)) == []
        with transaction.atomic():
            note("soon", frozen + timedelta(seconds=2))
            assert list(listener.notifies(timeout=0.3)) == []  # not before commit
        got = list(listener.notifies(timeout=10, stop_after=1))
        assert [n.channel for n in got] == ["caseline_timers"]
        note("moved-soon", frozen + timedelta(minutes=10))
        assert list(listener.notifies(timeout=0.3)) == []
        note("moved-soon", frozen + timedelta(seconds=1))  # moved into the horizon
        got = list(listener.notifies(timeout=10, stop_after=1))
        assert [n.channel for n in got] == ["caseline_timers"]


# --- concurrency -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_claimers_never_fire_a_timer_twice(tmp_path, monkeypatch):
    """Four threads, each with its own database connection, drain 400 due timers at once
    (FOR UPDATE SKIP LOCKED on PostgreSQL, the IMMEDIATE write lock on SQLite)."""
    monkeypatch.setenv(timesource.ENV_VAR, str(tmp_path / "time.json"))
    start = timesource.now()
    timesource.set_time(start)
    Timer.objects.bulk_create(
        Timer(
            kind="audit.note",
            subject_type="ticket",
            subject_id=i,
            due_at=start - timedelta(milliseconds=i),
            key=f"race-{i}",
        )
        for i in range(400)
    )
    fired: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def claimer() -> None:
        try:
            barrier.wait(timeout=10)
            mine = 0
            while True:
                claimed, n = timers.fire_batch(limit=7)
                mine += n
                if claimed == 0:
                    break
            fired.append(mine)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert sum(fired) == 400
    keys = [e.data["key"] for e in AuditEvent.objects.filter(type="timer.note")]
    assert len(keys) == 400 and len(set(keys)) == 400
    assert Timer.objects.filter(fired_at__isnull=True).count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_schedules_of_one_key_make_one_timer(tmp_path, monkeypatch):
    monkeypatch.setenv(timesource.ENV_VAR, str(tmp_path / "time.json"))
    timesource.set_time(timesource.now())
    due = timesource.now() + timedelta(hours=1)
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def scheduler() -> None:
        try:
            barrier.wait(timeout=10)
            for _ in range(20):
                note("contended", due)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=scheduler) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert Timer.objects.filter(key="contended").count() == 1


# --- admin -----------------------------------------------------------------------------------


@pytest.fixture
def admin_client(make_staff):
    from django.test import Client

    user = make_staff("admin", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    return client


def test_admin_lists_filters_and_rearms_timers(admin_client, frozen, settings):
    settings.TIMER_MAX_ATTEMPTS = 1
    note("fired-one", frozen)
    timers.schedule("no.such.kind", "ticket", 5, frozen, "broken-one")
    note("later-one", frozen + timedelta(hours=1))
    timers.claim_and_fire()
    page = admin_client.get("/admin/sla/timer/")
    assert page.status_code == 200
    html = page.content.decode()
    for text in ("fired-one", "broken-one", "later-one", "no handler registered", "ticket#5"):
        assert text in html
    failed = admin_client.get("/admin/sla/timer/?state=failed").content.decode()
    assert "broken-one" in failed and "fired-one" not in failed and "later-one" not in failed
    pending = admin_client.get("/admin/sla/timer/?state=pending&kind=audit.note")
    assert pending.status_code == 200
    assert admin_client.get("/admin/sla/timer/add/").status_code == 403
    broken = Timer.objects.get(key="broken-one")
    resp = admin_client.post(
        "/admin/sla/timer/",
        {"action": "retry_now", "_selected_action": [broken.pk]},
    )
    assert resp.status_code == 302
    broken.refresh_from_db()
    assert broken.state == "pending" and broken.attempts == 0
    event = AuditEvent.objects.get(type="timer.retried")
    assert event.actor_id is not None
