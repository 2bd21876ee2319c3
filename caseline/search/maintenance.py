"""Keeping the SQLite FTS5 triggers in place.

Django rebuilds an SQLite table for most ``AlterField`` operations (create a copy, drop
the original, rename): dropping the original drops its triggers too, and the search
index would silently stop following that table. After every ``migrate`` this module
checks that each trigger exists and, if one is missing, re-creates it and rebuilds the
indexes from the tables. (PostgreSQL keeps generated columns through ALTER TABLE; a
migration that changes the *type* of an indexed column must drop and re-add the
search column itself, see docs/search.md.)
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import connections

from . import ddl

log = logging.getLogger("caseline.search")


def missing_triggers(using: str = "default") -> list[str]:
    conn = connections[using]
    if conn.vendor != "sqlite":
        return []
    with conn.cursor() as cur:
        cur.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        present = {row[0] for row in cur.fetchall()}
        cur.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        tables = {row[0] for row in cur.fetchall()}
    if not set(ddl.SQLITE_TABLES) <= tables:
        return []  # the search migration has not run (or was reversed)
    return [name for name in ddl.SQLITE_TRIGGERS if name not in present]


def repair(using: str = "default") -> list[str]:
    """Re-create missing SQLite triggers and rebuild the indexes; returns their names."""
    missing = missing_triggers(using)
    if not missing:
        return []
    conn = connections[using]
    log.warning("search: re-creating triggers %s and rebuilding the indexes", missing)
    with conn.cursor() as cur:
        for name in missing:
            cur.execute(ddl.SQLITE_TRIGGERS[name][1])
        for sql in ddl.SQLITE_REBUILD:
            cur.execute(sql)
    return missing


def repair_after_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    plan = kwargs.get("plan")
    if plan is not None and not plan:
        return
    repair(using)
