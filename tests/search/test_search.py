"""Search over the real database (SQLite FTS5 or PostgreSQL tsvector, whichever the run
uses): awkward input, snippets, permissions inside the query, index maintenance."""

from __future__ import annotations

import pytest
from django.db import connection

from caseline.accounts.models import Contact, ContactEmail, OrganizationDomain
from caseline.errors import PermissionDenied, ValidationFailed
from caseline.search import maintenance
from caseline.search.queries import search
from caseline.search.syntax import parse
from caseline.tickets.models import Message, Ticket

pytestmark = pytest.mark.django_db


def ids(hits, kind):
    return {h.id for h in hits if h.kind == kind}


# Every one of these reaches the database; none may raise; the expected hits prove the
# quoting kept the words.
AWKWARD = [
    ("C++", "message"),
    ("don't", "message"),
    ("error 500: login", "message"),
    ("sso-okta", "message"),
    ('"error 500"', "message"),
    ('"unbalanced', None),
    ("AND OR NOT", None),
    ("*", None),
    ("okta*", "message"),
    ("NEAR(okta login)", None),  # "near okta" is a phrase that is not in the text
    ("NEAR okta", None),
    ("login -okta", "message"),
    ("okta:login", "message"),  # the phrase "okta login"
    ("'; DROP TABLE tickets_ticket; --", None),
    ("%_\\", None),
    ("{okta} [login] ^500 !error", "message"),
    ("login & okta | sso <-> monday", "message"),
]


@pytest.mark.parametrize(("text", "expect"), AWKWARD)
def test_awkward_queries_never_raise(world, text, expect):
    hits = search(world.agent, text)
    if expect == "message":
        assert world.m_acme.id in ids(hits, "message"), (text, hits)
    else:
        assert world.m_acme.id not in ids(hits, "message"), (text, hits)
    assert Ticket.objects.filter(pk=world.t_acme.pk).exists()


@pytest.mark.parametrize("text", ["C++", "don't", "error 500: login", "sso-okta"])
def test_awkward_words_do_not_match_everything(world, text):
    hits = search(world.agent, text, kind="message")
    assert world.m_globex.id not in ids(hits, "message")


def test_every_term_must_match(world):
    assert ids(search(world.agent, "okta quasarwidget"), "message") == {world.m_globex.id}
    assert search(world.agent, "okta nosuchwordanywhere") == []


def test_phrase_needs_adjacent_words(world):
    assert world.m_acme.id in ids(search(world.agent, '"login failed"'), "message")
    assert world.m_acme.id not in ids(search(world.agent, '"failed login"'), "message")


def test_snippet_is_escaped_and_marked(world):
    hits = search(world.agent, "crashes", kind="message")
    assert [h.id for h in hits] == [world.m_acme.id]
    html = hits[0].snippet_html
    assert "<mark>crashes</mark>" in html
    # The text's own markup never survives as markup (PostgreSQL drops tags from the
    # headline, FTS5 keeps them as text: escaped); "&" is escaped.
    assert "<b>" not in html
    assert "<" not in html.replace("<mark>", "").replace("</mark>", "")
    assert "R&amp;D" in html
    assert html.count("<mark>") == html.count("</mark>") >= 1
    hit = hits[0]
    assert hit.ticket_id == world.t_acme.id
    assert hit.title == world.t_acme.subject
    assert hit.org == "Acme Rockets" and hit.org_id == world.acme.id
    assert hit.updated_at is not None


def test_ticket_subject_hit(world):
    hits = search(world.agent, "migration", kind="ticket")
    assert [h.id for h in hits] == [world.t_acme.id]
    assert "<mark>migration</mark>" in hits[0].snippet_html


def test_ranked_and_limited(world):
    for i in range(5):
        t = Ticket.objects.create(
            subject=f"printer jam {i}", requester=world.ann, organization=world.acme
        )
        Message.objects.create(ticket=t, body_text="printer " * (1 + i) + "filler text " * 20)
    hits = search(world.agent, "printer", kind="ticket", limit=3)
    assert len(hits) == 3
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len(search(world.agent, "printer", limit=4)) == 4


