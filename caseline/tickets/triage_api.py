"""/api/v1/triage-rules: list, read, create, change, delete triage rules; dry-run triage."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status

from caseline.api.core import page, require, require_staff
from caseline.errors import NotFound

from . import triage
from .models import Channel, TriageRule

router = Router(tags=["triage"])


class TriageRuleIn(Schema):
    name: str
    position: int = 100
    active: bool = True
    channel: str = ""
    organization_id: int | None = None
    tier: str = ""
    keywords: str | list[str] = ""
    if_product_area_id: int | None = None
    set_severity: int | None = None
    set_product_area_id: int | None = None
    set_team_id: int | None = None
    set_priority: str = ""
    stop_processing: bool = False


class TriageRulePatch(Schema):
    name: str | None = None
    position: int | None = None
    active: bool | None = None
    channel: str | None = None
    organization_id: int | None = None
    tier: str | None = None
    keywords: str | list[str] | None = None
    if_product_area_id: int | None = None
    set_severity: int | None = None
    set_product_area_id: int | None = None
    set_team_id: int | None = None
    set_priority: str | None = None
    stop_processing: bool | None = None


class TriageRuleOut(Schema):
    id: int
    name: str
    position: int
    active: bool
    channel: str
    organization_id: int | None
    tier: str
    keywords: list[str]
    if_product_area_id: int | None
    set_severity: int | None
    set_product_area_id: int | None
    set_team_id: int | None
    set_priority: str
    stop_processing: bool
    created_at: datetime


class TriageRulePage(Schema):
    results: list[TriageRuleOut]
    meta: dict[str, Any]
    links: dict[str, Any]


class DryRunIn(Schema):
    subject: str = ""
    text: str = ""
    channel: str = Channel.WEB
    organization_id: int | None = None
    product_area_id: int | None = None


class Ref(Schema):
    id: int
    name: str


class DryRunOut(Schema):
    severity: int | None
    priority: str | None
    product_area: Ref | None
    team: Ref | None
    suggested_product_area: bool
    rules: list[Ref]


def serialize(rule: TriageRule) -> dict[str, Any]:
    return {
        "id": rule.pk,
        "name": rule.name,
        "position": rule.position,
        "active": rule.active,
        "channel": rule.channel,
        "organization_id": rule.organization_id,
        "tier": rule.tier,
        "keywords": triage.split_keywords(rule.keywords),
        "if_product_area_id": rule.if_product_area_id,
        "set_severity": rule.set_severity,
        "set_product_area_id": rule.set_product_area_id,
        "set_team_id": rule.set_team_id,
        "set_priority": rule.set_priority,
        "stop_processing": rule.stop_processing,
        "created_at": rule.created_at,
    }


def _get(rule_id: int) -> TriageRule:
    rule = TriageRule.objects.filter(pk=rule_id).first()
    if rule is None:
        raise NotFound(f"no triage rule with id {rule_id}")
    return rule


def _ref(obj) -> dict[str, Any] | None:
    return None if obj is None else {"id": obj.pk, "name": obj.name}


@router.get("/triage-rules", response=TriageRulePage)
def list_rules(
    request: HttpRequest, active: bool | None = None, limit: int = 25, cursor: str | None = None
):
    """Triage rules by id (ascending); each carries its evaluation ``position``."""
    require(request, "view_all_tickets")
    qs = TriageRule.objects.all()
    if active is not None:
        qs = qs.filter(active=active)
    return page(request, qs, serialize, limit=limit, cursor=cursor, descending=False)


@router.post("/triage-rules", response={201: TriageRuleOut})
def create_rule(request: HttpRequest, payload: TriageRuleIn):
    user = require(request, "manage_triage")
    rule = triage.create_rule(user, **payload.dict())
    return Status(201, serialize(rule))


@router.post("/triage-rules/dry-run", response=DryRunOut)
def dry_run(request: HttpRequest, payload: DryRunIn):
    """What triage would set for a ticket like this (nothing is written)."""
    require_staff(request)
    result = triage.dry_run(
        payload.subject,
        payload.text,
        payload.channel,
        payload.organization_id,
        product_area=payload.product_area_id,
    )
    return {
        "severity": result["severity"],
        "priority": result["priority"],
        "product_area": _ref(result["product_area"]),
        "team": _ref(result["team"]),
        "suggested_product_area": result["suggested_product_area"],
        "rules": [_ref(r) for r in result["rules"]],
    }


@router.get("/triage-rules/{rule_id}", response=TriageRuleOut)
def get_rule(request: HttpRequest, rule_id: int):
    require(request, "view_all_tickets")
    return serialize(_get(rule_id))


@router.patch("/triage-rules/{rule_id}", response=TriageRuleOut)
def update_rule(request: HttpRequest, rule_id: int, payload: TriageRulePatch):
    user = require(request, "manage_triage")
    rule = triage.update_rule(_get(rule_id), user, **payload.dict(exclude_unset=True))
    return serialize(rule)


@router.delete("/triage-rules/{rule_id}", response={204: None})
def delete_rule(request: HttpRequest, rule_id: int):
    user = require(request, "manage_triage")
    triage.delete_rule(_get(rule_id), user)
    return Status(204, None)
