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
    # Unique (constraint below rather than unique=True: PostgreSQL would add a second,
    # varchar_pattern_ops index that every moved timer pays for and nothing uses).
    key = models.CharField(max_length=200)
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
        constraints = [models.UniqueConstraint(fields=["key"], name="sla_timer_key_uniq")]

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


# --- stored calendars --------------------------------------------------------------------


class Calendar(models.Model):
    """A stored business calendar; ``caseline.sla.calendars.get_calendar(name)`` turns it
    into a ``caseline.clock`` calendar (cached per process, invalidated on change).

    ``kind = hours``: ``time_zone`` + ``hours`` (``"Mon-Fri 08:00-17:00; Sat 10:00-14:00"``,
    ``"Sun-Thu 22:00-06:00"``, ``"24x7"``) + ``holidays`` (``[{"country": "US", "subdiv":
    null, "categories": ["public"]}]``) + ``closed_dates`` (``["2026-12-24"]``) +
    ``extra_open`` (``[{"start": "2026-12-19T10:00", "end": "2026-12-19T14:00"}]``, local).
    ``kind = union``: follow-the-sun, open whenever any of ``members`` is open.
    """

    class Kind(models.TextChoices):
        HOURS = "hours", "Weekly hours"
        UNION = "union", "Follow-the-sun union"

    name = models.SlugField(max_length=100, unique=True)
    description = models.CharField(max_length=200, blank=True, default="")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.HOURS)
    time_zone = models.CharField(max_length=64, default="UTC")
    hours = models.TextField(blank=True, default="Mon-Fri 08:00-17:00")
    holidays = models.JSONField(default=list, blank=True)
    closed_dates = models.JSONField(default=list, blank=True)
    extra_open = models.JSONField(default=list, blank=True)
    members = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="unions")
    # Bumped on every change: per-process caches compare it (see calendars.py).
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        db_table = "sla_calendar"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


# --- policies ------------------------------------------------------------------------------


class Role(models.TextChoices):
    """The staff role a policy's targets apply to (whose reply fulfils them)."""

    SUPPORT_ENGINEER = "support_engineer", "Support engineer (assignee or on duty)"
    SALES_CONSULTANT = "sales_consultant", "The organization's sales consultant"
    SUCCESS_MANAGER = "customer_success_manager", "The organization's success manager"


class TargetKind(models.TextChoices):
    ACKNOWLEDGE = "acknowledge", "Acknowledge"
    ACTIONABLE = "actionable", "First actionable response"
    NEXT_REPLY = "next_reply", "Next reply"
    PERIODIC_UPDATE = "periodic_update", "Periodic update"
    RESOLUTION = "resolution", "Resolution"
    OWNER_ASSIGNED = "owner_assigned", "Owner assigned"


class Policy(models.Model):
    """Targets for the tickets it matches. Per role, the first active policy (by
    ``position``, then id) whose conditions all hold applies; an empty condition matches
    anything."""

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True, default="")
    position = models.PositiveIntegerField(default=100)
    active = models.BooleanField(default=True)
    role = models.CharField(max_length=30, choices=Role.choices, default=Role.SUPPORT_ENGINEER)
    tiers = models.JSONField(default=list, blank=True, help_text='e.g. ["premium"]')
    severities = models.JSONField(default=list, blank=True, help_text="e.g. [1, 2]")
    channels = models.JSONField(default=list, blank=True, help_text='e.g. ["chat", "phone"]')
    product_areas = models.JSONField(default=list, blank=True, help_text="product area ids")
    pause_statuses = models.JSONField(default=list, blank=True, help_text='e.g. ["pending"]')
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        db_table = "sla_policy"
        ordering = ["position", "id"]
        verbose_name_plural = "policies"

    def __str__(self) -> str:
        return self.name


class Target(models.Model):
    policy = models.ForeignKey(Policy, on_delete=models.CASCADE, related_name="targets")
    kind = models.CharField(max_length=20, choices=TargetKind.choices)
    seconds = models.PositiveIntegerField()
    business = models.BooleanField(
        default=True, help_text="Business time on the calendar; off: calendar (wall) time."
    )
    calendar = models.ForeignKey(
        Calendar, null=True, blank=True, on_delete=models.PROTECT, related_name="targets"
    )
    after_hours_calendar = models.ForeignKey(
        Calendar,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="after_hours_targets",
        help_text="When the clock starts outside the calendar, run it on this one "
        "(e.g. 24x7) and let any on-duty engineer fulfil it.",
    )

    class Meta:
        db_table = "sla_target"
        ordering = ["policy", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "kind"], name="sla_target_unique_kind")
        ]

    def __str__(self) -> str:
        return f"{self.policy}: {self.kind} {self.seconds}s"


