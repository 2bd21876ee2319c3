"""Use-cases that change the SLA configuration: stored calendars and policies (with their
targets and escalation rules). Each one validates everything first (ValidationFailed,
nothing written), writes, appends an audit event, and recomputes the running clocks that
depend on what changed (``services.recompute``).
"""

from __future__ import annotations

import re
from typing import Any

from django.db import transaction
from django.db.models import Max

from caseline.audit.services import record
from caseline.errors import Conflict, ValidationFailed
from caseline.timesource import now

from . import calendars as calmod
from . import policies as polmod
from .clockstate import KINDS, ROLES
from .models import Calendar, Clock, EscalationRule, Policy, Target

CAL_FIELDS = (
    "description",
    "kind",
    "time_zone",
    "hours",
    "holidays",
    "closed_dates",
    "extra_open",
    "members",
)
POLICY_FIELDS = (
    "name",
    "description",
    "position",
    "active",
    "role",
    "tiers",
    "severities",
    "channels",
    "product_areas",
    "pause_statuses",
    "targets",
)
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")


def _invalidate() -> None:
    calmod.invalidate()
    transaction.on_commit(calmod.invalidate)


# --- calendars -------------------------------------------------------------------------------


def _clean_calendar(data: dict[str, Any], existing: Calendar | None) -> dict[str, Any]:
    errors: dict[str, str] = {}
    unknown = set(data) - set(CAL_FIELDS) - {"name"}
    for k in sorted(unknown):
        errors[k] = "unknown field"
    out = dict(data)
    kind = data.get("kind", existing.kind if existing else Calendar.Kind.HOURS)
    if kind not in Calendar.Kind.values:
        errors["kind"] = "must be hours or union"
    if existing is None:
        name = str(data.get("name") or "")
        if not SLUG.match(name):
            errors["name"] = "lower-case letters, digits, - and _ (e.g. amer-business)"
        elif Calendar.objects.filter(name=name).exists():
            errors["name"] = f"a calendar named {name!r} exists"
    elif "name" in data and data["name"] != existing.name:
        errors["name"] = "a calendar cannot be renamed (regions and clocks refer to its name)"
    if kind == Calendar.Kind.HOURS:
        merged = {
            f: data.get(f, getattr(existing, f) if existing else None)
            for f in ("time_zone", "hours", "holidays", "closed_dates", "extra_open")
        }
        merged["time_zone"] = merged["time_zone"] or "UTC"
        if merged["hours"] is None:
            merged["hours"] = "Mon-Fri 08:00-17:00"
        try:
            out.update(calmod.clean_hours_fields(merged))
        except ValidationFailed as exc:
            errors.update(exc.fields)
    if "members" in data or (kind == Calendar.Kind.UNION and existing is None):
        names = list(data.get("members") or [])
        found = {c.name: c for c in Calendar.objects.filter(name__in=names)}
        missing = [n for n in names if n not in found]
        if missing:
            errors["members"] = f"unknown calendars: {', '.join(map(str, missing))}"
        elif kind == Calendar.Kind.UNION and not names:
            errors["members"] = "a union needs at least one member calendar"
        elif existing is not None and existing.name in names:
            errors["members"] = "a calendar cannot contain itself"
        out["members"] = [found[n] for n in names if n in found]
    if errors:
        raise ValidationFailed("the calendar is not valid", fields=errors)
    return out


def _next_version() -> int:
    return int(Calendar.objects.aggregate(v=Max("version"))["v"] or 0) + 1


def _check_buildable(cal: Calendar) -> None:
    calmod.invalidate()
    try:
        calmod._build(cal.name, ())
    except ValidationFailed as exc:
        raise ValidationFailed(exc.message, fields={"members": exc.message})


def _dependants(name: str) -> list[str]:
    """``name`` and every union that contains it, directly or not."""
    out, todo = [name], [name]
    while todo:
        cur = todo.pop()
        for u in Calendar.objects.filter(members__name=cur).values_list("name", flat=True):
            if u not in out:
                out.append(u)
                todo.append(u)
    return out


