"""Worked examples: each one computed by hand (see docs/business-time.md)."""

from __future__ import annotations

import pickle
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from caseline.clock import (
    WEEK,
    Calendar,
    HolidaySpec,
    LocalSpan,
    NeverOpenError,
    UnionCalendar,
    WeeklyInterval,
    add,
    between,
    follow_the_sun,
    parse_hours,
)

pytestmark = pytest.mark.pure

H = 3600


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


NYC = Calendar.build(
    "America/New_York", "Mon-Fri 08:00-17:00", holidays=[HolidaySpec("US")], name="AMER"
)


# -- Mon-Fri 08:00-17:00 America/New_York -----------------------------------------------
def test_friday_afternoon_plus_one_hour_is_monday_morning() -> None:
    fri_1630 = utc(2026, 11, 20, 21, 30)  # 16:30 EST
    assert NYC.add(fri_1630, H) == utc(2026, 11, 23, 13, 30)  # Mon 08:30 EST
    assert add(NYC, fri_1630, H) == NYC.add(fri_1630, H)
    assert NYC.between(fri_1630, utc(2026, 11, 23, 13, 30)) == H


def test_thanksgiving_is_skipped() -> None:
    wed_1630 = utc(2026, 11, 25, 21, 30)
    assert NYC.add(wed_1630, H) == utc(2026, 11, 27, 13, 30)  # Fri 08:30, Thu is a holiday
    assert not NYC.is_open(utc(2026, 11, 26, 15, 0))
    # Mon 23 08:00 -> Mon 30 08:00: four working days of nine hours
    assert between(NYC, utc(2026, 11, 23, 13, 0), utc(2026, 11, 30, 13, 0)) == 4 * 9 * H


def test_friday_before_the_us_spring_forward() -> None:
    # Fri 16:30 EST + 1 h -> Mon 08:30 EDT (the weekend lost an hour; business time did not)
    assert NYC.add(utc(2026, 3, 6, 21, 30), H) == utc(2026, 3, 9, 12, 30)


def test_boundaries() -> None:
    fri_1600 = utc(2026, 11, 20, 21, 0)
    fri_1700 = utc(2026, 11, 20, 22, 0)
    mon_0800 = utc(2026, 11, 23, 13, 0)
    # a count that runs out exactly at closing returns the closing instant
    assert NYC.add(fri_1600, H) == fri_1700
    # half-open [open, close)
    assert not NYC.is_open(fri_1700)
    assert NYC.is_open(fri_1700 - timedelta(seconds=1))
    assert NYC.is_open(mon_0800)
    assert not NYC.is_open(mon_0800 - timedelta(seconds=1))
    # add(t, 0) is t, open or closed
    saturday = utc(2026, 11, 21, 15, 0)
    assert NYC.add(saturday, 0) == saturday
    assert NYC.add(fri_1700, 0) == fri_1700
    # from closed time the count starts at the next opening
    assert NYC.add(saturday, 1) == mon_0800 + timedelta(seconds=1)
    assert NYC.next_open(saturday) == mon_0800
    assert NYC.next_open(mon_0800) == mon_0800
    assert NYC.next_open(fri_1700) == mon_0800
    # between is antisymmetric
    assert NYC.between(saturday, mon_0800) == 0
    assert NYC.between(mon_0800 + timedelta(hours=2), fri_1600) == -(H + 2 * H)


def test_adding_backwards_returns_the_latest_instant() -> None:
    mon_0800 = utc(2026, 11, 23, 13, 0)
    assert NYC.add(mon_0800 + timedelta(hours=1), -H) == mon_0800  # the opening, not Fri 17:00
    assert NYC.add(mon_0800, -H) == utc(2026, 11, 20, 21, 0)  # Fri 16:00
    assert NYC.add(utc(2026, 11, 20, 22, 0), -9 * H) == utc(2026, 11, 20, 13, 0)  # Fri 08:00


def test_sub_second_parts_are_floored_and_naive_datetimes_refused() -> None:
    t = utc(2026, 11, 20, 15, 0) + timedelta(microseconds=700_000)
    assert NYC.add(t, 0) == utc(2026, 11, 20, 15, 0)
    assert NYC.add(t, 10) == utc(2026, 11, 20, 15, 0, 10)
    with pytest.raises(ValueError, match="naive"):
        NYC.add(datetime(2026, 11, 20, 15, 0), 10)
    with pytest.raises(TypeError):
        NYC.add(t, 1.5)  # type: ignore[arg-type]


