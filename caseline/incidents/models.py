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
    # Status page and broadcast cadence (broadcasts part, docs/broadcasts.md).
    public = models.BooleanField(default=False)
    public_title = models.CharField(max_length=300, blank=True, default="")
    # The broadcast cadence: None = the severity's default (Sev-1: 1 h), 0 = no cadence.
    update_every_seconds = models.PositiveIntegerField(null=True, blank=True)
    next_update_at = models.DateTimeField(null=True, blank=True)
    update_cycle = models.PositiveIntegerField(default=0)

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


# --- incident roles, tasks, timeline, Sev-1 ownership, paging (services.py; 0002_core) ---


class IncidentRole(models.Model):
    """Who held which role when (Netflix Dispatch's participant roles): rows are never
    deleted; renouncing sets ``renounced_at``. Incident manager, case owner and
    communications lead have one holder at a time; SMEs any number (each person once)."""

    class Role(models.TextChoices):
        INCIDENT_MANAGER = "incident_manager", "Incident manager"
        CASE_OWNER = "case_owner", "Case owner"
        COMMUNICATIONS_LEAD = "communications_lead", "Communications lead"
        SME = "sme", "Subject-matter expert"

    SINGLE_HOLDER = ("incident_manager", "case_owner", "communications_lead")

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="roles")
    role = models.CharField(max_length=20, choices=Role.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    assumed_at = models.DateTimeField(default=now)
    renounced_at = models.DateTimeField(null=True, blank=True)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["assumed_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "role"],
                condition=models.Q(
                    renounced_at__isnull=True,
                    role__in=["incident_manager", "case_owner", "communications_lead"],
                ),
                name="inc_role_single_holder",
            ),
            models.UniqueConstraint(
                fields=["incident", "role", "user"],
                condition=models.Q(renounced_at__isnull=True),
                name="inc_role_once_per_person",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_role_display()}: {self.user_id} on INC-{self.incident_id}"


class OwnerHandoff(models.Model):
    """Handing the case owner role to someone: pending until that person acknowledges it
    (then they hold the ``case_owner`` role); a newer handoff cancels a pending one."""

    class State(models.TextChoices):
        PENDING = "pending", "Waiting for acknowledgement"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        CANCELLED = "cancelled", "Cancelled"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="handoffs")
    to_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    from_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    note = models.CharField(max_length=500, blank=True, default="")
    requested_at = models.DateTimeField(default=now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["requested_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident"],
                condition=models.Q(state="pending"),
                name="inc_one_pending_handoff",
            )
        ]

    def __str__(self) -> str:
        return f"handoff of INC-{self.incident_id} to {self.to_user_id} ({self.state})"


class OwnerTarget(models.Model):
    """The Sev-1 owner-assigned target of an incident: an acknowledged case owner is due
    by ``due_at`` (the SLA engine's Sev-1 ``owner_assigned`` target length, on its
    calendar). ``cycle`` counts restarts (the owner renounced); the timer key names it."""

    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, related_name="owner_target")
    seconds = models.PositiveIntegerField()
    calendar = models.CharField(max_length=80, default="24x7")
    cycle = models.PositiveIntegerField(default=1)
    started_at = models.DateTimeField(default=now)
    due_at = models.DateTimeField()
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"owner target of INC-{self.incident_id} ({self.state})"

    @property
    def state(self) -> str:
        if self.breached_at:
            return "breached"
        if self.fulfilled_at:
            return "fulfilled"
        if self.stopped_at:
            return "stopped"
        return "active"


class IncidentTask(models.Model):
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="tasks")
    title = models.CharField(max_length=300)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    due_at = models.DateTimeField(null=True, blank=True)
    done = models.BooleanField(default=False)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["done", "due_at", "id"]

    def __str__(self) -> str:
        return self.title


class TimelineEntry(models.Model):
    """The incident's story: an ``event`` entry written by every service, or a free-form
    ``note``; any entry may be pinned (pinned entries are shown first)."""

    class Kind(models.TextChoices):
        EVENT = "event", "Event"
        NOTE = "note", "Note"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="timeline")
    kind = models.CharField(max_length=5, choices=Kind.choices, default=Kind.EVENT)
    event_type = models.CharField(max_length=60, blank=True, default="")
    text = models.TextField()
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(default=now)
    pinned = models.BooleanField(default=False)
    pinned_at = models.DateTimeField(null=True, blank=True)
    pinned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["incident", "at"], name="inc_timeline_idx")]

    def __str__(self) -> str:
        return f"INC-{self.incident_id} {self.at:%Y-%m-%d %H:%M} {self.text[:60]}"


class PagingTarget(models.Model):
    """A paging or SMS gateway: every page is POSTed to its webhook (signed JSON through
    the outbox). The webhook row subscribes to no domain event (``event_types`` empty)."""

    name = models.CharField(max_length=100, unique=True)
    webhook = models.OneToOneField(
        "notify.Webhook", on_delete=models.CASCADE, related_name="paging_target"
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Page(models.Model):
    """One person paged for an incident. ``level``: 1 the on-duty person, 2.. the next
    people on the rota, then the manager. Without an acknowledgement by ``ack_due_at`` the
    page is ``escalated`` (the next level is paged); acknowledging any page of the chain
    stops it (a still waiting page becomes ``cancelled``)."""

    class State(models.TextChoices):
        SENT = "sent", "Sent"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        ESCALATED = "escalated", "Escalated (no acknowledgement)"
        CANCELLED = "cancelled", "Cancelled (chain stopped)"

    class Reason(models.TextChoices):
        ON_DUTY = "on_duty", "On duty"
        NEXT_ON_ROTA = "next_on_rota", "Next on the rota"
        MANAGER = "manager", "Manager"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="pages")
    chain = models.PositiveIntegerField(default=1)
    level = models.PositiveSmallIntegerField(default=1)
    reason = models.CharField(max_length=14, choices=Reason.choices)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    state = models.CharField(max_length=12, choices=State.choices, default=State.SENT)
    sent_at = models.DateTimeField(default=now)
    ack_due_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    escalated_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["chain", "level", "id"]
        indexes = [models.Index(fields=["incident", "state"], name="inc_page_state_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "chain", "recipient"], name="inc_page_once_per_chain"
            )
        ]

    # --- broadcasts and the status page
    # (caseline/incidents/broadcasts.py, statuspage.py; docs/broadcasts.md). Fields added to
    # Incident by migration 0003 are on the model above (public, public_title, the cadence).

    def __str__(self) -> str:
        return f"page {self.pk} of INC-{self.incident_id} to {self.recipient_id} ({self.state})"


