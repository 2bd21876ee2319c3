"""Triage: ordered rules set severity, product area, team and priority of a new ticket.

Evaluation (``apply_triage`` and ``dry_run`` share it):

1. Active :class:`TriageRule` rows in ``(position, id)`` order. Rules are edited live:
   they (with the product areas and teams they name) are cached per process and checked
   against the rows at every call (:mod:`caseline.tablestamp`: one statement, so an edit
   made anywhere counts for the next ticket, as when they were read per call). A rule matches when
   every condition it sets holds: channel, organization, the organization's tier, any of
   its keywords as a whole word/phrase in subject + text (case-insensitive, Unicode-aware),
   and ``if_product_area`` equal to the ticket's product area at that point. A matching
   rule sets each of its actions unless the field was chosen explicitly by the requester
   or agent, or an earlier matching rule already set it. ``stop_processing`` ends the walk.
2. If the product area is still empty, one is suggested from the text: the area whose
   comma-separated ``keywords`` occur most often (whole words) wins; a tie suggests none.
3. If the team is still empty and the product area has an owning team, that team is used.

Rule changes go through :func:`create_rule`, :func:`update_rule` and :func:`delete_rule`.
"""

from __future__ import annotations

import copy
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from django.db import transaction
from django.db.models import Model

from caseline.accounts.models import Organization, ProductArea, Team
from caseline.audit.services import record
from caseline.errors import ValidationFailed
from caseline.tablestamp import Part, TableStamp
from caseline.timesource import now

from .models import Channel, Priority, Severity, TriageRule

# Ticket fields triage may set, with the rule attribute that sets each.
ACTIONS: dict[str, str] = {
    "severity": "set_severity",
    "product_area": "set_product_area",
    "team": "set_team",
    "priority": "set_priority",
}


# --- keyword matching -------------------------------------------------------------------


def _fold(text: str) -> str:
    """Normalise for case-insensitive, Unicode-aware comparison."""
    return unicodedata.normalize("NFKC", text).casefold()


def split_keywords(raw: str | list[str] | tuple[str, ...] | None) -> list[str]:
    """The non-empty, stripped, de-duplicated keywords of a comma-separated string."""
    if raw is None:
        return []
    items = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
    seen: dict[str, str] = {}
    for item in items:
        word = " ".join(str(item).split())
        if word and _fold(word) not in seen:
            seen[_fold(word)] = word
    return list(seen.values())


@lru_cache(maxsize=2048)
def _pattern(keywords: str) -> re.Pattern[str] | None:
    """One regex matching any of the comma-separated ``keywords`` as a whole word/phrase.

    Keyed by the keyword text itself, so it can never go stale when a rule is edited.
    A keyword is bounded by "not a word character" on both sides rather than ``\\b``, so
    keywords that begin or end with punctuation ("C++", ".NET") work, while "sso" does not
    match inside "lasso". Whitespace inside a phrase matches any run of whitespace.
    """
    words = split_keywords(keywords)
    if not words:
        return None
    alternatives = sorted(
        (r"\s+".join(re.escape(part) for part in _fold(w).split()) for w in words),
        key=len,
        reverse=True,
    )
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)")


def keyword_hits(keywords: str, folded_text: str) -> int:
    """How many times any of ``keywords`` occurs in ``folded_text`` (already folded)."""
    pattern = _pattern(keywords)
    if pattern is None:
        return 0
    return sum(1 for _ in pattern.finditer(folded_text))


def matches_keywords(keywords: str, text: str) -> bool:
    """True when any comma-separated keyword occurs in ``text`` as a whole word/phrase."""
    pattern = _pattern(keywords)
    return pattern is not None and pattern.search(_fold(text)) is not None


# --- evaluation -------------------------------------------------------------------------


@dataclass
class Outcome:
    """What triage decided: the fields it set (name -> value), and why."""

    values: dict[str, Any] = field(default_factory=dict)
    rules: list[TriageRule] = field(default_factory=list)
    suggested_product_area: bool = False


def _rules_query():
    return (
        TriageRule.objects.filter(active=True)
        .select_related("set_product_area__owning_team", "set_team")
        .defer(*_DEFERRED)
        .order_by("position", "id")
    )


def _areas_query():
    return (
        ProductArea.objects.exclude(keywords="")
        .select_related("owning_team")
        .defer("owning_team__last_assigned_user_id")
        .order_by("id")
    )


# The round-robin cursor changes at every auto-assignment: it is not part of the cached
# teams (deferred: read from the database if anything asks for it) nor of their stamp.
_DEFERRED = (
    "set_team__last_assigned_user_id",
    "set_product_area__owning_team__last_assigned_user_id",
)