def test_second_resolution_boundaries() -> None:
    cal = Calendar.build("UTC", "Mon 08:00:30-08:00:45")
    mon = utc(2026, 11, 23, 8, 0)
    assert cal.add(mon, 10) == utc(2026, 11, 23, 8, 0, 40)
    assert cal.add(mon, 15) == utc(2026, 11, 23, 8, 0, 45)
    assert cal.add(mon, 16) == utc(2026, 11, 30, 8, 0, 31)
    assert cal.between(mon, mon + timedelta(hours=1)) == 15


# -- 24x7 ---------------------------------------------------------------------------------
def test_24x7_is_plain_elapsed_time() -> None:
    for tz in ("UTC", "America/New_York"):
        cal = Calendar.always_open(tz)
        start = utc(2026, 3, 7, 5, 0)  # Sat 00:00 EST
        assert cal.add(start, 47 * H) == utc(2026, 3, 9, 4, 0)  # Mon 00:00 EDT
        assert cal.between(start, utc(2026, 3, 9, 4, 0)) == 47 * H
        assert cal.is_open(start)
        # across New Year (the tables are chunked by UTC year) and several years
        nye = utc(2026, 12, 31, 23, 0)
        assert cal.open_spans(nye, nye + timedelta(hours=2)) == [(nye, nye + timedelta(hours=2))]
        assert cal.add(nye, 3 * 365 * 86400) == nye + timedelta(days=3 * 365)
        assert cal.add(nye, -400 * 86400) == nye - timedelta(days=400)
    assert parse_hours("24x7") == (WeeklyInterval(0, 0, WEEK),)


# -- holidays with categories -------------------------------------------------------------
def test_bavaria_assumption_day_needs_the_catholic_category() -> None:
    hours = "Mon-Fri 08:00-17:00"
    bavaria = Calendar.build(
        "Europe/Berlin", hours, holidays=[HolidaySpec("DE", "BY", ("public", "catholic"))]
    )
    public_only = Calendar.build("Europe/Berlin", hours, holidays=[HolidaySpec("DE", "BY")])
    thu_1630 = utc(2025, 8, 14, 14, 30)  # 16:30 CEST; Friday 15 August 2025
    assert bavaria.add(thu_1630, H) == utc(2025, 8, 18, 6, 30)  # Mon 08:30 CEST
    assert public_only.add(thu_1630, H) == utc(2025, 8, 15, 6, 30)  # Fri 08:30 CEST
    assert bavaria.is_closed_date(date(2025, 8, 15))
    assert not public_only.is_closed_date(date(2025, 8, 15))


def test_custom_closed_dates_and_extra_openings() -> None:
    cal = Calendar.build(
        "America/New_York",
        "Mon-Fri 08:00-17:00",
        closed=[date(2026, 12, 24)],
        extra_open=[(datetime(2026, 12, 19, 10, 0), datetime(2026, 12, 19, 14, 0))],
    )
    # Sat 19 December 10:00-14:00 EST is open
    assert cal.between(utc(2026, 12, 19, 0, 0), utc(2026, 12, 20, 0, 0)) == 4 * H
    assert cal.is_open(utc(2026, 12, 19, 15, 0))
    # Thu 24 December is closed: Wed 16:30 + 1 h -> Fri 25 08:30 (no US holidays here)
    assert cal.add(utc(2026, 12, 23, 21, 30), H) == utc(2026, 12, 25, 13, 30)


def test_a_closed_date_closes_its_local_day_even_inside_a_night_shift() -> None:
    cal = Calendar.build("UTC", "Fri 22:00-Sat 06:00", closed=[date(2026, 11, 21)])
    assert cal.between(utc(2026, 11, 20), utc(2026, 11, 23)) == 2 * H  # Fri 22:00-24:00 only
    nxt = Calendar.build("UTC", "Fri 22:00-Sat 06:00")
    assert nxt.between(utc(2026, 11, 20), utc(2026, 11, 23)) == 8 * H


