from __future__ import annotations

from django.conf import settings
from django.db import models

from caseline.timesource import now


class Webhook(models.Model):
    """A subscription: matching domain events are POSTed as signed JSON."""

    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=128, help_text="HMAC-SHA256 signing secret.")
    event_types = models.JSONField(
        default=list, blank=True, help_text='Event types to send; ["*"] for all.'
    )
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def wants(self, event_type: str) -> bool:
        return self.active and ("*" in self.event_types or event_type in self.event_types)


class OutboxMessage(models.Model):
    """A side effect (email, webhook call) written in the transaction that caused it.

    After commit a huey task carrying only ``id`` delivers it; the sweeper re-enqueues rows
    left behind. ``idempotency_key`` travels with every attempt (webhook header
    ``Idempotency-Key``, the email's ``Message-ID``) so a retried delivery is recognisable.
    """

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed permanently"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    idempotency_key = models.CharField(max_length=200, unique=True)
    payload = models.JSONField(default=dict)
    webhook = models.ForeignKey(
        Webhook, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    subject_type = models.CharField(max_length=40, blank=True, default="")
    subject_id = models.BigIntegerField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=now)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=now)
    sent_at = models.DateTimeField(null=True, blank=True)
    # What the row carries (a domain event type, "ping", or "" for plain email); for lists.
    event_type = models.CharField(max_length=60, blank=True, default="")
    # Lease: a deliverer owns the row until this instant, so two never send it at once.
    claimed_until = models.DateTimeField(null=True, blank=True)
    # When the row was last handed to the queue; the sweeper leaves recent ones alone.
    enqueued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="outbox_due_idx"),
            models.Index(fields=["subject_type", "subject_id"], name="outbox_subject_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.idempotency_key} ({self.status})"
