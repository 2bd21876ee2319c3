"""One ``SearchBackend`` per database vendor: SQLite FTS5 and PostgreSQL tsvector + GIN.

Each kind (ticket, message, organization, contact) is one SQL statement that
1. matches the quoted terms against the index, with the caller's permission filter in
   the same WHERE clause (a customer's organization, internal notes), ranks (bm25 /
   ts_rank) and keeps the best ``limit`` rows;
2. only for those rows, builds the highlighted snippet (FTS5 snippet()/highlight(),
   PostgreSQL ts_headline) and reads the display columns.
Snippets come back with private-use marker characters around the matches; ``mark_html``
escapes the text and turns the markers into ``<mark>`` tags.
"""

from __future__ import annotations

import html
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.utils.dateparse import parse_datetime

from .ddl import PG_CONFIG, PG_MAX_BODY_CHARS
from .syntax import Query

KINDS = ("ticket", "message", "organization", "contact")
START, STOP = "\ue000", "\ue001"
_MARKED = re.compile(f"{START}(.*?){STOP}", re.S)
_WORD = re.compile(r"[^\W_]+")
SNIPPET_TOKENS = 24  # FTS5 snippet length in tokens (PostgreSQL: MaxWords)
# Tickets and messages are searched in bands of recency: the newest 10,000 rows, then the
# newest 100,000, then all the rest; the next band only when the earlier ones hold fewer
# hits than asked for. Ranking every match of a common word costs a row visit per match
# (hundreds of thousands at 3M messages); the bands bound that work by the band's size,
# while rare words, which need the older bands, have few matches anyway.
RECENT_WINDOWS = (10_000, 100_000)
WINDOWED = ("ticket", "message")


@dataclass(frozen=True)
class Scope:
    """What the caller may find, applied inside the search query."""

    tickets: bool  # may search tickets and messages at all
    org_id: int | None = None  # restrict tickets to this organization
    requester_id: int | None = None  # ... or to this requester (customer without org)
    internal: bool = False  # may see internal notes
    directory: bool = False  # may search organizations and contacts


@dataclass(frozen=True)
class Hit:
    kind: str  # "ticket" | "message" | "organization" | "contact"
    id: int  # id of the ticket / message / organization / contact
    title: str  # ticket subject (for messages: their ticket's), organization or contact name
    snippet_html: str  # escaped text with <mark>…</mark> around the matches
    ticket_id: int | None  # the ticket (ticket and message hits)
    org_id: int | None
    org: str | None  # organization name
    updated_at: datetime | None  # ticket/org/contact updated_at, message created_at
    score: float  # higher is better; comparable within one kind only


def mark_html(text: str | None) -> str:
    """HTML-escape ``text`` and turn the match markers into <mark> tags (stray markers
    are dropped, so the tags always balance)."""
    escaped = html.escape(text or "", quote=False)
    marked = _MARKED.sub(lambda m: f"<mark>{m.group(1)}</mark>", escaped)
    return marked.replace(START, "").replace(STOP, "")


