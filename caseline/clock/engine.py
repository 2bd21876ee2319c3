"""The business-time engine: cumulative tables of UTC open intervals, bisect and searchsorted.

Every calendar turns, per UTC calendar year ("chunk"), into a sorted list of disjoint open
intervals ``[start, end)`` in epoch seconds.  A calendar's ``Timeline`` keeps the chunks of a
contiguous range of years flattened into one table::

    starts[i], ends[i]   the i-th open interval
    cum[i]               business seconds in the table before starts[i]
    cumend[i]            cum[i] + (ends[i] - starts[i])

and extends that range lazily (forwards or backwards, a year at a time) when a query needs
it.  The business position ``P(t) = cum[i] + clamp(t - starts[i], 0, ends[i] - starts[i])``
(``i`` = last interval starting at or before ``t``) is non-decreasing in ``t``;

* ``between(a, b) = P(b) - P(a)``;
* ``add(a, s)`` for ``s > 0`` is the EARLIEST ``d`` with ``P(d) = P(a) + s``, for ``s < 0``
  the LATEST such ``d``, and for ``s == 0`` it is ``a`` itself.

Tables are immutable snapshots swapped under a lock, so concurrent readers are safe.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from operator import index
from typing import Any

import numpy as np
import numpy.typing as npt

from caseline.clock.intervals import Span
from caseline.clock.localtime import _HOURS_BEFORE_EPOCH, _OFFSETS, EPOCH, epoch_of, utc_of

__all__ = [
    "MAX_EMPTY_YEARS",
    "BusinessCalendar",
    "NeverOpenError",
    "Timeline",
    "year_bounds",
]

#: ``add``/``next_open`` give up after this many consecutive years without open time.
MAX_EMPTY_YEARS = 10
MIN_YEAR = 1902
MAX_YEAR = 9000

_fromts = datetime.fromtimestamp
_LOCK = threading.RLock()  # re-entrant: a union builds its members under it
I64 = npt.NDArray[np.int64]


class NeverOpenError(ValueError):
    """The calendar has no open time within ``MAX_EMPTY_YEARS`` years of the query."""


def year_bounds(year: int) -> Span:
    """Epoch seconds of 1 January ``year`` and of 1 January ``year + 1``, both 00:00 UTC."""
    return (
        int(datetime(year, 1, 1, tzinfo=EPOCH.tzinfo).timestamp()),
        int(datetime(year + 1, 1, 1, tzinfo=EPOCH.tzinfo).timestamp()),
    )


def _year_of(ts: int) -> int:
    return utc_of(ts).year


class _Tables:
    """One immutable snapshot: the open intervals of the UTC years ``y0..y1``."""

    __slots__ = ("_np", "cum", "cumend", "ends", "hi", "lo", "starts", "y0", "y1", "yearly")

    def __init__(self, y0: int, y1: int, spans: list[Span], yearly: list[int]) -> None:
        self.y0, self.y1 = y0, y1
        self.lo = year_bounds(y0)[0]
        self.hi = year_bounds(y1)[1]
        self.starts = [s for s, _ in spans]
        self.ends = [e for _, e in spans]
        self.cum: list[int] = []
        self.cumend: list[int] = []
        total = 0
        for s, e in spans:
            self.cum.append(total)
            total += e - s
            self.cumend.append(total)
        self.yearly = yearly  # open seconds per year y0..y1
        self._np: tuple[I64, I64, I64, I64] | None = None

    def arrays(self) -> tuple[I64, I64, I64, I64]:
        """numpy copies: starts, lengths, cum, cumend."""
        if self._np is None:
            starts = np.asarray(self.starts, dtype=np.int64)
            lengths = np.asarray(self.ends, dtype=np.int64) - starts
            self._np = (
                starts,
                lengths,
                np.asarray(self.cum, dtype=np.int64),
                np.asarray(self.cumend, dtype=np.int64),
            )
        return self._np

    def position(self, t: int) -> int:
        i = bisect_right(self.starts, t) - 1
        if i < 0:
            return 0
        d = t - self.starts[i]
        if d <= 0:
            return self.cum[i]
        return self.cumend[i] if t >= self.ends[i] else self.cum[i] + d


class Timeline:
    """The lazily extended tables of one calendar (an implementation detail of the cache)."""

    def __init__(self, chunk: Callable[[int], list[Span]]) -> None:
        self._chunk = chunk
        self._chunks: dict[int, list[Span]] = {}
        self.tables: _Tables | None = None

    # -- coverage ---------------------------------------------------------------------
    def cover(self, t_lo: int, t_hi: int) -> _Tables:
        """Tables covering ``[t_lo, t_hi]`` (extended if needed)."""
        tb = self.tables
        if tb is not None and tb.lo <= t_lo and t_hi < tb.hi:
            return tb
        y0, y1 = _year_of(t_lo), _year_of(t_hi)
        if tb is not None:
            y0, y1 = min(y0, tb.y0), max(y1, tb.y1)
        return self._build(y0, y1)

    def _build(self, y0: int, y1: int) -> _Tables:
        if y0 < MIN_YEAR or y1 > MAX_YEAR:
            raise OverflowError(f"business time is supported for {MIN_YEAR}..{MAX_YEAR}")
        with _LOCK:
            tb = self.tables
            if tb is not None and tb.y0 <= y0 and tb.y1 >= y1:
                return tb
            spans: list[Span] = []
            yearly: list[int] = []
            for y in range(y0, y1 + 1):
                chunk = self._chunks.get(y)
                if chunk is None:
                    chunk = self._chunks[y] = self._chunk(y)
                yearly.append(sum(e - s for s, e in chunk))
                for s, e in chunk:
                    if spans and spans[-1][1] == s:  # an interval running over New Year
                        spans[-1] = (spans[-1][0], e)
                    else:
                        spans.append((s, e))
            tb = _Tables(y0, y1, spans, yearly)
            self.tables = tb
            return tb

    def _grow(self, tb: _Tables, forward: bool) -> _Tables:
        """One more year; raise NeverOpenError after MAX_EMPTY_YEARS empty ones."""
        edge = tb.yearly[-MAX_EMPTY_YEARS:] if forward else tb.yearly[:MAX_EMPTY_YEARS]
        if len(edge) >= MAX_EMPTY_YEARS and not any(edge):
            raise NeverOpenError(
                f"no open time in {MAX_EMPTY_YEARS} years "
                f"{'after' if forward else 'before'} {utc_of(tb.hi if forward else tb.lo)}"
            )
        return self._build(tb.y0, tb.y1 + 1) if forward else self._build(tb.y0 - 1, tb.y1)

    # -- scalar operations on epoch seconds --------------------------------------------
    def is_open(self, t: int) -> bool:
        tb = self.tables
        if tb is None or not (tb.lo <= t < tb.hi):
            tb = self.cover(t, t)
        i = bisect_right(tb.starts, t) - 1
        return i >= 0 and t < tb.ends[i]

    def next_open(self, t: int) -> int:
        tb = self.cover(t, t)
        while True:
            i = bisect_right(tb.starts, t) - 1
            if i >= 0 and t < tb.ends[i]:
                return t
            if i + 1 < len(tb.starts):
                return tb.starts[i + 1]
            tb = self._grow(tb, True)

    def between(self, a: int, b: int) -> int:
        tb = self.tables
        if tb is None or not (tb.lo <= a < tb.hi and tb.lo <= b < tb.hi):
            tb = self.cover(min(a, b), max(a, b))
        return tb.position(b) - tb.position(a)

    def add(self, t: int, s: int) -> int:
        if s == 0:
            return t
        tb = self.tables
        if tb is None or not (tb.lo <= t < tb.hi):
            tb = self.cover(t, t)
        while True:
            target = tb.position(t) + s
            if s > 0:
                ce = tb.cumend
                if ce and target <= ce[-1]:
                    j = bisect_left(ce, target)
                    return tb.starts[j] + target - tb.cum[j]
            elif target >= 0 and tb.cum:
                j = bisect_right(tb.cum, target) - 1
                return tb.starts[j] + target - tb.cum[j]
            tb = self._grow(tb, s > 0)

    def spans(self, a: int, b: int) -> list[Span]:
        tb = self.cover(a, max(a, b))
        i = max(bisect_right(tb.starts, a) - 1, 0)
        out: list[Span] = []
        while i < len(tb.starts) and tb.starts[i] < b:
            s, e = max(tb.starts[i], a), min(tb.ends[i], b)
            if s < e:
                out.append((s, e))
            i += 1
        return out

    # -- batch operations on int64 arrays of epoch seconds -----------------------------
    @staticmethod
    def _positions(arrs: tuple[I64, I64, I64, I64], t: I64) -> I64:
        starts, lengths, cum, _ = arrs
        if starts.size == 0:
            return np.zeros_like(t)
        i = np.searchsorted(starts, t, side="right") - 1
        np.maximum(i, 0, out=i)
        pos: I64 = cum[i] + np.clip(t - starts[i], 0, lengths[i])
        return pos

    def between_many(self, a: I64, b: I64) -> I64:
        a, b = np.broadcast_arrays(a, b)
        if a.size == 0:
            return np.zeros(a.shape, dtype=np.int64)
        tb = self.cover(int(min(a.min(), b.min())), int(max(a.max(), b.max())))
        arrs = tb.arrays()
        return self._positions(arrs, b) - self._positions(arrs, a)

    def add_many(self, t: I64, s: I64) -> I64:
        t, s = np.broadcast_arrays(t, s)
        if t.size == 0:
            return np.array(t, dtype=np.int64, copy=True)
        tb = self.cover(int(t.min()), int(t.max()))
        fwd, back = s > 0, s < 0
        any_fwd, any_back = bool(fwd.any()), bool(back.any())
        while True:
            arrs = tb.arrays()
            starts, _, cum, cumend = arrs
            target = self._positions(arrs, t) + s
            if any_fwd and (cumend.size == 0 or int(target[fwd].max()) > int(cumend[-1])):
                tb = self._grow(tb, True)
            elif any_back and (cum.size == 0 or int(target[back].min()) < 0):
                tb = self._grow(tb, False)
            else:
                break
        out = np.array(t, dtype=np.int64, copy=True)
        if starts.size == 0:
            return out
        if any_fwd:
            j = np.searchsorted(cumend, target, side="left")
            np.minimum(j, starts.size - 1, out=j)
            res = starts[j] + target - cum[j]
            out = np.where(fwd, res, out) if (any_back or not fwd.all()) else res
        if any_back:
            k = np.searchsorted(cum, target, side="right") - 1
            np.maximum(k, 0, out=k)
            out = np.where(back, starts[k] + target - cum[k], out)
        return out


def _as_epoch_array(values: Any) -> tuple[I64, bool]:
    """int64 epoch seconds from datetime64 values, ints or aware datetimes; and whether the
    input was datetime-like (so results come back as ``datetime64[s]``)."""
    arr = np.asarray(values)
    if arr.dtype.kind == "M":
        return arr.astype("datetime64[s]").astype(np.int64), True
    if arr.dtype == object:
        flat = [epoch_of(v) for v in arr.ravel()]
        return np.asarray(flat, dtype=np.int64).reshape(arr.shape), True
    if arr.dtype.kind not in "iu":
        raise TypeError(f"expected epoch seconds (integers) or datetimes, got {arr.dtype}")
    return arr.astype(np.int64, copy=False), False


class BusinessCalendar(ABC):
    """Operations shared by every calendar (single-zone or union).

    Subclasses are frozen dataclasses; the precomputed tables live in a private cache
    attribute that takes no part in equality, hashing, repr or pickling.
    """

    _tl: Timeline

    @abstractmethod
    def _chunk(self, year: int) -> list[Span]:
        """The merged open intervals (epoch seconds) inside UTC year ``year``."""

    @property
    def timeline(self) -> Timeline:
        try:
            return self._tl
        except AttributeError:
            with _LOCK:
                if "_tl" not in self.__dict__:
                    object.__setattr__(self, "_tl", Timeline(self._chunk))
            return self._tl

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_tl", None)
        return state

    # -- aware datetimes -------------------------------------------------------------
    def is_open(self, t: datetime) -> bool:
        """Whether ``t`` lies in open time; intervals are half-open ``[open, close)``."""
        try:
            tl = self._tl
        except AttributeError:
            tl = self.timeline
        return tl.is_open(epoch_of(t))

    def next_open(self, t: datetime) -> datetime:
        """``t`` itself if open, else the next opening instant (UTC)."""
        try:
            tl = self._tl
        except AttributeError:
            tl = self.timeline
        return utc_of(tl.next_open(epoch_of(t)))

    def add(self, start: datetime, seconds: int) -> datetime:
        """The instant (UTC) ``seconds`` business seconds after ``start`` (before, if negative).

        The earliest instant at which the count is reached (latest, going backwards): a count
        that runs out exactly at a closing time returns that closing time; ``seconds == 0``
        returns ``start`` (floored to the second) even when closed.
        """
        # epoch_of(start), its cache-hit path inlined (a function call is ~10 % of add).
        hour = start.toordinal() * 24 + start.hour
        tz = start.tzinfo
        if tz is UTC:
            t = (hour - _HOURS_BEFORE_EPOCH) * 3600 + start.minute * 60 + start.second
        else:
            try:
                off = _OFFSETS[tz][hour]
            except (KeyError, TypeError):
                t = epoch_of(start)  # fills the cache; raises for a naive datetime
            else:
                t = (hour - _HOURS_BEFORE_EPOCH) * 3600 + start.minute * 60 + start.second - off
        s = index(seconds)
        try:
            tb = self._tl.tables
        except AttributeError:
            tb = self.timeline.tables
        if s > 0 and tb is not None and tb.lo <= t < tb.hi:
            # The common case inlined (Timeline.add: position, then the interval where the
            # cumulative count reaches the target); anything else takes the general path.
            starts = tb.starts
            i = bisect_right(starts, t) - 1
            if i < 0:
                pos = 0
            elif t >= tb.ends[i]:
                pos = tb.cumend[i]
            else:
                pos = tb.cum[i] + t - starts[i]
            target = pos + s
            ce = tb.cumend
            if ce and target <= ce[-1]:
                j = bisect_left(ce, target, max(i, 0))
                return _fromts(starts[j] + target - tb.cum[j], UTC)
        return _fromts(self.timeline.add(t, s), UTC)

    def between(self, a: datetime, b: datetime) -> int:
        """Business seconds in ``[a, b)``; negative (``-between(b, a)``) when ``b < a``."""
        try:
            tl = self._tl
        except AttributeError:
            tl = self.timeline
        return tl.between(epoch_of(a), epoch_of(b))

    def open_spans(self, a: datetime, b: datetime) -> list[tuple[datetime, datetime]]:
        """The open intervals inside ``[a, b)``, clipped to it, in UTC."""
        return [(utc_of(s), utc_of(e)) for s, e in self.timeline.spans(epoch_of(a), epoch_of(b))]

    # -- epoch seconds (the fast scalar path) -----------------------------------------
    def is_open_ts(self, t: int) -> bool:
        return self.timeline.is_open(t)

    def next_open_ts(self, t: int) -> int:
        return self.timeline.next_open(t)

    def add_ts(self, start: int, seconds: int) -> int:
        return self.timeline.add(start, seconds)

    def between_ts(self, a: int, b: int) -> int:
        return self.timeline.between(a, b)

    # -- batches ----------------------------------------------------------------------
    def add_many(self, starts: Any, seconds: Any) -> Any:
        """Vectorised ``add``.  ``starts``: int epoch seconds, ``datetime64`` or aware
        datetimes (array-like); ``seconds``: ints, broadcast against ``starts``.  Returns int64
        epoch seconds for integer input, ``datetime64[s]`` (UTC) otherwise."""
        t, dt_like = _as_epoch_array(starts)
        s = np.asarray(seconds)
        if s.dtype.kind not in "iu":
            raise TypeError(f"seconds must be integers, got {s.dtype}")
        out = self.timeline.add_many(t, s.astype(np.int64, copy=False))
        return out.astype("datetime64[s]") if dt_like else out

    def between_many(self, a: Any, b: Any) -> I64:
        """Vectorised ``between``: int64 business seconds, element-wise, broadcast."""
        ta, _ = _as_epoch_array(a)
        tb, _ = _as_epoch_array(b)
        return self.timeline.between_many(ta, tb)


def epochs(values: Sequence[datetime]) -> I64:
    """int64 epoch seconds of aware datetimes (a helper for batch callers)."""
    return np.asarray([epoch_of(v) for v in values], dtype=np.int64)