# --- permissions inside the query ---------------------------------------------------


def test_customer_finds_only_their_organizations_tickets(world):
    hits = search(world.customer, "okta")
    assert ids(hits, "ticket") == {world.t_acme.id}
    assert ids(hits, "message") == {world.m_acme.id}
    assert not ids(hits, "organization") and not ids(hits, "contact")
    # the other organization's words find nothing at all
    assert search(world.customer, "quasarwidget") == []
    assert search(world.customer, "Globex") == []
    # while staff find them (the test could fail)
    assert ids(search(world.agent, "quasarwidget"), "message") == {world.m_globex.id}


def test_customer_never_finds_internal_notes(world):
    assert search(world.customer, "zebracorn") == []
    assert ids(search(world.agent, "zebracorn"), "message") == {world.note_acme.id}
    assert ids(search(world.exec, "zebracorn"), "message") == {world.note_acme.id}


def test_customer_without_organization_finds_own_requests(world, db):
    from caseline.accounts.models import User

    loner = Contact.objects.create(name="Lone Wolf")
    user = User.objects.create_user(
        username="lone@wolf.example", email="lone@wolf.example", kind="customer", contact=loner
    )
    t = Ticket.objects.create(subject="okta for the lone wolf", requester=loner)
    hits = search(user, "okta")
    assert ids(hits, "ticket") == {t.id}


def test_customer_may_not_search_the_directory(world):
    for kind in ("organization", "contact"):
        with pytest.raises(PermissionDenied):
            search(world.customer, "Acme", kind=kind)


def test_validation(world):
    for kwargs in (
        {"q": ""},
        {"q": "   "},
        {"q": "x" * 201},
        {"q": "okta", "kind": "staff"},
        {"q": "okta", "limit": 0},
        {"q": "okta", "limit": 51},
    ):
        with pytest.raises(ValidationFailed):
            search(world.agent, **kwargs)


# --- organizations and contacts --------------------------------------------------------


def test_organizations_by_name_and_domain(world):
    assert ids(search(world.agent, "Globex", kind="organization"), "organization") == {
        world.globex.id
    }
    assert ids(search(world.agent, "globex.example", kind="organization"), "organization") == {
        world.globex.id
    }
    assert ids(search(world.agent, "rockets acme-rockets.example"), "organization") == {
        world.acme.id
    }
    hit = search(world.agent, "Globex", kind="organization")[0]
    assert "<mark>Globex</mark>" in hit.snippet_html
    assert hit.org == "Globex Corporation"


def test_contacts_by_name_and_email(world):
    assert ids(search(world.agent, "Archer", kind="contact"), "contact") == {world.ann.id}
    assert ids(search(world.agent, "bob@globex.example", kind="contact"), "contact") == {
        world.bob.id
    }
    assert ids(search(world.agent, "bob globex"), "contact") == {world.bob.id}
    assert search(world.agent, "bob acme", kind="contact") == []


# --- the index follows every write -----------------------------------------------------


def test_index_follows_updates_and_deletes(world):
    world.t_acme.subject = "Renamed to hyperdrive outage"
    world.t_acme.save()
    assert ids(search(world.agent, "hyperdrive"), "ticket") == {world.t_acme.id}
    assert ids(search(world.agent, "migration", kind="ticket"), "ticket") == set()
    Ticket.objects.filter(pk=world.t_acme.pk).update(status="open")  # no subject change
    assert ids(search(world.agent, "hyperdrive"), "ticket") == {world.t_acme.id}

    Message.objects.filter(pk=world.m_globex.pk).update(body_text="now about flux capacitors")
    assert search(world.agent, "quasarwidget") == []
    assert ids(search(world.agent, "capacitors"), "message") == {world.m_globex.id}
    world.m_globex.delete()
    assert search(world.agent, "capacitors") == []

    world.globex.name = "Initech"
    world.globex.save()
    assert ids(search(world.agent, "Initech"), "organization") == {world.globex.id}
    assert search(world.agent, "Corporation", kind="organization") == []
    OrganizationDomain.objects.create(organization=world.globex, domain="initech.example")
    assert ids(search(world.agent, "initech.example", kind="organization"), "organization") == {
        world.globex.id
    }
    OrganizationDomain.objects.filter(domain="initech.example").delete()
    assert search(world.agent, "initech.example", kind="organization") == []

    ContactEmail.objects.filter(contact=world.bob).update(email="robert@initech.example")
    assert ids(search(world.agent, "robert", kind="contact"), "contact") == {world.bob.id}
    assert search(world.agent, "bob@globex.example", kind="contact") == []