# -- DST weekends -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tz", "hours", "day", "expected"),
    [
        # US spring forward, Sun 2026-03-08 02:00 EST -> 03:00 EDT
        ("America/New_York", "Sat 22:00-Sun 06:00", date(2026, 3, 7), 7 * H),
        ("America/New_York", "Sun 01:30-03:30", date(2026, 3, 8), 1 * H),
        ("America/New_York", "Sun 02:30-04:00", date(2026, 3, 8), 1 * H),  # from the jump
        ("America/New_York", "Sun 02:15-02:45", date(2026, 3, 8), 0),  # inside the gap
        ("America/New_York", "Sun 02:15-02:45", date(2026, 3, 15), H // 2),
        # EU spring forward, Sun 2026-03-29 02:00 CET -> 03:00 CEST
        ("Europe/Berlin", "Sat 22:00-Sun 06:00", date(2026, 3, 28), 7 * H),
        ("Europe/Berlin", "Sun 01:30-03:30", date(2026, 3, 29), 1 * H),
        # US fall back, Sun 2026-11-01 02:00 EDT -> 01:00 EST
        ("America/New_York", "Sat 22:00-Sun 06:00", date(2026, 10, 31), 9 * H),
        ("America/New_York", "Sun 01:30-03:00", date(2026, 11, 1), 5 * H // 2),
        ("America/New_York", "Sun 00:00-01:30", date(2026, 11, 1), 3 * H // 2),  # first 01:30
        ("America/New_York", "Sun 01:00-02:00", date(2026, 11, 1), 2 * H),  # both 01:xx
        # EU fall back, Sun 2026-10-25 03:00 CEST -> 02:00 CET
        ("Europe/Berlin", "Sat 22:00-Sun 06:00", date(2026, 10, 24), 9 * H),
        ("Europe/Berlin", "Sun 02:00-03:00", date(2026, 10, 25), 2 * H),
    ],
)
def test_dst_nights_count_real_elapsed_seconds(
    tz: str, hours: str, day: date, expected: int
) -> None:
    cal = Calendar.build(tz, hours)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(days=1)
    assert cal.between(start, start + timedelta(days=3)) == expected


def test_us_fall_back_repeated_hour() -> None:
    cal = Calendar.build("America/New_York", "Sun 00:00-01:30")
    assert cal.is_open(utc(2026, 11, 1, 5, 15))  # 01:15 EDT, first pass
    assert not cal.is_open(utc(2026, 11, 1, 6, 15))  # 01:15 EST, second pass
    assert cal.add(utc(2026, 11, 1, 4, 0), 5400) == utc(2026, 11, 1, 5, 30)


def test_us_spring_forward_night_shift() -> None:
    cal = Calendar.build("America/New_York", "Sat 22:00-Sun 06:00")
    sat_2200 = utc(2026, 3, 8, 3, 0)  # Sat 22:00 EST
    assert cal.add(sat_2200, 4 * H) == utc(2026, 3, 8, 7, 0)  # 03:00 EDT
    assert cal.add(sat_2200, 7 * H) == utc(2026, 3, 8, 10, 0)  # 06:00 EDT: closing
    assert cal.add(sat_2200, 7 * H + 1) == utc(2026, 3, 15, 2, 0, 1)  # next Sat 22:00 EDT
    assert not cal.is_open(utc(2026, 3, 8, 2, 59, 59))


def test_eu_dst_weekends_for_office_hours() -> None:
    berlin = Calendar.build("Europe/Berlin", "Mon-Fri 09:00-17:00")
    # Fri 2026-03-27 16:00 CET + 2 h -> Mon 30 10:00 CEST
    assert berlin.add(utc(2026, 3, 27, 15, 0), 2 * H) == utc(2026, 3, 30, 8, 0)
    # Fri 2026-10-23 16:00 CEST + 2 h -> Mon 26 10:00 CET
    assert berlin.add(utc(2026, 10, 23, 14, 0), 2 * H) == utc(2026, 10, 26, 9, 0)


# -- follow the sun -----------------------------------------------------------------------
EMEA = Calendar.build(
    "Europe/Berlin", "Mon-Fri 08:00-17:00", holidays=[HolidaySpec("DE")], name="EMEA"
)
APAC = Calendar.build(
    "Australia/Sydney", "Mon-Fri 08:00-17:00", holidays=[HolidaySpec("AU", "NSW")], name="APAC"
)
SUN = follow_the_sun(NYC, EMEA, APAC, name="global")


def test_follow_the_sun_covers_a_weekday_but_one_hour() -> None:
    # Tue 2026-06-09 (UTC): APAC until 07:00, EMEA 06:00-15:00, AMER 12:00-21:00, APAC from 22:00
    assert SUN.between(utc(2026, 6, 9), utc(2026, 6, 10)) == 23 * H
    assert not SUN.is_open(utc(2026, 6, 9, 21, 30))
    assert SUN.next_open(utc(2026, 6, 9, 21, 30)) == utc(2026, 6, 9, 22, 0)
    assert SUN.add(utc(2026, 6, 9, 20, 30), H) == utc(2026, 6, 9, 22, 30)


def test_follow_the_sun_over_christmas() -> None:
    thu_eve = utc(2026, 12, 24, 22, 0)  # NY 17:00 closes; Sydney's Friday is Christmas
    assert not SUN.is_open(thu_eve)
    # Berlin reopens first, on Mon 28 08:00 CET (Sydney keeps Monday as Boxing Day observed)
    assert SUN.next_open(thu_eve) == utc(2026, 12, 28, 7, 0)
    assert SUN.add(thu_eve, H) == utc(2026, 12, 28, 8, 0)


def test_union_equals_the_union_of_its_members() -> None:
    week = [utc(2026, 10, 19) + timedelta(minutes=7 * k) for k in range(0, 3 * 1440)]
    for t in week:
        assert SUN.is_open(t) == any(m.is_open(t) for m in (NYC, EMEA, APAC))
    nested = UnionCalendar((follow_the_sun(NYC, EMEA), APAC))
    a, b = utc(2026, 1, 1), utc(2026, 12, 31)
    assert nested.between(a, b) == SUN.between(a, b)


# -- batches, parsing, values -------------------------------------------------------------
def test_batch_forms_accept_epoch_seconds_and_datetimes() -> None:
    starts = [utc(2026, 11, 20, 21, 30), utc(2026, 11, 25, 21, 30), utc(2026, 11, 21, 15, 0)]
    due = NYC.add_many(starts, [H, H, 0])
    assert due.dtype == np.dtype("datetime64[s]")
    assert due.tolist() == [
        datetime(2026, 11, 23, 13, 30),
        datetime(2026, 11, 27, 13, 30),
        datetime(2026, 11, 21, 15, 0),
    ]
    as_np = np.array([s.replace(tzinfo=None) for s in starts], dtype="datetime64[s]")
    assert NYC.add_many(as_np, np.array([H, H, 0])).tolist() == due.tolist()
    epochs = np.array([int(s.timestamp()) for s in starts])
    out = NYC.add_many(epochs, np.array([H, H, 0]))
    assert out.dtype == np.int64
    assert out.tolist() == [
        int(d.timestamp()) for d in (NYC.add(s, x) for s, x in zip(starts, [H, H, 0], strict=True))
    ]
    assert NYC.between_many(epochs, out).tolist() == [H, H, 0]
    assert NYC.add_many(np.array([], dtype=np.int64), 5).tolist() == []


def test_parse_hours() -> None:
    assert parse_hours("Mon-Fri 08:00-17:00") == tuple(
        WeeklyInterval(d, 8 * H, 17 * H) for d in range(5)
    )
    assert parse_hours("Fri 22:00-Sat 06:00") == (WeeklyInterval(4, 22 * H, 30 * H),)
    assert parse_hours("Fri 22:00-06:00") == (WeeklyInterval(4, 22 * H, 30 * H),)
    assert parse_hours("Sun-Tue 09:00-10:00") == tuple(
        WeeklyInterval(d, 9 * H, 10 * H) for d in (6, 0, 1)
    )
    assert parse_hours("Sat,Sun 00:00-24:00; Mon 09:30:15-10:00") == (
        WeeklyInterval(5, 0, 24 * H),
        WeeklyInterval(6, 0, 24 * H),
        WeeklyInterval(0, 9 * H + 30 * 60 + 15, 10 * H),
    )
    assert parse_hours("Fri 22:00-Fri 06:00") == (
        WeeklyInterval(4, 22 * H, 22 * H + WEEK - 16 * H),
    )
    assert str(WeeklyInterval(4, 22 * H, 30 * H)) == "Fri 22:00-Sat 06:00"
    for bad in ("Funday 08:00-09:00", "Mon 25:00-26:00", "Mon 08:00", "Mon 24:00-01:00"):
        with pytest.raises(ValueError):
            parse_hours(bad)
    with pytest.raises(ValueError):
        WeeklyInterval(7, 0, H)
    with pytest.raises(ValueError):
        WeeklyInterval(0, H, H)
    with pytest.raises(ValueError):
        LocalSpan(datetime(2026, 1, 2), datetime(2026, 1, 1))


def test_calendars_are_values() -> None:
    twin = Calendar.build(
        "America/New_York", "Mon-Fri 08:00-17:00", holidays=[HolidaySpec("US")], name="AMER"
    )
    assert twin == NYC and hash(twin) == hash(NYC)
    NYC.add(utc(2026, 1, 5, 15, 0), H)  # the cache does not change equality
    assert twin == NYC
    copy = pickle.loads(pickle.dumps(SUN))
    assert copy == SUN
    assert copy.add(utc(2026, 6, 9, 20, 30), H) == utc(2026, 6, 9, 22, 30)
    with pytest.raises(Exception):  # noqa: B017 - frozen dataclass
        NYC.tz = "UTC"  # type: ignore[misc]


def test_a_calendar_that_never_opens() -> None:
    never = Calendar("Europe/Berlin", ())
    t = utc(2026, 1, 1)
    assert not never.is_open(t)
    assert never.between(t, utc(2027, 1, 1)) == 0
    assert never.add(t, 0) == t
    with pytest.raises(NeverOpenError):
        never.add(t, 1)
    with pytest.raises(NeverOpenError):
        never.next_open(t)
    with pytest.raises(NeverOpenError):
        never.add_many(np.array([0]), np.array([-1]))
