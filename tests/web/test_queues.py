"""The queues: each built-in view shows the right tickets; rows carry the SLA deadline
(live countdown) and the pending ETA; keyset pages; access rules."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from caseline.tickets import services as tickets

pytestmark = pytest.mark.django_db


def shown(resp) -> list[int]:
    assert resp.status_code == 200, resp.content[:500]
    return [int(x) for x in re.findall(r'data-kbd-row data-id="(\d+)"', resp.content.decode())]


@pytest.fixture
def world(ws):
    alice, bob, red, blue = ws["alice"], ws["bob"], ws["red"], ws["blue"]
    t = ws["ticket"]
    ws["mine"] = t("Mine to fix", team=red, assignee=alice)
    ws["un_red"] = t("Nobody owns this red one", team=red)
    ws["un_blue"] = t("Nobody owns this blue one", team=blue)
    ws["sev1"] = t("Everything is down", team=red, assignee=bob, severity=1)
    ws["waiting"] = t("Waiting on logs", team=red, assignee=alice)
    tickets.update_ticket(ws["waiting"], actor=alice, status="pending")
    ws["done"] = t("Already solved", team=red, assignee=alice)
    tickets.update_ticket(ws["done"], actor=alice, status="solved")
    return ws


def test_my_open(world, login):
    c = login(world["alice"])
    ids = shown(c.get("/queues/mine/"))
    assert set(ids) == {world["mine"].pk, world["waiting"].pk}


def test_default_queue_is_my_open_and_home_redirects_there(world, login):
    c = login(world["alice"])
    assert shown(c.get("/queues/")) == shown(c.get("/queues/mine/"))
    resp = c.get("/")
    assert resp.status_code == 302 and resp["Location"] == "/queues/"


def test_unassigned_in_my_teams(world, login):
    assert shown(login(world["alice"]).get("/queues/unassigned/")) == [world["un_red"].pk]
    assert shown(login(world["bob"]).get("/queues/unassigned/")) == [world["un_blue"].pk]


def test_unassigned_for_someone_without_teams_is_empty(world, make_staff, login):
    from caseline.accounts import roles

    loner = make_staff(roles.SE)
    assert shown(login(loner).get("/queues/unassigned/")) == []


def test_pending_customer_and_sev1(world, login):
    c = login(world["alice"])
    assert shown(c.get("/queues/pending/")) == [world["waiting"].pk]
    assert shown(c.get("/queues/sev1/")) == [world["sev1"].pk]


def test_breaching_soon_and_breached(ws, login, frozen):
    early = ws["ticket"]("Early bird", team=ws["red"])
    frozen.advance(61 * 60)  # the first acknowledgement (1 h) of "early" has passed
    late = ws["ticket"]("Late comer", team=ws["red"])
    c = login(ws["alice"])
    assert shown(c.get("/queues/breached/")) == [early.pk]
    assert shown(c.get("/queues/breaching/")) == [late.pk]


def test_rows_show_facets_countdown_and_eta(world, login):
    from caseline.eta.models import ETA
    from caseline.sla.models import TicketSla

    due = world["mine"].created_at + timedelta(hours=5)
    ETA.objects.create(ticket=world["mine"], owner=world["alice"], due_at=due)
    html = login(world["alice"]).get("/queues/mine/").content.decode()
    row = html.split(f'data-id="{world["mine"].pk}"')[1].split("</tr>")[0]
    deadline = TicketSla.objects.get(ticket_id=world["mine"].pk).next_deadline
    assert deadline is not None
    assert f'<time class="countdown" datetime="{deadline.isoformat()}"' in row
    assert "Sev-3" in row and "Acme Corp" in row and "Alice Agent" in row
    assert "status-new" in row and "Mine to fix" in row
    assert f'datetime="{due.isoformat()}" title="promised ETA"' in row


def test_deadline_order_and_keyset_pages(ws, login, frozen):
    from caseline.tickets import queues

    made = []
    for n in range(5):
        made.append(ws["ticket"](f"Paged {n}", team=ws["red"]))
        frozen.advance(60)
    alice = ws["alice"]
    qs = queues.tickets(alice, {"assignee": "none", "teams": "mine"})
    seen, cursor = [], None
    while True:
        page = queues.page(qs, "deadline", cursor, limit=2)
        seen += [r["id"] for r in page.rows]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert seen == [t.pk for t in made]  # earliest deadline first
    newest, cursor = [], None
    while True:
        page = queues.page(queues.tickets(alice, {"teams": "mine"}), "newest", cursor, limit=2)
        newest += [r["id"] for r in page.rows]
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert newest == [t.pk for t in reversed(made)]
    # the page links carry the cursor
    c = login(alice)
    first = c.get("/queues/unassigned/")
    assert shown(first)[:5] == [t.pk for t in made]


def test_bad_cursor_is_a_422(world, login):
    resp = login(world["alice"]).get("/queues/mine/?cursor=bm9wZQ")
    assert resp.status_code == 422
    assert resp.json()["error"]["fields"] == {"cursor": "not a cursor from this view"}
    # A forged id beyond 64 bits is the same 422, not a database overflow (500).
    from caseline.api.core import encode_cursor

    huge = encode_cursor({"id": 2**70})
    assert login(world["alice"]).get(f"/queues/mine/?cursor={huge}").status_code == 422


def test_unknown_view_is_404(world, login):
    resp = login(world["alice"]).get("/queues/nope/")
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"


def test_anonymous_goes_to_sign_in_and_customers_are_refused(world, client):
    from caseline.accounts.models import User

    resp = client.get("/queues/mine/")
    assert resp.status_code == 302 and resp["Location"] == "/login/?next=/queues/mine/"
    customer = User.objects.create_user(
        username="ann",
        email="ann@acme.test",
        password="x",
        kind="customer",
        contact=world["contact"],
    )
    client.force_login(customer)
    assert client.get("/queues/mine/").status_code == 403


def test_htmx_request_gets_only_the_list(world, login):
    resp = login(world["alice"]).get("/queues/mine/", HTTP_HX_REQUEST="true")
    html = resp.content.decode()
    assert html.lstrip().startswith('<div id="queue-list"') and "<html" not in html


def test_page_query_count_does_not_grow_with_rows(ws, login, django_assert_max_num_queries):
    for n in range(30):
        ws["ticket"](f"Many {n}", team=ws["red"])
    c = login(ws["alice"])
    c.get("/queues/unassigned/")  # warm caches (content types, permissions)
    with django_assert_max_num_queries(16):
        assert len(shown(c.get("/queues/unassigned/"))) == 30
