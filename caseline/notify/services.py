"""Outbox and webhooks: side effects written in the caller's transaction, delivered after
commit, at least once, each with a stable idempotency key.

Writing (inside the caller's transaction):
  ``enqueue_email`` / ``enqueue_webhook`` insert an ``OutboxMessage`` row and register
  ``transaction.on_commit`` to hand only its id to the queue (``deliver_outbox``). A rolled
  back transaction leaves neither a row nor a task.

Delivering (``deliver(row_id)``, run by the huey task, outside any transaction):
  1. claim the row with one conditional UPDATE (pending, due, lease absent or expired) that
     sets ``claimed_until``; a deliverer that does not win the claim does nothing;
  2. send (email through Django's mail backend with Message-ID ``<key@domain>``, webhook as
     a signed POST with ``Idempotency-Key: key``);
  3. mark the row sent -- or, on failure, count the attempt, store the error and set
     ``next_attempt_at`` by exponential back-off with jitter (a huey task is scheduled for
     then); after ``OUTBOX_MAX_ATTEMPTS`` the row is failed for good. HTTP 410 from a
     webhook target fails the row at once and deactivates the webhook.
  A crash between 2 and 3 leaves the row pending with a lease; once the lease expires the
  sweeper hands it out again and the receiver sees the same key a second time.

Sweeping (``sweep_outbox``, every second from the clock loop, every minute from huey):
  re-enqueues rows that are pending, due, unleased and not handed to the queue within
  ``OUTBOX_SWEEP_AFTER_SECONDS``. The database is the source of truth; the queue is a
  doorbell.

Webhook configuration (create/update/delete, test pings, manual retries) is here too; each
of those is one transaction that appends its audit event.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.db.models.signals import post_delete, post_save

from caseline.audit.services import record
from caseline.errors import Conflict, NotFound, ValidationFailed
from caseline.events import EVENT_TYPES, DomainEvent
from caseline.timesource import now

from . import netguard, signing
from .models import OutboxMessage, Webhook

log = logging.getLogger(__name__)

USER_AGENT = "Caseline-Webhooks/1"
PING = "ping"
# Test hook: with CASELINE_FAULT=crash-after-send the delivering process exits right after
# a successful send and before the row is marked sent (the at-least-once crash test).
FAULT_ENV = "CASELINE_FAULT"
FAULT_CRASH_AFTER_SEND = "crash-after-send"
CRASH_EXIT_CODE = 70

BACKOFF_BASE_SECONDS = 10.0
BACKOFF_CAP_SECONDS = 3600.0
SWEEP_BATCH = 500
_ERROR_MAX = 2000

# --- writing rows (inside the caller's transaction) ------------------------------------


def _schedule_after_commit(row_id: int) -> None:
    def ring() -> None:
        from .tasks import deliver_outbox

        try:
            deliver_outbox(row_id)
        except Exception:  # the sweeper hands the row out later
            log.exception("could not enqueue outbox row %s; the sweeper will", row_id)

    transaction.on_commit(ring)


def email_row(
    *,
    key: str,
    to: list[str],
    subject: str,
    text: str,
    html: str = "",
    cc: list[str] | None = None,
    from_email: str | None = None,
    headers: dict[str, str] | None = None,
    subject_type: str = "",
    subject_id: int | None = None,
    bcc: list[str] | None = None,
    reply_to: list[str] | None = None,
    attachments: list[dict[str, str]] | None = None,
) -> OutboxMessage:
    """The (unsaved) outbox row of an email: what :func:`enqueue_email` writes, and what a
    caller writing many at once hands to :func:`enqueue_rows`.

    ``key`` is the stable idempotency key; it becomes the Message-ID's left part.
    ``attachments`` are ``{"filename", "content_type", "path"}`` with ``path`` a name in
    Django's default storage (read at delivery time, not copied into the row).
    """
    payload: dict[str, Any] = {
        "to": to,
        "cc": cc or [],
        "subject": subject,
        "text": text,
        "html": html,
        "from_email": from_email,
        "headers": headers or {},
    }
    if bcc:
        payload["bcc"] = bcc
    if reply_to:
        payload["reply_to"] = reply_to
    if attachments:
        payload["attachments"] = attachments
    return OutboxMessage(
        kind=OutboxMessage.Kind.EMAIL,
        idempotency_key=key,
        payload=payload,
        subject_type=subject_type,
        subject_id=subject_id,
        enqueued_at=now(),
    )


def enqueue_email(**fields: Any) -> OutboxMessage:
    """Write an email to the outbox (inside the caller's transaction); the arguments of
    :func:`email_row`. Writing the same key twice returns the existing row (no second
    email)."""
    row = email_row(**fields)
    saved, created = OutboxMessage.objects.get_or_create(
        idempotency_key=row.idempotency_key,
        defaults={
            "kind": row.kind,
            "payload": row.payload,
            "subject_type": row.subject_type,
            "subject_id": row.subject_id,
            "enqueued_at": row.enqueued_at,
        },
    )
    if created:
        _schedule_after_commit(saved.pk)
    return saved


def enqueue_rows(rows: list[OutboxMessage]) -> None:
    """Insert new outbox rows (from :func:`email_row`) in one statement, inside the
    caller's transaction, and after its commit ring ONE doorbell for all of them
    (``tasks.deliver_outbox_batch``: one queue entry instead of one per row). The keys
    must be new (a duplicate key fails the insert, and with it the transaction)."""
    if not rows:
        return
    OutboxMessage.objects.bulk_create(rows)
    ids = [row.pk for row in rows]

    def ring() -> None:
        from .tasks import deliver_outbox_batch

        try:
            deliver_outbox_batch(ids)
        except Exception:  # the sweeper hands the rows out later
            log.exception("could not enqueue outbox rows %s; the sweeper will", ids)

    transaction.on_commit(ring)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def webhook_body(key: str, event: DomainEvent) -> dict[str, Any]:
    """The JSON document POSTed for ``event`` (stored on the row, identical on retries)."""
    return {
        "id": key,
        "type": event.type,
        "occurred_at": _iso(event.at),
        "subject": {"type": event.subject_type, "id": event.subject_id},
        "actor_id": event.actor_id,
        "data": event.data,
    }


def enqueue_webhook(
    webhook: Webhook, event: DomainEvent, *, key: str | None = None
) -> OutboxMessage:
    """Write one webhook delivery of ``event`` to ``webhook`` (inside the caller's transaction).

    The key is ``wh-{webhook.id}-{event.audit_id}`` (a uuid4 when the event has no audit
    row), so enqueuing the same event twice returns the existing row.
    """
    if key is None:
        key = _webhook_key(webhook, event)
    row, created = OutboxMessage.objects.get_or_create(
        idempotency_key=key, defaults=_webhook_fields(webhook, event, key)
    )
    if created:
        _schedule_after_commit(row.pk)
    return row


def _webhook_key(webhook: Webhook, event: DomainEvent) -> str:
    if event.audit_id is not None:
        return f"wh-{webhook.pk}-{event.audit_id}"
    return f"wh-{webhook.pk}-{uuid.uuid4().hex}"


def _webhook_fields(webhook: Webhook, event: DomainEvent, key: str) -> dict[str, Any]:
    return {
        "kind": OutboxMessage.Kind.WEBHOOK,
        "webhook": webhook,
        "payload": webhook_body(key, event),
        "event_type": event.type,
        "subject_type": event.subject_type,
        "subject_id": event.subject_id,
        "enqueued_at": now(),
    }


def _forget_webhooks() -> None:
    connection = transaction.get_connection()
    connection.__dict__.pop("_caseline_webhooks", None)


def active_webhooks() -> list[Webhook]:
    """The active webhooks, read once per transaction (a ticket create publishes several
    events; each used to query them again).

    The list is kept on the connection with a marker callback registered by
    ``on_commit``: the cache is valid while that marker is still pending, so it dies when
    the transaction commits or rolls back (or the savepoint that read it rolls back).
    Outside a transaction every call reads the table. A webhook saved or deleted in the
    same transaction drops the list (signals below).
    """
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        return list(Webhook.objects.filter(active=True))
    cached = connection.__dict__.get("_caseline_webhooks")
    if cached is not None:
        marker, hooks = cached
        if any(entry[1] is marker for entry in connection.run_on_commit):
            return hooks
    hooks = list(Webhook.objects.filter(active=True))

    def marker() -> None:
        connection.__dict__.pop("_caseline_webhooks", None)

    transaction.on_commit(marker)
    connection.__dict__["_caseline_webhooks"] = (marker, hooks)
    return hooks


def _webhook_row_changed(*_args: Any, **_kwargs: Any) -> None:
    _forget_webhooks()


post_save.connect(_webhook_row_changed, sender=Webhook, dispatch_uid="notify-webhook-cache-save")
post_delete.connect(_webhook_row_changed, sender=Webhook, dispatch_uid="notify-webhook-cache-del")


def enqueue_webhooks_for_event(event: DomainEvent) -> list[OutboxMessage]:
    """One outbox row per active webhook that wants ``event`` (the webhooks are read
    once per transaction, see :func:`active_webhooks`)."""
    hooks = [w for w in active_webhooks() if w.wants(event.type)]
    if not hooks:
        return []
    # One INSERT for every webhook's row (a create publishes several events, each once:
    # their keys are new). Were one of them enqueued before (the same event published
    # twice), the savepoint is rolled back and each row goes through enqueue_webhook.
    rows = []
    for hook in hooks:
        key = _webhook_key(hook, event)
        rows.append(OutboxMessage(idempotency_key=key, **_webhook_fields(hook, event, key)))
    try:
        with transaction.atomic():
            OutboxMessage.objects.bulk_create(rows)
    except IntegrityError:
        return [enqueue_webhook(w, event) for w in hooks]
    for row in rows:
        _schedule_after_commit(row.pk)
    return rows


# --- delivering --------------------------------------------------------------------------


class DeliveryError(Exception):
    """A failed attempt; ``permanent`` ones are not retried."""

    def __init__(self, message: str, *, permanent: bool = False, gone: bool = False):
        super().__init__(message)
        self.permanent = permanent
        self.gone = gone


def lease_seconds() -> float:
    configured = getattr(settings, "OUTBOX_LEASE_SECONDS", None)
    if configured:
        return float(configured)
    slowest = max(float(settings.WEBHOOK_TIMEOUT_SECONDS), float(settings.EMAIL_TIMEOUT or 0))
    return max(60.0, 3 * slowest)


def backoff_seconds(attempts: int, *, rng: random.Random | None = None) -> float:
    """Delay before the next try after ``attempts`` failed ones: 10 s * 2^(n-1) capped at
    1 h, with +-20 % jitter so many failing rows do not retry in lock step."""
    base = float(getattr(settings, "OUTBOX_BACKOFF_BASE_SECONDS", BACKOFF_BASE_SECONDS))
    cap = float(getattr(settings, "OUTBOX_BACKOFF_CAP_SECONDS", BACKOFF_CAP_SECONDS))
    raw = min(cap, base * (2 ** max(0, attempts - 1)))
    jitter = (rng or random).uniform(0.8, 1.2)
    return min(cap, raw * jitter)


def _claim(row_id: int) -> datetime | None:
    """Take the lease on a due pending row; None when someone else has it or it is not due."""
    current = now()
    until = current + timedelta(seconds=lease_seconds())
    claimed = (
        OutboxMessage.objects.filter(
            pk=row_id, status=OutboxMessage.Status.PENDING, next_attempt_at__lte=current
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=current))
        .update(claimed_until=until)
    )
    return until if claimed == 1 else None


def message_id(key: str) -> str:
    """The email's Message-ID for an idempotency key: the same on every retry."""
    local = key if re.fullmatch(r"[A-Za-z0-9._+=-]{1,200}", key) else None
    if local is None:
        local = "k" + hashlib.sha256(key.encode()).hexdigest()[:40]
    return f"<{local}@{settings.CASELINE_MAIL_DOMAIN}>"


def build_email(row: OutboxMessage) -> EmailMultiAlternatives:
    p = row.payload
    headers = dict(p.get("headers") or {})
    headers = {k: v for k, v in headers.items() if k.lower() != "message-id"}
    headers["Message-ID"] = message_id(row.idempotency_key)
    msg = EmailMultiAlternatives(
        subject=p.get("subject", ""),
        body=p.get("text", ""),
        from_email=p.get("from_email") or settings.DEFAULT_FROM_EMAIL,
        to=list(p.get("to") or []),
        cc=list(p.get("cc") or []),
        bcc=list(p.get("bcc") or []),
        reply_to=list(p.get("reply_to") or []),
        headers=headers,
    )
    if p.get("html"):
        msg.attach_alternative(p["html"], "text/html")
    for item in p.get("attachments") or []:
        from django.core.files.storage import default_storage

        with default_storage.open(item["path"], "rb") as fh:
            msg.attach(item.get("filename") or "attachment", fh.read(), item.get("content_type"))
    return msg


def _send_email(row: OutboxMessage) -> None:
    msg = build_email(row)
    if not msg.recipients():
        raise DeliveryError("the email has no recipients", permanent=True)
    try:
        sent = get_connection(fail_silently=False).send_messages([msg])
    except Exception as exc:
        raise DeliveryError(f"{exc.__class__.__name__}: {exc}")
    if sent == 0:
        raise DeliveryError("the mail backend did not send the message")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102
        return None  # a redirect is an answer like any other non-2xx: retried


# Only public addresses, checked when connecting (caseline.notify.netguard).
_opener = netguard.build_opener(_NoRedirect)


def signed_request(row: OutboxMessage, webhook: Webhook) -> urllib.request.Request:
    body = json.dumps(row.payload, separators=(",", ":"), sort_keys=True).encode()
    timestamp = int(now().timestamp())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Idempotency-Key": row.idempotency_key,
        "X-Caseline-Event": row.payload.get("type", row.event_type),
        "X-Caseline-Timestamp": str(timestamp),
        "X-Caseline-Signature": signing.compute_signature(webhook.secret, timestamp, body),
    }
    return urllib.request.Request(webhook.url, data=body, headers=headers, method="POST")


def _send_webhook(row: OutboxMessage) -> None:
    webhook = row.webhook
    if webhook is None:
        raise DeliveryError("the webhook was deleted", permanent=True)
    if not webhook.active:
        raise DeliveryError("the webhook is inactive", permanent=True)
    request = signed_request(row, webhook)
    try:
        with _opener.open(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:
            response.read(65536)
            status = response.status
    except urllib.error.HTTPError as exc:
        try:
            detail = exc.read(500).decode("utf-8", "replace")
        except Exception:
            detail = ""
        finally:
            exc.close()
        message = f"HTTP {exc.code} from target" + (f": {detail}" if detail else "")
        if exc.code == 410:
            raise DeliveryError(message, permanent=True, gone=True)
        raise DeliveryError(message)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, netguard.BlockedAddress) or isinstance(exc, netguard.BlockedAddress):
            raise DeliveryError(str(reason), permanent=True)
        raise DeliveryError(f"{exc.__class__.__name__}: {reason}")
    if not 200 <= status < 300:
        raise DeliveryError(f"HTTP {status} from target")


def _fault_after_send() -> None:
    """Test hook (crash test only): die after a successful send, before marking the row.

    Set CASELINE_FAULT=crash-after-send in a worker's environment to simulate a worker
    killed between the two; the row stays pending and is delivered again with the same
    idempotency key. Never set in production.
    """
    if os.environ.get(FAULT_ENV) == FAULT_CRASH_AFTER_SEND:
        os._exit(CRASH_EXIT_CODE)


def _deactivate_gone_webhook(webhook_id: int, reason: str) -> None:
    with transaction.atomic():
        hook = Webhook.objects.select_for_update().filter(pk=webhook_id, active=True).first()
        if hook is None:
            return
        hook.active = False
        hook.save(update_fields=["active"])
        record(
            "webhook.changed",
            "webhook",
            hook.pk,
            changes={"active": (True, False)},
            data={"name": hook.name, "reason": reason},
        )


def deliver(row_id: int) -> str:
    """Deliver one outbox row; returns "sent", "retry", "failed" or "skipped"."""
    lease = _claim(row_id)
    if lease is None:
        return "skipped"
    row = OutboxMessage.objects.select_related("webhook").get(pk=row_id)
    try:
        if row.kind == OutboxMessage.Kind.EMAIL:
            _send_email(row)
        else:
            _send_webhook(row)
    except DeliveryError as exc:
        return _record_failure(row, str(exc), permanent=exc.permanent, gone=exc.gone)
    except Exception as exc:  # a bug or an unexpected library error: retried like the rest
        log.exception("outbox row %s: unexpected delivery error", row_id)
        return _record_failure(row, f"{exc.__class__.__name__}: {exc}")
    _fault_after_send()
    OutboxMessage.objects.filter(pk=row_id).update(
        status=OutboxMessage.Status.SENT,
        sent_at=now(),
        attempts=row.attempts + 1,
        last_error="",
        claimed_until=None,
    )
    return "sent"


def _record_failure(
    row: OutboxMessage, error: str, *, permanent: bool = False, gone: bool = False
) -> str:
    attempts = row.attempts + 1
    current = now()
    final = permanent or attempts >= settings.OUTBOX_MAX_ATTEMPTS
    if gone and row.webhook_id:
        _deactivate_gone_webhook(row.webhook_id, error[:200])
    if final:
        if not permanent:
            error = f"{error} (gave up after {attempts} attempts)"
        OutboxMessage.objects.filter(pk=row.pk).update(
            status=OutboxMessage.Status.FAILED,
            attempts=attempts,
            last_error=error[:_ERROR_MAX],
            claimed_until=None,
        )
        return "failed"
    delay = backoff_seconds(attempts)
    due = current + timedelta(seconds=delay)
    OutboxMessage.objects.filter(pk=row.pk).update(
        attempts=attempts,
        last_error=error[:_ERROR_MAX],
        next_attempt_at=due,
        claimed_until=None,
        enqueued_at=due,  # the scheduled task below is the doorbell; sweeper is the net
    )
    try:
        from .tasks import deliver_outbox

        deliver_outbox.schedule(args=(row.pk,), delay=delay + 1)
    except Exception:
        log.exception("could not schedule retry of outbox row %s; the sweeper will", row.pk)
    return "retry"


# --- sweeping ----------------------------------------------------------------------------


def sweep_outbox(limit: int = SWEEP_BATCH) -> int:
    """Re-enqueue pending, due, unleased rows not handed to the queue recently.

    One indexed query (``outbox_due_idx``: status, next_attempt_at) when nothing is left
    behind -- the common case, every second; a marking UPDATE only when something is.
    """
    current = now()
    stale = current - timedelta(seconds=settings.OUTBOX_SWEEP_AFTER_SECONDS)
    ids = list(
        OutboxMessage.objects.filter(
            status=OutboxMessage.Status.PENDING, next_attempt_at__lte=current
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=current))
        .filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=stale))
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )
    if not ids:
        return 0
    OutboxMessage.objects.filter(id__in=ids).update(enqueued_at=current)
    from .tasks import deliver_outbox

    for row_id in ids:
        deliver_outbox(row_id)
    return len(ids)


