"""Business time: pure, typed, no Django.  See docs/business-time.md.

>>> from datetime import datetime, UTC
>>> from caseline.clock import Calendar, HolidaySpec
>>> nyc = Calendar.build("America/New_York", "Mon-Fri 08:00-17:00", holidays=[HolidaySpec("US")])
>>> nyc.add(datetime(2026, 11, 20, 21, 30, tzinfo=UTC), 3600)  # Fri 16:30 EST + 1 h
datetime.datetime(2026, 11, 23, 13, 30, tzinfo=datetime.timezone.utc)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from caseline.clock.calendar import (
    DAY,
    WEEK,
    Calendar,
    HolidaySpec,
    LocalSpan,
    UnionCalendar,
    WeeklyInterval,
    follow_the_sun,
    parse_hours,
)
from caseline.clock.engine import MAX_EMPTY_YEARS, BusinessCalendar, NeverOpenError, epochs
from caseline.clock.localtime import epoch_of, resolve, utc_of

__all__ = [
    "DAY",
    "MAX_EMPTY_YEARS",
    "WEEK",
    "BusinessCalendar",
    "Calendar",
    "HolidaySpec",
    "LocalSpan",
    "NeverOpenError",
    "UnionCalendar",
    "WeeklyInterval",
    "add",
    "add_many",
    "between",
    "between_many",
    "epoch_of",
    "epochs",
    "follow_the_sun",
    "is_open",
    "next_open",
    "parse_hours",
    "resolve",
    "utc_of",
]


def add(calendar: BusinessCalendar, start: datetime, seconds: int) -> datetime:
    """``calendar.add(start, seconds)``: the due instant (UTC)."""
    return calendar.add(start, seconds)


def between(calendar: BusinessCalendar, a: datetime, b: datetime) -> int:
    """``calendar.between(a, b)``: business seconds in ``[a, b)`` (negative if ``b < a``)."""
    return calendar.between(a, b)


def is_open(calendar: BusinessCalendar, t: datetime) -> bool:
    return calendar.is_open(t)


def next_open(calendar: BusinessCalendar, t: datetime) -> datetime:
    return calendar.next_open(t)


def add_many(calendar: BusinessCalendar, starts: Any, seconds: Any) -> Any:
    return calendar.add_many(starts, seconds)


def between_many(calendar: BusinessCalendar, a: Any, b: Any) -> Any:
    return calendar.between_many(a, b)