def create_calendar(actor: Any, **data: Any) -> Calendar:
    cleaned = _clean_calendar(data, None)
    with transaction.atomic():
        members = cleaned.pop("members", [])
        fields = {k: v for k, v in cleaned.items() if k in CAL_FIELDS or k == "name"}
        cal = Calendar.objects.create(
            **fields, version=_next_version(), created_at=now(), updated_at=now()
        )
        if members:
            cal.members.set(members)
        _check_buildable(cal)
        record(
            "sla_calendar.changed",
            "sla_calendar",
            cal.pk,
            actor=actor,
            data={"action": "created", "name": cal.name},
        )
        _invalidate()
    return cal


def update_calendar(cal: Calendar, actor: Any, **changes: Any) -> Calendar:
    from .services import recompute

    cleaned = _clean_calendar(changes, cal)
    with transaction.atomic():
        diff: dict[str, tuple[Any, Any]] = {}
        members = cleaned.pop("members", None)
        for k, v in cleaned.items():
            if k in CAL_FIELDS and k in changes and getattr(cal, k) != v:
                diff[k] = (getattr(cal, k), v)
                setattr(cal, k, v)
        if members is not None:
            old = sorted(cal.members.values_list("name", flat=True))
            new = sorted(m.name for m in members)
            if old != new:
                diff["members"] = (old, new)
                cal.members.set(members)
        if not diff:
            return cal
        cal.version = _next_version()
        cal.updated_at = now()
        cal.save()
        _check_buildable(cal)
        record(
            "sla_calendar.changed",
            "sla_calendar",
            cal.pk,
            actor=actor,
            changes=diff,
            data={"action": "updated", "name": cal.name},
        )
        _invalidate()
        recompute(calendars=_dependants(cal.name), actor=actor)
    return cal


def delete_calendar(cal: Calendar, actor: Any) -> None:
    with transaction.atomic():
        users = []
        if (
            Target.objects.filter(calendar=cal).exists()
            or Target.objects.filter(after_hours_calendar=cal).exists()
        ):
            users.append("SLA targets")
        if cal.unions.exists():
            users.append("union calendars")
        if Clock.objects.filter(calendar=cal.name, running_since__isnull=False).exists():
            users.append("running ticket clocks")
        from caseline.accounts.models import Region

        if Region.objects.filter(shift_calendar=cal.name).exists():
            users.append("regions (shift calendar)")
        if users:
            raise Conflict(
                f"calendar {cal.name!r} is in use by {', '.join(users)}",
                fields={"name": "in use"},
            )
        pk, name = cal.pk, cal.name
        cal.delete()
        record(
            "sla_calendar.changed",
            "sla_calendar",
            pk,
            actor=actor,
            data={"action": "deleted", "name": name},
        )
        _invalidate()


# --- policies --------------------------------------------------------------------------------


def _list(errors, field: str, value: Any, allowed=None, cast=str) -> list:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        errors[field] = "must be a list"
        return []
    out = []
    for v in value:
        try:
            v = cast(v)
        except (TypeError, ValueError):
            errors[field] = f"bad value {v!r}"
            continue
        if allowed is not None and v not in allowed:
            errors[field] = f"{v!r} is not one of {', '.join(map(str, allowed))}"
            continue
        out.append(v)
    return sorted(set(out), key=str)


def _action_names() -> tuple[str, ...]:
    from caseline.sla import actions

    return tuple(actions.ACTION_NAMES)


