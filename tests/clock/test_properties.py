"""Property tests: the two laws, the batch forms, and agreement with the brute-force oracle."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from caseline.clock import NeverOpenError, epoch_of

from .oracle import Oracle
from .strategies import ZONES, anchors, any_calendars

pytestmark = pytest.mark.pure

YEAR = 365 * 86400


@st.composite
def scenario(draw: st.DrawFn):  # type: ignore[no-untyped-def]
    a, zone_hint = draw(anchors())
    return draw(any_calendars(a, zone_hint)), epoch_of(a)


def ever_open(cal, t: int) -> bool:  # type: ignore[no-untyped-def]
    try:
        cal.next_open_ts(t)
    except NeverOpenError:
        return False
    return True


fraction = st.sampled_from([0.0, 1.0]) | st.floats(0, 1)


@given(scenario(), fraction, st.booleans())
def test_between_of_add_is_the_count(sc, f, backwards) -> None:  # type: ignore[no-untyped-def]
    """between(a, add(a, s)) == s for every s >= 0 (and backwards: between(add(a, -s), a) == s).

    s is a fraction of the business seconds in the year after (before) a, so sparse random
    calendars do not send the engine decades away."""
    cal, a = sc
    if backwards:
        s = int(cal.between_ts(a - YEAR, a) * f)
        d = cal.add_ts(a, -s)
        assert d <= a
        assert cal.between_ts(d, a) == s
    else:
        s = int(cal.between_ts(a, a + YEAR) * f)
        d = cal.add_ts(a, s)
        assert d >= a
        assert cal.between_ts(a, d) == s


@given(scenario(), st.integers(-YEAR // 4, YEAR // 4), st.integers(1, 4 * 3600))
def test_add_of_between_returns_b_inside_open_time(sc, shift, into) -> None:  # type: ignore[no-untyped-def]
    """add(a, between(a, b)) == b whenever b lies strictly inside open time (b < a too)."""
    cal, a = sc
    if cal.between_ts(a + shift, a + shift + YEAR) == 0:
        return
    b = cal.next_open_ts(a + shift) + into
    if not (cal.is_open_ts(b) and cal.is_open_ts(b - 1)):
        return  # b is at or past a closing, or exactly at an opening: not strictly inside
    note(f"b={b}")
    assert cal.add_ts(a, cal.between_ts(a, b)) == b


@given(
    scenario(),
    st.lists(st.integers(-10 * 86400, 10 * 86400), min_size=1, max_size=30),
    st.lists(st.floats(-1, 1), min_size=1, max_size=30),
)
def test_batch_forms_equal_scalar(sc, offsets, fractions) -> None:  # type: ignore[no-untyped-def]
    cal, a = sc
    n = min(len(offsets), len(fractions))
    starts = np.array([a + o for o in offsets[:n]], dtype=np.int64)
    half = YEAR // 2
    seconds = np.array(
        [
            int(f * cal.between_ts(t, t + half)) if f > 0 else int(f * cal.between_ts(t - half, t))
            for t, f in zip(starts.tolist(), fractions[:n], strict=True)
        ],
        dtype=np.int64,
    )
    due = cal.add_many(starts, seconds)
    assert due.tolist() == [
        cal.add_ts(int(t), int(s)) for t, s in zip(starts, seconds, strict=True)
    ]
    ends = starts[::-1]
    assert cal.between_many(starts, ends).tolist() == [
        cal.between_ts(int(x), int(y)) for x, y in zip(starts, ends, strict=True)
    ]


# -- the oracle ---------------------------------------------------------------------------
BEFORE, AFTER = 36 * 3600, 60 * 3600  # 4 days around the anchor


@st.composite
def oracle_case(draw: st.DrawFn):  # type: ignore[no-untyped-def]
    cal, a = draw(scenario())
    lo = (a - BEFORE) // 60 * 60
    hi = (a + AFTER) // 60 * 60
    # instants to the second, often exactly on a minute (where openings and closings are)
    point = st.builds(
        lambda m, sec: lo + m * 60 + sec,
        st.integers(0, (hi - lo) // 60 - 1),
        st.one_of(st.just(0), st.sampled_from([1, 59]), st.integers(0, 59)),
    )
    points = draw(st.lists(point, min_size=2, max_size=8))
    fractions = draw(st.lists(fraction, min_size=1, max_size=8))
    return cal, lo, hi, points, fractions


@given(oracle_case())
def test_engine_agrees_with_oracle(case) -> None:  # type: ignore[no-untyped-def]
    cal, lo, hi, points, fractions = case
    oracle = Oracle(cal, lo, hi)
    # is_open on every minute of the window, and on the random seconds
    for k, bit in enumerate(oracle.bits):
        assert cal.is_open_ts(lo + k * 60) == bit, f"minute {lo + k * 60}"
    for p in points:
        assert cal.is_open_ts(p) == oracle.is_open(p)
    # between on every pair, both orders
    for x in points:
        for y in points[:3]:
            assert cal.between_ts(x, y) == oracle.between(x, y), (x, y)
    # add forwards and backwards, with counts that stay inside the window
    for p, f in zip(points, fractions, strict=False):
        ahead = oracle.between(p, hi)
        s = int(ahead * f)
        due = oracle.add(p, s)
        assert due is not None
        assert cal.add_ts(p, s) == due, (p, s)
        behind = oracle.between(lo, p)
        s = int(behind * f)
        due = oracle.add(p, -s)
        assert due is not None
        assert cal.add_ts(p, -s) == due, (p, -s)
    # next_open inside the window
    for p in points:
        want = next(
            (lo + k * 60 for k in range((p - lo) // 60 + 1, len(oracle.bits)) if oracle.bits[k]),
            None,
        )
        if oracle.is_open(p):
            want = p
        if want is not None:
            assert cal.next_open_ts(p) == want


@given(
    anchors(),
    st.sampled_from(
        [*ZONES, "Asia/Kathmandu", "America/St_Johns", "Europe/Dublin", "Pacific/Apia"]
    ),
    st.integers(0, 1),
    st.integers(0, 999_999),
    st.none() | st.tuples(st.integers(0, 23), st.integers(0, 59)),
)
def test_epoch_of_equals_floor_timestamp(anchor, key, fold, micro, wall) -> None:  # type: ignore[no-untyped-def]
    """The field-based epoch_of (offset cached per zone and hour) is exactly
    floor(timestamp()), for repeated and nonexistent wall times, both folds."""
    a, _hint = anchor
    local = a.astimezone(ZoneInfo(key)).replace(fold=fold, microsecond=micro)
    if wall is not None:  # any wall time that day: may fall into a gap or a repeated hour
        local = local.replace(hour=wall[0], minute=wall[1])
    for v in (local, local.replace(tzinfo=timezone(timedelta(hours=-3, minutes=-30)))):
        assert epoch_of(v) == math.floor(v.timestamp())
        assert epoch_of(v) == epoch_of(v)  # the cached answer agrees with the first


@given(scenario(), st.integers(0, 40 * 3600), st.sampled_from(ZONES))
def test_add_on_aware_local_datetimes_matches_add_ts(sc, s, key) -> None:  # type: ignore[no-untyped-def]
    cal, a = sc
    local = datetime.fromtimestamp(a, ZoneInfo(key))
    try:
        cal.add_ts(a, s)
    except NeverOpenError:
        with pytest.raises(NeverOpenError):
            cal.add(local, s)
        return
    due = cal.add(local, s)
    assert due.tzinfo is UTC and epoch_of(due) == cal.add_ts(a, s)
    assert cal.between(local, due) == cal.between_ts(a, epoch_of(due))