class EscalationRule(models.Model):
    class Threshold(models.TextChoices):
        PERCENT = "percent", "Percent of the target elapsed"
        AFTER_BREACH = "after_breach", "Seconds after the breach"

    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="rules")
    order = models.PositiveIntegerField(default=0)
    threshold = models.CharField(max_length=20, choices=Threshold.choices)
    value = models.PositiveIntegerField(help_text="percent (1-100) or seconds after breach")
    action = models.CharField(max_length=40)
    params = models.JSONField(default=dict, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        db_table = "sla_escalation_rule"
        ordering = ["target", "order", "id"]

    def __str__(self) -> str:
        unit = "%" if self.threshold == self.Threshold.PERCENT else "s after breach"
        return f"{self.target}: {self.value}{unit} -> {self.action}"


# --- clocks ----------------------------------------------------------------------------------


class TicketSla(models.Model):
    """Per ticket: the facts the policies match on, the roles that have replied, and the
    next deadline (earliest due time of a running clock) for sorting and filtering."""

    ticket = models.OneToOneField(
        "tickets.Ticket", primary_key=True, on_delete=models.CASCADE, related_name="sla_state"
    )
    facts = models.JSONField(default=dict)
    next_deadline = models.DateTimeField(null=True, blank=True)
    # The earliest due time of a running clock that has not breached (the "due within"
    # filter: a ticket with an old breached clock still shows its next deadline).
    upcoming_deadline = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        db_table = "sla_ticket"
        indexes = [
            models.Index(fields=["next_deadline"], name="sla_ticket_deadline_idx"),
            models.Index(fields=["upcoming_deadline"], name="sla_ticket_upcoming_idx"),
        ]

    def __str__(self) -> str:
        return f"SLA of CL-{self.ticket_id}: next deadline {self.next_deadline}"


class Clock(models.Model):
    """One SLA clock of one ticket (``key`` = ``role:kind``), in its current cycle.

    Running: ``running_since`` set; elapsed = ``consumed`` + business seconds since then;
    ``due_at`` = calendar.add(running_since, seconds - consumed). Paused or stopped:
    ``running_since`` empty, ``consumed`` holds the elapsed business seconds.
    """

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        SUSPENDED = "suspended", "Suspended (no matching policy has the target)"
        FULFILLED = "fulfilled", "Fulfilled"
        BREACHED = "breached", "Breached"

    # No index of its own: the unique (ticket, key) constraint serves lookups by ticket.
    ticket = models.ForeignKey(
        "tickets.Ticket", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    key = models.CharField(max_length=60)
    role = models.CharField(max_length=30)
    kind = models.CharField(max_length=20)
    policy_id = models.BigIntegerField(null=True, blank=True)
    target_id = models.BigIntegerField(null=True, blank=True)
    cycle = models.PositiveIntegerField(default=1)
    seconds = models.PositiveIntegerField()
    calendar = models.CharField(max_length=100, help_text="stored calendar name")
    pause_statuses = models.JSONField(default=list, blank=True)
    after_hours = models.BooleanField(default=False)
    # No matching policy has the target (a re-match): frozen, resumed by a later re-match.
    suspended = models.BooleanField(default=False)
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    started_at = models.DateTimeField()
    running_since = models.DateTimeField(null=True, blank=True)
    consumed = models.BigIntegerField(default=0)
    due_at = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    # The step of the clock's ONE pending timer ("breach" or "r<rule id>"; "" = none): the
    # timers are chained, each firing schedules the next step (caseline.sla.services).
    step = models.CharField(max_length=40, blank=True, default="")
    updated_at = models.DateTimeField(default=now)

    class Meta:
        db_table = "sla_clock"
        constraints = [
            models.UniqueConstraint(fields=["ticket", "key"], name="sla_clock_unique_key")
        ]
        # No index on due_at: lists sort and filter on sla_ticket.next_deadline, and with
        # due_at unindexed a recompute's UPDATE of due_at is a HOT update on PostgreSQL
        # (no index entries written; the table keeps 30 % free space per page for it).
        indexes = [
            models.Index(fields=["calendar"], name="sla_clock_calendar_idx"),
            models.Index(fields=["target_id"], name="sla_clock_target_idx"),
            # The support dashboard's ended clocks of the week/day (set once per clock,
            # so due_at updates stay HOT). Names kept from web/0002, which made them.
            models.Index(
                fields=["breached_at"],
                condition=models.Q(breached_at__isnull=False),
                name="web_dash_clock_breached_idx",
            ),
            models.Index(
                fields=["fulfilled_at"],
                condition=models.Q(fulfilled_at__isnull=False),
                name="web_dash_clock_fulfilled_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"CL-{self.ticket_id} {self.key} #{self.cycle} {self.state}"
