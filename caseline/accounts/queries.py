"""Read paths of the accounts app: list query sets (with their related rows loaded in a
fixed number of queries) and single-object look-ups that raise NotFound."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.db.models.functions import Lower

from caseline.errors import NotFound, ValidationFailed

from .models import (
    ApiToken,
    Contact,
    ContactEmail,
    Organization,
    OrganizationOwner,
    ProductArea,
    SMERosterEntry,
    Team,
    User,
)
from .roles import PERMISSIONS, ROLES


def _check_choice(field: str, value: str | None, choices) -> None:
    valid = [c for c, _ in choices]
    if value is not None and value not in valid:
        raise ValidationFailed(
            f"{field} must be one of: {', '.join(valid)}",
            fields={field: f"must be one of: {', '.join(valid)}"},
        )


# --- organizations ----------------------------------------------------------------------


def organizations(
    *,
    tier: str | None = None,
    region: str | None = None,
    lifecycle_stage: str | None = None,
    q: str | None = None,
) -> QuerySet[Organization]:
    _check_choice("tier", tier, Organization.Tier.choices)
    _check_choice("lifecycle_stage", lifecycle_stage, Organization.Stage.choices)
    qs = Organization.objects.select_related(
        "region", "sales_consultant", "success_manager"
    ).prefetch_related(
        "domains",
        Prefetch("owners", queryset=OrganizationOwner.objects.order_by("product_area_id")),
    )
    if tier:
        qs = qs.filter(tier=tier)
    if region:
        qs = qs.filter(region__code__iexact=region)
    if lifecycle_stage:
        qs = qs.filter(lifecycle_stage=lifecycle_stage)
    if q:
        qs = qs.filter(name__icontains=q.strip())
    return qs


def get_organization(pk: int) -> Organization:
    org = organizations().filter(pk=pk).first()
    if org is None:
        raise NotFound(f"no organization with id {pk}")
    return org


# --- contacts ---------------------------------------------------------------------------


def contacts(
    *,
    organization: int | None = None,
    email: str | None = None,
    q: str | None = None,
    include_merged: bool = False,
) -> QuerySet[Contact]:
    qs = Contact.objects.prefetch_related("emails")
    if not include_merged:
        qs = qs.filter(merged_into__isnull=True)
    if organization is not None:
        qs = qs.filter(organization_id=organization)
    if email:
        qs = qs.filter(
            Exists(
                ContactEmail.objects.annotate(lower=Lower("email")).filter(
                    contact=OuterRef("pk"), lower=email.strip().lower()
                )
            )
        )
    if q:
        term = q.strip()
        qs = qs.filter(
            Q(name__icontains=term)
            | Exists(ContactEmail.objects.filter(contact=OuterRef("pk"), email__icontains=term))
        )
    return qs


def get_contact(pk: int) -> Contact:
    contact = contacts(include_merged=True).filter(pk=pk).first()
    if contact is None:
        raise NotFound(f"no contact with id {pk}")
    return contact


# --- staff ------------------------------------------------------------------------------


def staff(
    *,
    role: str | None = None,
    team: int | None = None,
    region: str | None = None,
    available: bool | None = None,
    q: str | None = None,
) -> QuerySet[User]:
    if role is not None and role not in ROLES:
        raise ValidationFailed(
            f"unknown role {role!r}; valid roles: {', '.join(ROLES)}",
            fields={"role": f"valid roles: {', '.join(ROLES)}"},
        )
    qs = (
        User.objects.filter(kind=User.Kind.STAFF)
        .select_related("region")
        .prefetch_related("groups", "teams", "skills")
    )
    if role:
        qs = qs.filter(groups__name=role)
    if team is not None:
        qs = qs.filter(teams__id=team)
    if region:
        qs = qs.filter(region__code__iexact=region)
    if available is True:
        qs = qs.filter(is_active=True, is_away=False)
    elif available is False:
        qs = qs.filter(Q(is_active=False) | Q(is_away=True))
    if q:
        term = q.strip()
        qs = qs.filter(Q(email__icontains=term) | Q(display_name__icontains=term))
    return qs


def get_staff(pk: int) -> User:
    user = staff().filter(pk=pk).first()
    if user is None:
        raise NotFound(f"no staff user with id {pk}")
    return user


def permissions_of(user: User) -> list[str]:
    """Caseline permission codenames the user holds (through roles or as superuser)."""
    return sorted(p for p in PERMISSIONS if user.has_perm(f"accounts.{p}"))


def me(user: User) -> User:
    return (
        User.objects.select_related("region", "contact", "contact__organization")
        .prefetch_related("groups", "contact__emails")
        .get(pk=user.pk)
    )


# --- teams and product areas ------------------------------------------------------------


def teams(*, region: str | None = None, q: str | None = None) -> QuerySet[Team]:
    qs = Team.objects.select_related("region", "lead").prefetch_related("members")
    if region:
        qs = qs.filter(region__code__iexact=region)
    if q:
        qs = qs.filter(name__icontains=q.strip())
    return qs


def get_team(pk: int) -> Team:
    team = teams().filter(pk=pk).first()
    if team is None:
        raise NotFound(f"no team with id {pk}")
    return team


def product_areas(*, owning_team: int | None = None, q: str | None = None) -> QuerySet[ProductArea]:
    qs = ProductArea.objects.select_related("owning_team").prefetch_related(
        Prefetch(
            "roster",
            queryset=SMERosterEntry.objects.select_related("user").order_by("position"),
        )
    )
    if owning_team is not None:
        qs = qs.filter(owning_team_id=owning_team)
    if q:
        qs = qs.filter(name__icontains=q.strip())
    return qs


def get_product_area(pk: int) -> ProductArea:
    area = product_areas().filter(pk=pk).first()
    if area is None:
        raise NotFound(f"no product area with id {pk}")
    return area


# --- tokens -----------------------------------------------------------------------------


def tokens_of(user: User, *, include_revoked: bool = False) -> QuerySet[ApiToken]:
    qs = ApiToken.objects.filter(user=user)
    if not include_revoked:
        qs = qs.filter(revoked_at__isnull=True)
    return qs
