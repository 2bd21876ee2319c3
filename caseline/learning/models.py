"""Post-mortems, their action items, and the trends read from them (SPEC §7).

Tables only; every change goes through ``services.py`` (docs/learning.md).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from caseline.timesource import now


class RootCauseCategory(models.Model):
    """A managed list (software defect, configuration change, capacity, ...); seeded by
    migration 0001, edited through the API."""

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True, default="")
    active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=100)
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class PostMortem(models.Model):
    """The learning record of one escalation, one incident, or both (an incident and the
    escalation that shares its tickets): at least one subject, each subject at most one
    post-mortem. draft -> in_review -> published."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        IN_REVIEW = "in_review", "In review"
        PUBLISHED = "published", "Published"

    escalation = models.OneToOneField(
        "escalations.Escalation",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="postmortem",
    )
    incident = models.OneToOneField(
        "incidents.Incident",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="postmortem",
    )
    title = models.CharField(max_length=300)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    # The template's sections.
    summary = models.TextField(blank=True, default="")
    customer_impact = models.TextField(blank=True, default="")
    root_cause = models.TextField(blank=True, default="")
    root_cause_category = models.ForeignKey(
        RootCauseCategory, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    contributing_factors = models.TextField(blank=True, default="")
    went_well = models.TextField(blank=True, default="")
    went_badly = models.TextField(blank=True, default="")
    process_improvements = models.TextField(blank=True, default="")
    # For trends and recurrence (pre-filled from the subject, editable).
    product_area = models.ForeignKey(
        "accounts.ProductArea", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    authors = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)
    review_requested_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(escalation__isnull=False) | Q(incident__isnull=False),
                name="pm_has_subject",
            )
        ]
        indexes = [
            models.Index(fields=["status", "id"], name="pm_status_idx"),
            models.Index(fields=["resolved_at"], name="pm_resolved_idx"),
        ]

    def __str__(self) -> str:
        return f"PM-{self.pk}: {self.title}"

    @property
    def reference(self) -> str:
        return f"PM-{self.pk}"


class TimelineItem(models.Model):
    """One line of the post-mortem's timeline: copied from the subjects' events when the
    post-mortem is created (``source_ref`` names the origin, e.g. ``audit:17`` or
    ``incident-timeline:4``) or written by hand; every line is editable."""

    post_mortem = models.ForeignKey(PostMortem, on_delete=models.CASCADE, related_name="timeline")
    at = models.DateTimeField()
    text = models.TextField()
    source = models.CharField(max_length=12, default="manual")  # escalation|incident|manual
    source_ref = models.CharField(max_length=60, blank=True, default="")
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["post_mortem", "at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["post_mortem", "source_ref"],
                condition=~Q(source_ref=""),
                name="pm_timeline_source_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.text[:60]}"


class ReviewMeeting(models.Model):
    """The post-mortem review: due by ``latest_at`` (5 business days after resolution on
    ``calendar``); moving it later needs a reason. ``sequence`` counts reschedules (the
    invitation and reminder keys name it)."""

    post_mortem = models.OneToOneField(PostMortem, on_delete=models.CASCADE, related_name="review")
    scheduled_at = models.DateTimeField()
    duration_minutes = models.PositiveSmallIntegerField(default=60)
    latest_at = models.DateTimeField()
    calendar = models.CharField(max_length=100, default="amer-business")
    location = models.CharField(max_length=500, blank=True, default="")
    attendees = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    sequence = models.PositiveIntegerField(default=0)
    move_reason = models.TextField(blank=True, default="")
    reminded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)

    def __str__(self) -> str:
        return f"review of PM-{self.post_mortem_id} at {self.scheduled_at:%Y-%m-%d %H:%M}"


class ActionItem(models.Model):
    """What we will change: owner, due date, status (open, done, won't do with a reason),
    an optional ticket. Reminders: timers ``learning.action_item_reminder`` (before due)
    and ``learning.action_item_overdue`` (at due)."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"
        WONT_DO = "wont_do", "Won't do"

    post_mortem = models.ForeignKey(
        PostMortem, on_delete=models.CASCADE, related_name="action_items"
    )
    what = models.CharField(max_length=500)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="postmortem_action_items"
    )
    due_at = models.DateTimeField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    reason = models.TextField(blank=True, default="")
    ticket = models.ForeignKey(
        "tickets.Ticket", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)
    done_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    overdue_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["post_mortem", "due_at", "id"]
        indexes = [models.Index(fields=["owner", "status"], name="pm_action_owner_idx")]

    def __str__(self) -> str:
        return f"{self.what} (due {self.due_at:%Y-%m-%d})"