class StatusComponent(models.Model):
    """A part of the product shown on the public status page. Its ``status`` is the worst
    impact of the live incidents on it (``statuspage.refresh_components``)."""

    class Status(models.TextChoices):
        OPERATIONAL = "operational", "Operational"
        DEGRADED = "degraded", "Degraded performance"
        PARTIAL = "partial_outage", "Partial outage"
        MAJOR = "major_outage", "Major outage"

    name = models.CharField(max_length=100, unique=True)
    group = models.CharField(max_length=100, blank=True, default="")
    description = models.CharField(max_length=300, blank=True, default="")
    position = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPERATIONAL)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["group", "position", "name"]

    def __str__(self) -> str:
        return self.name


class IncidentComponent(models.Model):
    """The impact an incident declares on a component (cleared when it is resolved)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="impacts")
    component = models.ForeignKey(StatusComponent, on_delete=models.CASCADE, related_name="impacts")
    status = models.CharField(max_length=16, choices=StatusComponent.Status.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["incident", "component"], name="inc_component_uniq")
        ]

    def __str__(self) -> str:
        return f"INC-{self.incident_id}: component {self.component_id} {self.status}"


class Broadcast(models.Model):
    """One update about an incident, written once: a public message on every linked
    ticket (emailed in its thread), the executive feed, chat webhooks and, when public,
    the status page and its subscribers."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="broadcasts")
    body = models.TextField()
    next_update_at = models.DateTimeField()
    public = models.BooleanField(default=False)
    channels = models.JSONField(default=list)
    incident_status = models.CharField(max_length=14, default="")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    ticket_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["created_at", "id"], name="inc_broadcast_feed_idx")]

    def __str__(self) -> str:
        return f"Broadcast {self.pk} of INC-{self.incident_id}"


class BroadcastTicket(models.Model):
    """The public message a broadcast put on one linked ticket (its email is the outbox
    row with subject ``message``/message id: the delivery state per recipient)."""

    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="tickets")
    ticket = models.ForeignKey("tickets.Ticket", on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(
        "tickets.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["broadcast", "ticket"], name="inc_bcast_ticket_uniq")
        ]

    def __str__(self) -> str:
        return f"broadcast {self.broadcast_id} on CL-{self.ticket_id}"


class ChatWebhook(models.Model):
    """A chat channel (Slack-compatible incoming webhook) that receives every broadcast.
    Delivered through the outbox by the backing notify ``Webhook`` row, which subscribes
    to no domain event (``event_types`` empty): only broadcasts post to it."""

    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    active = models.BooleanField(default=True)
    webhook = models.OneToOneField(
        "notify.Webhook", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class StatusSubscriber(models.Model):
    """An email address subscribed to the public status page (double opt-in)."""

    email = models.CharField(max_length=254, unique=True)
    token = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=now)
    confirmation_sent_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    @property
    def active(self) -> bool:
        return self.confirmed_at is not None and self.unsubscribed_at is None


# --- multi-customer detection (detection.py; 0004_detection) ---------------------------


class DetectionProposal(models.Model):
    """Tickets of other organizations that look like ``ticket`` (opened within the window
    before it), proposed for linking to one incident. One proposal per new ticket; the
    proposed tickets and their scores are the ``DetectionMatch`` rows."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        LINKED = "linked", "Linked to an incident"
        DISMISSED = "dismissed", "Dismissed"

    ticket = models.OneToOneField(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="detection_proposal"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    #: distinct organizations among the proposed tickets (the new ticket's excluded)
    organizations_count = models.PositiveIntegerField(default=0)
    top_score = models.FloatField(default=0.0)
    threshold = models.FloatField(default=0.0)
    incident = models.ForeignKey(
        Incident,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="detection_proposals",
    )
    created_at = models.DateTimeField(default=now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "id"], name="inc_detect_status_idx")]

    def __str__(self) -> str:
        return f"Detection proposal {self.pk} for CL-{self.ticket_id}"


class DetectionMatch(models.Model):
    """One proposed ticket of a proposal. ``direct``: similar to the new ticket on its
    own (else it came in as a member of a direct match's cluster)."""

    proposal = models.ForeignKey(
        DetectionProposal, on_delete=models.CASCADE, related_name="matches"
    )
    ticket = models.ForeignKey(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="detection_matches"
    )
    score = models.FloatField()
    direct = models.BooleanField(default=True)

    class Meta:
        ordering = ["-score", "id"]
        constraints = [
            models.UniqueConstraint(fields=["proposal", "ticket"], name="inc_detect_match_uniq")
        ]

    def __str__(self) -> str:
        return f"proposal {self.proposal_id}: CL-{self.ticket_id} ({self.score:.2f})"