def test_merged_contact_is_not_found(world):
    dup = Contact.objects.create(name="Ann Archer duplicate", organization=world.acme)
    assert dup.id in ids(search(world.agent, "duplicate", kind="contact"), "contact")
    Contact.objects.filter(pk=dup.pk).update(merged_into=world.ann)
    assert search(world.agent, "duplicate", kind="contact") == []


def test_services_and_bulk_inserts_are_indexed(world):
    from caseline.tickets import services

    t = services.create_ticket(
        actor=world.agent,
        requester=world.ann.id,
        channel="api",
        subject="Through the service: gravitonflux",
        body_text="Body from the service mentions neutrinoflare.",
    )
    Message.objects.bulk_create(
        [Message(ticket=t, body_text=f"bulk row {i} tachyonburst") for i in range(3)]
    )
    assert ids(search(world.agent, "gravitonflux"), "ticket") == {t.id}
    assert len(ids(search(world.agent, "neutrinoflare"), "message")) == 1
    assert len(ids(search(world.agent, "tachyonburst"), "message")) == 3


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite triggers")
def test_dropped_trigger_is_recreated(world):
    with connection.cursor() as cur:
        cur.execute("DROP TRIGGER search_message_ai")
    assert maintenance.missing_triggers() == ["search_message_ai"]
    Message.objects.create(ticket=world.t_acme, body_text="written while unindexed: warpcore")
    assert search(world.agent, "warpcore") == []
    assert maintenance.repair() == ["search_message_ai"]
    assert maintenance.missing_triggers() == []
    assert len(ids(search(world.agent, "warpcore"), "message")) == 1  # rebuilt
    Message.objects.create(ticket=world.t_acme, body_text="after the repair: warpcore")
    assert len(ids(search(world.agent, "warpcore"), "message")) == 2


@pytest.mark.django_db(transaction=True)
def test_migration_is_reversible(make_staff):
    from django.core.management import call_command

    from tests.search.conftest import World

    call_command("migrate", "search", "zero", verbosity=0)
    with connection.cursor() as cur:
        tables = connection.introspection.table_names(cur)
        assert "search_message_fts" not in tables
        if connection.vendor == "postgresql":
            cols = [
                c.name
                for c in connection.introspection.get_table_description(cur, "tickets_message")
            ]
            assert "search_vector" not in cols
    w = World(make_staff)  # rows written while there is no index
    call_command("migrate", "search", verbosity=0)
    assert ids(search(w.agent, "quasarwidget"), "message") == {w.m_globex.id}
    assert ids(search(w.agent, "bob@globex.example", kind="contact"), "contact") == {w.bob.id}


