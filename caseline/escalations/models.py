"""Managed escalations: the long-running, high-impact customer situation (SPEC §5).

Tables only; every change goes through ``services.py`` (docs/escalations.md).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from caseline.timesource import now


class EscalationType(models.Model):
    """A kind of escalation with its documented procedure (a checklist template)."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True, default="")
    checklist = models.JSONField(default=list, blank=True, help_text="Step titles, in order.")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Escalation(models.Model):
    """open -> active -> monitoring -> resolved -> closed (legal moves: ``TRANSITIONS``)."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACTIVE = "active", "Active"
        MONITORING = "monitoring", "Monitoring"
        RESOLVED = "resolved", "Resolved"
        CLOSED = "closed", "Closed"

    class Source(models.TextChoices):
        TICKET = "ticket", "Opened from a ticket"
        DIRECT = "direct", "Opened directly"
        REQUEST = "request", "Accepted request"
        SLA_BREACH = "sla_breach", "SLA breach action"

    title = models.CharField(max_length=300)
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="escalations"
    )
    tickets = models.ManyToManyField("tickets.Ticket", blank=True, related_name="escalations")
    type = models.ForeignKey(
        EscalationType, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    severity = models.PositiveSmallIntegerField(default=2)
    business_impact = models.TextField(blank=True, default="")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    source = models.CharField(max_length=12, choices=Source.choices, default=Source.DIRECT)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_escalations",
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    root_cause = models.TextField(blank=True, default="")
    opened_at = models.DateTimeField(default=now)
    active_at = models.DateTimeField(null=True, blank=True)
    monitoring_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "id"], name="esc_status_idx"),
            models.Index(fields=["organization", "status"], name="esc_org_status_idx"),
            models.Index(fields=["owner", "status"], name="esc_owner_status_idx"),
        ]

    def __str__(self) -> str:
        return f"ESC-{self.pk}: {self.title}"

    @property
    def reference(self) -> str:
        return f"ESC-{self.pk}"


class EscalationRequest(models.Model):
    """The intake form: any staff member asks; an escalation manager accepts or declines."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.PROTECT, related_name="+"
    )
    tickets = models.ManyToManyField("tickets.Ticket", blank=True, related_name="+")
    severity = models.PositiveSmallIntegerField(default=2)
    business_impact = models.TextField()
    reason = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="escalation_requests"
    )
    requested_at = models.DateTimeField(default=now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decline_reason = models.TextField(blank=True, default="")
    escalation = models.ForeignKey(
        Escalation, null=True, blank=True, on_delete=models.SET_NULL, related_name="requests"
    )

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "id"], name="escreq_status_idx")]

    def __str__(self) -> str:
        return f"Request #{self.pk} for {self.organization_id} ({self.status})"


class ChecklistStep(models.Model):
    escalation = models.ForeignKey(Escalation, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    title = models.CharField(max_length=300)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["escalation", "position"]
        constraints = [
            models.UniqueConstraint(fields=["escalation", "position"], name="esc_step_position")
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.title}"


class Stakeholder(models.Model):
    """One role held by one person in one escalation, with its history: a role is assumed
    (``assumed_at``) and later renounced (``renounced_at``); rows are never deleted.
    Exactly one of ``contact`` (customer side) and ``user`` (internal participant)."""

    CUSTOMER_ROLES = ("decision_maker", "executive_sponsor", "technical_lead", "day_to_day")
    INTERNAL_ROLES = ("sme", "engineering_lead", "field_leadership", "executive_sponsor")

    escalation = models.ForeignKey(
        Escalation, on_delete=models.CASCADE, related_name="stakeholders"
    )
    contact = models.ForeignKey(
        "accounts.Contact", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="escalation_roles",
    )
    role = models.CharField(max_length=30)
    involvement = models.CharField(max_length=300, blank=True, default="")
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assumed_at = models.DateTimeField(default=now)
    renounced_at = models.DateTimeField(null=True, blank=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["escalation", "assumed_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(contact__isnull=True, user__isnull=False)
                | Q(contact__isnull=False, user__isnull=True),
                name="esc_stakeholder_one_person",
            ),
            models.UniqueConstraint(
                fields=["escalation", "contact", "role"],
                condition=Q(renounced_at__isnull=True, contact__isnull=False),
                name="esc_stakeholder_contact_role_once",
            ),
            models.UniqueConstraint(
                fields=["escalation", "user", "role"],
                condition=Q(renounced_at__isnull=True, user__isnull=False),
                name="esc_stakeholder_user_role_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.contact_id or self.user_id}"

    @property
    def side(self) -> str:
        return "customer" if self.contact_id else "internal"


class Cadence(models.Model):
    """A recurring obligation: a customer update every N, an internal sync every M.

    ``cycle`` numbers the occurrences (each one's timers have their own keys);
    ``next_due_at`` is the stored next-due time; business time counts on ``calendar``."""

    class Kind(models.TextChoices):
        CUSTOMER_UPDATE = "customer_update", "Customer update"
        INTERNAL_SYNC = "internal_sync", "Internal sync"

    escalation = models.ForeignKey(Escalation, on_delete=models.CASCADE, related_name="cadences")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    every_seconds = models.PositiveIntegerField()
    business = models.BooleanField(default=False)
    calendar = models.CharField(max_length=100, default="24x7")
    reminder_seconds = models.PositiveIntegerField(default=1800)
    active = models.BooleanField(default=True)
    cycle = models.PositiveIntegerField(default=0)
    next_due_at = models.DateTimeField(null=True, blank=True)
    last_done_at = models.DateTimeField(null=True, blank=True)
    missed_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["escalation", "kind"], name="esc_cadence_kind_once")
        ]

    def __str__(self) -> str:
        return f"{self.kind} every {self.every_seconds} s"


class CadenceEntry(models.Model):
    """The cadence's log: an update recorded, a reminder sent, a due time missed."""

    class Kind(models.TextChoices):
        DONE = "done", "Recorded"
        REMINDED = "reminded", "Reminder sent"
        MISSED = "missed", "Missed"

    cadence = models.ForeignKey(Cadence, on_delete=models.CASCADE, related_name="entries")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    cycle = models.PositiveIntegerField()
    due_at = models.DateTimeField(null=True, blank=True)
    at = models.DateTimeField(default=now)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField(blank=True, default="")
    next_due_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["cadence", "id"]

    def __str__(self) -> str:
        return f"{self.kind} cycle {self.cycle}"


class Commitment(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    escalation = models.ForeignKey(Escalation, on_delete=models.CASCADE, related_name="commitments")
    what = models.CharField(max_length=500)
    to_whom = models.CharField(max_length=300)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="escalation_commitments"
    )
    due_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(default=now)
    done_at = models.DateTimeField(null=True, blank=True)
    overdue_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["escalation", "due_at", "id"]

    def __str__(self) -> str:
        return f"{self.what} (due {self.due_at:%Y-%m-%d})"


class CommitmentSlip(models.Model):
    """A moved due date: from, to, why, who, when, and the customer notice drafted for
    review (also sent to the internal stakeholders through the outbox)."""

    commitment = models.ForeignKey(Commitment, on_delete=models.CASCADE, related_name="slips")
    old_due_at = models.DateTimeField()
    new_due_at = models.DateTimeField()
    reason = models.TextField()
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(default=now)
    draft_notice = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["commitment", "id"]

    def __str__(self) -> str:
        return f"slip {self.old_due_at:%Y-%m-%d} -> {self.new_due_at:%Y-%m-%d}"
