"""Managed escalations: the long-running, high-impact customer situation (SPEC §5).

Tables only; every change goes through ``services.py`` (docs/escalations.md).
"""

from __future__ import annotations

from datetime import time as _time

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
    # Follow-the-sun handoffs: who holds the escalation on this shift (the receiver of the
    # last acknowledged handoff); the owner stays the escalation manager (handoffs part).
    acting_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="acting_escalations",
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    root_cause = models.TextField(blank=True, default="")
    # What the executive summary states as next steps and risks (edited by the owner).
    next_steps = models.TextField(blank=True, default="")
    risks = models.TextField(blank=True, default="")
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
    # A sent customer update: {"via": "stakeholders", "to": [...]} or {"via": "tickets",
    # "messages": [{"ticket", "message"}], "skipped": [...]} (calls-and-visits part).
    delivery = models.JSONField(default=dict, blank=True)

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


# --- calls and visits (caseline/escalations/calls.py) ------------------------------------------


class Call(models.Model):
    """A scheduled customer call, internal call or onsite visit of an escalation.

    ``uid`` is the calendar UID of the invitation (stable for the call's life) and
    ``sequence`` its iCalendar SEQUENCE, raised by every reschedule and by cancellation."""

    class Kind(models.TextChoices):
        CUSTOMER_CALL = "customer_call", "Customer call"
        INTERNAL_CALL = "internal_call", "Internal call"
        ONSITE_VISIT = "onsite_visit", "Onsite visit"

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        HELD = "held", "Held"
        CANCELLED = "cancelled", "Cancelled"

    escalation = models.ForeignKey(Escalation, on_delete=models.CASCADE, related_name="calls")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.CUSTOMER_CALL)
    title = models.CharField(max_length=300)
    agenda = models.TextField(blank=True, default="")
    location = models.CharField(
        max_length=500, blank=True, default="", help_text="Address, room or dial-in."
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    notes = models.TextField(blank=True, default="")
    uid = models.CharField(max_length=200, unique=True)
    sequence = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)
    held_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["escalation", "starts_at", "id"]
        indexes = [models.Index(fields=["escalation", "starts_at"], name="esc_call_start_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.title}"


class CallAttendee(models.Model):
    """Who is invited: a customer contact, a staff user, or a free email address. ``email``
    is the address the invitation went to (the contact's primary, the user's)."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="attendees")
    contact = models.ForeignKey(
        "accounts.Contact", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    email = models.EmailField()
    name = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["call", "id"]
        constraints = [
            models.UniqueConstraint(fields=["call", "email"], name="esc_call_attendee_once"),
            models.CheckConstraint(
                condition=Q(contact__isnull=True) | Q(user__isnull=True),
                name="esc_call_attendee_one_person",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email

    @property
    def side(self) -> str:
        return "customer" if self.contact_id else "internal" if self.user_id else "guest"


class ActionItem(models.Model):
    """Something agreed on a call: what, owner (staff), due; done with who and when.
    ``overdue_at`` is set when the owner was reminded (timer ``escalation.action_item_due``)."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="action_items")
    escalation = models.ForeignKey(
        Escalation, on_delete=models.CASCADE, related_name="action_items"
    )
    what = models.CharField(max_length=500)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="escalation_action_items"
    )
    due_at = models.DateTimeField()
    created_at = models.DateTimeField(default=now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    overdue_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["call", "due_at", "id"]

    def __str__(self) -> str:
        return f"{self.what} (due {self.due_at:%Y-%m-%d})"


# --- executive summaries (caseline/escalations/summaries.py) --------------------------------


class SummarySchedule(models.Model):
    """When an escalation's executive summary goes out: daily at ``send_time`` local time
    in ``time_zone`` (blank: the owner's region, else the owner's own zone, else the
    organization's region, else UTC). ``occurrence`` numbers the armed send (its two
    timers' keys name it); ``next_send_at`` is that send's UTC instant."""

    escalation = models.OneToOneField(
        Escalation, on_delete=models.CASCADE, related_name="summary_schedule"
    )
    active = models.BooleanField(default=True)
    send_time = models.TimeField(default=_time(17, 0))
    time_zone = models.CharField(max_length=64, blank=True, default="")
    lead_minutes = models.PositiveIntegerField(default=60)
    occurrence = models.PositiveIntegerField(default=0)
    next_send_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=now)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"daily at {self.send_time} {self.time_zone or '(owner zone)'}"


class ExecutiveSummary(models.Model):
    """One executive summary: a ``draft`` (at most one per escalation, editable, refreshed
    by the schedule while untouched) or ``sent`` (kept as sent, never changed)."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SENT = "sent", "Sent"

    escalation = models.ForeignKey(
        Escalation, on_delete=models.CASCADE, related_name="executive_summaries"
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT)
    subject = models.CharField(max_length=300)
    text = models.TextField()
    html = models.TextField()
    since = models.DateTimeField(null=True, blank=True, help_text="Covers changes after this.")
    last_event_id = models.BigIntegerField(
        null=True, blank=True, help_text="The last audit event of the escalation it covers."
    )
    generated_at = models.DateTimeField(default=now)
    generated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    edited_at = models.DateTimeField(null=True, blank=True)
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recipients = models.JSONField(default=list, blank=True)
    occurrence = models.PositiveIntegerField(
        null=True, blank=True, help_text="The schedule occurrence that sent it (None: by hand)."
    )

    class Meta:
        ordering = ["escalation", "-id"]
        indexes = [models.Index(fields=["escalation", "status", "id"], name="esc_summary_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["escalation"],
                condition=Q(status="draft"),
                name="esc_summary_one_draft",
            ),
            models.UniqueConstraint(
                fields=["escalation", "occurrence"],
                condition=Q(status="sent", occurrence__isnull=False),
                name="esc_summary_occurrence_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.status} summary of ESC-{self.escalation_id}"


# --- follow-the-sun handoffs (caseline/escalations/handoffs.py) --------------------------------


class Handoff(models.Model):
    """One item (a live escalation or an open Sev-1 ticket) handed from one region's shift to
    the next: pending -> handed (note + receiver) -> acknowledged; escalated to the managers
    when the note or the acknowledgement is late; cancelled when the item closed or a later
    shift end superseded it. Exactly one of ``escalation`` and ``ticket``."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        HANDED = "handed", "Handed"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        ESCALATED = "escalated", "Escalated"
        CANCELLED = "cancelled", "Cancelled"

    class Source(models.TextChoices):
        SHIFT_END = "shift_end", "Shift end"
        MANUAL = "manual", "Started by hand"

    escalation = models.ForeignKey(
        Escalation, null=True, blank=True, on_delete=models.CASCADE, related_name="handoffs"
    )
    ticket = models.ForeignKey(
        "tickets.Ticket", null=True, blank=True, on_delete=models.CASCADE, related_name="handoffs"
    )
    from_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_region = models.ForeignKey(
        "accounts.Region", on_delete=models.PROTECT, related_name="handoffs_out"
    )
    to_region = models.ForeignKey(
        "accounts.Region", on_delete=models.PROTECT, related_name="handoffs_in"
    )
    suggested_receiver = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    receiver = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="handoffs_to_acknowledge",
    )
    note = models.TextField(blank=True, default="")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.SHIFT_END)
    shift_end_at = models.DateTimeField(help_text="The shift end this handoff belongs to.")
    created_at = models.DateTimeField(default=now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note_due_at = models.DateTimeField(null=True, blank=True)
    hand_count = models.PositiveSmallIntegerField(default=0)
    handed_at = models.DateTimeField(null=True, blank=True)
    handed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ack_due_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    escalated_at = models.DateTimeField(null=True, blank=True)
    escalated_stage = models.CharField(max_length=10, blank=True, default="")
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "id"], name="esc_handoff_status_idx"),
            models.Index(fields=["from_user", "status"], name="esc_handoff_from_idx"),
            models.Index(fields=["receiver", "status"], name="esc_handoff_recv_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(escalation__isnull=True, ticket__isnull=False)
                | Q(escalation__isnull=False, ticket__isnull=True),
                name="esc_handoff_one_item",
            ),
            # One handoff per item and shift end: a shift-end timer firing twice adds nothing.
            models.UniqueConstraint(
                fields=["escalation", "from_region", "shift_end_at"],
                condition=Q(source="shift_end", escalation__isnull=False),
                name="esc_handoff_esc_shift_once",
            ),
            models.UniqueConstraint(
                fields=["ticket", "from_region", "shift_end_at"],
                condition=Q(source="shift_end", ticket__isnull=False),
                name="esc_handoff_ticket_shift_once",
            ),
        ]

    def __str__(self) -> str:
        return f"Handoff #{self.pk} of {self.item_reference} ({self.status})"

    @property
    def kind(self) -> str:
        return "escalation" if self.escalation_id else "ticket"

    @property
    def item_reference(self) -> str:
        if self.escalation_id:
            return f"ESC-{self.escalation_id}"
        return f"CL-{self.ticket_id}"
