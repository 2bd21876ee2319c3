"""Calendars: a time zone, weekly opening hours, holidays, closed dates and extra openings;
and follow-the-sun unions of calendars.

All wall-clock times are local to the calendar's zone and mean "the first instant the local
clock reads that time or later" (see ``caseline.clock.localtime``).  A closed date (a holiday
or a custom closed date) removes the local day ``[00:00, 24:00)`` from the weekly hours,
including the part of an interval that crossed midnight into it.  Extra openings are added
last and win over closures.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache

import holidays as holidays_pkg

from caseline.clock.engine import BusinessCalendar, year_bounds
from caseline.clock.intervals import Span, clip, merge, subtract
from caseline.clock.localtime import resolve, resolve_day, zone

__all__ = [
    "DAY",
    "WEEK",
    "Calendar",
    "HolidaySpec",
    "LocalSpan",
    "UnionCalendar",
    "WeeklyInterval",
    "follow_the_sun",
    "parse_hours",
]

DAY = 86_400
WEEK = 7 * DAY
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, order=True)
class WeeklyInterval:
    """Open from ``start`` to ``end`` seconds after local midnight of ``weekday`` (0 = Monday).

    ``end`` may exceed one day: ``WeeklyInterval(4, 22 * 3600, 30 * 3600)`` is
    Fri 22:00 - Sat 06:00; ``WeeklyInterval(0, 0, WEEK)`` is the whole week (24x7).
    """

    weekday: int
    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday {self.weekday} not in 0..6 (0 = Monday)")
        if not 0 <= self.start < DAY:
            raise ValueError(f"start {self.start} not in [0, 86400)")
        if not self.start < self.end <= self.start + WEEK:
            raise ValueError(f"end {self.end} must be after start and at most a week later")

    def __str__(self) -> str:
        day_end, sec_end = divmod(self.end, DAY)
        end_day = WEEKDAYS[(self.weekday + day_end) % 7]
        if sec_end == 0 and day_end >= 1:  # prefer "24:00" to "next day 00:00"
            end_day, sec_end = WEEKDAYS[(self.weekday + day_end - 1) % 7], DAY
        return (
            f"{WEEKDAYS[self.weekday].title()} {_hms(self.start)}-{end_day.title()} {_hms(sec_end)}"
        )


def _hms(sec: int) -> str:
    h, rem = divmod(sec, 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}" + (f":{s:02d}" if s else "")


@dataclass(frozen=True)
class HolidaySpec:
    """Holidays from the ``holidays`` package: a country (ISO code), an optional subdivision
    and the categories to include, e.g. ``HolidaySpec("DE", "BY", ("public", "catholic"))``
    for Bavaria including 15 August (Assumption Day)."""

    country: str
    subdiv: str | None = None
    categories: tuple[str, ...] = ("public",)
    observed: bool = True

    def dates(self, year: int) -> frozenset[date]:
        return _holiday_dates(self, year)


@lru_cache(maxsize=1024)
def _holiday_dates(spec: HolidaySpec, year: int) -> frozenset[date]:
    found = holidays_pkg.country_holidays(
        spec.country,
        subdiv=spec.subdiv,
        years=year,
        categories=spec.categories,
        observed=spec.observed,
    )
    return frozenset(found.keys())


@dataclass(frozen=True, order=True)
class LocalSpan:
    """A span of local wall-clock time ``[start, end)`` (naive datetimes, whole seconds)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("LocalSpan takes naive local wall-clock datetimes")
        if self.end <= self.start:
            raise ValueError("LocalSpan end must be after start")


@dataclass(frozen=True)
class Calendar(BusinessCalendar):
    """One region's business hours in one IANA zone."""

    tz: str
    weekly: tuple[WeeklyInterval, ...]
    holidays: tuple[HolidaySpec, ...] = ()
    closed_dates: frozenset[date] = frozenset()
    extra_open: tuple[LocalSpan, ...] = ()
    name: str = ""
    _by_weekday: tuple[tuple[WeeklyInterval, ...], ...] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        zone(self.tz)  # validates the key
        object.__setattr__(self, "weekly", tuple(sorted(self.weekly)))
        object.__setattr__(self, "holidays", tuple(self.holidays))
        object.__setattr__(self, "closed_dates", frozenset(self.closed_dates))
        object.__setattr__(self, "extra_open", tuple(sorted(self.extra_open)))
        object.__setattr__(
            self,
            "_by_weekday",
            tuple(tuple(iv for iv in self.weekly if iv.weekday == d) for d in range(7)),
        )

    @classmethod
    def build(
        cls,
        tz: str,
        hours: str | Iterable[WeeklyInterval],
        *,
        holidays: Iterable[HolidaySpec] = (),
        closed: Iterable[date] = (),
        extra_open: Iterable[LocalSpan | tuple[datetime, datetime]] = (),
        name: str = "",
    ) -> Calendar:
        """``Calendar.build("America/New_York", "Mon-Fri 08:00-17:00",
        holidays=[HolidaySpec("US")])``."""
        weekly = parse_hours(hours) if isinstance(hours, str) else tuple(hours)
        spans = tuple(sp if isinstance(sp, LocalSpan) else LocalSpan(*sp) for sp in extra_open)
        return cls(tz, weekly, tuple(holidays), frozenset(closed), spans, name)

    @classmethod
    def always_open(cls, tz: str = "UTC", name: str = "24x7") -> Calendar:
        """24x7: open every second (no holidays)."""
        return cls(tz, (WeeklyInterval(0, 0, WEEK),), name=name)

    def is_closed_date(self, day: date) -> bool:
        """Whether ``day`` (local) is a holiday or a custom closed date."""
        return day in self.closed_dates or any(day in h.dates(day.year) for h in self.holidays)

    def _chunk(self, year: int) -> list[Span]:
        lo, hi = year_bounds(year)
        tz = zone(self.tz)
        first = date(year, 1, 1) - timedelta(days=9)  # an interval spans <= 8 local days
        last = date(year, 12, 31) + timedelta(days=2)  # zone offsets are within +-1 day
        raw: list[Span] = []
        closed: list[Span] = []
        day = first
        while day <= last:
            midnight = datetime(day.year, day.month, day.day)
            for iv in self._by_weekday[day.weekday()]:
                raw.append(
                    (
                        resolve(tz, midnight + timedelta(seconds=iv.start)),
                        resolve(tz, midnight + timedelta(seconds=iv.end)),
                    )
                )
            if self.is_closed_date(day):
                closed.append((resolve_day(self.tz, day), resolve_day(self.tz, day + _ONE_DAY)))
            day += _ONE_DAY
        open_ = subtract(merge(clip(raw, lo, hi)), merge(closed))
        if self.extra_open:
            extra = [(resolve(tz, sp.start), resolve(tz, sp.end)) for sp in self.extra_open]
            open_ = merge(open_ + clip(extra, lo, hi))
        return open_


