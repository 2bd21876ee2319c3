from __future__ import annotations

from django.conf import settings
from django.db import models

from caseline.accounts.models import Contact, Organization, ProductArea, Team
from caseline.timesource import now

from .states import Status


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    WEB = "web", "Web form / portal"
    API = "api", "REST API"
    PHONE = "phone", "Phone (agent-created)"
    CHAT = "chat", "Chat (agent-created)"
    AGENT = "agent", "Agent-created"


class Priority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class Severity(models.IntegerChoices):
    SEV1 = 1, "Sev-1"
    SEV2 = 2, "Sev-2"
    SEV3 = 3, "Sev-3"
    SEV4 = 4, "Sev-4"


class Tag(models.Model):
    name = models.CharField(max_length=80, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Ticket(models.Model):
    subject = models.CharField(max_length=300)
    requester = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="tickets")
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.PROTECT, related_name="tickets"
    )
    product_area = models.ForeignKey(
        ProductArea, null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    severity = models.PositiveSmallIntegerField(choices=Severity.choices, default=Severity.SEV3)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEW)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.WEB)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_tickets",
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="tickets"
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="tickets")
    followers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="followed_tickets"
    )
    ccs = models.ManyToManyField(Contact, blank=True, related_name="cc_tickets")
    satisfaction = models.CharField(
        max_length=10,
        blank=True,
        default="",
        choices=[("", "Unoffered"), ("good", "Good"), ("bad", "Bad")],
    )
    satisfaction_comment = models.TextField(blank=True, default="")
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_from"
    )
    external_id = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)
    solved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # The earliest due time of a running SLA clock (None: none runs). Kept by the SLA app
    # in the same transaction as its own ``sla_ticket.next_deadline`` (docs/sla.md) so the
    # queues sort on the ticket row: "unassigned in my teams" by deadline is then an index
    # range read with LIMIT instead of a join and a sort of every match.
    next_due_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        indexes = [
            # The list endpoints page by id (cursor) within these filters.
            models.Index(fields=["status", "id"], name="ticket_status_idx"),
            models.Index(fields=["team", "status", "id"], name="ticket_team_status_idx"),
            models.Index(fields=["assignee", "status", "id"], name="ticket_assignee_status_idx"),
            models.Index(fields=["organization", "id"], name="ticket_org_idx"),
            models.Index(fields=["requester", "id"], name="ticket_requester_idx"),
            models.Index(fields=["updated_at", "id"], name="ticket_updated_idx"),
            # The "Sev-1" queue: Sev-1 tickets are rare; without it the queue reads every
            # unsolved ticket to find them.
            models.Index(
                fields=["status", "id"], condition=models.Q(severity=1), name="ticket_sev1_idx"
            ),
            # "Unassigned in my teams", by deadline (docs/performance.md, web workspace).
            # The condition is written as the queue's filter writes it (same statuses, same
            # order), so SQLite, which matches terms literally, uses it too.
            models.Index(
                fields=["team", "next_due_at", "id"],
                condition=models.Q(
                    assignee__isnull=True,
                    status__in=["new", "open", "pending", "on_hold"],
                ),
                name="ticket_unassigned_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"CL-{self.pk}: {self.subject}"

    @property
    def reference(self) -> str:
        return f"CL-{self.pk}"


def attachment_path(instance: Attachment, filename: str) -> str:
    return f"attachments/{instance.sha256[:2]}/{instance.sha256}/{filename}"


class Message(models.Model):
    class Kind(models.TextChoices):
        PUBLIC = "public", "Public reply"
        INTERNAL = "internal", "Internal note"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.PUBLIC)
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.WEB)
    body_text = models.TextField(blank=True, default="")
    body_html = models.TextField(blank=True, default="", help_text="Sanitised HTML.")
    email_message_id = models.CharField(max_length=300, blank=True, default="", db_index=True)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["ticket", "id"], name="message_ticket_idx"),
            # Staff public replies by time: the dashboard's first-reply figures (the name
            # is kept from web/0002, which made it).
            models.Index(
                fields=["created_at"],
                condition=models.Q(kind="public", author_user__isnull=False),
                name="web_dash_message_staff_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on CL-{self.ticket_id}"

    @property
    def is_public(self) -> bool:
        return self.kind == self.Kind.PUBLIC


class Attachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_path, max_length=400)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=150, default="application/octet-stream")
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    content_id = models.CharField(
        max_length=200, blank=True, default="", help_text="cid: for inline images"
    )
    created_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return self.filename