def _load(_params) -> tuple[tuple[TriageRule, ...], tuple[ProductArea, ...]]:
    return tuple(_rules_query()), tuple(_areas_query())


# Active rules, product areas (suggestion, owning teams) and teams, per process; checked
# against the rows at every call.
_CONFIG = TableStamp(
    [
        Part(TriageRule, '"active"'),
        Part(ProductArea),
        Part(Team, exclude=("last_assigned_user_id",)),
    ],
    _load,
)


def _own(value: Any) -> Any:
    """A private copy of a cached model instance (the caller may set it on a ticket)."""
    return copy.deepcopy(value) if isinstance(value, Model) else value


def _evaluate(
    *,
    subject: str,
    text: str,
    channel: str,
    organization_id: int | None,
    tier_of,
    product_area: ProductArea | None,
    team_id: int | None,
    explicit: frozenset[str],
) -> Outcome:
    """Walk the rules, then the suggestion and the owning-team fallback (no writes).

    ``tier_of`` is a callable returning the organization's tier (fetched only when a rule
    asks for it). ``product_area`` / ``team_id`` are the ticket's current values.
    """
    out = Outcome()
    folded = _fold(f"{subject}\n{text}")
    tier: list[str | None] = []  # memo for tier_of()
    current_area = product_area
    rules, areas = _CONFIG.get()
    for rule in rules:
        if rule.channel and rule.channel != channel:
            continue
        if rule.organization_id and rule.organization_id != organization_id:
            continue
        if rule.tier:
            if not tier:
                tier.append(tier_of())
            if rule.tier != tier[0]:
                continue
        if rule.if_product_area_id and rule.if_product_area_id != (
            current_area.pk if current_area else None
        ):
            continue
        if rule.keywords:
            pattern = _pattern(rule.keywords)
            if pattern is not None and pattern.search(folded) is None:
                continue
        out.rules.append(rule)
        for name, attr in ACTIONS.items():
            if name in explicit or name in out.values:
                continue
            value = getattr(rule, attr)
            if value is None or value == "":
                continue
            out.values[name] = value
            if name == "product_area":
                current_area = value
        if rule.stop_processing:
            break

    if current_area is None and "product_area" not in explicit:
        suggestion = suggest_product_area(folded, already_folded=True, areas=areas)
        if suggestion is not None:
            out.values["product_area"] = suggestion
            out.suggested_product_area = True
            current_area = suggestion

    if (
        team_id is None
        and "team" not in out.values
        and "team" not in explicit
        and current_area is not None
        and current_area.owning_team_id
    ):
        out.values["team"] = current_area.owning_team
    out.values = {name: _own(value) for name, value in out.values.items()}
    return out


def suggest_product_area(
    text: str, *, already_folded: bool = False, areas: Iterable[ProductArea] | None = None
) -> ProductArea | None:
    """The product area whose keywords occur most often in ``text``; None on a tie/no hit.
    ``areas``: the areas with keywords in id order (default: the cached ones)."""
    folded = text if already_folded else _fold(text)
    best: ProductArea | None = None
    best_score = 0
    tie = False
    own = areas is None
    if areas is None:
        areas = _CONFIG.get()[1]
    for area in areas:
        score = keyword_hits(area.keywords, folded)
        if score > best_score:
            best, best_score, tie = area, score, False
        elif score and score == best_score:
            tie = True
    if tie or best is None:
        return None
    return _own(best) if own else best


def _ref(value: Any) -> Any:
    return value.pk if hasattr(value, "pk") else value


