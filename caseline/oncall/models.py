"""On-duty rotas: a schedule per region, ordered layers of rotating members, overrides.

Times of day and start dates of a layer are wall-clock values in the schedule's time zone
(shift boundaries stay at the same local time across DST); instants are UTC.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from caseline.accounts.models import Region
from caseline.timesource import now


class Schedule(models.Model):
    region = models.ForeignKey(Region, on_delete=models.CASCADE, related_name="oncall_schedules")
    name = models.CharField(max_length=100, unique=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    description = models.TextField(blank=True, default="")
    active = models.BooleanField(default=True)
    # SHA-256 of the secret in the subscription URL of the iCal feed (calendar apps cannot
    # send a bearer token); empty = no secret feed. The secret itself is shown once.
    feed_secret_hash = models.CharField(max_length=64, blank=True, default="", db_index=True)
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["region__handoff_order", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.region})"


class Layer(models.Model):
    """A rotation: member 1 takes the first shift starting ``start_date`` at
    ``handoff_time`` (schedule zone), each shift lasts ``rotation_days``, then the next
    member. Higher ``position`` wins where layers overlap. ``restrictions`` limits the
    layer to weekly windows: ``[{"days": [0..6], "start": "HH:MM", "end": "HH:MM"}]``
    (0 = Monday; end <= start crosses midnight; empty = always)."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="layers")
    name = models.CharField(max_length=100, default="Layer")
    position = models.PositiveSmallIntegerField(default=1)
    start_date = models.DateField()
    handoff_time = models.TimeField()
    rotation_days = models.PositiveSmallIntegerField(default=7)
    restrictions = models.JSONField(default=list, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="LayerMember", related_name="oncall_layers"
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["schedule", "position", "id"]

    def __str__(self) -> str:
        return f"{self.schedule.name} / {self.name}"


class LayerMember(models.Model):
    layer = models.ForeignKey(Layer, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["layer", "position"]
        constraints = [
            models.UniqueConstraint(fields=["layer", "position"], name="oncall_member_position"),
        ]

    def __str__(self) -> str:
        return f"{self.layer} #{self.position}: {self.user}"


class Override(models.Model):
    """``user`` is on duty for the schedule from ``start`` to ``end`` instead of the layers."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="overrides")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oncall_overrides"
    )
    start = models.DateTimeField()
    end = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["schedule", "start", "id"]
        indexes = [models.Index(fields=["schedule", "end"], name="oncall_override_end_idx")]

    def __str__(self) -> str:
        return f"{self.schedule.name}: {self.user} {self.start:%Y-%m-%d %H:%M}-{self.end:%H:%M}"
