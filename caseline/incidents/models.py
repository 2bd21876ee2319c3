"""Critical incidents: the Sev-1 that hits many customers at once (SPEC §6).

Tables only; every change goes through ``services.py`` (docs/incidents.md).
Sections: the incident itself (below); roles, tasks, timeline and paging; broadcasts and
the status page; multi-customer detection — each added by its own migration.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from caseline.timesource import now


class Incident(models.Model):
    """investigating -> identified -> monitoring -> resolved -> closed (order validated
    by ``services.TRANSITIONS``); each status keeps the moment it was reached."""

    class Status(models.TextChoices):
        INVESTIGATING = "investigating", "Investigating"
        IDENTIFIED = "identified", "Identified"
        MONITORING = "monitoring", "Monitoring"
        RESOLVED = "resolved", "Resolved"
        CLOSED = "closed", "Closed"

    class Source(models.TextChoices):
        TICKET = "ticket", "Declared from a ticket"
        TICKETS = "tickets", "Declared from several tickets"
        DIRECT = "direct", "Declared directly"
        DETECTION = "detection", "Proposed by multi-customer detection"

    title = models.CharField(max_length=300)
    summary = models.TextField(blank=True, default="")
    severity = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=14, choices=Status.choices, default=Status.INVESTIGATING)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.DIRECT)
    tickets = models.ManyToManyField("tickets.Ticket", blank=True, related_name="incidents")
    product_areas = models.ManyToManyField(
        "accounts.ProductArea", blank=True, related_name="incidents"
    )
    organizations = models.ManyToManyField(
        "accounts.Organization", blank=True, related_name="incidents"
    )
    # The single point of contact shown to everyone, and the named case owner of a Sev-1.
    # Their history is kept by the role rows; these are the current holders.
    incident_manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="managed_incidents",
    )
    case_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_incidents",
    )
    declared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    declared_at = models.DateTimeField(default=now)
    identified_at = models.DateTimeField(null=True, blank=True)
    monitoring_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "id"], name="inc_status_idx"),
            models.Index(fields=["severity", "status"], name="inc_sev_status_idx"),
        ]

    def __str__(self) -> str:
        return f"INC-{self.pk}: {self.title}"

    @property
    def reference(self) -> str:
        return f"INC-{self.pk}"