# --- webhook configuration (services called by the API and the admin) --------------------

_url_validator = URLValidator(schemes=["http", "https"])


def clean_name_and_url(
    data: dict[str, Any], *, creating: bool, what: str = "webhooks"
) -> tuple[dict[str, Any], dict[str, str]]:
    """The ``name`` and ``url`` of an outgoing hook (webhooks, chat webhooks): the cleaned
    values and the field errors. The URL must be http(s), valid, and (unless
    ``WEBHOOK_ALLOW_PRIVATE``) point at a public address (SSRF guard, checked again at
    delivery)."""
    fields: dict[str, str] = {}
    out: dict[str, Any] = {}
    if "name" in data or creating:
        name = data.get("name")
        name = name.strip() if isinstance(name, str) else ""
        if not name:
            fields["name"] = "required"
        elif len(name) > 100:
            fields["name"] = "at most 100 characters"
        out["name"] = name
    if "url" in data or creating:
        url = data.get("url")
        url = url.strip() if isinstance(url, str) else ""
        if not url:
            fields["url"] = "required"
        elif len(url) > 500:
            fields["url"] = "at most 500 characters"
        elif urlsplit(url).scheme.lower() not in {"http", "https"}:
            fields["url"] = "must be an http or https URL"
        else:
            try:
                _url_validator(url)
            except DjangoValidationError:
                fields["url"] = "not a valid URL"
            else:
                problem = netguard.url_problem(url)
                if problem:
                    fields["url"] = (
                        f"{problem}; {what} may only target public addresses "
                        "(WEBHOOK_ALLOW_PRIVATE allows others)"
                    )
        out["url"] = url
    return out, fields