_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class UnionCalendar(BusinessCalendar):
    """Follow-the-sun: open whenever ANY member calendar is open (each in its own zone)."""

    members: tuple[BusinessCalendar, ...]
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "members", tuple(self.members))
        if not self.members:
            raise ValueError("a union needs at least one calendar")

    def _chunk(self, year: int) -> list[Span]:
        # Members' chunks come from their own (cached) timelines.
        spans: list[Span] = []
        for m in self.members:
            tb = m.timeline.cover(*_year_probe(year))
            lo, hi = year_bounds(year)
            spans.extend(clip(list(zip(tb.starts, tb.ends, strict=True)), lo, hi))
        return merge(spans)


def _year_probe(year: int) -> tuple[int, int]:
    lo, hi = year_bounds(year)
    return lo, hi - 1


def follow_the_sun(*calendars: BusinessCalendar, name: str = "") -> UnionCalendar:
    """The union of regional calendars (e.g. AMER, EMEA, APAC)."""
    return UnionCalendar(tuple(calendars), name)


# -- "Mon-Fri 08:00-17:00; Fri 22:00-Sat 06:00; Sat,Sun 10:00-14:00" --------------------
_TIME = r"(\d{1,2}):(\d{2})(?::(\d{2}))?"
_DAY = r"(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*"
_ITEM = re.compile(
    rf"^\s*(?P<days>{_DAY}(?:\s*[-,]\s*{_DAY})*)\s+(?P<t0>{_TIME})\s*-\s*"
    rf"(?:(?P<endday>{_DAY})\s+)?(?P<t1>{_TIME})\s*$",
    re.IGNORECASE,
)


def _secs(text: str) -> int:
    parts = [int(p) for p in text.split(":")]
    h, m, s = (parts + [0])[:3]
    if m > 59 or s > 59 or h * 3600 + m * 60 + s > DAY:
        raise ValueError(f"bad time {text!r}")
    return h * 3600 + m * 60 + s


def _day(text: str) -> int:
    return WEEKDAYS.index(text.strip().lower()[:3])


def _days(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        if "-" in part:
            a, b = (_day(x) for x in part.split("-"))
            out.extend((a + k) % 7 for k in range((b - a) % 7 + 1))
        else:
            out.append(_day(part))
    return out


def parse_hours(text: str) -> tuple[WeeklyInterval, ...]:
    """Parse weekly hours: items separated by ``;`` or newlines, each ``DAYS HH:MM-HH:MM``
    (``DAYS`` like ``Mon-Fri`` or ``Sat,Sun``), optionally ``Fri 22:00-Sat 06:00``.  An end
    time at or before the start time without an end day crosses midnight (``22:00-06:00``);
    ``00:00-24:00`` is a whole day; ``"24x7"`` is the whole week."""
    if text.strip().lower() in ("24x7", "24/7"):
        return (WeeklyInterval(0, 0, WEEK),)
    out: list[WeeklyInterval] = []
    for item in re.split(r"[;\n]", text):
        if not item.strip():
            continue
        m = _ITEM.match(item)
        if m is None:
            raise ValueError(f"cannot parse opening hours {item.strip()!r}")
        start, end = _secs(m["t0"]), _secs(m["t1"])
        if start >= DAY:
            raise ValueError(f"start time 24:00 in {item.strip()!r}")
        for d in _days(m["days"]):
            if m["endday"]:
                span = (_day(m["endday"]) - d) % 7 * DAY + end - start
                if span <= 0:
                    span += WEEK
            else:
                span = end - start if end > start else end + DAY - start
            out.append(WeeklyInterval(d, start, start + span))
    return tuple(out)