def apply_triage(ticket, text: str, *, explicit: frozenset[str] = frozenset(), actor=None) -> dict:
    """Apply triage to a freshly created ticket inside the caller's transaction.

    Sets severity / product_area / team / priority on ``ticket`` (and saves it) from the
    ordered active TriageRules, then the product-area suggestion from the text, then the
    product area's owning team. Fields named in ``explicit`` were chosen by the requester or
    agent and are never overridden. Returns {field: (old, new)} of what it changed and
    records one "ticket.triaged" audit event when anything changed.

    ``text`` is the first message's body; the ticket's subject is added to it (unless
    ``text`` already starts with the subject). Product area and team appear in the result
    as ids. The audit event carries
    ``data={"rules": [ids of matched rules], "suggested_product_area": bool}``.
    """
    explicit = frozenset(explicit)
    current_area = None
    if ticket.product_area_id:
        if type(ticket).product_area.is_cached(ticket):
            current_area = ticket.product_area
        else:
            current_area = ProductArea.objects.select_related("owning_team").get(
                pk=ticket.product_area_id
            )
    organization_id = ticket.organization_id

    def tier_of() -> str | None:
        if not organization_id:
            return None
        return ticket.organization.tier

    subject = ticket.subject or ""
    text = text or ""
    if subject and text.startswith(subject):
        subject = ""  # the caller passed subject + body already; count the subject once
    outcome = _evaluate(
        subject=subject,
        text=text,
        channel=ticket.channel,
        organization_id=organization_id,
        tier_of=tier_of,
        product_area=current_area,
        team_id=ticket.team_id,
        explicit=explicit,
    )
    changes: dict[str, tuple[Any, Any]] = {}
    for name, value in outcome.values.items():
        if name in ("product_area", "team"):
            old = getattr(ticket, f"{name}_id")
            if old != value.pk:
                setattr(ticket, name, value)
                changes[name] = (old, value.pk)
        else:
            old = getattr(ticket, name)
            if old != value:
                setattr(ticket, name, value)
                changes[name] = (old, value)
    if not changes:
        return {}
    with transaction.atomic(savepoint=False):
        ticket.updated_at = now()
        ticket.save(update_fields=[*changes, "updated_at"])
        record(
            "ticket.triaged",
            "ticket",
            ticket.pk,
            actor=actor,
            ticket_id=ticket.pk,
            changes=changes,
            data={
                "rules": [r.pk for r in outcome.rules],
                "suggested_product_area": outcome.suggested_product_area,
            },
        )
    return changes


def dry_run(
    subject: str,
    text: str,
    channel: str,
    organization: Organization | int | None,
    *,
    product_area: ProductArea | int | None = None,
) -> dict[str, Any]:
    """What triage would set for a ticket like this, without writing anything.

    Returns {"severity", "priority", "product_area", "team" (each the value triage would
    set, or None when it sets nothing; areas and teams as model instances),
    "rules": [matched TriageRule], "suggested_product_area": bool}. ``product_area``, when
    given, plays the requester's explicit choice.
    """
    errors: dict[str, str] = {}
    if channel not in Channel.values:
        errors["channel"] = f"must be one of {', '.join(Channel.values)}"
    org: Organization | None = None
    if isinstance(organization, Organization):
        org = organization
    elif organization is not None:
        org = Organization.objects.filter(pk=organization).first()
        if org is None:
            errors["organization_id"] = f"no organization with id {organization}"
    area: ProductArea | None = None
    if isinstance(product_area, ProductArea):
        area = product_area
    elif product_area is not None:
        area = ProductArea.objects.select_related("owning_team").filter(pk=product_area).first()
        if area is None:
            errors["product_area_id"] = f"no product area with id {product_area}"
    if errors:
        raise ValidationFailed("the dry run input is not valid", fields=errors)
    outcome = _evaluate(
        subject=subject or "",
        text=text or "",
        channel=channel,
        organization_id=org.pk if org else None,
        tier_of=lambda: org.tier if org else None,
        product_area=area,
        team_id=None,
        explicit=frozenset({"product_area"}) if area is not None else frozenset(),
    )
    result: dict[str, Any] = {name: outcome.values.get(name) for name in ACTIONS}
    result["rules"] = outcome.rules
    result["suggested_product_area"] = outcome.suggested_product_area
    return result


# --- rule services ----------------------------------------------------------------------

RULE_FIELDS = (
    "name",
    "position",
    "active",
    "channel",
    "organization",
    "tier",
    "keywords",
    "if_product_area",
    "set_severity",
    "set_product_area",
    "set_team",
    "set_priority",
    "stop_processing",
)
_FK_MODELS = {
    "organization": Organization,
    "if_product_area": ProductArea,
    "set_product_area": ProductArea,
    "set_team": Team,
}
_DEFAULTS: dict[str, Any] = {
    "position": 100,
    "active": True,
    "channel": "",
    "organization": None,
    "tier": "",
    "keywords": "",
    "if_product_area": None,
    "set_severity": None,
    "set_product_area": None,
    "set_team": None,
    "set_priority": "",
    "stop_processing": False,
}


def _current(rule: TriageRule, name: str) -> Any:
    return getattr(rule, f"{name}_id") if name in _FK_MODELS else getattr(rule, name)


