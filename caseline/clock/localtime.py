"""Local wall-clock time -> UTC instants, with one rule for gaps and overlaps.

A local wall-clock time ``w`` (a naive ``datetime``) in zone ``tz`` stands for

    the first instant at which the local clock reads ``w`` or later.

* An ordinary time has exactly one instant: that one.
* A repeated time (autumn fall-back, e.g. 01:30 on 2026-11-01 in New York) stands for its
  FIRST occurrence (``fold=0``, 01:30 EDT).
* A nonexistent time (spring-forward gap, e.g. 02:30 on 2026-03-08 in New York) is mapped
  FORWARD to the instant the clocks jump (03:00 EDT = 07:00 UTC).

The map is monotone (a later wall time never gives an earlier instant), so an interval
``[w1, w2)`` with ``w1 <= w2`` never turns negative; it may become empty when both ends fall
into the same gap.  All instants are integer seconds since the Unix epoch (UTC).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from math import floor
from zoneinfo import ZoneInfo

__all__ = ["EPOCH", "epoch_of", "local_wall", "resolve", "resolve_day", "utc_of", "zone"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIDNIGHT_CACHE = 4096


@lru_cache(maxsize=256)
def zone(key: str) -> ZoneInfo:
    """The ZoneInfo for an IANA key (raises ``ZoneInfoNotFoundError`` if unknown)."""
    return ZoneInfo(key)


# ``datetime.timestamp()`` on an aware datetime in a ZoneInfo zone costs ~0.5 us (it
# subtracts an aware epoch: two utcoffset calls, a timedelta, a float). ``epoch_of`` reads
# the fields instead and caches the UTC offset per zone and local wall-clock hour -- only
# for hours whose offset is the same at both ends and for both folds (never a DST
# transition hour, where ``fold`` decides), so the answer is exactly ``floor(timestamp())``.
_HOURS_BEFORE_EPOCH = 719163 * 24  # date(1970, 1, 1).toordinal() * 24
_OFFSETS: dict[object, dict[int, int]] = {}
_OFFSET_CACHE_MAX = 400_000  # hours per zone (~45 years); cleared when exceeded


def _offset_of(dt: datetime) -> int | None:
    """Whole-second UTC offset of ``dt``'s wall-clock hour if it is the same throughout
    the hour and for both folds; None otherwise."""
    start = dt.replace(minute=0, second=0, microsecond=0)
    offs = {
        v.utcoffset()
        for v in (
            start.replace(fold=0),
            start.replace(fold=1),
            start.replace(minute=59, second=59, fold=0),
            start.replace(minute=59, second=59, fold=1),
        )
    }
    if len(offs) != 1:
        return None
    off = offs.pop()
    if off is None or off.microseconds:
        return None
    return off.days * 86400 + off.seconds


def epoch_of(dt: datetime) -> int:
    """Whole seconds since the epoch of an AWARE datetime (sub-second part floored)."""
    tz = dt.tzinfo
    if tz is UTC:
        return (dt.toordinal() * 24 + dt.hour - _HOURS_BEFORE_EPOCH) * 3600 + (
            dt.minute * 60 + dt.second
        )
    if tz is None:
        raise ValueError(f"naive datetime {dt!r}: business time needs aware datetimes")
    hour = dt.toordinal() * 24 + dt.hour
    try:
        cache = _OFFSETS[tz]
    except KeyError:
        cache = _OFFSETS.setdefault(tz, {})
    except TypeError:  # an unhashable tzinfo
        return floor(dt.timestamp())
    off = cache.get(hour)
    if off is None:
        off = _offset_of(dt)
        if off is None:
            return floor(dt.timestamp())
        if len(cache) >= _OFFSET_CACHE_MAX:
            cache.clear()
        cache[hour] = off
    return (hour - _HOURS_BEFORE_EPOCH) * 3600 + dt.minute * 60 + dt.second - off


def utc_of(ts: int) -> datetime:
    """The aware UTC datetime of epoch seconds ``ts``."""
    return datetime.fromtimestamp(ts, UTC)


def local_wall(tz: ZoneInfo, ts: int) -> datetime:
    """The naive local wall-clock reading at epoch seconds ``ts``."""
    return (EPOCH + timedelta(seconds=ts)).astimezone(tz).replace(tzinfo=None)


def resolve(tz: ZoneInfo, wall: datetime) -> int:
    """The first instant (epoch seconds) at which the clock in ``tz`` reads ``wall`` or later.

    ``wall`` is naive and whole-second.
    """
    u0 = int(wall.replace(tzinfo=tz, fold=0).timestamp())
    if local_wall(tz, u0) == wall:
        return u0  # exists; fold=0 is the first occurrence of a repeated time
    # A gap: fold=0 and fold=1 bracket the jump.  Find the first instant reading >= wall.
    u1 = int(wall.replace(tzinfo=tz, fold=1).timestamp())
    lo, hi = min(u0, u1), max(u0, u1)
    while lo < hi:
        mid = (lo + hi) // 2
        if local_wall(tz, mid) >= wall:
            hi = mid
        else:
            lo = mid + 1
    return lo


@lru_cache(maxsize=_MIDNIGHT_CACHE)
def resolve_day(key: str, day: date) -> int:
    """``resolve`` of local midnight starting ``day`` (cached: used for date closures)."""
    return resolve(zone(key), datetime(day.year, day.month, day.day))