def test_recency_bands(world, monkeypatch):
    """Newest rows are searched first; older bands only when the newer hold too few hits
    (bands of 2 and 4 rows here instead of 10,000 and 100,000)."""
    from caseline.search import backends

    monkeypatch.setattr(backends, "RECENT_WINDOWS", (2, 4))
    made = []
    for i in range(8):
        t = Ticket.objects.create(
            subject=f"pulsarquirk case {i}" + (" pulsarquirk" * (8 - i)),
            requester=world.ann,
            organization=world.acme,
        )
        made.append(t.id)
    old_rare = made[0]  # the oldest: only found in the last band
    # The older tickets repeat the word (they rank higher), yet the newest two come first.
    hits = search(world.agent, "pulsarquirk", kind="ticket", limit=2)
    assert {h.id for h in hits} == {made[6], made[7]}
    hits = search(world.agent, "pulsarquirk", kind="ticket", limit=8)
    assert {h.id for h in hits} == set(made)
    assert {h.id for h in hits[:2]} == {made[6], made[7]}
    assert {h.id for h in hits[2:4]} == {made[4], made[5]}
    assert ids(search(world.agent, "pulsarquirk case 0", kind="ticket"), "ticket") == {old_rare}
    assert ids(search(world.agent, '"case 0"', kind="ticket"), "ticket") == {old_rare}


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite table rebuilds")
@pytest.mark.django_db(transaction=True)
def test_django_table_rebuilds_still_work_and_the_index_recovers(make_staff):
    """Django rebuilds an SQLite table for most AlterField operations (copy, DROP, RENAME).
    SQLite refuses that RENAME while a trigger elsewhere names the dropped table, so no
    search trigger may name another table; the rebuilt table's own triggers are gone
    afterwards and repair() (run after every migrate) puts them back."""
    from caseline.accounts.models import Contact, ContactEmail, Organization, OrganizationDomain
    from tests.search.conftest import World

    w = World(make_staff)
    for model in (Ticket, Message, Organization, OrganizationDomain, Contact, ContactEmail):
        with connection.schema_editor() as editor:
            editor._remake_table(model)  # what AlterField does; must not raise
    assert maintenance.missing_triggers()
    assert sorted(maintenance.repair()) == sorted(maintenance.ddl.SQLITE_TRIGGERS)
    assert maintenance.missing_triggers() == []
    assert ids(search(w.agent, "quasarwidget"), "message") == {w.m_globex.id}
    assert ids(search(w.agent, "globex.example", kind="organization"), "organization") == {
        w.globex.id
    }
    Message.objects.create(ticket=w.t_acme, body_text="after the rebuild: warpcore")
    OrganizationDomain.objects.create(organization=w.acme, domain="warp.example")
    assert len(ids(search(w.agent, "warpcore"), "message")) == 1
    assert ids(search(w.agent, "warp.example", kind="organization"), "organization") == {w.acme.id}


def test_staff_without_internal_note_permission_sees_public_messages_only(world, make_staff):
    from django.contrib.auth.models import Permission

    reader = make_staff()
    reader.user_permissions.add(
        Permission.objects.get(codename="view_all_tickets", content_type__app_label="accounts")
    )
    reader = type(reader).objects.get(pk=reader.pk)  # fresh permission cache
    assert search(reader, "zebracorn") == []
    assert ids(search(reader, "okta"), "message") == {world.m_acme.id, world.m_globex.id}
    with pytest.raises(PermissionDenied):
        search(reader, "Globex", kind="organization")  # no view_directory


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL planning choice")
def test_common_words_read_the_newest_band_by_primary_key(world, monkeypatch):
    """All-common queries read the newest band through the primary key instead of the GIN
    index: the same hits either way."""
    from caseline.search import backends

    monkeypatch.setattr(backends, "RECENT_WINDOWS", (2, 4))
    for i in range(6):
        t = Ticket.objects.create(
            subject=f"okta login {i}", requester=world.ann, organization=world.acme
        )
        Message.objects.create(ticket=t, body_text=f"okta login again {i}")
    gin = search(world.agent, "okta login", limit=20)
    monkeypatch.setattr(
        backends.PostgresBackend, "_common_words", lambda self, table: {"okta": 0.5, "login": 0.5}
    )
    scan = search(world.agent, "okta login", limit=20)
    assert [(h.kind, h.id) for h in scan] == [(h.kind, h.id) for h in gin]
    assert len(ids(scan, "message")) >= 6 and len(ids(scan, "ticket")) >= 6
    b = backends.PostgresBackend()
    band = b._first_band("message", parse("okta login"), 10)
    assert band[2] is True