def _clean_targets(errors: dict[str, str], items: Any) -> list[dict[str, Any]]:
    if not isinstance(items, (list, tuple)):
        errors["targets"] = "must be a list"
        return []
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    names = set(Calendar.objects.values_list("name", flat=True)) | {calmod.ALWAYS_OPEN}
    actions = _action_names()
    for i, t in enumerate(items):
        p = f"targets.{i}"
        if not isinstance(t, dict):
            errors[p] = "must be an object"
            continue
        kind = t.get("kind")
        if kind not in KINDS:
            errors[f"{p}.kind"] = f"must be one of {', '.join(KINDS)}"
        elif kind in seen:
            errors[f"{p}.kind"] = f"{kind} given twice"
        seen.add(str(kind))
        seconds = t.get("seconds")
        if (
            not isinstance(seconds, int)
            or isinstance(seconds, bool)
            or not 0 < seconds <= 10 * 365 * 86400
        ):
            errors[f"{p}.seconds"] = "a positive number of seconds"
        business = bool(t.get("business", True))
        cal = t.get("calendar") or ""
        if business and not cal:
            errors[f"{p}.calendar"] = "business time needs a calendar"
        elif cal and cal not in names:
            errors[f"{p}.calendar"] = f"no calendar named {cal!r}"
        ah = t.get("after_hours_calendar") or ""
        if ah and ah not in names:
            errors[f"{p}.after_hours_calendar"] = f"no calendar named {ah!r}"
        rules = []
        for j, r in enumerate(t.get("rules") or []):
            q = f"{p}.rules.{j}"
            if not isinstance(r, dict):
                errors[q] = "must be an object"
                continue
            thr = r.get("threshold")
            val = r.get("value")
            if thr not in EscalationRule.Threshold.values:
                errors[f"{q}.threshold"] = "percent or after_breach"
            if not isinstance(val, int) or isinstance(val, bool) or val < 0:
                errors[f"{q}.value"] = "a number >= 0"
            elif thr == "percent" and not 1 <= val <= 100:
                errors[f"{q}.value"] = "a percentage 1-100"
            if r.get("action") not in actions:
                errors[f"{q}.action"] = f"must be one of {', '.join(actions)}"
            params = r.get("params") or {}
            if not isinstance(params, dict):
                errors[f"{q}.params"] = "must be an object"
            rules.append(
                {
                    "order": int(r.get("order", j) or 0),
                    "threshold": thr,
                    "value": val,
                    "action": r.get("action"),
                    "params": params if isinstance(params, dict) else {},
                    "active": bool(r.get("active", True)),
                }
            )
        out.append(
            {
                "kind": kind,
                "seconds": seconds,
                "business": business,
                "calendar": cal if business else "",
                "after_hours_calendar": ah,
                "rules": rules,
            }
        )
    return out


def _clean_policy(data: dict[str, Any], existing: Policy | None) -> dict[str, Any]:
    from caseline.accounts.models import Organization, ProductArea
    from caseline.tickets.models import Channel
    from caseline.tickets.states import Status

    errors: dict[str, str] = {}
    for k in sorted(set(data) - set(POLICY_FIELDS)):
        errors[k] = "unknown field"
    out: dict[str, Any] = {}
    if "name" in data or existing is None:
        name = str(data.get("name") or "").strip()
        if not name or len(name) > 120:
            errors["name"] = "1-120 characters"
        elif Policy.objects.filter(name=name).exclude(pk=getattr(existing, "pk", None)).exists():
            errors["name"] = f"a policy named {name!r} exists"
        out["name"] = name
    if "description" in data:
        out["description"] = str(data["description"] or "")
    if "position" in data:
        pos = data["position"]
        if not isinstance(pos, int) or pos < 0:
            errors["position"] = "a number >= 0"
        out["position"] = pos
    if "active" in data:
        out["active"] = bool(data["active"])
    if "role" in data:
        if data["role"] not in ROLES:
            errors["role"] = f"must be one of {', '.join(ROLES)}"
        out["role"] = data["role"]
    if "tiers" in data:
        out["tiers"] = _list(errors, "tiers", data["tiers"], Organization.Tier.values)
    if "severities" in data:
        out["severities"] = _list(errors, "severities", data["severities"], [1, 2, 3, 4], int)
    if "channels" in data:
        out["channels"] = _list(errors, "channels", data["channels"], Channel.values)
    if "product_areas" in data:
        ids = _list(errors, "product_areas", data["product_areas"], None, int)
        known = set(ProductArea.objects.filter(pk__in=ids).values_list("pk", flat=True))
        if set(ids) - known:
            errors["product_areas"] = f"unknown product areas: {sorted(set(ids) - known)}"
        out["product_areas"] = ids
    if "pause_statuses" in data:
        allowed = [s for s in Status.values if s not in ("solved", "closed")]
        out["pause_statuses"] = _list(errors, "pause_statuses", data["pause_statuses"], allowed)
    if "targets" in data:
        out["targets"] = _clean_targets(errors, data["targets"])
    if errors:
        raise ValidationFailed("the SLA policy is not valid", fields=errors)
    return out