def clean_webhook_fields(data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    out, fields = clean_name_and_url(data, creating=creating)
    if "event_types" in data or creating:
        types = data.get("event_types")
        if not isinstance(types, list) or not types:
            fields["event_types"] = 'a non-empty list of event types (or ["*"])'
        else:
            unknown = [
                t for t in types if not isinstance(t, str) or (t != "*" and t not in EVENT_TYPES)
            ]
            if unknown:
                fields["event_types"] = f"unknown event types: {', '.join(map(str, unknown))}"
            out["event_types"] = list(dict.fromkeys(t for t in types if isinstance(t, str)))
    if data.get("secret") is not None:
        secret = str(data["secret"])
        if not 16 <= len(secret) <= 128:
            fields["secret"] = "between 16 and 128 characters"
        out["secret"] = secret
    if "active" in data:
        if not isinstance(data["active"], bool):
            fields["active"] = "true or false"
        out["active"] = data["active"]
    if fields:
        detail = "; ".join(f"{k}: {v}" for k, v in fields.items())
        raise ValidationFailed(f"invalid webhook: {detail}", fields=fields)
    return out


def _public(hook: Webhook) -> dict[str, Any]:
    return {
        "name": hook.name,
        "url": hook.url,
        "event_types": list(hook.event_types),
        "active": hook.active,
    }


def create_webhook(*, actor: Any = None, **data: Any) -> tuple[Webhook, str]:
    """Create a webhook; returns it and its secret (generated unless given)."""
    clean = clean_webhook_fields(data, creating=True)
    secret = clean.pop("secret", None) or signing.generate_secret()
    with transaction.atomic():
        hook = Webhook.objects.create(
            secret=secret,
            created_by=actor if getattr(actor, "pk", None) else None,
            created_at=now(),
            **clean,
        )
        record(
            "webhook.changed",
            "webhook",
            hook.pk,
            actor=actor,
            data={"action": "created", **_public(hook)},
        )
    return hook, secret


def get_webhook(webhook_id: int) -> Webhook:
    hook = Webhook.objects.filter(pk=webhook_id).first()
    if hook is None:
        raise NotFound(f"webhook {webhook_id} not found")
    return hook


def update_webhook(webhook_id: int, *, actor: Any = None, **data: Any) -> Webhook:
    clean = clean_webhook_fields(data, creating=False)
    with transaction.atomic():
        hook = Webhook.objects.select_for_update().filter(pk=webhook_id).first()
        if hook is None:
            raise NotFound(f"webhook {webhook_id} not found")
        changes: dict[str, tuple[Any, Any]] = {}
        for field, value in clean.items():
            old = getattr(hook, field)
            if old != value:
                changes[field] = ("***", "***") if field == "secret" else (old, value)
                setattr(hook, field, value)
        if changes:
            hook.save(update_fields=list(changes))
            record(
                "webhook.changed",
                "webhook",
                hook.pk,
                actor=actor,
                changes=changes,
                data={"action": "updated"},
            )
    return hook


def delete_webhook(webhook_id: int, *, actor: Any = None) -> None:
    """Delete a webhook; its pending deliveries fail (kept for the record)."""
    with transaction.atomic():
        hook = Webhook.objects.select_for_update().filter(pk=webhook_id).first()
        if hook is None:
            raise NotFound(f"webhook {webhook_id} not found")
        OutboxMessage.objects.filter(webhook=hook, status=OutboxMessage.Status.PENDING).update(
            status=OutboxMessage.Status.FAILED, last_error="the webhook was deleted"
        )
        snapshot = _public(hook)
        hook.delete()
        record(
            "webhook.changed",
            "webhook",
            webhook_id,
            actor=actor,
            data={"action": "deleted", **snapshot},
        )


def send_test_ping(webhook_id: int, *, actor: Any = None) -> OutboxMessage:
    """Queue a "ping" delivery (its own key) to check that a target receives and verifies."""
    with transaction.atomic():
        hook = get_webhook(webhook_id)
        event = DomainEvent(
            type=PING,
            subject_type="webhook",
            subject_id=hook.pk,
            at=now(),
            actor_id=getattr(actor, "pk", None),
            data={"webhook_id": hook.pk, "name": hook.name},
        )
        return enqueue_webhook(hook, event, key=f"ping-{hook.pk}-{uuid.uuid4().hex}")


def retry_outbox(row_id: int, *, actor: Any = None) -> OutboxMessage:
    """Make a pending or failed row due now (a failed one gets one more attempt)."""
    with transaction.atomic():
        row = OutboxMessage.objects.select_for_update().filter(pk=row_id).first()
        if row is None:
            raise NotFound(f"outbox message {row_id} not found")
        if row.status == OutboxMessage.Status.SENT:
            raise Conflict("this message was already delivered")
        current = now()
        old_status = row.status
        attempts = row.attempts
        if row.status == OutboxMessage.Status.FAILED:
            # one more attempt, then failed again if it does not go through
            attempts = min(attempts, max(0, settings.OUTBOX_MAX_ATTEMPTS - 1))
        OutboxMessage.objects.filter(pk=row.pk).update(
            status=OutboxMessage.Status.PENDING,
            next_attempt_at=current,
            claimed_until=None,
            enqueued_at=current,
            attempts=attempts,
        )
        record(
            "outbox.retried",
            "outbox_message",
            row.pk,
            actor=actor,
            changes={"status": (old_status, OutboxMessage.Status.PENDING)}
            if old_status != OutboxMessage.Status.PENDING
            else None,
            data={"kind": row.kind, "idempotency_key": row.idempotency_key},
        )
        _schedule_after_commit(row.pk)
    row.refresh_from_db()
    return row
