"""A deliberately simple brute-force model of a calendar, used only by the tests.

It shares no code with the engine.  It walks UTC time one minute at a time, reads the local
wall clock with ``datetime.fromtimestamp``, keeps the HIGHEST reading seen so far (so the
hour repeated by a fall-back still reads as "just before 02:00", and a spring-forward gap is
simply skipped), and asks a naive per-local-day question of that reading:

    is there an extra opening around it?           -> open
    is its local date a holiday or a closed date?  -> closed
    does a weekly interval started on that day or on one of the 8 days before cover it?

Then business seconds are counted, and due times found, by walking those minutes.

Valid for calendars whose wall-clock boundaries are whole minutes (every zone offset and
transition used here is a whole minute, so open/closed only changes on a UTC minute); the
instants asked about are arbitrary seconds.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

from caseline.clock import BusinessCalendar, Calendar, UnionCalendar

MINUTE = 60
WARM_UP = 6 * 3600  # longer than any fall-back, so the highest reading is known at `lo`


class DayRules:
    """What a local date says, computed the naive way and remembered per date."""

    def __init__(self, cal: Calendar) -> None:
        self.cal = cal
        self.memo: dict[date, tuple[bool, list[tuple[datetime, datetime]]]] = {}

    def closed(self, day: date) -> bool:
        if day in self.cal.closed_dates:
            return True
        for spec in self.cal.holidays:
            found = holidays.country_holidays(
                spec.country,
                subdiv=spec.subdiv,
                years=day.year,
                categories=spec.categories,
                observed=spec.observed,
            )
            if day in found:
                return True
        return False

    def of(self, day: date) -> tuple[bool, list[tuple[datetime, datetime]]]:
        if day not in self.memo:
            covering = []
            for back in range(9):
                start_day = day - timedelta(days=back)
                midnight = datetime.combine(start_day, time())
                for iv in self.cal.weekly:
                    if iv.weekday == start_day.weekday():
                        covering.append(
                            (
                                midnight + timedelta(seconds=iv.start),
                                midnight + timedelta(seconds=iv.end),
                            )
                        )
            self.memo[day] = (self.closed(day), covering)
        return self.memo[day]

    def open_at(self, wall: datetime) -> bool:
        for span in self.cal.extra_open:
            if span.start <= wall < span.end:
                return True
        closed, covering = self.of(wall.date())
        if closed:
            return False
        return any(start <= wall < end for start, end in covering)


def minute_bits(cal: Calendar, lo: int, hi: int) -> list[bool]:
    """Open or closed for each UTC minute [lo, lo+60), ..., up to hi (lo, hi whole minutes)."""
    tz = ZoneInfo(cal.tz)
    rules = DayRules(cal)
    highest: datetime | None = None
    bits = []
    for m in range(lo - WARM_UP, hi, MINUTE):
        wall = datetime.fromtimestamp(m, tz).replace(tzinfo=None)
        if highest is None or wall > highest:
            highest = wall
        if m >= lo:
            bits.append(rules.open_at(highest))
    return bits


def calendar_bits(cal: BusinessCalendar, lo: int, hi: int) -> list[bool]:
    if isinstance(cal, UnionCalendar):
        per_member = [calendar_bits(m, lo, hi) for m in cal.members]
        return [any(col) for col in zip(*per_member, strict=True)]
    assert isinstance(cal, Calendar)
    return minute_bits(cal, lo, hi)


class Oracle:
    """Brute-force answers inside the window [lo, hi) (epoch seconds, whole minutes)."""

    def __init__(self, cal: BusinessCalendar, lo: int, hi: int) -> None:
        assert lo % MINUTE == 0 and hi % MINUTE == 0
        self.lo, self.hi = lo, hi
        self.bits = calendar_bits(cal, lo, hi)

    def is_open(self, t: int) -> bool:
        assert self.lo <= t < self.hi
        return self.bits[(t - self.lo) // MINUTE]

    def between(self, a: int, b: int) -> int:
        """Open seconds in [a, b), negative when b < a: minute by minute."""
        if b < a:
            return -self.between(b, a)
        total = 0
        for k in range((a - self.lo) // MINUTE, (b - self.lo) // MINUTE + 1):
            m = self.lo + k * MINUTE
            overlap = min(m + MINUTE, b) - max(m, a)
            if overlap > 0 and self.bits[k]:
                total += overlap
        return total

    def add(self, a: int, s: int) -> int | None:
        """Walk from a, spending s open seconds; None if the window runs out first.

        Forwards the first instant the count is reached, backwards the last one."""
        if s == 0:
            return a
        left = abs(s)
        if s > 0:
            for k in range((a - self.lo) // MINUTE, len(self.bits)):
                m = self.lo + k * MINUTE
                if not self.bits[k]:
                    continue
                begin = max(m, a)
                here = m + MINUTE - begin
                if left <= here:
                    return begin + left
                left -= here
        else:
            for k in range((a - 1 - self.lo) // MINUTE, -1, -1):
                m = self.lo + k * MINUTE
                if not self.bits[k]:
                    continue
                finish = min(m + MINUTE, a)
                here = finish - m
                if left <= here:
                    return finish - left
                left -= here
        return None
