from django.conf import settings
from django.db import models

from caseline.timesource import now


class AuditEvent(models.Model):
    """One append-only entry of a subject's timeline (who, when, what, before/after).

    ``subject_type`` is a short name ("ticket", "organization", ...) and ``subject_id`` the
    subject's primary key; ``ticket_id`` is filled for events that belong to a ticket's
    timeline so the ticket timeline is one indexed range scan.
    """

    subject_type = models.CharField(max_length=40)
    subject_id = models.BigIntegerField()
    ticket_id = models.BigIntegerField(null=True, blank=True)
    type = models.CharField(max_length=60)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200, blank=True, default="")
    at = models.DateTimeField(default=now)
    field = models.CharField(max_length=60, blank=True, default="")
    old = models.JSONField(null=True, blank=True)
    new = models.JSONField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["subject_type", "subject_id", "id"], name="audit_subject_idx"),
            models.Index(fields=["ticket_id", "id"], name="audit_ticket_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.type} {self.subject_type}#{self.subject_id}"
