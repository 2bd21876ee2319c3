"""DDL of the search indexes, per database vendor (used by migration 0001 and by the
post-migrate check that re-creates SQLite triggers a table rebuild dropped).

SQLite: FTS5 tables kept by triggers on the indexed tables, so every write path (the
services, bulk seeding, mail ingest, raw SQL) indexes inside its own statement.
- ``search_ticket_fts`` and ``search_message_fts`` are *external-content* tables over
  tickets_ticket.subject and tickets_message.body_text (the text is not stored twice;
  snippet() reads it from the table by rowid);
- ``search_org_fts`` (name, domains) and ``search_contact_fts`` (name, emails) hold their
  own small documents: the name column kept by the triggers on the organization/contact
  table, the domains/emails column by the triggers on the domain/email table.

PostgreSQL: a stored generated ``search_vector tsvector`` column and a GIN index on each
indexed table (config ``simple``: see docs/search.md).

Frozen with migration 0001: a change to an index is a new migration.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

TOKENIZE = "unicode61 remove_diacritics 2"
PG_CONFIG = "simple"
# Longest prefix of a message body that PostgreSQL indexes (a tsvector holds at most 1 MB;
# a longer inbound mail must not fail its INSERT).
PG_MAX_BODY_CHARS = 200_000

# --- SQLite ---------------------------------------------------------------------------
#
# Rule: a trigger's body names only its own table and the FTS tables. Django rebuilds an
# SQLite table for most AlterField operations (create new__x, copy, DROP x, RENAME
# new__x TO x), and SQLite refuses that RENAME while any trigger or view elsewhere names
# the dropped table ("error in trigger ...: no such table"). Triggers *on* the rebuilt
# table go with it; caseline.search.maintenance re-creates them after migrate.

SQLITE_TABLES = {
    "search_ticket_fts": (
        "CREATE VIRTUAL TABLE IF NOT EXISTS search_ticket_fts USING fts5(subject, "
        f"content='tickets_ticket', content_rowid='id', tokenize='{TOKENIZE}')"
    ),
    "search_message_fts": (
        "CREATE VIRTUAL TABLE IF NOT EXISTS search_message_fts USING fts5(body_text, "
        f"content='tickets_message', content_rowid='id', tokenize='{TOKENIZE}')"
    ),
    # Own-content documents: name (from the owning table), domains/emails (from theirs).
    "search_org_fts": (
        "CREATE VIRTUAL TABLE IF NOT EXISTS search_org_fts USING fts5(name, domains, "
        f"tokenize='{TOKENIZE}')"
    ),
    "search_contact_fts": (
        "CREATE VIRTUAL TABLE IF NOT EXISTS search_contact_fts USING fts5(name, emails, "
        f"tokenize='{TOKENIZE}')"
    ),
}


def _domains_of(ref: str) -> str:
    return (
        "UPDATE search_org_fts SET domains = coalesce((SELECT group_concat(d.domain, ' ') "
        f"FROM accounts_organizationdomain d WHERE d.organization_id = {ref}), '') "
        f"WHERE rowid = {ref};"
    )


def _emails_of(ref: str) -> str:
    return (
        "UPDATE search_contact_fts SET emails = coalesce((SELECT group_concat(e.email, ' ') "
        f"FROM accounts_contactemail e WHERE e.contact_id = {ref}), '') "
        f"WHERE rowid = {ref};"
    )


_T_DEL = (
    "INSERT INTO search_ticket_fts(search_ticket_fts, rowid, subject) "
    "VALUES ('delete', old.id, old.subject);"
)
_T_INS = "INSERT INTO search_ticket_fts(rowid, subject) VALUES (new.id, new.subject);"
_M_DEL = (
    "INSERT INTO search_message_fts(search_message_fts, rowid, body_text) "
    "VALUES ('delete', old.id, old.body_text);"
)
_M_INS = "INSERT INTO search_message_fts(rowid, body_text) VALUES (new.id, new.body_text);"


def _trigger(name: str, event: str, table: str, body: str, when: str = "") -> tuple[str, str]:
    when_sql = f" WHEN {when}" if when else ""
    return table, (
        f"CREATE TRIGGER IF NOT EXISTS {name} AFTER {event} ON {table}{when_sql} BEGIN {body} END"
    )


# trigger name -> (table it is on, CREATE statement)
SQLITE_TRIGGERS: dict[str, tuple[str, str]] = {
    "search_ticket_ai": _trigger("search_ticket_ai", "INSERT", "tickets_ticket", _T_INS),
    "search_ticket_ad": _trigger("search_ticket_ad", "DELETE", "tickets_ticket", _T_DEL),
    "search_ticket_au": _trigger(
        "search_ticket_au",
        "UPDATE OF subject",
        "tickets_ticket",
        _T_DEL + " " + _T_INS,
        "old.subject IS NOT new.subject",
    ),
    "search_message_ai": _trigger("search_message_ai", "INSERT", "tickets_message", _M_INS),
    "search_message_ad": _trigger("search_message_ad", "DELETE", "tickets_message", _M_DEL),
    "search_message_au": _trigger(
        "search_message_au",
        "UPDATE OF body_text",
        "tickets_message",
        _M_DEL + " " + _M_INS,
        "old.body_text IS NOT new.body_text",
    ),
    # An organization's row is made when it is created (it has no domains yet).
    "search_org_ai": _trigger(
        "search_org_ai",
        "INSERT",
        "accounts_organization",
        "DELETE FROM search_org_fts WHERE rowid = new.id; "
        "INSERT INTO search_org_fts(rowid, name, domains) VALUES (new.id, new.name, '');",
    ),
    "search_org_au": _trigger(
        "search_org_au",
        "UPDATE OF name",
        "accounts_organization",
        "UPDATE search_org_fts SET name = new.name WHERE rowid = new.id;",
        "old.name IS NOT new.name",
    ),
    "search_org_ad": _trigger(
        "search_org_ad",
        "DELETE",
        "accounts_organization",
        "DELETE FROM search_org_fts WHERE rowid = old.id;",
    ),
    "search_orgdomain_ai": _trigger(
        "search_orgdomain_ai",
        "INSERT",
        "accounts_organizationdomain",
        _domains_of("new.organization_id"),
    ),
    "search_orgdomain_au": _trigger(
        "search_orgdomain_au",
        "UPDATE",
        "accounts_organizationdomain",
        _domains_of("old.organization_id") + " " + _domains_of("new.organization_id"),
    ),
    "search_orgdomain_ad": _trigger(
        "search_orgdomain_ad",
        "DELETE",
        "accounts_organizationdomain",
        _domains_of("old.organization_id"),
    ),
    "search_contact_ai": _trigger(
        "search_contact_ai",
        "INSERT",
        "accounts_contact",
        "DELETE FROM search_contact_fts WHERE rowid = new.id; "
        "INSERT INTO search_contact_fts(rowid, name, emails) VALUES (new.id, new.name, '');",
    ),
    "search_contact_au": _trigger(
        "search_contact_au",
        "UPDATE OF name",
        "accounts_contact",
        "UPDATE search_contact_fts SET name = new.name WHERE rowid = new.id;",
        "old.name IS NOT new.name",
    ),
    "search_contact_ad": _trigger(
        "search_contact_ad",
        "DELETE",
        "accounts_contact",
        "DELETE FROM search_contact_fts WHERE rowid = old.id;",
    ),
    "search_contactemail_ai": _trigger(
        "search_contactemail_ai", "INSERT", "accounts_contactemail", _emails_of("new.contact_id")
    ),
    "search_contactemail_au": _trigger(
        "search_contactemail_au",
        "UPDATE",
        "accounts_contactemail",
        _emails_of("old.contact_id") + " " + _emails_of("new.contact_id"),
    ),
    "search_contactemail_ad": _trigger(
        "search_contactemail_ad", "DELETE", "accounts_contactemail", _emails_of("old.contact_id")
    ),
}

_ORG_DOCS = (
    "INSERT INTO search_org_fts(rowid, name, domains) "
    "SELECT o.id, o.name, coalesce((SELECT group_concat(d.domain, ' ') "
    "FROM accounts_organizationdomain d WHERE d.organization_id = o.id), '') "
    "FROM accounts_organization o"
)
_CONTACT_DOCS = (
    "INSERT INTO search_contact_fts(rowid, name, emails) "
    "SELECT c.id, c.name, coalesce((SELECT group_concat(e.email, ' ') "
    "FROM accounts_contactemail e WHERE e.contact_id = c.id), '') "
    "FROM accounts_contact c"
)

# Fill the indexes from the rows already there.
SQLITE_REBUILD = [
    "INSERT INTO search_ticket_fts(search_ticket_fts) VALUES ('rebuild')",
    "INSERT INTO search_message_fts(search_message_fts) VALUES ('rebuild')",
    "DELETE FROM search_org_fts",
    _ORG_DOCS,
    "DELETE FROM search_contact_fts",
    _CONTACT_DOCS,
]


def sqlite_forward() -> list[str]:
    return (
        list(SQLITE_TABLES.values())
        + [sql for _, sql in SQLITE_TRIGGERS.values()]
        + (SQLITE_REBUILD)
    )


def sqlite_reverse() -> list[str]:
    return [f"DROP TRIGGER IF EXISTS {name}" for name in SQLITE_TRIGGERS] + [
        f"DROP TABLE IF EXISTS {name}" for name in SQLITE_TABLES
    ]


# --- PostgreSQL -----------------------------------------------------------------------

# table -> expression of its search_vector
PG_COLUMNS = {
    "tickets_ticket": f"to_tsvector('{PG_CONFIG}'::regconfig, coalesce(subject, ''))",
    "tickets_message": (
        f"to_tsvector('{PG_CONFIG}'::regconfig, left(coalesce(body_text, ''), {PG_MAX_BODY_CHARS}))"
    ),
    "accounts_organization": f"to_tsvector('{PG_CONFIG}'::regconfig, coalesce(name, ''))",
    # The whole host ('acme.example.com') and its labels ('acme', 'example', 'com').
    "accounts_organizationdomain": (
        f"to_tsvector('{PG_CONFIG}'::regconfig, domain || ' ' || translate(domain, '.-_', '   '))"
    ),
    "accounts_contact": f"to_tsvector('{PG_CONFIG}'::regconfig, coalesce(name, ''))",
    # The whole address and its parts ('ann', 'acme', 'test').
    "accounts_contactemail": (
        f"to_tsvector('{PG_CONFIG}'::regconfig, email || ' ' || translate(email, '@.-_+', '     '))"
    ),
}


def pg_forward() -> list[str]:
    out = []
    for table, expr in PG_COLUMNS.items():
        out.append(
            f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS search_vector tsvector "
            f"GENERATED ALWAYS AS ({expr}) STORED"
        )
        out.append(
            f"CREATE INDEX IF NOT EXISTS {table}_search_gin ON {table} USING gin (search_vector)"
        )
    return out


def pg_reverse() -> list[str]:
    out = []
    for table in PG_COLUMNS:
        out.append(f"DROP INDEX IF EXISTS {table}_search_gin")
        out.append(f"ALTER TABLE {table} DROP COLUMN IF EXISTS search_vector")
    return out


def forward(vendor: str) -> list[str]:
    if vendor == "sqlite":
        return sqlite_forward()
    if vendor == "postgresql":
        return pg_forward()
    # settings refuse other databases at start-up (DATABASE_URL): not reachable
    raise ImproperlyConfigured(f"no search indexes for the {vendor} database")


def reverse(vendor: str) -> list[str]:
    if vendor == "sqlite":
        return sqlite_reverse()
    if vendor == "postgresql":
        return pg_reverse()
    return []
