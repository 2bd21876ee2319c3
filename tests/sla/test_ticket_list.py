"""The ticket list's SLA filters and order (registered by the SLA app on the tickets API):
``breached``, ``due_within``, ``order=deadline`` with a keyset cursor, ``next_deadline`` on
staff rows; customers and bad values are refused with 422."""

from __future__ import annotations

from datetime import timedelta

import pytest

from caseline import timesource
from caseline.accounts.models import User
from caseline.sla.models import TicketSla
from caseline.tickets import services as tickets

from .test_engine import clock_at, new_ticket, world  # noqa: F401  (fixtures)


def deadline(ticket):
    return TicketSla.objects.get(ticket_id=ticket.pk).next_deadline


@pytest.fixture
def three(world, clock_at):  # noqa: F811
    first = new_ticket(world, subject="first")
    clock_at.advance(2 * 60)
    second = new_ticket(world, subject="second")
    clock_at.advance(60)
    done = new_ticket(world, subject="done")
    tickets.update_ticket(done, actor=world["agent"], assignee=world["agent"], status="solved")
    return first, second, done


def ids(resp) -> list[int]:
    assert resp.status_code == 200, resp.content
    return [row["id"] for row in resp.json()["results"]]


def test_rows_carry_the_next_deadline_and_order_by_it(api_client, world, three):
    first, second, done = three
    assert deadline(first) < deadline(second) and deadline(done) is None
    client = api_client(world["agent"])
    rows = client.get("/api/v1/tickets").json()["results"]
    by_id = {r["id"]: r for r in rows}
    assert by_id[done.pk]["next_deadline"] is None
    assert by_id[first.pk]["next_deadline"] == deadline(first).isoformat().replace("+00:00", "Z")
    assert ids(client.get("/api/v1/tickets?order=deadline")) == [first.pk, second.pk, done.pk]


def test_the_ticket_row_mirrors_the_next_deadline_through_every_change(world, three, clock_at):
    """``tickets_ticket.next_due_at`` (what the queues sort on) equals
    ``sla_ticket.next_deadline`` after create, reply, pause, reopen and solve."""
    first, second, done = three

    def mirrored(t):
        t.refresh_from_db()
        return t.next_due_at == deadline(t)

    assert all(mirrored(t) for t in three) and done.next_due_at is None
    tickets.add_message(first, actor=world["agent"], kind="public", body_text="on it")
    assert mirrored(first)
    tickets.update_ticket(first, actor=world["agent"], assignee=world["agent"], status="pending")
    assert mirrored(first)
    clock_at.advance(600)
    tickets.update_ticket(first, actor=world["agent"], status="open")
    assert mirrored(first) and first.next_due_at is not None
    tickets.update_ticket(first, actor=world["agent"], status="solved")
    assert mirrored(first) and first.next_due_at is None


def test_deadline_order_pages_with_its_own_cursor(api_client, world, three):
    first, second, done = three
    client = api_client(world["agent"])
    seen, url = [], "/api/v1/tickets?order=deadline&limit=1"
    while url:
        body = client.get(url).json()
        seen += [r["id"] for r in body["results"]]
        cursor = body["meta"]["next_cursor"]
        url = f"/api/v1/tickets?order=deadline&limit=1&cursor={cursor}" if cursor else None
    assert seen == [first.pk, second.pk, done.pk]


def test_breached_and_due_within(api_client, world, three):
    first, second, done = three
    client = api_client(world["agent"])
    assert ids(client.get("/api/v1/tickets?breached=true")) == []
    # between the two deadlines: the first is breached, the second due soon
    gap = (deadline(first) - timesource.now()).total_seconds()
    timesource.advance(gap + 1)
    assert ids(client.get("/api/v1/tickets?breached=true")) == [first.pk]
    assert set(ids(client.get("/api/v1/tickets?breached=false"))) == {second.pk, done.pk}
    minutes = int((deadline(second) - timesource.now()) / timedelta(minutes=1)) + 1
    assert ids(client.get(f"/api/v1/tickets?due_within={minutes}")) == [second.pk]
    assert ids(client.get("/api/v1/tickets?due_within=1&breached=true")) == []


@pytest.mark.parametrize(
    "query, field",
    [
        ("breached=maybe", "breached"),
        ("due_within=soon", "due_within"),
        ("due_within=0", "due_within"),
        ("due_within=99999999", "due_within"),
        ("order=priority", "order"),
    ],
)
def test_bad_values_are_422_naming_the_field(api_client, world, three, query, field):
    resp = api_client(world["agent"]).get(f"/api/v1/tickets?{query}")
    assert resp.status_code == 422
    assert field in resp.json()["error"]["fields"]


def test_customers_get_neither_the_filters_nor_the_column(api_client, world, three):
    customer = User.objects.create_user(
        username="ann-portal",
        email="ann@acme-sla.test",
        password="x",
        kind=User.Kind.CUSTOMER,
        contact=world["contact"],
    )
    client = api_client(customer)
    rows = client.get("/api/v1/tickets").json()["results"]
    assert rows and all("next_deadline" not in r for r in rows)
    for query in ("breached=true", "due_within=30", "order=deadline"):
        resp = client.get(f"/api/v1/tickets?{query}")
        assert resp.status_code == 422, query
