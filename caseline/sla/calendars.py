"""Stored calendars -> ``caseline.clock`` calendars, cached per process.

``get_calendar(name)`` is what other apps use (``Region.shift_calendar`` holds a name).
The cache is keyed by name and stamped with a "generation" of the calendar table
(row count and highest ``version``): a change in this process clears it at once
(``invalidate()``, called by the services on commit); another process notices the new
generation within ``CHECK_SECONDS`` (one tiny aggregate query, at most once a second).
"""

from __future__ import annotations

import threading
import time
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Count, Max

from caseline.clock import BusinessCalendar, HolidaySpec, LocalSpan, follow_the_sun, parse_hours
from caseline.clock import Calendar as ClockCalendar
from caseline.errors import NotFound, ValidationFailed

from .models import Calendar

ALWAYS_OPEN = "24x7"
CHECK_SECONDS = 1.0
MAX_UNION_DEPTH = 5

_lock = threading.RLock()
_cache: dict[str, BusinessCalendar] = {}
_generation: tuple[int, int] | None = None
_checked_at = 0.0


def invalidate() -> None:
    """Forget every cached calendar (and policy: they hold calendars)."""
    global _generation, _checked_at
    with _lock:
        _cache.clear()
        _generation = None
        _checked_at = 0.0
    from . import policies

    policies.invalidate()


def generation() -> tuple[int, int]:
    agg = Calendar.objects.aggregate(n=Count("id"), v=Max("version"))
    return int(agg["n"] or 0), int(agg["v"] or 0)


def _check() -> None:
    global _generation, _checked_at
    mono = time.monotonic()
    if mono - _checked_at < CHECK_SECONDS and _generation is not None:
        return
    gen = generation()
    with _lock:
        if gen != _generation:
            _cache.clear()
            _generation = gen
            from . import policies

            policies.invalidate()
        _checked_at = mono


def get_calendar(name: str) -> BusinessCalendar:
    """The business calendar stored under ``name`` (``NotFound`` if there is none).

    ``"24x7"`` is always available (calendar time), stored or not.
    """
    _check()
    cal = _cache.get(name)
    if cal is not None:
        return cal
    with _lock:
        cal = _build(name, ())
        _cache[name] = cal
        return cal


def _build(name: str, seen: tuple[str, ...]) -> BusinessCalendar:
    if name in _cache:
        return _cache[name]
    row = Calendar.objects.filter(name=name).first()
    if row is None:
        if name == ALWAYS_OPEN:
            return ClockCalendar.always_open("UTC", name=ALWAYS_OPEN)
        raise NotFound(f"no calendar named {name!r}")
    if row.kind == Calendar.Kind.UNION:
        if name in seen or len(seen) > MAX_UNION_DEPTH:
            raise ValidationFailed(f"calendar {name!r} contains itself")
        members = [_build(m.name, (*seen, name)) for m in row.members.order_by("name")]
        if not members:
            raise ValidationFailed(f"union calendar {name!r} has no members")
        return follow_the_sun(*members, name=name)
    return to_clock(row)


def to_clock(row: Calendar) -> ClockCalendar:
    """A weekly-hours row as a pure calendar (validation errors as ValidationFailed)."""
    fields = clean_hours_fields(
        {
            "time_zone": row.time_zone,
            "hours": row.hours,
            "holidays": row.holidays,
            "closed_dates": row.closed_dates,
            "extra_open": row.extra_open,
        }
    )
    return ClockCalendar.build(
        fields["time_zone"],
        parse_hours(fields["hours"]),
        holidays=[
            HolidaySpec(h["country"], h.get("subdiv") or None, tuple(h["categories"]))
            for h in fields["holidays"]
        ],
        closed=[date.fromisoformat(d) for d in fields["closed_dates"]],
        extra_open=[
            LocalSpan(datetime.fromisoformat(s["start"]), datetime.fromisoformat(s["end"]))
            for s in fields["extra_open"]
        ],
        name=row.name,
    )


# --- validation ------------------------------------------------------------------------------


def clean_hours_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Check the weekly-hours fields; raise ValidationFailed naming every bad field."""
    import holidays as holidays_pkg

    errors: dict[str, str] = {}
    out = dict(data)
    tz = str(data.get("time_zone") or "")
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        errors["time_zone"] = f"unknown time zone {tz!r} (an IANA name like America/New_York)"
    hours = str(data.get("hours") or "").strip()
    try:
        if not parse_hours(hours):
            errors["hours"] = "no opening hours given"
    except ValueError as exc:
        errors["hours"] = str(exc)
    out["hours"] = hours
    specs = []
    for i, h in enumerate(data.get("holidays") or []):
        if isinstance(h, str):
            h = {"country": h}
        if not isinstance(h, dict) or not h.get("country"):
            errors[f"holidays.{i}"] = (
                'expected {"country": "US", "subdiv": null, "categories": [...]}'
            )
            continue
        cats = h.get("categories") or ["public"]
        spec = {
            "country": str(h["country"]).upper(),
            "subdiv": h.get("subdiv") or None,
            "categories": [str(c) for c in cats],
        }
        if not isinstance(cats, list | tuple):
            errors[f"holidays.{i}.categories"] = 'a list of names, e.g. ["public"]'
            continue
        try:
            # Probe the definition once: the holidays package raises NotImplementedError
            # for an unknown country and ValueError/KeyError for an unknown subdivision or
            # category.
            holidays_pkg.country_holidays(
                spec["country"],
                subdiv=spec["subdiv"],
                years=2026,
                categories=tuple(spec["categories"]),
            )
        except (NotImplementedError, ValueError, KeyError, TypeError) as exc:
            errors[f"holidays.{i}"] = f"unknown holidays {spec['country']}/{spec['subdiv']}: {exc}"
            continue
        specs.append(spec)
    out["holidays"] = specs
    dates = []
    for i, d in enumerate(data.get("closed_dates") or []):
        try:
            dates.append(date.fromisoformat(str(d)).isoformat())
        except ValueError:
            errors[f"closed_dates.{i}"] = "expected YYYY-MM-DD"
    out["closed_dates"] = sorted(set(dates))
    spans = []
    for i, s in enumerate(data.get("extra_open") or []):
        try:
            start = datetime.fromisoformat(str(s["start"]))
            end = datetime.fromisoformat(str(s["end"]))
            if start.tzinfo or end.tzinfo:
                raise ValueError("local wall-clock times, without an offset")
            LocalSpan(start.replace(microsecond=0), end.replace(microsecond=0))
            spans.append({"start": start.isoformat(), "end": end.isoformat()})
        except (KeyError, TypeError, ValueError) as exc:
            errors[f"extra_open.{i}"] = (
                f'expected {{"start": "YYYY-MM-DDTHH:MM", "end": ...}} ({exc})'
            )
    out["extra_open"] = spans
    if errors:
        raise ValidationFailed("the calendar is not valid", fields=errors)
    return out
