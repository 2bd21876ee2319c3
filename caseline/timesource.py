"""The one time source of the whole product.

``now()`` returns an aware UTC datetime. In production it is the system clock. When the
environment variable ``CASELINE_TIME_FILE`` names a file, every process that shares that
environment (web server, worker, clock loop, the test itself) reads the same controlled
time from it, so a test can set or advance time for all of them at once:

* ``{"offset": 3600.0}`` -- real time shifted by an offset (time keeps flowing);
* ``{"frozen": "2026-01-05T13:00:00+00:00"}`` -- time stands still at that instant.

The file is re-read only when its modification time changes, so ``now()`` costs one
``stat`` call in controlled mode. This module is pure: it imports nothing from Django.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

ENV_VAR = "CASELINE_TIME_FILE"

_cache: dict[str, tuple[int, float, datetime | None]] = {}


def _read(path: str) -> tuple[float, datetime | None]:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return 0.0, None
    cached = _cache.get(path)
    if cached is not None and cached[0] == st.st_mtime_ns:
        return cached[1], cached[2]
    data = json.loads(Path(path).read_text() or "{}")
    offset = float(data.get("offset", 0.0))
    frozen_raw = data.get("frozen")
    frozen = datetime.fromisoformat(frozen_raw).astimezone(UTC) if frozen_raw else None
    _cache[path] = (st.st_mtime_ns, offset, frozen)
    return offset, frozen


def now() -> datetime:
    """The current instant as an aware UTC datetime."""
    path = os.environ.get(ENV_VAR)
    real = datetime.now(UTC)
    if not path:
        return real
    offset, frozen = _read(path)
    if frozen is not None:
        return frozen
    return real + timedelta(seconds=offset)


def _write(path: str, data: dict[str, object]) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".time-")
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)
    # Guarantee that readers notice the change even within one mtime tick.
    st = os.stat(path)
    cached = _cache.get(path)
    if cached is not None and cached[0] == st.st_mtime_ns:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    _cache.pop(path, None)


def _path() -> str:
    path = os.environ.get(ENV_VAR)
    if not path:
        raise RuntimeError(f"{ENV_VAR} is not set: time can only be controlled in test mode")
    return path


def set_time(when: datetime, *, frozen: bool = True) -> None:
    """Set the controlled time for every process sharing ``CASELINE_TIME_FILE``."""
    if when.tzinfo is None:
        raise ValueError("set_time needs an aware datetime")
    if frozen:
        _write(_path(), {"frozen": when.astimezone(UTC).isoformat()})
    else:
        delta = (when - datetime.now(UTC)).total_seconds()
        _write(_path(), {"offset": delta})


def advance(seconds: float) -> datetime:
    """Move the controlled time forward (frozen or flowing) and return the new now()."""
    path = _path()
    offset, frozen = _read(path)
    if frozen is not None:
        _write(path, {"frozen": (frozen + timedelta(seconds=seconds)).isoformat()})
    else:
        _write(path, {"offset": offset + seconds})
    return now()


def reset() -> None:
    """Back to real time (offset 0) for processes sharing the file."""
    _write(_path(), {"offset": 0.0})
