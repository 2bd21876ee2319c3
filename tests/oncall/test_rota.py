"""The rota arithmetic (pure): rotations, DST-safe handoffs, restrictions, overrides,
segments consistent with who_at."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from caseline.oncall import rota

pytestmark = pytest.mark.pure


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def weekly(members=(1, 2, 3), **kw) -> rota.LayerSpec:
    defaults = dict(
        id=1,
        position=1,
        start_date=date(2026, 3, 23),  # a Monday, the week before the EU switch (29 March)
        handoff=time(9, 0),
        rotation_days=7,
        members=tuple(members),
    )
    defaults.update(kw)
    return rota.LayerSpec(**defaults)


def sched(*layers, overrides=(), tz="Europe/Berlin") -> rota.ScheduleSpec:
    return rota.ScheduleSpec(1, tz, tuple(layers), tuple(overrides))


def test_weekly_rotation_keeps_the_local_handoff_time_across_dst():
    s = sched(weekly())
    tz = "Europe/Berlin"
    from caseline.clock.localtime import zone

    layer = s.layers[0]
    # 09:00 CET = 08:00 UTC before the switch, 09:00 CEST = 07:00 UTC after it
    assert rota.shift_start(layer, zone(tz), 0) == utc(2026, 3, 23, 8)
    assert rota.shift_start(layer, zone(tz), 1) == utc(2026, 3, 30, 7)
    assert rota.who_at(s, utc(2026, 3, 23, 7, 59, 59)) == ((), "")  # before the first shift
    assert rota.who_at(s, utc(2026, 3, 23, 8)) == ((1,), "layer:1")
    assert rota.who_at(s, utc(2026, 3, 30, 6, 59, 59)) == ((1,), "layer:1")
    assert rota.who_at(s, utc(2026, 3, 30, 7)) == ((2,), "layer:1")
    assert rota.who_at(s, utc(2026, 4, 6, 7)) == ((3,), "layer:1")
    assert rota.who_at(s, utc(2026, 4, 13, 7)) == ((1,), "layer:1")  # wraps around


def test_a_handoff_inside_the_spring_gap_moves_to_the_jump():
    # 02:30 does not exist in Berlin on 29 March 2026: the shift starts at 03:00 CEST.
    layer = weekly(
        members=(1, 2), rotation_days=1, handoff=time(2, 30), start_date=date(2026, 3, 27)
    )
    s = sched(layer)
    from caseline.clock.localtime import zone

    starts = [rota.shift_start(layer, zone("Europe/Berlin"), k) for k in range(4)]
    assert starts == [
        utc(2026, 3, 27, 1, 30),
        utc(2026, 3, 28, 1, 30),
        utc(2026, 3, 29, 1, 0),  # 03:00 CEST
        utc(2026, 3, 30, 0, 30),  # 02:30 CEST
    ]
    assert rota.who_at(s, utc(2026, 3, 29, 0, 59))[0] == (2,)
    assert rota.who_at(s, utc(2026, 3, 29, 1, 0))[0] == (1,)


def test_a_repeated_autumn_time_is_its_first_occurrence():
    layer = weekly(
        members=(1, 2), rotation_days=1, handoff=time(1, 30), start_date=date(2026, 10, 31)
    )
    from caseline.clock.localtime import zone

    ny = zone("America/New_York")
    assert rota.shift_start(layer, ny, 1) == utc(2026, 11, 1, 5, 30)  # 01:30 EDT
    assert rota.shift_start(layer, ny, 2) == utc(2026, 11, 2, 6, 30)  # 01:30 EST


def test_restrictions_let_lower_layers_show_through():
    base = weekly(members=(10,), id=1, position=1, rotation_days=7)
    business = weekly(
        members=(20, 21),
        id=2,
        position=2,
        rotation_days=1,
        restrictions=(rota.Restriction(days=(0, 1, 2, 3, 4), start=time(9), end=time(17)),),
    )
    s = sched(base, business)
    # Tuesday 24 March 2026, Berlin CET (UTC+1)
    assert rota.who_at(s, utc(2026, 3, 24, 9)) == ((21,), "layer:2")  # 10:00 local
    assert rota.who_at(s, utc(2026, 3, 24, 15, 59, 59)) == ((21,), "layer:2")
    assert rota.who_at(s, utc(2026, 3, 24, 16)) == ((10,), "layer:1")  # 17:00 local: out
    assert rota.who_at(s, utc(2026, 3, 24, 7, 59, 59)) == ((10,), "layer:1")  # 08:59 local
    assert rota.who_at(s, utc(2026, 3, 28, 10)) == ((10,), "layer:1")  # Saturday


def test_restriction_crossing_midnight():
    night = weekly(
        members=(7,),
        restrictions=(rota.Restriction(days=(4,), start=time(22), end=time(6)),),  # Fri night
    )
    s = sched(night)
    assert rota.who_at(s, utc(2026, 3, 27, 20, 59))[0] == ()  # Fri 21:59 CET
    assert rota.who_at(s, utc(2026, 3, 27, 21, 0))[0] == (7,)  # Fri 22:00
    assert rota.who_at(s, utc(2026, 3, 28, 4, 59))[0] == (7,)  # Sat 05:59
    assert rota.who_at(s, utc(2026, 3, 28, 5, 0))[0] == ()  # Sat 06:00


def test_overrides_win_and_overlap():
    s = sched(
        weekly(),
        overrides=(
            rota.OverrideSpec(1, 50, utc(2026, 3, 24, 0), utc(2026, 3, 25, 0)),
            rota.OverrideSpec(2, 51, utc(2026, 3, 24, 12), utc(2026, 3, 24, 13)),
        ),
    )
    assert rota.who_at(s, utc(2026, 3, 24, 1)) == ((50,), "override")
    assert rota.who_at(s, utc(2026, 3, 24, 12, 30)) == ((51, 50), "override")
    assert rota.who_at(s, utc(2026, 3, 25, 0)) == ((1,), "layer:1")


def test_layer_end_and_empty_layer():
    s = sched(weekly(ends_at=utc(2026, 3, 25)), weekly(members=(), id=2, position=2))
    assert rota.who_at(s, utc(2026, 3, 24))[0] == (1,)
    assert rota.who_at(s, utc(2026, 3, 25))[0] == ()


def test_segments_cover_the_window_and_agree_with_who_at():
    base = weekly(members=(1, 2, 3), rotation_days=2, handoff=time(8, 30))
    business = weekly(
        members=(4, 5),
        id=2,
        position=2,
        rotation_days=1,
        restrictions=(
            rota.Restriction(days=(0, 1, 2, 3, 4), start=time(9), end=time(17)),
            rota.Restriction(days=(5,), start=time(23), end=time(2, 30)),
        ),
    )
    s = sched(
        base,
        business,
        overrides=(rota.OverrideSpec(1, 9, utc(2026, 3, 26, 10, 15), utc(2026, 3, 27, 3)),),
    )
    start, end = utc(2026, 3, 22), utc(2026, 4, 12)
    segs = rota.segments(s, start, end)
    assert segs[0].start == start and segs[-1].end == end
    for a, b in zip(segs, segs[1:], strict=False):
        assert a.end == b.start
        assert (a.user_ids, a.source) != (b.user_ids, b.source)  # merged
    t = start
    i = 0
    while t < end:
        while segs[i].end <= t:
            i += 1
        assert rota.who_at(s, t) == (segs[i].user_ids, segs[i].source), t
        t += timedelta(minutes=7)
    assert rota.segments(s, end, start) == []
