"""Stored policies -> ``clockstate.PolicySpec`` values and a matcher, cached per process.

The cache is stamped like the calendars' (row count and latest ``updated_at`` of the
policies; every change to a policy, its targets or rules touches the policy's
``updated_at``) and checked at most once a second; changes in this process clear it at
once.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from django.db.models import Count, Max

from . import clockstate as cs
from .models import Policy

CHECK_SECONDS = 1.0

_lock = threading.RLock()
_state: dict[str, object] = {}
_checked_at = 0.0


@dataclass(frozen=True)
class RuleSpec:
    id: int
    target_id: int
    order: int
    threshold: str  # percent | after_breach
    value: int
    action: str
    params: dict


def invalidate() -> None:
    global _checked_at
    with _lock:
        _state.clear()
        _checked_at = 0.0


def _stamp() -> tuple[int, str]:
    agg = Policy.objects.aggregate(n=Count("id"), u=Max("updated_at"))
    return int(agg["n"] or 0), str(agg["u"])


def _load() -> dict[str, object]:
    from .calendars import ALWAYS_OPEN, get_calendar

    specs: list[cs.PolicySpec] = []
    rules: dict[int, list[RuleSpec]] = {}
    for p in Policy.objects.filter(active=True).prefetch_related(
        "targets__calendar", "targets__after_hours_calendar", "targets__rules"
    ):
        pause = frozenset(p.pause_statuses or [])
        targets = []
        for t in p.targets.all():
            cal_name = t.calendar.name if (t.business and t.calendar_id) else ALWAYS_OPEN
            ah_name = t.after_hours_calendar.name if t.after_hours_calendar_id else ""
            targets.append(
                cs.TargetSpec(
                    role=p.role,
                    kind=t.kind,
                    seconds=t.seconds,
                    calendar=get_calendar(cal_name),
                    calendar_name=cal_name,
                    after_hours=get_calendar(ah_name) if ah_name else None,
                    after_hours_name=ah_name,
                    pause_statuses=pause,
                    policy_id=p.pk,
                    target_id=t.pk,
                )
            )
            rules[t.pk] = [
                RuleSpec(r.pk, t.pk, r.order, r.threshold, r.value, r.action, dict(r.params))
                for r in sorted(t.rules.all(), key=lambda r: (r.order, r.pk))
                if r.active
            ]
        specs.append(
            cs.PolicySpec(
                role=p.role,
                targets=tuple(targets),
                position=p.position,
                id=p.pk,
                name=p.name,
                tiers=frozenset(p.tiers or []),
                severities=frozenset(int(s) for s in p.severities or []),
                channels=frozenset(p.channels or []),
                product_areas=frozenset(int(a) for a in p.product_areas or []),
            )
        )
    return {"specs": tuple(specs), "rules": rules, "stamp": _stamp()}


def _current() -> dict[str, object]:
    global _checked_at
    from .calendars import _check

    _check()  # a calendar change invalidates the policies too
    mono = time.monotonic()
    with _lock:
        if _state and mono - _checked_at < CHECK_SECONDS:
            return _state
        stamp = _stamp()
        if not _state or _state.get("stamp") != stamp:
            _state.clear()
            _state.update(_load())
        _checked_at = mono
        return _state


def specs() -> tuple[cs.PolicySpec, ...]:
    return _current()["specs"]  # type: ignore[return-value]


def rules_for(target_id: int | None) -> list[RuleSpec]:
    if target_id is None:
        return []
    rules = _current()["rules"]
    return list(rules.get(target_id, []))  # type: ignore[union-attr]


# Support engineer targets that count on the owning engineer's calendar when the ticket
# has an assignee whose region names a stored shift calendar (business-time targets only).
OWNER_CALENDAR_KINDS = frozenset({cs.ACTIONABLE, cs.RESOLUTION})


def matcher(facts: cs.Facts) -> tuple[cs.TargetSpec, ...]:
    """The targets that apply to a ticket with these facts (per role and kind)."""
    matched = cs.match(specs(), facts)
    if not facts.owner_calendar:
        return matched
    from dataclasses import replace

    from caseline.errors import NotFound

    from .calendars import ALWAYS_OPEN, get_calendar

    try:
        owner_cal = get_calendar(facts.owner_calendar)
    except NotFound:
        return matched  # the region names no stored calendar: the targets' own apply
    return tuple(
        replace(s, calendar=owner_cal, calendar_name=facts.owner_calendar)
        if s.role == cs.SE and s.kind in OWNER_CALENDAR_KINDS and s.calendar_name != ALWAYS_OPEN
        else s
        for s in matched
    )
