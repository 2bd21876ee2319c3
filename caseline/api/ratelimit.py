"""Per-token rate limit shared by every server process.

A fixed one-minute window per key. The default store is a small SQLite file of its own
(``RATELIMIT_URL=sqlite:///...``), separate from the main database so counting never
takes the main write lock; ``redis://`` uses INCRBY/EXPIRE. Both are shared by all
processes on the host (Redis: by all hosts).

Each process counts its hits in memory and adds them to the shared store in batches
(one write per batch instead of one per request: under load the per-request write was a
lock that every worker queued on). A batch is at most ``SYNC_EVERY`` hits and at most a
tenth of the budget the key had left at its last write, and a process writes at least
every ``SYNC_SECONDS``; so far from the limit a worker writes every 32 hits, and within
10 requests of it every hit is written and the verdict is exact. What another process
has counted but not yet written is unseen: with P processes a key can exceed its limit
by at most P x (its batch - 1) requests, and that only while more than 10 x P requests
of budget were left at the last write (a budget of 600: a few requests; the headers'
``X-RateLimit-Remaining`` is this process's estimate). Hits a process never writes (it
went idle, the window ended) are not counted against the next window.
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from dataclasses import dataclass

from django.conf import settings

from caseline.timesource import now

WINDOW_SECONDS = 60
SYNC_EVERY = 32  # at most this many hits of a key are counted before writing them
SYNC_SECONDS = 1.0  # and a process writes a key's hits at least this often


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int


class _SqliteStore:
    def __init__(self, path: str):
        self.path = path
        self.local = threading.local()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=OFF")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS hits (key TEXT PRIMARY KEY, win INTEGER, n INTEGER)"
            )
            self.local.conn = conn
        return conn

    def hit(self, key: str, window: int, n: int = 1) -> int:
        """Add ``n`` hits of ``key`` in ``window``; the window's total."""
        row = (
            self._conn()
            .execute(
                "INSERT INTO hits(key, win, n) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
                "n = CASE WHEN win = excluded.win THEN n + excluded.n ELSE excluded.n END, "
                "win = excluded.win RETURNING n",
                (key, window, n),
            )
            .fetchone()
        )
        return int(row[0])

    def clear(self) -> None:
        self._conn().execute("DELETE FROM hits")
        _local.clear()


class _RedisStore:
    def __init__(self, url: str):
        import redis

        self.client = redis.Redis.from_url(url)

    def hit(self, key: str, window: int, n: int = 1) -> int:
        name = f"caseline:rl:{key}:{window}"
        pipe = self.client.pipeline()
        pipe.incrby(name, n)
        pipe.expire(name, WINDOW_SECONDS * 2)
        count, _ = pipe.execute()
        return int(count)

    def clear(self) -> None:
        for name in self.client.scan_iter("caseline:rl:*"):
            self.client.delete(name)
        _local.clear()


_store: _SqliteStore | _RedisStore | None = None
_store_url: str | None = None


def store() -> _SqliteStore | _RedisStore:
    global _store, _store_url
    url = settings.RATELIMIT_URL
    if _store is None or _store_url != url:
        if url.startswith("redis://"):
            _store = _RedisStore(url)
        else:
            _store = _SqliteStore(url.removeprefix("sqlite:///"))
        _store_url = url
    return _store


class _Local:
    """This process's view of one key: the window, the shared total at the last write
    (this process's written hits included), the hits not written yet, when it wrote."""

    __slots__ = ("window", "total", "pending", "synced_at")

    def __init__(self, window: int):
        self.window = window
        self.total = 0
        self.pending = 0
        self.synced_at = 0.0


_local: dict[str, _Local] = {}
_lock = threading.Lock()


def check(key: str, limit: int | None = None) -> Verdict:
    limit = settings.API_RATE_LIMIT if limit is None else limit
    ts = now().timestamp()
    window = int(ts // WINDOW_SECONDS)
    clock = time.monotonic()
    with _lock:
        state = _local.get(key)
        if state is None or state.window != window:
            if len(_local) > 10_000:
                _local.clear()
            state = _local[key] = _Local(window)
        state.pending += 1
        batch = max(1, min(SYNC_EVERY, (limit - state.total) // 10))
        flush = 0
        if (
            state.pending >= batch
            or state.total + state.pending > limit
            or clock - state.synced_at >= SYNC_SECONDS
        ):
            flush, state.pending = state.pending, 0
            state.synced_at = clock
        count = state.total + state.pending
    if flush:
        total = store().hit(key, window, flush)
        with _lock:
            if state.window == window:
                state.total = max(state.total, total)
            count = max(count, total) + state.pending
    if count <= limit:
        return Verdict(True, limit, limit - count, 0)
    retry_after = max(1, math.ceil((window + 1) * WINDOW_SECONDS - ts))
    return Verdict(False, limit, 0, retry_after)
