"""Tables of the email channel: mailboxes, every inbound message (raw kept), sender rate
limit windows, flagged (bounced) addresses and acknowledgement templates."""

from __future__ import annotations

from django.db import models

from caseline.accounts.models import ProductArea, Team
from caseline.timesource import now


class Mailbox(models.Model):
    """An address customers write to, polled over IMAP or fed by the SMTP receiver."""

    class Kind(models.TextChoices):
        IMAP = "imap", "IMAP polling"
        SMTP = "smtp", "SMTP receiver (caseline smtpd behind an MTA)"

    class Security(models.TextChoices):
        SSL = "ssl", "SSL/TLS (implicit, port 993)"
        STARTTLS = "starttls", "STARTTLS (port 143)"
        NONE = "none", "None (loopback or tests only)"

    name = models.CharField(max_length=100, unique=True)
    address = models.EmailField(
        unique=True, help_text="Customers write here; replies come from it."
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.IMAP)
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="mailboxes"
    )
    product_area = models.ForeignKey(
        ProductArea, null=True, blank=True, on_delete=models.SET_NULL, related_name="mailboxes"
    )
    imap_host = models.CharField(max_length=253, blank=True, default="")
    imap_port = models.PositiveIntegerField(null=True, blank=True)
    imap_security = models.CharField(max_length=10, choices=Security.choices, default=Security.SSL)
    imap_user = models.CharField(max_length=253, blank=True, default="")
    imap_password = models.CharField(max_length=500, blank=True, default="")
    imap_folder = models.CharField(max_length=200, default="INBOX")
    delete_after_import = models.BooleanField(
        default=False, help_text="Delete (expunge) instead of marking seen after commit."
    )
    send_acknowledgement = models.BooleanField(default=True)
    active = models.BooleanField(default=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>"


def raw_path(instance: InboundMessage, filename: str) -> str:
    return f"mail/raw/{instance.sha256[:2]}/{instance.sha256}.eml"


class InboundMessage(models.Model):
    """One received message, whatever became of it. The raw bytes are always kept."""

    class Status(models.TextChoices):
        PROCESSED = "processed", "Processed"
        QUARANTINED = "quarantined", "Quarantined"
        IGNORED = "ignored", "Ignored (loop or noise protection)"

    mailbox = models.ForeignKey(Mailbox, on_delete=models.PROTECT, related_name="inbound")
    dedupe_key = models.CharField(
        max_length=300, help_text="Message-ID, or sha256:<hex> of the raw bytes without one."
    )
    message_id = models.CharField(max_length=300, blank=True, default="")
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField(default=0)
    raw = models.FileField(upload_to=raw_path, max_length=300)
    source = models.CharField(max_length=10, default="api")  # imap, smtp, api
    status = models.CharField(max_length=12, choices=Status.choices)
    reason = models.TextField(blank=True, default="")
    from_address = models.CharField(max_length=320, blank=True, default="")
    subject = models.CharField(max_length=300, blank=True, default="")
    ticket = models.ForeignKey(
        "tickets.Ticket", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ticket_message = models.ForeignKey(
        "tickets.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    threaded_by = models.CharField(max_length=20, blank=True, default="")
    full_text = models.TextField(blank=True, default="", help_text="The whole text, quotes kept.")
    quoted_text = models.TextField(blank=True, default="")
    signature = models.TextField(blank=True, default="")
    flags = models.JSONField(default=list, blank=True, help_text="Classification reasons.")
    received_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "dedupe_key"], name="inbound_dedupe")
        ]
        indexes = [
            models.Index(fields=["status", "id"], name="inbound_status_idx"),
            models.Index(fields=["message_id"], name="inbound_msgid_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.dedupe_key} ({self.status})"


class SenderWindow(models.Model):
    """Per-sender rate limit state: messages counted in the current window."""

    address = models.CharField(max_length=320, unique=True)
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.address}: {self.count} since {self.window_start:%Y-%m-%d %H:%M}"


class FlaggedAddress(models.Model):
    """An address that bounced: outbound mail skips it until it writes to us again."""

    address = models.CharField(max_length=320, unique=True)
    reason = models.TextField(blank=True, default="")
    bounces = models.PositiveIntegerField(default=0)
    ticket = models.ForeignKey(
        "tickets.Ticket", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    flagged_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["address"]

    def __str__(self) -> str:
        return self.address


class AckTemplate(models.Model):
    """Acknowledgement sent for a new ticket by email; one per team, team empty = default.

    Placeholders: {ticket_ref} {subject} {requester_name} {team} {eta}.
    """

    team = models.OneToOneField(
        Team, null=True, blank=True, on_delete=models.CASCADE, related_name="ack_template"
    )
    subject = models.CharField(max_length=300, default="[{ticket_ref}] We received your request")
    body = models.TextField(
        default=(
            "Hello {requester_name},\n\nthank you for writing to {team}. Your request "
            '"{subject}" is now {ticket_ref}. We will answer {eta}.\n\n'
            "Reply to this email to add information; keep [{ticket_ref}] in the subject.\n"
        )
    )
    active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return f"Acknowledgement ({self.team or 'default'})"
