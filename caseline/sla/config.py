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


def calendar_users(cal: Calendar) -> list[str]:
    """What still uses the calendar (a delete is refused while this is not empty)."""
    users = []
    if (
        Target.objects.filter(calendar=cal).exists()
        or Target.objects.filter(after_hours_calendar=cal).exists()
    ):
        users.append("SLA targets")
    if cal.unions.exists():
        users.append("union calendars")
    # Any clock not fulfilled: running, paused or suspended clocks resume on it.
    if Clock.objects.filter(calendar=cal.name, fulfilled_at__isnull=True).exists():
        users.append("ticket clocks (running, paused or suspended)")
    from caseline.accounts.models import Region

    if Region.objects.filter(shift_calendar=cal.name).exists():
        users.append("regions (shift calendar)")
    return users


def delete_calendar(cal: Calendar, actor: Any) -> None:
    with transaction.atomic():
        users = calendar_users(cal)
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

    return actions.action_names()  # built-ins and actions registered by higher apps


MAX_AFTER_BREACH = 365 * 86400
MAX_ORDER = 10_000
MAX_POSITION = 1_000_000


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_params(errors: dict[str, str], q: str, action: Any, params: dict) -> None:
    """Per action, the params a rule may carry (checked here, not at firing time)."""
    from caseline.sla import actions as act

    allowed = {"notify": {"to", "label"}, "raise_priority": {"to"}}.get(str(action), set())
    allowed = allowed | set(act.REGISTERED_PARAMS.get(str(action), ())) | {"when"}
    if "when" in params and params["when"] not in act.WHEN_VALUES:
        errors[f"{q}.when"] = f"one of {', '.join(act.WHEN_VALUES)}"
    for k in sorted(set(params) - allowed):
        errors[f"{q}.{k}"] = f"not a parameter of {action}"
    check = act.REGISTERED_CHECKS.get(str(action))
    if check is not None:
        for k, problem in check(params).items():
            errors.setdefault(f"{q}.{k}", problem)
    if "to" not in params or "to" not in allowed:
        return
    to = params["to"]
    if action == "notify":
        names = [to] if isinstance(to, str) else to
        if (
            not isinstance(names, list)
            or not names
            or any(not isinstance(n, str) or n not in act.NOTIFY_ROLES for n in names)
        ):
            errors[f"{q}.to"] = f"a non-empty list of: {', '.join(act.NOTIFY_ROLES)}"
    elif action == "raise_priority" and to not in act.PRIORITY_ORDER:
        errors[f"{q}.to"] = f"one of {', '.join(act.PRIORITY_ORDER)}"
    if (
        action == "notify"
        and "label" in params
        and not (isinstance(params["label"], str) and len(params["label"]) <= 200)
    ):
        errors[f"{q}.label"] = "a text of at most 200 characters"


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
        elif ah and not business:
            errors[f"{p}.after_hours_calendar"] = "only for business-time targets"
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
            if not _is_int(val) or val < 0:
                errors[f"{q}.value"] = "a number >= 0"
            elif thr == "percent" and not 1 <= val <= 100:
                errors[f"{q}.value"] = "a percentage 1-100"
            elif thr == "after_breach" and val > MAX_AFTER_BREACH:
                errors[f"{q}.value"] = f"at most {MAX_AFTER_BREACH} seconds after the breach"
            order = r.get("order", j)
            if order is None:
                order = j
            if not _is_int(order) or not 0 <= order <= MAX_ORDER:
                errors[f"{q}.order"] = f"a number 0-{MAX_ORDER}"
                order = 0
            if r.get("action") not in actions:
                errors[f"{q}.action"] = f"must be one of {', '.join(actions)}"
            params = r.get("params") or {}
            if not isinstance(params, dict):
                errors[f"{q}.params"] = "must be an object"
            else:
                _check_params(errors, f"{q}.params", r.get("action"), params)
            rules.append(
                {
                    "order": order,
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
        if not _is_int(pos) or not 0 <= pos <= MAX_POSITION:
            errors["position"] = f"a number 0-{MAX_POSITION}"
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
        from .services import rematch_open

        rematch_open(actor=actor)
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
        from .services import rematch_open

        rematch_open(actor=actor)  # conditions, position, active, paused clocks
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
        from .services import rematch_open

        rematch_open(actor=actor)  # its clocks move to the policies that apply now
    polmod.invalidate()
