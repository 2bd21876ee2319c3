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


def epoch_of(dt: datetime) -> int:
    """Whole seconds since the epoch of an AWARE datetime (sub-second part floored)."""
    if dt.tzinfo is None:
        raise ValueError(f"naive datetime {dt!r}: business time needs aware datetimes")
    return floor(dt.timestamp())


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
