"""Per-token rate limit shared by every server process.

A fixed one-minute window per key. The default store is a small SQLite file of its own
(``RATELIMIT_URL=sqlite:///...``), separate from the main database so counting never
takes the main write lock; ``redis://`` uses INCR/EXPIRE. Both are shared by all
processes on the host (Redis: by all hosts).
"""

from __future__ import annotations

import math
import sqlite3
import threading
from dataclasses import dataclass

from django.conf import settings

from caseline.timesource import now

WINDOW_SECONDS = 60


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

    def hit(self, key: str, window: int) -> int:
        row = (
            self._conn()
            .execute(
                "INSERT INTO hits(key, win, n) VALUES (?, ?, 1) ON CONFLICT(key) DO UPDATE SET "
                "n = CASE WHEN win = excluded.win THEN n + 1 ELSE 1 END, win = excluded.win "
                "RETURNING n",
                (key, window),
            )
            .fetchone()
        )
        return int(row[0])

    def clear(self) -> None:
        self._conn().execute("DELETE FROM hits")


class _RedisStore:
    def __init__(self, url: str):
        import redis

        self.client = redis.Redis.from_url(url)

    def hit(self, key: str, window: int) -> int:
        name = f"caseline:rl:{key}:{window}"
        pipe = self.client.pipeline()
        pipe.incr(name)
        pipe.expire(name, WINDOW_SECONDS * 2)
        count, _ = pipe.execute()
        return int(count)

    def clear(self) -> None:
        for name in self.client.scan_iter("caseline:rl:*"):
            self.client.delete(name)


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


def check(key: str, limit: int | None = None) -> Verdict:
    limit = settings.API_RATE_LIMIT if limit is None else limit
    ts = now().timestamp()
    window = int(ts // WINDOW_SECONDS)
    count = store().hit(key, window)
    if count <= limit:
        return Verdict(True, limit, limit - count, 0)
    retry_after = max(1, math.ceil((window + 1) * WINDOW_SECONDS - ts))
    return Verdict(False, limit, 0, retry_after)