def _clean(fields: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Validate and normalise rule fields; FKs come back as model instances (or None).

    Keys may be the model field names or, for foreign keys, ``<name>_id``; error keys use
    the name the caller gave.
    """
    cleaned: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key, value in fields.items():
        name = key[:-3] if key.endswith("_id") and key[:-3] in _FK_MODELS else key
        if name not in RULE_FIELDS:
            errors[key] = "unknown field"
            continue
        if name == "name":
            value = " ".join(str(value or "").split())
            if not value:
                errors[key] = "must not be empty"
            elif len(value) > 120:
                errors[key] = "at most 120 characters"
        elif name == "position":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                errors[key] = "must be a whole number >= 0"
            elif value > 2_147_483_647:
                errors[key] = "too large"
        elif name in ("active", "stop_processing"):
            if not isinstance(value, bool):
                errors[key] = "must be true or false"
        elif name == "channel":
            value = value or ""
            if value and value not in Channel.values:
                errors[key] = f"must be one of {', '.join(Channel.values)} (or empty)"
        elif name == "tier":
            value = value or ""
            if value and value not in Organization.Tier.values:
                errors[key] = f"must be one of {', '.join(Organization.Tier.values)} (or empty)"
        elif name == "set_priority":
            value = value or ""
            if value and value not in Priority.values:
                errors[key] = f"must be one of {', '.join(Priority.values)} (or empty)"
        elif name == "set_severity":
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, int)
                or value not in Severity.values
            ):
                errors[key] = "must be between 1 and 4"
        elif name == "keywords":
            if value is not None and not isinstance(value, (str, list, tuple)):
                errors[key] = "must be a comma-separated string or a list of strings"
            else:
                value = ", ".join(split_keywords(value))
                if len(value) > 10_000:
                    errors[key] = "too long"
        elif name in _FK_MODELS:
            model = _FK_MODELS[name]
            if value is not None and not isinstance(value, model):
                if isinstance(value, bool) or not isinstance(value, int):
                    errors[key] = "must be an id"
                else:
                    found = model.objects.filter(pk=value).first()
                    if found is None:
                        errors[key] = f"no {model._meta.verbose_name} with id {value}"
                    value = found
        cleaned[name] = value
    return cleaned, errors


def _check_actions(state: dict[str, Any], errors: dict[str, str]) -> None:
    if not any(state.get(attr) not in (None, "") for attr in ACTIONS.values()):
        errors.setdefault(
            "actions",
            "a rule needs at least one action (set_severity, set_product_area, set_team, "
            "set_priority)",
        )


def create_rule(actor, **fields: Any) -> TriageRule:
    """Create a triage rule; ValidationFailed (nothing written) on bad input."""
    cleaned, errors = _clean(fields)
    if "name" not in cleaned and "name" not in errors:
        errors["name"] = "required"
    state = {**_DEFAULTS, **cleaned}
    _check_actions(state, errors)
    if errors:
        raise ValidationFailed("the triage rule is not valid", fields=errors)
    with transaction.atomic():
        rule = TriageRule(created_at=now(), **state)
        rule.save()
        record(
            "triage_rule.changed",
            "triage_rule",
            rule.pk,
            actor=actor,
            changes={
                name: (None, _current(rule, name))
                for name in RULE_FIELDS
                if _current(rule, name) not in (None, "", False) or name == "active"
            },
            data={"action": "created", "name": rule.name},
        )
    return rule


def update_rule(rule: TriageRule, actor, **fields: Any) -> TriageRule:
    """Change some fields of ``rule``; ValidationFailed (nothing written) on bad input."""
    cleaned, errors = _clean(fields)
    state = {name: _current(rule, name) for name in RULE_FIELDS}
    state.update(cleaned)
    _check_actions(state, errors)
    if errors:
        raise ValidationFailed("the triage rule is not valid", fields=errors)
    changes: dict[str, tuple[Any, Any]] = {}
    with transaction.atomic():
        for name, value in cleaned.items():
            old = _current(rule, name)
            new = value.pk if hasattr(value, "pk") else value
            if old != new:
                changes[name] = (old, new)
                setattr(rule, name, value)
        if changes:
            rule.save(update_fields=list(changes))
            record(
                "triage_rule.changed",
                "triage_rule",
                rule.pk,
                actor=actor,
                changes=changes,
                data={"action": "updated", "name": rule.name},
            )
    return rule


def delete_rule(rule: TriageRule, actor) -> None:
    """Delete ``rule``; the audit event keeps a snapshot of what it was."""
    with transaction.atomic():
        snapshot = {name: _ref(_current(rule, name)) for name in RULE_FIELDS}
        rule_id = rule.pk
        rule.delete()
        record(
            "triage_rule.changed",
            "triage_rule",
            rule_id,
            actor=actor,
            data={"action": "deleted", "name": snapshot["name"], "rule": snapshot},
        )
