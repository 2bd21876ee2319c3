"""Webhook delivery end to end against a real local HTTP receiver: enqueue from a domain
event, signed request, retries with back-off, permanent failure, 410, the lease, the sweeper."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connections, transaction

from caseline import timesource
from caseline.audit.models import AuditEvent
from caseline.audit.services import record
from caseline.events import DomainEvent
from caseline.notify import services
from caseline.notify.models import OutboxMessage, Webhook
from caseline.notify.signing import verify_signature

pytestmark = pytest.mark.django_db


def org_created(org_id: int = 41, name: str = "Acme Storage"):
    """A real domain event through the audit service, inside a transaction."""
    with transaction.atomic():
        rows = record(
            "organization.created", "organization", org_id, data={"name": name, "tier": "gold"}
        )
    return rows[0]


def test_domain_event_is_delivered_signed(
    receiver, make_webhook, frozen_time, django_capture_on_commit_callbacks
):
    hook = make_webhook(receiver.url, ["organization.created"], secret="s3cret-for-testing-42")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        audit = org_created()
    # one doorbell, carrying only the id (other callbacks, e.g. the webhook list cache's
    # end-of-transaction marker, ring nothing)
    doorbells = [c for c in callbacks if c.__qualname__.endswith("ring")]
    assert len(doorbells) == 1

    row = OutboxMessage.objects.get()
    assert row.status == "sent" and row.attempts == 1 and row.sent_at == frozen_time.now()
    assert row.idempotency_key == f"wh-{hook.pk}-{audit.pk}"
    assert row.claimed_until is None

    assert len(receiver.requests) == 1
    req = receiver.requests[0]
    assert req.path == "/hooks/caseline"
    h = req.headers
    assert h["Content-Type"] == "application/json"
    assert h["User-Agent"] == "Caseline-Webhooks/1"
    assert h["Idempotency-Key"] == row.idempotency_key
    assert h["X-Caseline-Event"] == "organization.created"
    assert int(h["X-Caseline-Timestamp"]) == int(frozen_time.now().timestamp())
    assert h["X-Caseline-Signature"].startswith("v1=")
    assert verify_signature(
        "s3cret-for-testing-42",
        req.body,
        h["X-Caseline-Timestamp"],
        h["X-Caseline-Signature"],
        current_time=req.received_at,
    )
    assert not verify_signature(
        "another-secret-000000",
        req.body,
        h["X-Caseline-Timestamp"],
        h["X-Caseline-Signature"],
        current_time=req.received_at,
    )
    assert not verify_signature(
        "s3cret-for-testing-42",
        req.body + b" ",
        h["X-Caseline-Timestamp"],
        h["X-Caseline-Signature"],
        current_time=req.received_at,
    )
    body = json.loads(req.body)
    assert body == {
        "id": row.idempotency_key,
        "type": "organization.created",
        "occurred_at": "2026-03-02T09:00:00Z",
        "subject": {"type": "organization", "id": 41},
        "actor_id": None,
        "data": {"name": "Acme Storage", "tier": "gold"},
    }


def test_only_active_subscribed_webhooks_get_rows(receiver, make_webhook, frozen_time):
    wants = make_webhook(receiver.url, ["organization.created"], name="wants")
    star = make_webhook(receiver.url, ["*"], name="star")
    make_webhook(receiver.url, ["ticket.created"], name="other type")
    make_webhook(receiver.url, ["*"], name="inactive", active=False)
    org_created()
    rows = OutboxMessage.objects.order_by("webhook__name")
    assert sorted(r.webhook_id for r in rows) == sorted([wants.pk, star.pk])
    assert all(r.status == "pending" and r.event_type == "organization.created" for r in rows)


def test_rolled_back_change_leaves_no_row_and_sends_nothing(
    receiver, make_webhook, frozen_time, django_capture_on_commit_callbacks
):
    make_webhook(receiver.url)
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                record("organization.created", "organization", 7)
                raise RuntimeError("the service failed after writing")
    assert OutboxMessage.objects.count() == 0
    assert receiver.requests == []


def test_enqueue_is_idempotent(receiver, make_webhook, frozen_time):
    hook = make_webhook(receiver.url)
    event = DomainEvent(
        type="ticket.created",
        subject_type="ticket",
        subject_id=5,
        at=frozen_time.now(),
        audit_id=12345,
    )
    first = services.enqueue_webhook(hook, event)
    second = services.enqueue_webhook(hook, event)
    assert first.pk == second.pk
    assert OutboxMessage.objects.count() == 1
    assert first.idempotency_key == f"wh-{hook.pk}-12345"
    # without an audit row each enqueue gets its own random key
    no_audit = DomainEvent(
        type="ticket.created", subject_type="ticket", subject_id=5, at=frozen_time.now()
    )
    a = services.enqueue_webhook(hook, no_audit)
    b = services.enqueue_webhook(hook, no_audit)
    assert a.pk != b.pk and a.idempotency_key.startswith(f"wh-{hook.pk}-")


def test_retries_with_backoff_then_success_with_the_same_key(
    receiver, make_webhook, frozen_time, django_capture_on_commit_callbacks
):
    make_webhook(receiver.url)
    receiver.statuses = [500, 503]
    with django_capture_on_commit_callbacks(execute=True):
        org_created()
    row = OutboxMessage.objects.get()
    assert row.status == "pending" and row.attempts == 1
    assert row.last_error.startswith("HTTP 500")
    delay1 = (row.next_attempt_at - frozen_time.now()).total_seconds()
    assert 8 <= delay1 <= 12  # 10 s +-20 % jitter

    # not due yet: a deliverer that wakes early does nothing
    assert services.deliver(row.pk) == "skipped"
    assert len(receiver.requests) == 1

    frozen_time.advance(delay1)
    assert services.deliver(row.pk) == "retry"
    row.refresh_from_db()
    assert row.attempts == 2 and row.last_error.startswith("HTTP 503")
    delay2 = (row.next_attempt_at - frozen_time.now()).total_seconds()
    assert 16 <= delay2 <= 24  # doubled

    frozen_time.advance(delay2)
    assert services.deliver(row.pk) == "sent"
    row.refresh_from_db()
    assert row.status == "sent" and row.attempts == 3 and row.last_error == ""
    assert len(receiver.requests) == 3
    assert len(set(receiver.keys())) == 1 == len({r.body for r in receiver.requests})


def test_backoff_grows_and_is_capped():
    delays = [services.backoff_seconds(n) for n in range(1, 15)]
    assert 8 <= delays[0] <= 12
    assert all(d <= 3600 for d in delays)
    assert delays[-1] >= 3600 * 0.8


def test_client_errors_are_retried_too(receiver, make_webhook, frozen_time):
    make_webhook(receiver.url)
    receiver.statuses = [400]
    org_created()
    row = OutboxMessage.objects.get()
    assert services.deliver(row.pk) == "retry"
    row.refresh_from_db()
    assert row.attempts == 1 and "HTTP 400" in row.last_error


def test_permanent_failure_after_max_attempts(receiver, make_webhook, frozen_time, settings):
    settings.OUTBOX_MAX_ATTEMPTS = 3
    make_webhook(receiver.url)
    receiver.default_status = 500
    org_created()
    row = OutboxMessage.objects.get()
    outcomes = []
    for _ in range(5):
        outcomes.append(services.deliver(row.pk))
        frozen_time.advance(3600)
    assert outcomes == ["retry", "retry", "failed", "skipped", "skipped"]
    row.refresh_from_db()
    assert row.status == "failed" and row.attempts == 3
    assert "gave up after 3 attempts" in row.last_error
    assert len(receiver.requests) == 3
    assert services.sweep_outbox() == 0  # failed rows are never swept


def test_unreachable_target_is_retried(make_webhook, frozen_time):
    from tests.conftest import free_port

    make_webhook(f"http://127.0.0.1:{free_port()}/nobody-listens")
    org_created()
    row = OutboxMessage.objects.get()
    assert services.deliver(row.pk) == "retry"
    row.refresh_from_db()
    assert row.attempts == 1 and "URLError" in row.last_error


def test_410_fails_at_once_and_deactivates_the_webhook(receiver, make_webhook, frozen_time):
    hook = make_webhook(receiver.url)
    receiver.statuses = [410]
    org_created()
    row = OutboxMessage.objects.get()
    assert services.deliver(row.pk) == "failed"
    row.refresh_from_db()
    hook.refresh_from_db()
    assert row.status == "failed" and row.attempts == 1 and "410" in row.last_error
    assert hook.active is False
    audit = AuditEvent.objects.get(type="webhook.changed", subject_id=hook.pk)
    assert (audit.field, audit.old, audit.new) == ("active", True, False)
    # a deactivated webhook gets no new rows
    org_created(org_id=42)
    assert OutboxMessage.objects.count() == 1


def test_redirects_are_not_followed(receiver, make_webhook, frozen_time):
    make_webhook(receiver.url)
    receiver.statuses = [302]
    org_created()
    row = OutboxMessage.objects.get()
    assert services.deliver(row.pk) == "retry"
    assert len(receiver.requests) == 1


def test_a_leased_row_is_not_sent_until_the_lease_expires(receiver, make_webhook, frozen_time):
    make_webhook(receiver.url)
    org_created()
    row = OutboxMessage.objects.get()
    lease = frozen_time.now() + __import__("datetime").timedelta(seconds=services.lease_seconds())
    OutboxMessage.objects.filter(pk=row.pk).update(claimed_until=lease)  # another deliverer
    assert services.deliver(row.pk) == "skipped"
    assert services.sweep_outbox() == 0
    assert receiver.requests == []
    frozen_time.advance(services.lease_seconds() + 1)
    assert services.deliver(row.pk) == "sent"
    assert len(receiver.requests) == 1


def test_sweeper_requeues_only_rows_left_behind(
    receiver, make_webhook, frozen_time, settings, django_capture_on_commit_callbacks
):
    settings.OUTBOX_SWEEP_AFTER_SECONDS = 60
    make_webhook(receiver.url)
    org_created()  # committed, but the doorbell (on_commit) never rang: a lost enqueue
    row = OutboxMessage.objects.get()
    assert services.sweep_outbox() == 0  # just enqueued: a healthy queue is not doubled
    frozen_time.advance(30)
    assert services.sweep_outbox() == 0
    frozen_time.advance(31)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.sweep_outbox() == 1  # immediate queue in tests: delivers now
    row.refresh_from_db()
    assert row.status == "sent"
    assert services.sweep_outbox() == 0

    # a failed attempt schedules its own retry; the sweeper waits past next_attempt_at
    receiver.statuses = [500]
    org_created(org_id=99)
    second = OutboxMessage.objects.get(status="pending")
    assert services.deliver(second.pk) == "retry"
    second.refresh_from_db()
    frozen_time.advance((second.next_attempt_at - frozen_time.now()).total_seconds())
    assert services.sweep_outbox() == 0
    frozen_time.advance(61)
    assert services.sweep_outbox() == 1
    second.refresh_from_db()
    assert second.status == "sent"
    assert receiver.keys().count(second.idempotency_key) == 2


def test_deleted_or_inactive_webhook_fails_its_pending_rows(receiver, make_webhook, frozen_time):
    hook = make_webhook(receiver.url)
    org_created()
    row = OutboxMessage.objects.get()
    Webhook.objects.filter(pk=hook.pk).update(active=False)
    assert services.deliver(row.pk) == "failed"
    row.refresh_from_db()
    assert row.last_error == "the webhook is inactive"
    assert receiver.requests == []


@pytest.mark.django_db(transaction=True)
def test_two_deliverers_at_once_send_one_request(receiver, make_webhook, frozen_time):
    """Two threads (two DB connections) race for one row: the claim lets one through."""
    make_webhook(receiver.url)
    receiver.statuses = [500]
    org_created()  # committed for real: the doorbell rings, the first attempt fails
    row = OutboxMessage.objects.get()
    assert row.attempts == 1 and row.status == "pending"
    frozen_time.advance(3600)
    receiver.requests.clear()
    receiver.delay = 0.3
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def run():
        try:
            barrier.wait(timeout=10)
            outcomes.append(services.deliver(row.pk))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == ["sent", "skipped"]
    assert len(receiver.requests) == 1
    assert OutboxMessage.objects.get().status == "sent"


def test_time_source_is_the_product_clock(frozen_time):
    assert timesource.now() == frozen_time.now()