def _write_targets(policy: Policy, targets: list[dict[str, Any]]) -> list[int]:
    """Replace the policy's targets, keeping the row (and id) of a kind that stays."""
    cals = {c.name: c for c in Calendar.objects.all()}
    existing = {t.kind: t for t in policy.targets.all()}
    touched: list[int] = []
    for spec in targets:
        t = existing.pop(spec["kind"], None) or Target(policy=policy, kind=spec["kind"])
        t.seconds = spec["seconds"]
        t.business = spec["business"]
        t.calendar = cals.get(spec["calendar"]) if spec["calendar"] else None
        t.after_hours_calendar = (
            cals.get(spec["after_hours_calendar"]) if spec["after_hours_calendar"] else None
        )
        t.save()
        touched.append(t.pk)
        _write_rules(t, spec["rules"])
    for t in existing.values():
        touched.append(t.pk)
        t.delete()
    return touched


def _write_rules(target: Target, rules: list[dict[str, Any]]) -> None:
    """Replace a target's rules, keeping the row (and id) of an unchanged rule: a clock's
    timer keys name rule ids, so a rule that already fired for a clock cycle stays fired."""
    old = list(target.rules.all())
    kept: list[int] = []
    new: list[EscalationRule] = []
    for r in rules:
        same = next(
            (
                o
                for o in old
                if o.pk not in kept
                and (o.threshold, o.value, o.action, o.params)
                == (r["threshold"], r["value"], r["action"], r["params"])
            ),
            None,
        )
        if same is None:
            new.append(EscalationRule(target=target, **r))
            continue
        kept.append(same.pk)
        if (same.order, same.active) != (r["order"], r["active"]):
            same.order, same.active = r["order"], r["active"]
            same.save(update_fields=["order", "active"])
    target.rules.exclude(pk__in=kept).delete()
    EscalationRule.objects.bulk_create(new)


def _policy_snapshot(policy: Policy) -> dict[str, Any]:
    from .api import policy_out

    return policy_out(policy)


def create_policy(actor: Any, **data: Any) -> Policy:
    cleaned = _clean_policy(data, None)
    with transaction.atomic():
        targets = cleaned.pop("targets", [])
        policy = Policy.objects.create(**cleaned, created_at=now(), updated_at=now())
        _write_targets(policy, targets)
        record(
            "sla_policy.changed",
            "sla_policy",
            policy.pk,
            actor=actor,
            data={"action": "created", "policy": _policy_snapshot(policy)},
        )
        _invalidate()
    return policy


def update_policy(policy: Policy, actor: Any, **changes: Any) -> Policy:
    from .services import recompute

    cleaned = _clean_policy(changes, policy)
    with transaction.atomic():
        before = _policy_snapshot(policy)
        targets = cleaned.pop("targets", None)
        for k, v in cleaned.items():
            setattr(policy, k, v)
        policy.updated_at = now()
        policy.save()
        touched = _write_targets(policy, targets) if targets is not None else []
        after = _policy_snapshot(policy)
        if before == {**after, "updated_at": before["updated_at"]}:
            return policy
        record(
            "sla_policy.changed",
            "sla_policy",
            policy.pk,
            actor=actor,
            data={"action": "updated", "before": before, "after": after},
        )
        _invalidate()
        ids = set(touched) | set(policy.targets.values_list("pk", flat=True))
        recompute(target_ids=ids, actor=actor)
    return policy


def delete_policy(policy: Policy, actor: Any) -> None:
    with transaction.atomic():
        snap = _policy_snapshot(policy)
        pk = policy.pk
        policy.delete()
        record(
            "sla_policy.changed",
            "sla_policy",
            pk,
            actor=actor,
            data={"action": "deleted", "policy": snap},
        )
        _invalidate()
    polmod.invalidate()
