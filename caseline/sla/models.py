from __future__ import annotations

from django.db import models
from django.db.models import Q

from caseline.timesource import now


class Timer(models.Model):
    """Something that must happen at a time: an SLA warning or breach, an ETA reminder, an
    escalation cadence, a commitment, a handoff, an action item.

    ``key`` is unique: scheduling the same key again moves the timer (or does nothing), and
    a fired timer never fires again. The clock loop (``caseline clock``) claims due rows and
    runs the handler registered for ``kind`` (see ``caseline.sla.timers``).

    A timer is *pending* while ``fired_at``, ``cancelled_at`` and ``failed_at`` are empty;
    the partial index ``timer_pending_due_idx`` holds only those rows, so the clock's
    "what is due" and "when is the next one" queries stay small however many fired timers
    accumulate.
    """

    subject_type = models.CharField(max_length=40)
    subject_id = models.BigIntegerField()
    kind = models.CharField(max_length=60)
    due_at = models.DateTimeField()
    key = models.CharField(max_length=200, unique=True)
    payload = models.JSONField(default=dict, blank=True)
    fired_at = models.DateTimeField(null=True, blank=True)
    # Not claimable before this instant: the back-off after a failed attempt (the row's
    # due_at stays the business moment).
    claimed_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=now)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # Set when the handler failed TIMER_MAX_ATTEMPTS times; "retry" in the admin re-arms it.
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["due_at"],
                name="timer_pending_due_idx",
                condition=Q(
                    fired_at__isnull=True, cancelled_at__isnull=True, failed_at__isnull=True
                ),
            ),
            models.Index(fields=["subject_type", "subject_id"], name="timer_subject_idx"),
        ]

    def __str__(self) -> str:
        return (
            f"{self.kind} {self.subject_type}#{self.subject_id} due {self.due_at:%Y-%m-%d %H:%M:%S}"
        )

    @property
    def state(self) -> str:
        if self.fired_at:
            return "fired"
        if self.cancelled_at:
            return "cancelled"
        if self.failed_at:
            return "failed"
        return "pending"