def _dt(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return parse_datetime(str(value))


def _band(column: str, band: tuple[str, list[Any]]) -> str:
    """SQL of an id band (" > %s", " <= %s" or " > %s AND {col} <= %s") on ``column``."""
    return f" AND {column}{band[0].format(col=column)}" if band[0] else ""


def _ticket_filter(scope: Scope, alias: str) -> tuple[str, list[Any]]:
    if scope.org_id is not None:
        return f" AND {alias}.organization_id = %s", [scope.org_id]
    if scope.requester_id is not None:
        return f" AND {alias}.requester_id = %s", [scope.requester_id]
    return "", []


class SearchBackend:
    vendor = ""
    # Search a customer's (organization-restricted) tickets in recency bands too?
    bands_when_restricted = True

    def __init__(self, using: str = "default"):
        self.using = using

    def search(
        self, kind: str, query: Query, scope: Scope, limit: int, floors: tuple[int, ...] = ()
    ) -> list[Hit]:
        """The best ``limit`` hits of ``kind``. Tickets and messages are searched band by
        band, newest first (``floors``: descending lowest ids of the recent bands, see
        :meth:`floors`); a band's hits, ranked, follow those of the newer bands."""
        if query.empty:
            return []
        if kind in ("ticket", "message") and not scope.tickets:
            return []
        if kind in ("organization", "contact") and not scope.directory:
            return []
        build = getattr(self, f"_{kind}_sql")
        restricted = scope.org_id is not None or scope.requester_id is not None
        if kind not in WINDOWED or not floors or (restricted and not self.bands_when_restricted):
            return self._run(kind, *build(query, scope, limit, ("", [])))
        hits: list[Hit] = []
        upper = None
        for lower in (*floors, None):
            if lower is None:
                band = (" <= %s", [upper])
            elif upper is None:
                band = self._first_band(kind, query, lower)
            else:
                band = (" > %s AND {col} <= %s", [lower, upper])
            hits += self._run(kind, *build(query, scope, limit - len(hits), band))
            if len(hits) >= limit:
                break
            upper = lower
        return hits

    def _first_band(self, kind: str, query: Query, lower: int) -> tuple:
        return (" > %s", [lower])

    def floors(self) -> dict[str, tuple[int, ...]]:
        """{kind: lowest ids of the recent bands, newest first} for tickets and messages
        (only the bands the table is larger than): one query."""
        with connections[self.using].cursor() as cur:
            cur.execute(
                "SELECT (SELECT max(id) FROM tickets_ticket), (SELECT max(id) FROM tickets_message)"
            )
            top_ticket, top_message = cur.fetchone()
        out: dict[str, tuple[int, ...]] = {}
        for kind, top in (("ticket", top_ticket), ("message", top_message)):
            out[kind] = tuple(top - w for w in RECENT_WINDOWS if top and top > w)
        return out

    def _run(self, kind: str, sql: str, params: list[Any]) -> list[Hit]:
        with connections[self.using].cursor() as cur:
            cur.execute(sql, params)
            rows = cur.fetchall()
        return [self._hit(kind, row) for row in rows]

    def _hit(self, kind: str, row: tuple) -> Hit:
        # (id, score, title, snippet, ticket_id, org_id, org, updated_at)
        pk, score, title, snippet, ticket_id, org_id, org, updated = row
        return Hit(
            kind=kind,
            id=pk,
            title=title or "",
            snippet_html=mark_html(snippet),
            ticket_id=ticket_id,
            org_id=org_id,
            org=org,
            updated_at=_dt(updated),
            score=float(score),
        )


class SqliteBackend(SearchBackend):
    """FTS5; bm25() is negative (lower is better): the score is its negation."""

    vendor = "sqlite"

    # A customer's restriction is ``+f.rowid IN (their ticket / message ids)``: SQLite
    # builds that id set once (from the organization's index) and checks each match of
    # the FTS scan against it in memory. The unary plus keeps the planner from handing
    # the ids to FTS5 as rowid lookups, each of which would re-read the words' posting
    # lists (measured ~10x slower), and joining every match to its ticket costs two
    # B-tree lookups per match (4-10x slower at 1M messages).
    def _ticket_sql(self, query: Query, scope: Scope, limit: int, band=("", [])):
        where, params = _ticket_filter(scope, "t")
        if where:
            where = f" AND +f.rowid IN (SELECT t.id FROM tickets_ticket t WHERE true{where})"
        match = query.fts5()
        sql = f"""
        WITH top AS (
            SELECT f.rowid AS id, -bm25(search_ticket_fts) AS score
            FROM search_ticket_fts f
            WHERE search_ticket_fts MATCH %s{where}{_band("f.rowid", band)}
            ORDER BY score DESC, f.rowid DESC LIMIT %s)
        SELECT top.id, top.score, t.subject,
            (SELECT highlight(search_ticket_fts, 0, %s, %s) FROM search_ticket_fts
             WHERE search_ticket_fts MATCH %s AND rowid = top.id),
            t.id, t.organization_id, o.name, t.updated_at
        FROM top JOIN tickets_ticket t ON t.id = top.id
        LEFT JOIN accounts_organization o ON o.id = t.organization_id
        ORDER BY top.score DESC, top.id DESC"""
        return sql, [match, *params, *band[1], limit, START, STOP, match]

    def _message_sql(self, query: Query, scope: Scope, limit: int, band=("", [])):
        where, params = _ticket_filter(scope, "t")
        join = ""
        if where:
            public = "" if scope.internal else " AND m.kind = 'public'"
            where = (
                " AND +f.rowid IN (SELECT m.id FROM tickets_ticket t JOIN tickets_message m "
                f"ON m.ticket_id = t.id WHERE true{where}{public})"
            )
        elif not scope.internal:
            join = " JOIN tickets_message m ON m.id = f.rowid"
            where = " AND m.kind = 'public'"
        match = query.fts5()
        sql = f"""
        WITH top AS (
            SELECT f.rowid AS id, -bm25(search_message_fts) AS score
            FROM search_message_fts f{join}
            WHERE search_message_fts MATCH %s{where}{_band("f.rowid", band)}
            ORDER BY score DESC, f.rowid DESC LIMIT %s)
        SELECT top.id, top.score, t.subject,
            (SELECT snippet(search_message_fts, 0, %s, %s, '…', {SNIPPET_TOKENS})
             FROM search_message_fts WHERE search_message_fts MATCH %s AND rowid = top.id),
            t.id, t.organization_id, o.name, m.created_at
        FROM top JOIN tickets_message m ON m.id = top.id
        JOIN tickets_ticket t ON t.id = m.ticket_id
        LEFT JOIN accounts_organization o ON o.id = t.organization_id
        ORDER BY top.score DESC, top.id DESC"""
        return sql, [match, *params, *band[1], limit, START, STOP, match]

    def _organization_sql(self, query: Query, scope: Scope, limit: int, band=("", [])):
        match = query.fts5()
        sql = """
        WITH top AS (
            SELECT rowid AS id, -bm25(search_org_fts) AS score FROM search_org_fts
            WHERE search_org_fts MATCH %s ORDER BY score DESC, rowid DESC LIMIT %s)
        SELECT top.id, top.score, o.name,
            (SELECT highlight(search_org_fts, 0, %s, %s) || ' · '
                    || highlight(search_org_fts, 1, %s, %s)
             FROM search_org_fts WHERE search_org_fts MATCH %s AND rowid = top.id),
            NULL, o.id, o.name, o.updated_at
        FROM top JOIN accounts_organization o ON o.id = top.id
        ORDER BY top.score DESC, top.id DESC"""
        return sql, [match, limit, START, STOP, START, STOP, match]

    def _contact_sql(self, query: Query, scope: Scope, limit: int, band=("", [])):
        match = query.fts5()
        sql = """
        WITH top AS (
            SELECT f.rowid AS id, -bm25(search_contact_fts) AS score
            FROM search_contact_fts f JOIN accounts_contact c ON c.id = f.rowid
            WHERE search_contact_fts MATCH %s AND c.merged_into_id IS NULL
            ORDER BY score DESC, f.rowid DESC LIMIT %s)
        SELECT top.id, top.score, c.name,
            (SELECT highlight(search_contact_fts, 0, %s, %s) || ' · '
                    || highlight(search_contact_fts, 1, %s, %s)
             FROM search_contact_fts WHERE search_contact_fts MATCH %s AND rowid = top.id),
            NULL, c.organization_id, o.name, c.updated_at
        FROM top JOIN accounts_contact c ON c.id = top.id
        LEFT JOIN accounts_organization o ON o.id = c.organization_id
        ORDER BY top.score DESC, top.id DESC"""
        return sql, [match, limit, START, STOP, START, STOP, match]


def _headline_options(max_words: int = 35, min_words: int = 15, fragments: int = 0) -> str:
    """ts_headline options; ``fragments=0`` highlights the whole (short) text."""
    if not fragments:
        return f'StartSel="{START}", StopSel="{STOP}", HighlightAll=true'
    return (
        f'StartSel="{START}", StopSel="{STOP}", MaxWords={max_words}, MinWords={min_words}, '
        f'MaxFragments={fragments}, FragmentDelimiter=" … "'
    )


class PostgresBackend(SearchBackend):
    """tsvector + GIN; ``websearch_to_tsquery`` of the quoted terms; ts_rank normalised
    by document length (flag 1)."""

    vendor = "postgresql"
    # PostgreSQL plans a customer's search from the organization's tickets (bounded by
    # the organization's size); bands would only add round trips. FTS5 always drives from
    # the index, so on SQLite the bands bound a customer's common-word search as well.
    bands_when_restricted = False
    _TSQ = f"websearch_to_tsquery('{PG_CONFIG}', %s)"

    # The newest band of a query whose every word is common (pg_stats' most common
    # elements of the column, at least COMMON_WORD_FREQ of the rows) is read by the
    # primary key and filtered (a bounded 10,000 rows), not through the GIN index, which
    # would merge the words' whole posting lists (hundreds of thousands of entries at
    # 3M messages, growing with the table). Other bands and queries use the GIN index.
    COMMON_WORD_FREQ = 0.01
    _COMMON_TTL = 600.0
    _common_cache: dict[str, tuple[float, dict[str, float]]] = {}

    def _common_words(self, table: str) -> dict[str, float]:
        now = time.monotonic()
        cached = self._common_cache.get(table)
        if cached and cached[0] > now:
            return cached[1]
        with connections[self.using].cursor() as cur:
            cur.execute(
                "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats "
                "WHERE tablename = %s AND attname = 'search_vector' LIMIT 1",
                [table],
            )
            row = cur.fetchone()
        freqs: dict[str, float] = {}
        if row and row[0]:
            freqs = dict(zip(row[0], row[1], strict=False))
        self._common_cache[table] = (now + self._COMMON_TTL, freqs)
        return freqs

    def _first_band(self, kind: str, query: Query, lower: int) -> tuple:
        table = "tickets_ticket" if kind == "ticket" else "tickets_message"
        words = {w.lower() for t in query.terms for w in _WORD.findall(t)}
        common = self._common_words(table)
        scan = bool(words) and all(common.get(w, 0.0) >= self.COMMON_WORD_FREQ for w in words)
        return (" > %s", [lower], scan)

    @staticmethod
    def _source(table: str, alias: str, cols: str, band: tuple) -> tuple[str, list, str, list]:
        """(FROM item, its params, WHERE band condition, its params)."""
        if len(band) > 2 and band[2]:
            sub = f"(SELECT {cols} FROM {table} WHERE id{band[0]} OFFSET 0) {alias}"
            return sub, list(band[1]), "", []
        return f"{table} {alias}", [], _band(f"{alias}.id", band[:2]), list(band[1])

    # The tsquery is written inline (not a CTE): with constant arguments PostgreSQL folds
    # it at plan time and estimates how many rows match, so a pair of words with a band's
    # id range can be planned as a BitmapAnd of the GIN and primary-key indexes.
    def _ticket_sql(self, query: Query, scope: Scope, limit: int, band=("", [])):
        where, params = _ticket_filter(scope, "t")
        src, src_params, band_sql, band_params = self._source(
            "tickets_ticket", "t", "id, organization_id, requester_id, search_vector", band
        )
        tsq = self._TSQ
        sql = f"""
        WITH top AS (
            SELECT t.id, ts_rank(t.search_vector, {tsq}, 1) AS score
            FROM {src}
            WHERE t.search_vector @@ {tsq}{where}{band_sql}
            ORDER BY score DESC, t.id DESC LIMIT %s)
        SELECT top.id, top.score, t.subject,
            ts_headline('{PG_CONFIG}', t.subject, {tsq}, %s),
            t.id, t.organization_id, o.name, t.updated_at
        FROM top JOIN tickets_ticket t ON t.id = top.id
        LEFT JOIN accounts_organization o ON o.id = t.organization_id
        ORDER BY top.score DESC, top.id DESC"""
        w = query.websearch()
        return sql, [
            w,
            *src_params,
            w,
            *params,
            *band_params,
            limit,
            w,
            _headline_options(),
        ]

    def _message_sql(self, query: Query, scope: Scope, limit: int, band=("", [])):
        where, params = _ticket_filter(scope, "t")
        join = " JOIN tickets_ticket t ON t.id = m.ticket_id" if where else ""
        if not scope.internal:
            where += " AND m.kind = 'public'"
        src, src_params, band_sql, band_params = self._source(
            "tickets_message", "m", "id, ticket_id, kind, search_vector", band
        )
        tsq = self._TSQ
        sql = f"""
        WITH top AS (
            SELECT m.id, ts_rank(m.search_vector, {tsq}, 1) AS score
            FROM {src}{join}
            WHERE m.search_vector @@ {tsq}{where}{band_sql}
            ORDER BY score DESC, m.id DESC LIMIT %s)
        SELECT top.id, top.score, t.subject,
            ts_headline('{PG_CONFIG}', left(m.body_text, {PG_MAX_BODY_CHARS}), {tsq}, %s),
            t.id, t.organization_id, o.name, m.created_at
        FROM top JOIN tickets_message m ON m.id = top.id
        JOIN tickets_ticket t ON t.id = m.ticket_id
        LEFT JOIN accounts_organization o ON o.id = t.organization_id
        ORDER BY top.score DESC, top.id DESC"""
        w = query.websearch()
        opts = _headline_options(SNIPPET_TOKENS, 12, 2)
        return sql, [w, *src_params, w, *params, *band_params, limit, w, opts]

    # Organizations and contacts: the document is the name plus the domains / emails,
    # which live in another table. Candidates come from either GIN index (any term),
    # then the concatenated vector must match every term.
    def _directory_sql(self, query: Query, limit: int, *, org: bool):
        if org:
            table, child, fk, col, extra = (
                "accounts_organization",
                "accounts_organizationdomain",
                "organization_id",
                "domain",
                "",
            )
            org_cols = "x.id, x.name"
            org_join = ""
        else:
            table, child, fk, col, extra = (
                "accounts_contact",
                "accounts_contactemail",
                "contact_id",
                "email",
                " AND x.merged_into_id IS NULL",
            )
            org_cols = "x.organization_id, o.name"
            org_join = " LEFT JOIN accounts_organization o ON o.id = x.organization_id"
        sql = f"""
        WITH q AS MATERIALIZED (
            SELECT {self._TSQ} AS q, {self._TSQ} AS q_any),
        cand AS (
            SELECT x.id FROM {table} x, q WHERE x.search_vector @@ q.q_any
            UNION SELECT c.{fk} FROM {child} c, q WHERE c.search_vector @@ q.q_any),
        docs AS (
            SELECT x.id, x.search_vector || coalesce(
                (SELECT string_agg(c.search_vector::text, ' ')::tsvector
                 FROM {child} c WHERE c.{fk} = x.id), ''::tsvector) AS doc,
                (SELECT string_agg(c.{col}, ' ' ORDER BY c.{col})
                 FROM {child} c WHERE c.{fk} = x.id) AS children
            FROM {table} x JOIN cand ON cand.id = x.id WHERE true{extra}),
        top AS (
            SELECT docs.id, ts_rank(docs.doc, q.q) AS score, docs.children
            FROM docs, q WHERE docs.doc @@ q.q
            ORDER BY score DESC, docs.id DESC LIMIT %s)
        SELECT top.id, top.score, x.name,
            ts_headline('{PG_CONFIG}', x.name || ' · ' || coalesce(top.children, ''), q.q, %s),
            NULL, {org_cols}, x.updated_at
        FROM top JOIN {table} x ON x.id = top.id{org_join} CROSS JOIN q
        ORDER BY top.score DESC, top.id DESC"""
        opts = _headline_options()
        return sql, [query.websearch(), query.websearch(any_term=True), limit, opts]

    def _organization_sql(self, query: Query, scope: Scope, limit: int, band=("", [])):
        return self._directory_sql(query, limit, org=True)

    def _contact_sql(self, query: Query, scope: Scope, limit: int, band=("", [])):
        return self._directory_sql(query, limit, org=False)


def backend_for(using: str = "default") -> SearchBackend:
    vendor = connections[using].vendor
    if vendor == "sqlite":
        return SqliteBackend(using)
    if vendor == "postgresql":
        return PostgresBackend(using)
    # settings refuse other databases at start-up (DATABASE_URL): not reachable
    raise ImproperlyConfigured(f"no search backend for the {vendor} database")
