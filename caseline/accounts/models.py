from __future__ import annotations

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models.functions import Lower

from caseline.timesource import now

from .roles import PERMISSIONS


class Region(models.Model):
    """A follow-the-sun region (AMER, EMEA, APAC) with its shift calendar reference."""

    code = models.CharField(max_length=16, unique=True)
    name = models.CharField(max_length=100)
    time_zone = models.CharField(max_length=64, default="UTC")
    # Name of the stored business calendar of this region's shift; the SLA engine
    # resolves it (the calendars themselves arrive with the SLA issue).
    shift_calendar = models.CharField(max_length=100, blank=True, default="")
    handoff_order = models.PositiveSmallIntegerField(
        default=0, help_text="Position in the follow-the-sun chain (next region takes over)."
    )

    class Meta:
        ordering = ["handoff_order", "code"]

    def __str__(self) -> str:
        return self.code


class StaffManager(UserManager):
    def staff(self):
        return self.filter(kind=User.Kind.STAFF)


class User(AbstractUser):
    """A person who signs in: staff (agents, managers...) or a customer contact (portal)."""

    class Kind(models.TextChoices):
        STAFF = "staff", "Staff"
        CUSTOMER = "customer", "Customer"

    email = models.EmailField(unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.STAFF)
    display_name = models.CharField(max_length=150, blank=True, default="")
    time_zone = models.CharField(max_length=64, default="UTC")
    region = models.ForeignKey(
        Region, null=True, blank=True, on_delete=models.SET_NULL, related_name="staff"
    )
    # Availability for assignment
    is_away = models.BooleanField(default=False)
    open_ticket_cap = models.PositiveIntegerField(
        default=40,
        help_text="Auto-assignment skips this person at or above this many open tickets.",
    )
    skills = models.ManyToManyField("ProductArea", blank=True, related_name="skilled_staff")
    # For customer users: the contact they are.
    contact = models.OneToOneField(
        "Contact", null=True, blank=True, on_delete=models.CASCADE, related_name="user"
    )

    objects = StaffManager()

    class Meta:
        permissions = sorted(PERMISSIONS.items())

    def __str__(self) -> str:
        return self.display_name or self.email or self.username

    @property
    def is_customer(self) -> bool:
        return self.kind == self.Kind.CUSTOMER

    @property
    def role_names(self) -> list[str]:
        return sorted(g.name for g in self.groups.all())


class Team(models.Model):
    class Strategy(models.TextChoices):
        ROUND_ROBIN = "round_robin", "Round-robin"
        LEAST_LOAD = "least_load", "Least open load"
        MANUAL = "manual", "Manual (no auto-assignment)"

    name = models.CharField(max_length=100, unique=True)
    region = models.ForeignKey(Region, null=True, blank=True, on_delete=models.SET_NULL)
    lead = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="led_teams"
    )
    members = models.ManyToManyField(User, blank=True, related_name="teams")
    email = models.EmailField(blank=True, default="")
    assignment_strategy = models.CharField(
        max_length=20, choices=Strategy.choices, default=Strategy.ROUND_ROBIN
    )
    # Round-robin cursor: id of the member last given a ticket.
    last_assigned_user_id = models.BigIntegerField(null=True, blank=True)
    # Reply style the reply checker enforces (docs/reply-checker.md).
    reply_greeting_required = models.BooleanField(
        default=False, help_text="Public replies must start with a greeting."
    )
    reply_closing_required = models.BooleanField(
        default=False, help_text="Public replies must end with a closing."
    )
    created_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ProductArea(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    owning_team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="product_areas"
    )
    keywords = models.TextField(
        blank=True, default="", help_text="Comma-separated words that suggest this area."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SMERosterEntry(models.Model):
    """A named expert of a product area; position 1 is the primary, then backups."""

    product_area = models.ForeignKey(ProductArea, on_delete=models.CASCADE, related_name="roster")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sme_entries")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["product_area", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["product_area", "position"], name="sme_unique_position"
            ),
            models.UniqueConstraint(fields=["product_area", "user"], name="sme_unique_user"),
        ]

    def __str__(self) -> str:
        return f"{self.product_area} #{self.position}: {self.user}"


class Organization(models.Model):
    class Tier(models.TextChoices):
        ENTERPRISE = "enterprise", "Enterprise"
        PREMIUM = "premium", "Premium"
        STANDARD = "standard", "Standard"
        BASIC = "basic", "Basic"

    class Stage(models.TextChoices):
        ONBOARDING = "onboarding", "Onboarding"
        ADOPTING = "adopting", "Adopting"
        RENEWING = "renewing", "Renewing"
        CHURNED = "churned", "Churned"

    name = models.CharField(max_length=200, unique=True)
    tier = models.CharField(max_length=20, choices=Tier.choices, default=Tier.STANDARD)
    support_entitlement = models.CharField(
        max_length=100,
        blank=True,
        default="standard",
        help_text="Name of the support entitlement (selects the SLA policy).",
    )
    region = models.ForeignKey(Region, null=True, blank=True, on_delete=models.SET_NULL)
    lifecycle_stage = models.CharField(
        max_length=20, choices=Stage.choices, default=Stage.ONBOARDING
    )
    sales_consultant = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="sc_organizations"
    )
    success_manager = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="csm_organizations"
    )
    include_sc = models.BooleanField(
        default=True,
        help_text="Add the SC as follower of every ticket and tell them when it is solved.",
    )
    notes = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class OrganizationDomain(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="domains")
    domain = models.CharField(max_length=253, unique=True)

    class Meta:
        ordering = ["domain"]

    def __str__(self) -> str:
        return self.domain


class OrganizationOwner(models.Model):
    """Optional owning support engineer of an organization for one product area."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="owners")
    product_area = models.ForeignKey(ProductArea, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="owned_accounts")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "product_area"], name="org_owner_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.organization} / {self.product_area}: {self.user}"


class Contact(models.Model):
    name = models.CharField(max_length=200)
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts"
    )
    phone = models.CharField(max_length=50, blank=True, default="")
    title = models.CharField(max_length=120, blank=True, default="")
    time_zone = models.CharField(max_length=64, blank=True, default="")
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_from"
    )
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["organization", "name"], name="contact_org_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def primary_email(self) -> str:
        emails = list(self.emails.all())
        for e in emails:
            if e.is_primary:
                return e.email
        return emails[0].email if emails else ""


class ContactEmail(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="emails")
    email = models.EmailField()
    is_primary = models.BooleanField(default=False)

    class Meta:
        ordering = ["-is_primary", "email"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="contact_email_unique_ci"),
        ]

    def __str__(self) -> str:
        return self.email


class ApiToken(models.Model):
    """A per-user API token. Only the SHA-256 digest of the secret is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True, default="")
    prefix = models.CharField(max_length=12, help_text="First characters, to recognise it.")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"


class MagicLink(models.Model):
    """A one-time sign-in link of the customer portal (caseline/accounts/portal.py).

    Only the SHA-256 digest of the secret is stored; the link works once (``used_at``)
    and until ``expires_at``."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="magic_links")
    email = models.EmailField(help_text="The address the link was sent to.")
    digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    requested_ip = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["email", "created_at"], name="magiclink_email_idx")]

    def __str__(self) -> str:
        return f"sign-in link for {self.email} ({self.created_at:%Y-%m-%d %H:%M})"
