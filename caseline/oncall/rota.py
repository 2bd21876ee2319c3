"""The rota arithmetic, pure (no Django): who is on duty at an instant, and the final
schedule as segments.

Rules (PagerDuty-like):
* an override covering the instant wins (several overlapping overrides: all of them);
* otherwise the layer with the highest ``position`` that has someone on at that instant;
* a layer's shift ``k`` starts at the wall-clock time ``handoff`` on ``start_date + k *
  rotation_days`` in the schedule's zone, resolved with ``caseline.clock.localtime.resolve``
  (a nonexistent time moves forward to the DST jump, a repeated time is its first
  occurrence), so a 09:00 handoff stays at 09:00 local across DST;
* restrictions are weekly wall-clock windows of the schedule's zone; outside them the layer
  has nobody and lower layers show through.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from caseline.clock.localtime import resolve, utc_of, zone


@dataclass(frozen=True)
class Restriction:
    days: tuple[int, ...]  # 0 = Monday
    start: time
    end: time  # <= start: the window crosses midnight (== start: 24 hours)

    def span_from(self, day: date) -> tuple[datetime, datetime]:
        """The wall-clock window beginning on ``day`` (naive)."""
        s = datetime.combine(day, self.start)
        e = datetime.combine(day, self.end)
        if e <= s:
            e += timedelta(days=1)
        return s, e


@dataclass(frozen=True)
class LayerSpec:
    id: int
    position: int
    start_date: date
    handoff: time
    rotation_days: int
    members: tuple[int, ...]
    restrictions: tuple[Restriction, ...] = ()
    ends_at: datetime | None = None


@dataclass(frozen=True)
class OverrideSpec:
    id: int
    user_id: int
    start: datetime
    end: datetime


@dataclass(frozen=True)
class ScheduleSpec:
    id: int
    time_zone: str
    layers: tuple[LayerSpec, ...]
    overrides: tuple[OverrideSpec, ...] = ()


@dataclass(frozen=True)
class Segment:
    start: datetime
    end: datetime
    user_ids: tuple[int, ...]
    source: str  # "override", "layer:<id>" or "" (nobody)


def _wall(tz: ZoneInfo, t: datetime) -> datetime:
    return t.astimezone(tz).replace(tzinfo=None)


def _instant(tz: ZoneInfo, wall: datetime) -> datetime:
    return utc_of(resolve(tz, wall.replace(microsecond=0)))


def shift_start(layer: LayerSpec, tz: ZoneInfo, k: int) -> datetime:
    """UTC start of shift ``k`` of ``layer`` (k may be negative: before the layer begins)."""
    day = layer.start_date + timedelta(days=k * layer.rotation_days)
    return _instant(tz, datetime.combine(day, layer.handoff))


def shift_index(layer: LayerSpec, tz: ZoneInfo, t: datetime) -> int:
    """The k with shift_start(k) <= t < shift_start(k + 1)."""
    wall = _wall(tz, t)
    days = (wall.date() - layer.start_date).days
    k = days // layer.rotation_days
    while shift_start(layer, tz, k) > t:
        k -= 1
    while shift_start(layer, tz, k + 1) <= t:
        k += 1
    return k


def restricted_open(layer: LayerSpec, tz: ZoneInfo, t: datetime) -> bool:
    if not layer.restrictions:
        return True
    for r in layer.restrictions:
        for back in (0, 1):
            day = _wall(tz, t).date() - timedelta(days=back)
            if day.weekday() not in r.days:
                continue
            s, e = r.span_from(day)
            # Compare instants (not wall readings) so a repeated hour is not counted twice.
            if _instant(tz, s) <= t < _instant(tz, e):
                return True
    return False


def layer_user_at(layer: LayerSpec, tz: ZoneInfo, t: datetime) -> int | None:
    if not layer.members:
        return None
    if t < shift_start(layer, tz, 0):
        return None
    if layer.ends_at is not None and t >= layer.ends_at:
        return None
    if not restricted_open(layer, tz, t):
        return None
    return layer.members[shift_index(layer, tz, t) % len(layer.members)]


def who_at(schedule: ScheduleSpec, t: datetime) -> tuple[tuple[int, ...], str]:
    """(user ids on duty, source) for ``schedule`` at the aware instant ``t``."""
    t = t.astimezone(UTC)
    overriding = sorted(
        (o for o in schedule.overrides if o.start <= t < o.end),
        key=lambda o: (o.start, o.id),
        reverse=True,
    )
    if overriding:
        users: list[int] = []
        for o in overriding:
            if o.user_id not in users:
                users.append(o.user_id)
        return tuple(users), "override"
    tz = zone(schedule.time_zone)
    for layer in sorted(schedule.layers, key=lambda la: (la.position, la.id), reverse=True):
        user = layer_user_at(layer, tz, t)
        if user is not None:
            return (user,), f"layer:{layer.id}"
    return (), ""


def boundaries(schedule: ScheduleSpec, start: datetime, end: datetime) -> list[datetime]:
    """Every instant in (start, end) where who_at may change."""
    tz = zone(schedule.time_zone)
    points: set[datetime] = set()
    for o in schedule.overrides:
        points.update((o.start, o.end))
    first_day = _wall(tz, start).date() - timedelta(days=2)
    last_day = _wall(tz, end).date() + timedelta(days=1)
    for layer in schedule.layers:
        if layer.ends_at is not None:
            points.add(layer.ends_at)
        k = max(0, shift_index(layer, tz, start))
        while True:
            b = shift_start(layer, tz, k)
            if b >= end:
                break
            points.add(b)
            k += 1
        for r in layer.restrictions:
            day = first_day
            while day <= last_day:
                if day.weekday() in r.days:
                    s, e = r.span_from(day)
                    points.update((_instant(tz, s), _instant(tz, e)))
                day += timedelta(days=1)
    return sorted(p for p in points if start < p < end)


def segments(schedule: ScheduleSpec, start: datetime, end: datetime) -> list[Segment]:
    """The final schedule between ``start`` and ``end`` as merged segments (nobody-on
    stretches included with empty ``user_ids``)."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return []
    cuts = [start, *boundaries(schedule, start, end), end]
    out: list[Segment] = []
    for a, b in zip(cuts, cuts[1:], strict=False):
        users, source = who_at(schedule, a)
        if out and out[-1].user_ids == users and out[-1].source == source and out[-1].end == a:
            out[-1] = Segment(out[-1].start, b, users, source)
        else:
            out.append(Segment(a, b, users, source))
    return out


def parse_restrictions(items: Sequence[dict] | None) -> tuple[Restriction, ...]:
    """Stored JSON -> Restriction (assumes data validated by the service)."""
    out = []
    for item in items or ():
        out.append(
            Restriction(
                days=tuple(int(d) for d in item["days"]),
                start=time.fromisoformat(item["start"]),
                end=time.fromisoformat(item["end"]),
            )
        )
    return tuple(out)
