from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from caseline.timesource import now


class ETA(models.Model):
    """A promise made in a public reply: the next step by ``due_at``.

    pending -> met (a later public staff reply, or the ticket was solved)
            -> missed (``due_at`` passed while pending; the clock records it)
            -> superseded (a newer ETA on the same ticket replaced it)
    At most one ETA per ticket is pending.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        MET = "met", "Met"
        MISSED = "missed", "Missed"
        SUPERSEDED = "superseded", "Superseded"

    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="etas")
    message = models.ForeignKey(
        "tickets.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="etas",
    )
    due_at = models.DateTimeField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=now)
    reminded_at = models.DateTimeField(null=True, blank=True)
    missed_at = models.DateTimeField(null=True, blank=True)
    met_at = models.DateTimeField(null=True, blank=True)
    met_message = models.ForeignKey(
        "tickets.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    superseded_at = models.DateTimeField(null=True, blank=True)
    superseded_by = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["ticket", "-created_at", "-id"]
        indexes = [
            models.Index(fields=["ticket", "status"], name="eta_ticket_status_idx"),
            models.Index(fields=["owner", "status"], name="eta_owner_status_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["ticket"], condition=Q(status="pending"), name="eta_one_pending"
            )
        ]

    def __str__(self) -> str:
        return f"ETA {self.due_at:%Y-%m-%d %H:%M} on ticket {self.ticket_id} ({self.status})"
