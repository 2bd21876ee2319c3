"""API shapes of the accounts domain (django-ninja / pydantic) and the functions that
turn loaded rows into them. Serializers only read what the queries loaded."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema

from .models import ApiToken, Contact, Organization, ProductArea, Team, User

# --- shared -----------------------------------------------------------------------------


class UserRef(Schema):
    id: int
    email: str
    name: str


class PageMeta(Schema):
    has_more: bool
    next_cursor: str | None = None


class PageLinks(Schema):
    next: str | None = None


def user_ref(user: User | None) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.pk, "email": user.email, "name": str(user)}


# --- organizations ----------------------------------------------------------------------


class OwnerIn(Schema):
    product_area_id: int
    user_id: int


class OrganizationIn(Schema):
    name: str
    domains: list[str] = Field(default_factory=list, description="e.g. ['example.com']")
    tier: str = Field("standard", description="enterprise, premium, standard or basic")
    support_entitlement: str = "standard"
    region: str | None = Field(None, description="region code, e.g. EMEA")
    lifecycle_stage: str = Field(
        "onboarding", description="onboarding, adopting, renewing or churned"
    )
    sales_consultant_id: int | None = Field(None, description="a staff user with the SC role")
    success_manager_id: int | None = Field(None, description="a staff user with the CSM role")
    include_sc: bool = True
    notes: str = ""
    owners: list[OwnerIn] = Field(
        default_factory=list, description="owning support engineer per product area"
    )


class OrganizationPatch(Schema):
    name: str | None = None
    domains: list[str] | None = Field(None, description="replaces the whole list")
    tier: str | None = None
    support_entitlement: str | None = None
    region: str | None = None
    lifecycle_stage: str | None = None
    sales_consultant_id: int | None = None
    success_manager_id: int | None = None
    include_sc: bool | None = None
    notes: str | None = None
    owners: list[OwnerIn] | None = Field(None, description="replaces the whole list")


class OwnerOut(Schema):
    product_area_id: int
    user_id: int


class OrganizationOut(Schema):
    id: int
    name: str
    domains: list[str]
    tier: str
    support_entitlement: str
    region: str | None
    lifecycle_stage: str
    sc: UserRef | None
    csm: UserRef | None
    include_sc: bool
    notes: str
    owners: list[OwnerOut]
    created_at: datetime
    updated_at: datetime


class OrganizationPage(Schema):
    results: list[OrganizationOut]
    meta: PageMeta
    links: PageLinks


def organization_out(org: Organization) -> dict[str, Any]:
    return {
        "id": org.pk,
        "name": org.name,
        "domains": sorted(d.domain for d in org.domains.all()),
        "tier": org.tier,
        "support_entitlement": org.support_entitlement,
        "region": org.region.code if org.region else None,
        "lifecycle_stage": org.lifecycle_stage,
        "sc": user_ref(org.sales_consultant),
        "csm": user_ref(org.success_manager),
        "include_sc": org.include_sc,
        "notes": org.notes,
        "owners": [
            {"product_area_id": o.product_area_id, "user_id": o.user_id} for o in org.owners.all()
        ],
        "created_at": org.created_at,
        "updated_at": org.updated_at,
    }


def organization_fields(data: dict[str, Any]) -> dict[str, Any]:
    """API field names -> service field names."""
    out = dict(data)
    if "sales_consultant_id" in out:
        out["sales_consultant"] = out.pop("sales_consultant_id")
    if "success_manager_id" in out:
        out["success_manager"] = out.pop("success_manager_id")
    return out


# --- contacts ---------------------------------------------------------------------------


class ContactIn(Schema):
    name: str
    emails: list[str] = Field(default_factory=list, description="the first one is primary")
    organization_id: int | None = Field(
        None, description="omit to place the contact by its first email's domain"
    )
    phone: str = ""
    title: str = ""
    time_zone: str = ""


class ContactPatch(Schema):
    name: str | None = None
    emails: list[str] | None = Field(None, description="replaces the list; first is primary")
    organization_id: int | None = None
    phone: str | None = None
    title: str | None = None
    time_zone: str | None = None


class ContactMergeIn(Schema):
    into: int = Field(..., description="id of the contact that survives")


class ContactOut(Schema):
    id: int
    name: str
    organization_id: int | None
    emails: list[str]
    primary_email: str
    phone: str
    title: str
    time_zone: str
    merged_into_id: int | None
    created_at: datetime
    updated_at: datetime


class ContactPage(Schema):
    results: list[ContactOut]
    meta: PageMeta
    links: PageLinks


def contact_out(contact: Contact) -> dict[str, Any]:
    emails = sorted(contact.emails.all(), key=lambda e: (not e.is_primary, e.email))
    return {
        "id": contact.pk,
        "name": contact.name,
        "organization_id": contact.organization_id,
        "emails": [e.email for e in emails],
        "primary_email": emails[0].email if emails else "",
        "phone": contact.phone,
        "title": contact.title,
        "time_zone": contact.time_zone,
        "merged_into_id": contact.merged_into_id,
        "created_at": contact.created_at,
        "updated_at": contact.updated_at,
    }


def contact_fields(data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    if "organization_id" in out:
        out["organization"] = out.pop("organization_id")
    return out


# --- staff ------------------------------------------------------------------------------


class StaffIn(Schema):
    email: str
    display_name: str = ""
    roles: list[str] = Field(default_factory=list, description="role names, see docs/accounts.md")
    region: str | None = Field(None, description="region code")
    teams: list[int] = Field(default_factory=list, description="team ids")
    skills: list[int] = Field(default_factory=list, description="product area ids")
    time_zone: str = "UTC"
    open_ticket_cap: int = 40
    password: str | None = Field(None, description="omit for API/SSO-only users")
    is_away: bool = False


class StaffPatch(Schema):
    email: str | None = None
    display_name: str | None = None
    roles: list[str] | None = None
    region: str | None = None
    teams: list[int] | None = None
    skills: list[int] | None = None
    time_zone: str | None = None
    open_ticket_cap: int | None = None
    password: str | None = None
    is_away: bool | None = None
    is_active: bool | None = None


class StaffOut(Schema):
    id: int
    email: str
    display_name: str
    roles: list[str]
    region: str | None
    teams: list[int]
    skills: list[int]
    time_zone: str
    open_ticket_cap: int
    is_away: bool
    is_active: bool


class StaffPage(Schema):
    results: list[StaffOut]
    meta: PageMeta
    links: PageLinks


def staff_out(user: User) -> dict[str, Any]:
    return {
        "id": user.pk,
        "email": user.email,
        "display_name": user.display_name,
        "roles": sorted(g.name for g in user.groups.all()),
        "region": user.region.code if user.region else None,
        "teams": sorted(t.pk for t in user.teams.all()),
        "skills": sorted(a.pk for a in user.skills.all()),
        "time_zone": user.time_zone,
        "open_ticket_cap": user.open_ticket_cap,
        "is_away": user.is_away,
        "is_active": user.is_active,
    }


class MeContact(Schema):
    id: int
    name: str
    emails: list[str]
    organization_id: int | None


class MePatch(Schema):
    """What staff may change about themselves: availability and presentation."""

    is_away: bool | None = Field(None, description="away: skipped by auto-assignment")
    display_name: str | None = None
    time_zone: str | None = Field(None, description="IANA zone, e.g. Europe/Berlin")


class MeOut(Schema):
    id: int
    email: str
    display_name: str
    kind: str
    roles: list[str]
    permissions: list[str]
    region: str | None
    time_zone: str
    contact: MeContact | None
    organization_id: int | None


def me_out(user: User, permissions: list[str]) -> dict[str, Any]:
    contact = user.contact
    return {
        "id": user.pk,
        "email": user.email,
        "display_name": user.display_name,
        "kind": user.kind,
        "roles": sorted(g.name for g in user.groups.all()),
        "permissions": permissions,
        "region": user.region.code if user.region else None,
        "time_zone": user.time_zone,
        "contact": {
            "id": contact.pk,
            "name": contact.name,
            "emails": [e.email for e in contact.emails.all()],
            "organization_id": contact.organization_id,
        }
        if contact
        else None,
        "organization_id": contact.organization_id if contact else None,
    }


# --- teams ------------------------------------------------------------------------------


class TeamIn(Schema):
    name: str
    region: str | None = None
    lead_id: int | None = None
    members: list[int] = Field(default_factory=list, description="staff user ids")
    email: str = ""
    assignment_strategy: str = Field("round_robin", description="round_robin, least_load or manual")
    reply_greeting_required: bool = Field(
        False, description="the reply checker asks for a greeting"
    )
    reply_closing_required: bool = Field(False, description="the reply checker asks for a closing")


class TeamPatch(Schema):
    name: str | None = None
    region: str | None = None
    lead_id: int | None = None
    members: list[int] | None = None
    email: str | None = None
    assignment_strategy: str | None = None
    reply_greeting_required: bool | None = None
    reply_closing_required: bool | None = None


class TeamOut(Schema):
    id: int
    name: str
    region: str | None
    lead: UserRef | None
    members: list[int]
    email: str
    assignment_strategy: str
    reply_greeting_required: bool
    reply_closing_required: bool


class TeamPage(Schema):
    results: list[TeamOut]
    meta: PageMeta
    links: PageLinks


def team_out(team: Team) -> dict[str, Any]:
    return {
        "id": team.pk,
        "name": team.name,
        "region": team.region.code if team.region else None,
        "lead": user_ref(team.lead),
        "members": sorted(u.pk for u in team.members.all()),
        "email": team.email,
        "assignment_strategy": team.assignment_strategy,
        "reply_greeting_required": team.reply_greeting_required,
        "reply_closing_required": team.reply_closing_required,
    }


def team_fields(data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    if "lead_id" in out:
        out["lead"] = out.pop("lead_id")
    return out


# --- product areas ----------------------------------------------------------------------


class ProductAreaIn(Schema):
    name: str
    slug: str | None = Field(None, description="derived from the name when omitted")
    owning_team_id: int | None = None
    keywords: list[str] = Field(default_factory=list)


class ProductAreaPatch(Schema):
    name: str | None = None
    slug: str | None = None
    owning_team_id: int | None = None
    keywords: list[str] | None = None


class RosterIn(Schema):
    user_ids: list[int] = Field(..., description="staff user ids: primary first, then backups")


class RosterEntryOut(Schema):
    position: int
    user: UserRef


class ProductAreaOut(Schema):
    id: int
    name: str
    slug: str
    owning_team_id: int | None
    keywords: list[str]
    roster: list[RosterEntryOut]


class ProductAreaPage(Schema):
    results: list[ProductAreaOut]
    meta: PageMeta
    links: PageLinks


def product_area_out(area: ProductArea) -> dict[str, Any]:
    return {
        "id": area.pk,
        "name": area.name,
        "slug": area.slug,
        "owning_team_id": area.owning_team_id,
        "keywords": [k.strip() for k in area.keywords.split(",") if k.strip()],
        "roster": [{"position": e.position, "user": user_ref(e.user)} for e in area.roster.all()],
    }


def product_area_fields(data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    if "owning_team_id" in out:
        out["owning_team"] = out.pop("owning_team_id")
    return out


# --- tokens -----------------------------------------------------------------------------


class TokenIn(Schema):
    name: str = ""


class TokenOut(Schema):
    prefix: str
    name: str
    user_id: int
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreatedOut(TokenOut):
    token: str = Field(..., description="the secret: shown only in this response")


class TokenPage(Schema):
    results: list[TokenOut]
    meta: PageMeta
    links: PageLinks


def token_out(token: ApiToken) -> dict[str, Any]:
    return {
        "prefix": token.prefix,
        "name": token.name,
        "user_id": token.user_id,
        "created_at": token.created_at,
        "last_used_at": token.last_used_at,
        "revoked_at": token.revoked_at,
    }
