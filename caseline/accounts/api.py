"""/api/v1 endpoints of the accounts domain: organizations, contacts, staff, teams,
product areas (with SME rosters), the caller (/me) and API tokens.

Handlers parse input, check the permission, call one service or query, and return.
Customers are refused every directory endpoint (they hold no directory permission);
they may read /me and manage their own tokens.
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Status

from caseline.api.core import actor, page, require, require_staff

from . import queries, services
from .schemas import (
    ContactIn,
    ContactMergeIn,
    ContactOut,
    ContactPage,
    ContactPatch,
    MeOut,
    MePatch,
    OrganizationIn,
    OrganizationOut,
    OrganizationPage,
    OrganizationPatch,
    ProductAreaIn,
    ProductAreaOut,
    ProductAreaPage,
    ProductAreaPatch,
    RosterIn,
    StaffIn,
    StaffOut,
    StaffPage,
    StaffPatch,
    TeamIn,
    TeamOut,
    TeamPage,
    TeamPatch,
    TokenCreatedOut,
    TokenIn,
    TokenPage,
    contact_fields,
    contact_out,
    me_out,
    organization_fields,
    organization_out,
    product_area_fields,
    product_area_out,
    staff_out,
    team_fields,
    team_out,
    token_out,
)

router = Router()

READ = "view_directory"

# --- organizations ----------------------------------------------------------------------


@router.get("/organizations", response=OrganizationPage, tags=["organizations"])
def list_organizations(
    request: HttpRequest,
    tier: str | None = None,
    region: str | None = None,
    lifecycle_stage: str | None = None,
    q: str | None = None,
    limit: int = 25,
    cursor: str | None = None,
):
    require(request, READ)
    qs = queries.organizations(tier=tier, region=region, lifecycle_stage=lifecycle_stage, q=q)
    return page(request, qs, organization_out, limit=limit, cursor=cursor)


@router.post("/organizations", response={201: OrganizationOut}, tags=["organizations"])
def create_organization(request: HttpRequest, payload: OrganizationIn):
    user = require(request, "manage_organizations")
    org = services.create_organization(actor=user, **organization_fields(payload.dict()))
    return Status(201, organization_out(queries.get_organization(org.pk)))


@router.get("/organizations/{org_id}", response=OrganizationOut, tags=["organizations"])
def get_organization(request: HttpRequest, org_id: int):
    require(request, READ)
    return organization_out(queries.get_organization(org_id))


@router.patch("/organizations/{org_id}", response=OrganizationOut, tags=["organizations"])
def update_organization(request: HttpRequest, org_id: int, payload: OrganizationPatch):
    user = require(request, "manage_organizations")
    fields = organization_fields(payload.dict(exclude_unset=True))
    services.update_organization(org_id, actor=user, **fields)
    return organization_out(queries.get_organization(org_id))


# --- contacts ---------------------------------------------------------------------------


@router.get("/contacts", response=ContactPage, tags=["contacts"])
def list_contacts(
    request: HttpRequest,
    organization: int | None = None,
    email: str | None = None,
    q: str | None = None,
    include_merged: bool = False,
    limit: int = 25,
    cursor: str | None = None,
):
    require(request, READ)
    qs = queries.contacts(
        organization=organization, email=email, q=q, include_merged=include_merged
    )
    return page(request, qs, contact_out, limit=limit, cursor=cursor)


@router.post("/contacts", response={201: ContactOut}, tags=["contacts"])
def create_contact(request: HttpRequest, payload: ContactIn):
    user = require(request, "manage_contacts")
    contact = services.create_contact(
        actor=user, **contact_fields(payload.dict(exclude_unset=True))
    )
    return Status(201, contact_out(queries.get_contact(contact.pk)))


@router.get("/contacts/{contact_id}", response=ContactOut, tags=["contacts"])
def get_contact(request: HttpRequest, contact_id: int):
    require(request, READ)
    return contact_out(queries.get_contact(contact_id))


@router.patch("/contacts/{contact_id}", response=ContactOut, tags=["contacts"])
def update_contact(request: HttpRequest, contact_id: int, payload: ContactPatch):
    user = require(request, "manage_contacts")
    services.update_contact(
        contact_id, actor=user, **contact_fields(payload.dict(exclude_unset=True))
    )
    return contact_out(queries.get_contact(contact_id))


@router.post("/contacts/{contact_id}/merge", response=ContactOut, tags=["contacts"])
def merge_contact(request: HttpRequest, contact_id: int, payload: ContactMergeIn):
    """Merge this contact into `into`; answers with the surviving contact."""
    user = require(request, "manage_contacts")
    target = services.merge_contacts(contact_id, payload.into, actor=user)
    return contact_out(queries.get_contact(target.pk))


# --- staff ------------------------------------------------------------------------------


@router.get("/staff", response=StaffPage, tags=["staff"])
def list_staff(
    request: HttpRequest,
    role: str | None = None,
    team: int | None = None,
    region: str | None = None,
    available: bool | None = None,
    q: str | None = None,
    limit: int = 25,
    cursor: str | None = None,
):
    require(request, READ)
    qs = queries.staff(role=role, team=team, region=region, available=available, q=q)
    return page(request, qs, staff_out, limit=limit, cursor=cursor)


@router.post("/staff", response={201: StaffOut}, tags=["staff"])
def create_staff(request: HttpRequest, payload: StaffIn):
    user = require(request, "manage_staff")
    created = services.create_staff(actor=user, **payload.dict())
    return Status(201, staff_out(queries.get_staff(created.pk)))


@router.get("/staff/{user_id}", response=StaffOut, tags=["staff"])
def get_staff(request: HttpRequest, user_id: int):
    require(request, READ)
    return staff_out(queries.get_staff(user_id))


@router.patch("/staff/{user_id}", response=StaffOut, tags=["staff"])
def update_staff(request: HttpRequest, user_id: int, payload: StaffPatch):
    user = require(request, "manage_staff")
    services.update_staff(user_id, actor=user, **payload.dict(exclude_unset=True))
    return staff_out(queries.get_staff(user_id))


@router.get("/me", response=MeOut, tags=["staff"])
def me(request: HttpRequest):
    """The caller: staff see their roles and permissions; customers their contact."""
    user = queries.me(actor(request))
    return me_out(user, queries.permissions_of(user))


@router.patch("/me", response=MeOut, tags=["staff"])
def update_me(request: HttpRequest, payload: MePatch):
    """Staff set their own availability (away / back), display name and time zone."""
    user = require_staff(request)
    services.update_staff(user.pk, actor=user, **payload.dict(exclude_unset=True))
    user = queries.me(user)
    return me_out(user, queries.permissions_of(user))


# --- teams ------------------------------------------------------------------------------


@router.get("/teams", response=TeamPage, tags=["teams"])
def list_teams(
    request: HttpRequest,
    region: str | None = None,
    q: str | None = None,
    limit: int = 25,
    cursor: str | None = None,
):
    require(request, READ)
    return page(request, queries.teams(region=region, q=q), team_out, limit=limit, cursor=cursor)


@router.post("/teams", response={201: TeamOut}, tags=["teams"])
def create_team(request: HttpRequest, payload: TeamIn):
    user = require(request, "manage_teams")
    team = services.create_team(actor=user, **team_fields(payload.dict()))
    return Status(201, team_out(queries.get_team(team.pk)))


@router.get("/teams/{team_id}", response=TeamOut, tags=["teams"])
def get_team(request: HttpRequest, team_id: int):
    require(request, READ)
    return team_out(queries.get_team(team_id))


@router.patch("/teams/{team_id}", response=TeamOut, tags=["teams"])
def update_team(request: HttpRequest, team_id: int, payload: TeamPatch):
    user = require(request, "manage_teams")
    services.update_team(team_id, actor=user, **team_fields(payload.dict(exclude_unset=True)))
    return team_out(queries.get_team(team_id))


# --- product areas ----------------------------------------------------------------------


@router.get("/product-areas", response=ProductAreaPage, tags=["product areas"])
def list_product_areas(
    request: HttpRequest,
    owning_team: int | None = None,
    q: str | None = None,
    limit: int = 25,
    cursor: str | None = None,
):
    require(request, READ)
    qs = queries.product_areas(owning_team=owning_team, q=q)
    return page(request, qs, product_area_out, limit=limit, cursor=cursor)


@router.post("/product-areas", response={201: ProductAreaOut}, tags=["product areas"])
def create_product_area(request: HttpRequest, payload: ProductAreaIn):
    user = require(request, "manage_teams")
    area = services.create_product_area(actor=user, **product_area_fields(payload.dict()))
    return Status(201, product_area_out(queries.get_product_area(area.pk)))


@router.get("/product-areas/{area_id}", response=ProductAreaOut, tags=["product areas"])
def get_product_area(request: HttpRequest, area_id: int):
    require(request, READ)
    return product_area_out(queries.get_product_area(area_id))


@router.patch("/product-areas/{area_id}", response=ProductAreaOut, tags=["product areas"])
def update_product_area(request: HttpRequest, area_id: int, payload: ProductAreaPatch):
    user = require(request, "manage_teams")
    fields = product_area_fields(payload.dict(exclude_unset=True))
    services.update_product_area(area_id, actor=user, **fields)
    return product_area_out(queries.get_product_area(area_id))


@router.put("/product-areas/{area_id}/roster", response=ProductAreaOut, tags=["product areas"])
def set_roster(request: HttpRequest, area_id: int, payload: RosterIn):
    """Replace the SME roster: `user_ids` in backup order (position 1 = primary)."""
    user = require(request, "manage_teams")
    services.set_roster(area_id, payload.user_ids, actor=user)
    return product_area_out(queries.get_product_area(area_id))


# --- API tokens -------------------------------------------------------------------------


@router.get("/tokens", response=TokenPage, tags=["tokens"])
def list_tokens(
    request: HttpRequest,
    include_revoked: bool = False,
    limit: int = 25,
    cursor: str | None = None,
):
    """Your own tokens (never their secrets)."""
    qs = queries.tokens_of(actor(request), include_revoked=include_revoked)
    return page(request, qs, token_out, limit=limit, cursor=cursor)


@router.post("/tokens", response={201: TokenCreatedOut}, tags=["tokens"])
def create_token(request: HttpRequest, payload: TokenIn):
    """A new token for yourself; the secret is in this response only."""
    user = actor(request)
    token, secret = services.create_api_token(user, payload.name, actor=user)
    return Status(201, {**token_out(token), "token": secret})


@router.delete("/tokens/{prefix}", response={204: None}, tags=["tokens"])
def revoke_token(request: HttpRequest, prefix: str):
    """Revoke one of your tokens (with manage_staff: anyone's)."""
    user = actor(request)
    services.revoke_api_token(prefix, actor=user, any_user=user.has_perm("accounts.manage_staff"))
    return Status(204, None)
