"""Business-time throughput: scalar add/between (datetimes and epoch seconds) and the numpy
batch forms, over ~1M random inputs on realistic calendars with holidays.

    .venv/bin/python bench/clock_bench.py [N]

Prints figures only (no asserts); record them in docs/business-time.md.
"""

from __future__ import annotations

import os
import platform
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from caseline.clock import BusinessCalendar, Calendar, HolidaySpec, follow_the_sun, utc_of  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
HOUR = 3600


def rate(label: str, n: int, fn: Callable[[], object], best_of: int = 3) -> float:
    best = float("inf")
    for _ in range(best_of):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    per_s = n / best
    print(f"  {label:<38} {per_s:>14,.0f} /s   ({best * 1000:8.1f} ms for {n:,})")
    return per_s


def run(name: str, cal: BusinessCalendar) -> None:
    rng = random.Random(42)
    lo = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    span = 2 * 365 * 86400
    starts = [lo + rng.randrange(span) for _ in range(N)]
    # up to five business days of 9 hours, to the second
    counts = [rng.randrange(0, 5 * 9 * HOUR) for _ in range(N)]
    start_dts = [utc_of(t) for t in starts]
    t0 = time.perf_counter()
    cal.add_ts(lo, 1)  # builds the first year's tables
    cal.add_ts(lo + span, 2)
    build_ms = (time.perf_counter() - t0) * 1000
    print(f"{name}: tables for 2026-2028 built in {build_ms:.1f} ms")

    due = [cal.add_ts(t, s) for t, s in zip(starts, counts, strict=True)]
    due_dts = [utc_of(t) for t in due]
    a_np = np.asarray(starts, dtype=np.int64)
    s_np = np.asarray(counts, dtype=np.int64)
    d_np = np.asarray(due, dtype=np.int64)
    add, add_ts, between, between_ts = cal.add, cal.add_ts, cal.between, cal.between_ts

    rate(
        "add (aware datetimes), scalar",
        N,
        lambda: [add(t, s) for t, s in zip(start_dts, counts, strict=True)],
        2,
    )
    rate(
        "add_ts (epoch seconds), scalar",
        N,
        lambda: [add_ts(t, s) for t, s in zip(starts, counts, strict=True)],
        2,
    )
    rate("add_many (numpy batch)", N, lambda: cal.add_many(a_np, s_np))
    rate(
        "between (aware datetimes), scalar",
        N,
        lambda: [between(a, b) for a, b in zip(start_dts, due_dts, strict=True)],
        2,
    )
    rate(
        "between_ts (epoch seconds), scalar",
        N,
        lambda: [between_ts(a, b) for a, b in zip(starts, due, strict=True)],
        2,
    )
    rate("between_many (numpy batch)", N, lambda: cal.between_many(a_np, d_np))
    rate("is_open_ts, scalar", N, lambda: [cal.is_open_ts(t) for t in starts], 2)


def main() -> None:
    print(f"clock_bench: N={N:,}  python {platform.python_version()}  numpy {np.__version__}")
    print(f"  nproc={os.cpu_count()}  {platform.processor() or platform.machine()}")
    amer = Calendar.build(
        "America/New_York", "Mon-Fri 08:00-17:00", holidays=[HolidaySpec("US")], name="AMER"
    )
    run("AMER Mon-Fri 08:00-17:00 America/New_York + US holidays", amer)
    emea = Calendar.build(
        "Europe/Berlin",
        "Mon-Fri 08:00-17:00",
        holidays=[HolidaySpec("DE", "BY", ("public", "catholic"))],
        name="EMEA",
    )
    apac = Calendar.build(
        "Australia/Sydney", "Mon-Fri 08:00-17:00", holidays=[HolidaySpec("AU", "NSW")], name="APAC"
    )
    run("follow-the-sun AMER+EMEA+APAC", follow_the_sun(amer, emea, apac))


if __name__ == "__main__":
    main()
