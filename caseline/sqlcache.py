"""Compiled SQL of hot read queries, built once per shape and run through a cursor.

Building a queryset and compiling it to SQL costs Django ~0.3-1 ms per query (the SQL of
an API list page itself runs in ~0.1-0.3 ms). For the few queries run on every request
(the API token lookup, the ticket list page, its tags) that compilation is most of the
request. A :class:`Prepared` query is the queryset's own SQL, compiled once with
*placeholder* values, whose parameters are replaced by the real values at each run;
the rows go through the same converters Django applies (SQLite datetimes, ...).

How a shape is checked: the queryset is built twice, with two different sets of
placeholder values. The SQL texts must be equal and every parameter that differs must
be exactly one placeholder in both builds; anything else (a value Django transformed, a
placeholder it folded into the SQL, ...) makes :func:`prepare` return None and the caller
runs the ORM as usual. With ``strict`` every parameter must be a placeholder (no
constants: a registered annotation that reads the time of the request, say, leaves a
constant parameter and keeps the query out of the cache).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime


@dataclass(frozen=True)
class Prepared:
    alias: str
    sql: str
    slots: tuple[tuple[bool, Any], ...]  # (is a placeholder, its name | the constant)
    names: tuple[str, ...]  # column names (``.values()`` order)
    converters: tuple[tuple[int, tuple[list[Callable], Any]], ...]
    native_sql: str | None = None  # SQLite: the SQL in its own parameter style

    def params(self, values: dict[str, Any]) -> list[Any]:
        return [values[v] if var else v for var, v in self.slots]

    def rows(self, values: dict[str, Any], *, server_prepared: bool = False) -> list[tuple]:
        """The rows (tuples in ``names`` order) for the placeholder ``values``.

        ``server_prepared`` (PostgreSQL; ignored elsewhere): run the SQL as a server-side
        prepared statement of the connection (parsed and planned once, then its generic
        plan). Only for SQL whose generic plan is as good as a custom one (primary-key
        look-ups, say): PostgreSQL cannot see parameter values in a generic plan."""
        connection = connections[self.alias]
        if server_prepared and connection.vendor == "postgresql":
            rows = _run_prepared(connection, self.sql, self.params(values))
            return self._convert(connection, rows)
        with connection.cursor() as cursor:
            # The SQLite shortcut skips Django's cursor wrapper, so only when no one is
            # counting queries (DEBUG, CaptureQueriesContext): budgets must see these.
            if self.native_sql is not None and not connection.queries_logged:
                # Django's SQLite cursor rewrites "%s" to "?" at every execute: done once
                with connection.wrap_database_errors:
                    raw = cursor.cursor
                    sqlite3.Cursor.execute(raw, self.native_sql, self.params(values))
                    rows = raw.fetchall()
            else:
                cursor.execute(self.sql, self.params(values))
                rows = cursor.fetchall()
        return self._convert(connection, rows)

    def _convert(self, connection: Any, rows: list[tuple]) -> list[tuple]:
        if self.converters and rows:
            out = []
            for row in rows:
                row = list(row)
                for pos, (convs, expression) in self.converters:
                    value = row[pos]
                    for convert in convs:
                        value = convert(value, expression, connection)
                    row[pos] = value
                out.append(tuple(row))
            return out
        return rows

    def dicts(
        self, values: dict[str, Any], *, server_prepared: bool = False
    ) -> list[dict[str, Any]]:
        names = self.names
        rows = self.rows(values, server_prepared=server_prepared)
        return [dict(zip(names, row, strict=True)) for row in rows]


# A prepare threshold no query reaches by repetition: only ``prepare=True`` prepares.
_EXPLICIT_ONLY = 1 << 30


def _run_prepared(connection: Any, sql: str, params: list[Any]) -> list[tuple]:
    """``sql`` as a server-side prepared statement on Django's psycopg connection.

    Django's cursors bind parameters client-side (psycopg's ``ClientCursor``, which never
    prepares); this uses a server-binding cursor on the same connection (same
    transaction) with ``prepare=True``. psycopg keeps the statement per connection (at
    most ``prepared_max``) and prepares it again after a rollback or a reconnection.
    Django's ``prepare_threshold=None`` is lifted to a threshold never reached, so
    nothing else gets prepared. Logged like Django's own cursors when queries are logged
    (DEBUG, ``CaptureQueriesContext``)."""
    import time

    import psycopg

    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:
        raw.prepare_threshold = _EXPLICIT_ONLY
    start = time.monotonic()
    with connection.wrap_database_errors:
        with psycopg.Cursor(raw) as cursor:
            cursor.execute(sql, params, prepare=True)
            rows = cursor.fetchall()
    if connection.queries_logged:
        connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - start:.3f}"})
    return rows


def _compile(qs: QuerySet) -> tuple[str, tuple, Any]:
    compiler = qs.query.get_compiler(qs.db)
    sql, params = compiler.as_sql()
    return sql, tuple(params), compiler


def prepare(
    build: Callable[[dict[str, Any]], QuerySet],
    placeholders: Iterable[tuple[dict[str, Any], dict[str, Any]]] | tuple[dict, dict],
    *,
    strict: bool = False,
) -> Prepared | None:
    """Compile ``build(a)`` and ``build(b)`` for the two placeholder sets ``(a, b)``
    (name -> value, each value unique within its set and different between the sets);
    None when the shape cannot be prepared (see the module docstring)."""
    from django.core.exceptions import EmptyResultSet, FullResultSet

    a, b = placeholders  # type: ignore[misc]
    try:
        qs_a = build(a)
        sql_a, params_a, compiler = _compile(qs_a)
        sql_b, params_b, _ = _compile(build(b))
    except (EmptyResultSet, FullResultSet):
        return None
    if sql_a != sql_b or len(params_a) != len(params_b):
        return None
    by_a = {_key(v): k for k, v in a.items()}
    slots: list[tuple[bool, Any]] = []
    for pa, pb in zip(params_a, params_b, strict=True):
        name = by_a.get(_key(pa))
        if name is not None and _key(b[name]) == _key(pb):
            slots.append((True, name))
        elif _key(pa) == _key(pb) and name is None and not strict:
            slots.append((False, pa))
        else:
            return None
    # the column names as ValuesIterable reads them (the selected aliases, in order)
    names = tuple(s[2] for s in compiler.select[0 : compiler.col_count])
    fields = [s[0] for s in compiler.select[0 : compiler.col_count]]
    if None in names or len(set(names)) != len(names):
        return None
    if len(names) != len(fields):
        return None
    connection = connections[qs_a.db]
    converters = tuple(
        (pos, ([_fast(c, connection) for c in convs], expression))
        for pos, (convs, expression) in compiler.get_converters(fields).items()
    )
    native = None
    if connection.vendor == "sqlite":
        from django.db.backends.sqlite3.base import FORMAT_QMARK_REGEX

        native = FORMAT_QMARK_REGEX.sub("?", sql_a).replace("%%", "%")
    return Prepared(qs_a.db, sql_a, tuple(slots), tuple(names), converters, native)


def _aware_utc(value: Any, expression: Any, connection: Any) -> Any:
    """SQLite's datetime converter where the database time zone is UTC (what
    ``convert_datetimefield_value`` does there, without its generic steps)."""
    if value is None:
        return None
    if type(value) is str:
        value = parse_datetime(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value


def _fast(convert: Callable, connection: Any) -> Callable:
    if (
        connection.vendor == "sqlite"
        and getattr(convert, "__func__", None) is type(connection.ops).convert_datetimefield_value
        and settings.USE_TZ
        and connection.timezone is dt.UTC
    ):
        return _aware_utc
    return convert


def _key(value: Any) -> tuple[type, Any]:
    # 1 == True == 1.0 in Python; a placeholder must match by type and value.
    return (type(value), value)
