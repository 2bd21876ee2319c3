"""Read paths of the accounts app: list query sets (with their related rows loaded in a
fixed number of queries) and single-object look-ups that raise NotFound."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

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
    sales_consultant: int | None = None,
    success_manager: int | None = None,
    account_team_member: int | None = None,
) -> QuerySet[Organization]:
    """Organizations by name. ``account_team_member``: the user is the SC or the CSM."""
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
    if sales_consultant is not None:
        qs = qs.filter(sales_consultant_id=sales_consultant)
    if success_manager is not None:
        qs = qs.filter(success_manager_id=success_manager)
    if account_team_member is not None:
        qs = qs.filter(
            Q(sales_consultant_id=account_team_member) | Q(success_manager_id=account_team_member)
        )
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


# --- directory pages of the workspace (keyset pages by name) ----------------------------


@dataclass
class NamePage:
    """One keyset page of a name-ordered list: ``rows`` and the cursor of the next page."""

    rows: list
    next_cursor: str | None


def _encode_name_cursor(name: str, pk: int) -> str:
    raw = json.dumps({"n": name, "id": pk}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_name_cursor(cursor: str) -> tuple[str, int]:
    try:
        data = json.loads(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()))
        name, pk = data["n"], data["id"]
        if not isinstance(name, str) or isinstance(pk, bool) or not isinstance(pk, int):
            raise ValueError
        return name, pk
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed("invalid cursor", fields={"cursor": "not a cursor of this list"})


def name_page(qs: QuerySet, cursor: str | None = None, limit: int = 50) -> NamePage:
    """A keyset page of ``qs`` ordered by (name, id): the index on name (organizations:
    unique; contacts: (organization, name)) serves it without OFFSET."""
    if not 1 <= limit <= 200:
        raise ValidationFailed("limit must be between 1 and 200", fields={"limit": "1-200"})
    qs = qs.order_by("name", "id")
    if cursor:
        name, pk = _decode_name_cursor(cursor)
        qs = qs.filter(Q(name__gt=name) | Q(name=name, id__gt=pk))
    rows = list(qs[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = _encode_name_cursor(rows[-1].name, rows[-1].pk) if more and rows else None
    return NamePage(rows, nxt)


def organization_detail(pk: int) -> Organization:
    """An organization with what its page shows: region, SC, CSM, domains, the owning
    engineer per product area (with the area and the user), in a fixed number of queries."""
    org = (
        Organization.objects.select_related("region", "sales_consultant", "success_manager")
        .prefetch_related(
            "domains",
            Prefetch(
                "owners",
                queryset=OrganizationOwner.objects.select_related("product_area", "user").order_by(
                    "product_area__name"
                ),
            ),
        )
        .filter(pk=pk)
        .first()
    )
    if org is None:
        raise NotFound(f"no organization with id {pk}")
    return org


def contact_detail(pk: int) -> Contact:
    """A contact (merged ones too) with emails, organization, the contact it was merged
    into and the contacts merged into it."""
    contact = (
        Contact.objects.select_related("organization", "merged_into")
        .prefetch_related(
            "emails", Prefetch("merged_from", queryset=Contact.objects.order_by("id"))
        )
        .filter(pk=pk)
        .first()
    )
    if contact is None:
        raise NotFound(f"no contact with id {pk}")
    return contact


def merge_candidates(contact: Contact, limit: int = 50) -> list[Contact]:
    """Other live contacts of the same organization (the likely duplicates), by name."""
    if contact.organization_id is None:
        return []
    qs = contacts(organization=contact.organization_id).exclude(pk=contact.pk)
    return list(qs.order_by("name", "id")[:limit])


def account_team_choices() -> QuerySet[User]:
    """Staff who are the SC or the CSM of at least one organization (the list filter)."""
    return (
        User.objects.filter(kind=User.Kind.STAFF)
        .filter(Q(sc_organizations__isnull=False) | Q(csm_organizations__isnull=False))
        .distinct()
        .order_by("display_name", "email")
    )


def organization_filter_choices() -> dict[str, Any]:
    """The choices of the organization list's filters."""
    from .models import Region

    return {
        "tiers": Organization.Tier.choices,
        "stages": Organization.Stage.choices,
        "regions": list(Region.objects.order_by("handoff_order", "code")),
        "account_team": list(account_team_choices()),
    }
