"""Per-process caches of small configuration tables, checked against the database content
at every use.

Some configuration is read on every ticket create (triage rules, product areas, the
on-duty rotas): a handful of rows, but read through the ORM they cost several queries,
their compilation and model instances per create. A :class:`TableStamp` reads the
*content* of those rows instead -- every column of every row, each row as one text value,
in ONE raw statement (no ORM compilation) -- and a cache built from the same rows is
reused while that content is unchanged. So, unlike a time-bounded cache:

* a change made by any process, through the services, the admin or plain SQL, is seen by
  the next use in every process (the content differs);
* a rolled-back change is seen too (the content is back to what it was);
* nothing needs invalidating: there is no stamp column to maintain.

The cost is one small statement per use instead of the ORM queries it replaces. Each
row's text encodes every value as ``N`` (NULL) or ``<length>:<text>``, so two different
rows never give the same text. Columns a cache does not depend on can be left out
(``exclude``): a column written on every create (a round-robin cursor, say) would make
every use rebuild the cache.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from threading import Lock
from typing import Any, Generic, TypeVar

from django.db import connections
from django.db.models import Model

T = TypeVar("T")


@dataclass(frozen=True)
class Part:
    """The rows of ``model`` selected by ``where`` (raw SQL on the table's columns, with
    ``%s`` placeholders; "" = every row), every concrete column except ``exclude``."""

    model: type[Model]
    where: str = ""
    exclude: tuple[str, ...] = ()


class TableStamp(Generic[T]):
    """A value built from some tables' rows, rebuilt when their content changes.

    ``build(params)`` builds the value (through the ORM, as the code did before the
    cache); ``get(params)`` reads the content (one statement) and returns the cached value
    when the content equals the one it was built after, else builds it again. ``params``
    are the values of the ``%s`` placeholders of the parts' ``where`` clauses, in order;
    the value is also rebuilt when a ``key(params)`` differs from the one it was built
    for (for parameters that change what ``build`` reads).
    """

    def __init__(
        self,
        parts: Sequence[Part],
        build: Callable[[Sequence[Any]], T],
        *,
        using: str = "default",
    ):
        self.parts = tuple(parts)
        self.build = build
        self.using = using
        self._sql: str | None = None
        self._state: tuple[Any, tuple, T] | None = None  # (sql, content, value)
        self._lock = Lock()

    def sql(self) -> str:
        if self._sql is None:
            connection = connections[self.using]
            qn = connection.ops.quote_name
            selects = []
            for i, part in enumerate(self.parts):
                meta = part.model._meta
                columns = [
                    f.column
                    for f in meta.concrete_fields
                    if f.column not in part.exclude and f.name not in part.exclude
                ]
                text = " || '|' || ".join(
                    f"CASE WHEN {qn(c)} IS NULL THEN 'N' ELSE "
                    f"CAST(LENGTH(CAST({qn(c)} AS TEXT)) AS TEXT) || ':' || "
                    f"CAST({qn(c)} AS TEXT) END"
                    for c in columns
                )
                where = f" WHERE {part.where}" if part.where else ""
                selects.append(
                    f"SELECT {i} AS p, {qn(meta.pk.column)} AS k, {text} AS v "
                    f"FROM {qn(meta.db_table)}{where}"
                )
            self._sql = " UNION ALL ".join(selects) + " ORDER BY 1, 2"
        return self._sql

    def content(self, params: Sequence[Any] = ()) -> tuple:
        connection = connections[self.using]
        adapt = connection.ops.adapt_datetimefield_value
        values = [adapt(v) if isinstance(v, datetime) else v for v in params]
        with connection.cursor() as cursor:
            cursor.execute(self.sql(), values)
            return tuple(cursor.fetchall())

    def get(self, params: Sequence[Any] = (), key: Any = None) -> T:
        content = self.content(params)
        state = self._state
        if state is not None and state[0] == key and state[1] == content:
            return state[2]
        value = self.build(params)
        # Built after the content was read: if the rows changed in between, the next
        # use reads a content that differs from this one and builds again.
        with self._lock:
            self._state = (key, content, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._state = None
