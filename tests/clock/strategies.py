"""Hypothesis strategies: random calendars and instants, biased towards DST switches,
holidays, year ends and midnight-crossing intervals."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from caseline.clock import (
    WEEK,
    BusinessCalendar,
    Calendar,
    HolidaySpec,
    LocalSpan,
    UnionCalendar,
    WeeklyInterval,
)

ZONES = (
    "America/New_York",
    "Europe/Berlin",
    "Australia/Sydney",
    "Asia/Kolkata",
    "America/Los_Angeles",
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "UTC",
)
HOLIDAY_SPECS = (
    HolidaySpec("US"),
    HolidaySpec("DE", "BY", ("public", "catholic")),
    HolidaySpec("AU", "NSW"),
    HolidaySpec("GB"),
)
# Local dates worth hitting, with the zone that makes them special; the instants are spread
# a few days around them.
SPECIAL_DAYS = (
    (date(2026, 3, 8), "America/New_York"),  # US spring forward
    (date(2026, 3, 29), "Europe/Berlin"),  # EU spring forward
    (date(2026, 11, 1), "America/New_York"),  # US fall back
    (date(2026, 10, 25), "Europe/Berlin"),  # EU fall back
    (date(2026, 4, 5), "Australia/Sydney"),  # AU fall back
    (date(2026, 10, 4), "Australia/Sydney"),  # AU spring forward
    (date(2026, 4, 5), "Australia/Lord_Howe"),  # 30-minute fall back
    (date(2025, 3, 9), "America/Los_Angeles"),  # US spring forward
    (date(2025, 10, 26), "Europe/Berlin"),  # EU fall back
    (date(2026, 11, 26), "America/New_York"),  # Thanksgiving
    (date(2025, 8, 15), "Europe/Berlin"),  # Assumption (Bavaria, catholic), a Friday
    (date(2026, 12, 25), "Australia/Sydney"),
    (date(2026, 12, 31), "Asia/Kolkata"),  # the engine's tables are chunked by UTC year
    (date(2027, 1, 1), "America/New_York"),
)

# Minutes of the day, often in the 01:00-03:30 band where the clocks change.
minute_of_day = st.one_of(
    st.integers(0, 24 * 60 - 1),
    st.integers(60, 210),
    st.sampled_from([0, 8 * 60, 9 * 60, 17 * 60, 22 * 60]),
)
duration_minutes = st.one_of(
    st.integers(1, 16 * 60),  # a shift, maybe crossing midnight
    st.integers(16 * 60, 3 * 24 * 60),  # long, crossing several midnights
    st.integers(1, 90),  # short: may vanish inside a spring-forward gap
    st.just(WEEK // 60),  # the whole week from here: 24x7
)


dst_band = st.integers(60, 210)  # 01:00-03:30, where the clocks change


@st.composite
def weekly_intervals(draw: st.DrawFn, weekday: int | None = None) -> WeeklyInterval:
    day = draw(st.integers(0, 6)) if weekday is None else weekday
    start = draw(minute_of_day) * 60
    if draw(st.integers(0, 3)) == 0:  # end inside the DST band, the same or the next day
        end = draw(dst_band) * 60
        end += 0 if end > start else 86400
    else:
        end = start + draw(duration_minutes) * 60
    return WeeklyInterval(day, start, end)


@st.composite
def anchors(draw: st.DrawFn) -> tuple[datetime, str | None]:
    """A UTC instant to the second, and the zone that makes it special (if any): near a
    special day, or anywhere in 2025-2027."""
    if draw(st.integers(0, 2)) > 0:
        day, tz = draw(st.sampled_from(SPECIAL_DAYS))
        base = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return base + timedelta(seconds=draw(st.integers(-2 * 86400, 2 * 86400))), tz
    base = datetime(2025, 1, 1, tzinfo=UTC)
    return base + timedelta(seconds=draw(st.integers(0, 3 * 365 * 86400))), None


@st.composite
def calendars(draw: st.DrawFn, near: datetime, zone_hint: str | None = None) -> Calendar:
    """A random single-zone calendar; closed dates and extra openings near ``near``; often
    in the zone whose DST switch (or holiday) is near, with hours on that very weekday."""
    tz = zone_hint if zone_hint and draw(st.booleans()) else draw(st.sampled_from(ZONES))
    local_day = near.astimezone(ZoneInfo(tz)).date()
    days = st.one_of(
        st.none(), st.sampled_from([local_day.weekday(), (local_day.weekday() - 1) % 7])
    )
    weekly = tuple(
        draw(st.lists(days.flatmap(lambda d: weekly_intervals(d)), min_size=0, max_size=5))
    )
    specs = tuple(draw(st.lists(st.sampled_from(HOLIDAY_SPECS), max_size=2, unique=True)))
    day0 = near.date()
    closed = draw(
        st.frozensets(st.integers(-4, 4).map(lambda k: day0 + timedelta(days=k)), max_size=3)
    )
    extra = []
    for _ in range(draw(st.integers(0, 2))):
        start = datetime(day0.year, day0.month, day0.day) + timedelta(
            minutes=draw(st.integers(-3 * 1440, 3 * 1440))
        )
        extra.append(LocalSpan(start, start + timedelta(minutes=draw(st.integers(1, 2 * 1440)))))
    if not weekly and not extra and draw(st.booleans()):
        weekly = (WeeklyInterval(0, 9 * 3600, 17 * 3600),)
    return Calendar(tz, weekly, specs, closed, tuple(extra))


@st.composite
def any_calendars(
    draw: st.DrawFn, near: datetime, zone_hint: str | None = None
) -> BusinessCalendar:
    """A single calendar, or a follow-the-sun union of 2-3 of them."""
    if draw(st.integers(0, 3)) == 0:
        members = draw(st.lists(calendars(near, zone_hint), min_size=2, max_size=3))
        return UnionCalendar(tuple(members))
    return draw(calendars(near, zone_hint))