class CustomField(models.Model):
    class Type(models.TextChoices):
        TEXT = "text", "Text"
        NUMBER = "number", "Number"
        CHOICE = "choice", "Choice"
        DATE = "date", "Date"

    key = models.SlugField(max_length=60, unique=True)
    label = models.CharField(max_length=120)
    type = models.CharField(max_length=10, choices=Type.choices)
    choices = models.JSONField(default=list, blank=True, help_text="Allowed values (choice type).")
    required_on_solve = models.BooleanField(default=False)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.label


class CustomFieldValue(models.Model):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="field_values")
    field = models.ForeignKey(CustomField, on_delete=models.CASCADE, related_name="values")
    value_text = models.TextField(null=True, blank=True)
    value_number = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    value_date = models.DateField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ticket", "field"], name="custom_value_unique")
        ]

    def __str__(self) -> str:
        return f"{self.field_id}={self.value_text or self.value_number or self.value_date}"

    @property
    def value(self):
        if self.field.type == CustomField.Type.NUMBER:
            return self.value_number
        if self.field.type == CustomField.Type.DATE:
            return self.value_date
        return self.value_text


class TicketLink(models.Model):
    class Kind(models.TextChoices):
        DUPLICATE_OF = "duplicate_of", "Duplicate of"
        INCIDENT_OF = (
            "incident_of",
            "Incident of problem",
        )  # source is an incident of target problem
        RELATED = "related", "Related"

    source = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="links_out")
    target = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="links_in")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "target", "kind"], name="ticket_link_unique"),
            models.CheckConstraint(
                condition=~models.Q(source=models.F("target")), name="ticket_link_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.source_id} {self.kind} #{self.target_id}"


class TriageRule(models.Model):
    """Conditions (all given ones must hold) -> actions; evaluated by ``position``."""

    name = models.CharField(max_length=120)
    position = models.PositiveIntegerField(default=100)
    active = models.BooleanField(default=True)
    # conditions (empty = any)
    channel = models.CharField(max_length=10, choices=Channel.choices, blank=True, default="")
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    tier = models.CharField(
        max_length=20, choices=Organization.Tier.choices, blank=True, default=""
    )
    keywords = models.TextField(
        blank=True, default="", help_text="Comma-separated; any one in subject or body matches."
    )
    if_product_area = models.ForeignKey(
        ProductArea, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # actions
    set_severity = models.PositiveSmallIntegerField(choices=Severity.choices, null=True, blank=True)
    set_product_area = models.ForeignKey(
        ProductArea, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    set_team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    set_priority = models.CharField(max_length=10, choices=Priority.choices, blank=True, default="")
    stop_processing = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class SavedView(models.Model):
    """A custom ticket view (queue): list filters and a sort, owned by a staff user and
    optionally shared with every agent. ``filters`` holds only names the ticket list knows
    (its own filters and the registered ``queries.LIST_FILTERS``); validated by
    ``caseline.tickets.savedviews``."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    name = models.CharField(max_length=80)
    filters = models.JSONField(default=dict, blank=True)
    sort = models.CharField(max_length=40, default="newest")
    shared = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="saved_view_owner_name_unique")
        ]
        indexes = [models.Index(fields=["shared", "name"], name="saved_view_shared_idx")]

    def __str__(self) -> str:
        return self.name


# --- ticket page: macros and presence (owner: tkt; docs/ticket-page.md) --------------------


class Macro(models.Model):
    """A saved reply with actions. ``body`` may hold placeholders ({requester_name},
    {requester_first_name}, {ticket_ref}, {subject}, {organization}, {agent_name});
    ``actions`` is a dict validated by ``caseline.tickets.macros``: status, priority,
    severity, add_tags, remove_tags, assign_to_me. Shared macros are offered to every agent,
    personal ones only to their owner."""

    name = models.CharField(max_length=120)
    body = models.TextField(blank=True, default="")
    actions = models.JSONField(default=dict, blank=True)
    shared = models.BooleanField(default=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="macros",
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(shared=True) | models.Q(owner__isnull=False),
                name="macro_personal_has_owner",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Presence(models.Model):
    """Who has a ticket open right now (viewing or typing): one row per (ticket, user),
    upserted by the ticket page's heartbeat and valid until ``expires_at``. Kept in the
    database so every server process sees every other's viewers."""

    class State(models.TextChoices):
        VIEWING = "viewing", "Viewing"
        TYPING = "typing", "Typing"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=10, choices=State.choices, default=State.VIEWING)
    expires_at = models.DateTimeField()
    updated_at = models.DateTimeField(default=now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["ticket", "user"], name="presence_ticket_user_unique")
        ]
        indexes = [models.Index(fields=["ticket", "expires_at"], name="presence_ticket_exp_idx")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.state} CL-{self.ticket_id}"
