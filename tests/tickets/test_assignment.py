"""Auto-assignment: round-robin fairness, least load, availability filters, manual teams."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import close_old_connections, connection, transaction
from django.test.utils import CaptureQueriesContext

from caseline.accounts.models import Contact, Organization, ProductArea, Team
from caseline.audit.models import AuditEvent
from caseline.tickets.assignment import auto_assign, available_members
from caseline.tickets.models import Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def area():
    return ProductArea.objects.create(name="Replication", slug="replication")


@pytest.fixture
def other_area():
    return ProductArea.objects.create(name="Billing", slug="billing")


@pytest.fixture
def team():
    return Team.objects.create(name="Storage L2", assignment_strategy=Team.Strategy.ROUND_ROBIN)


@pytest.fixture
def member(make_staff, team, area):
    def make(*, skills=(area,), **fields):
        user = make_staff("support_engineer", **fields)
        team.members.add(user)
        user.skills.set(skills)
        return user

    return make


@pytest.fixture
def make_ticket(team, area):
    org = Organization.objects.create(name="Acme")
    contact = Contact.objects.create(name="Pat", organization=org)

    def make(*, team=team, product_area=area, **fields):
        return Ticket.objects.create(
            subject="Help",
            requester=contact,
            organization=org,
            team=team,
            product_area=product_area,
            **fields,
        )

    return make


def assign(ticket, **kw):
    with transaction.atomic():
        return auto_assign(ticket, **kw)


def test_round_robin_is_fair_and_wraps(member, make_ticket, team):
    a, b, c = member(), member(), member()
    picks = [assign(make_ticket()) for _ in range(7)]
    assert picks == [a, b, c, a, b, c, a]
    team.refresh_from_db()
    assert team.last_assigned_user_id == a.pk
    assert Counter(Ticket.objects.values_list("assignee", flat=True)) == {
        a.pk: 3,
        b.pk: 2,
        c.pk: 2,
    }


def test_round_robin_resumes_after_cursor(member, make_ticket, team):
    a, b, c = member(), member(), member()
    team.last_assigned_user_id = b.pk
    team.save()
    assert assign(make_ticket()) == c
    assert assign(make_ticket()) == a


def test_round_robin_cursor_of_a_departed_member(member, make_ticket, team):
    a, b, c = member(), member(), member()
    team.last_assigned_user_id = b.pk
    team.save()
    team.members.remove(b)
    assert assign(make_ticket()) == c
    assert assign(make_ticket()) == a


def test_least_load_picks_fewest_open_tickets(member, make_ticket, team):
    team.assignment_strategy = Team.Strategy.LEAST_LOAD
    team.save()
    a, b, c = member(), member(), member()
    for user, n in ((a, 3), (b, 1), (c, 2)):
        for _ in range(n):
            make_ticket(assignee=user, status="open")
    # solved/closed tickets are not load
    for _ in range(5):
        make_ticket(assignee=b, status="solved")
        make_ticket(assignee=b, status="closed")
    assert assign(make_ticket()) == b
    # now a:3 b:2 c:2 -> tie b/c, round-robin order after the cursor (b) -> c
    assert assign(make_ticket()) == c
    # a:3 b:2 c:3 -> b
    assert assign(make_ticket()) == b


def test_least_load_counts_only_open_statuses(member, make_ticket, team):
    team.assignment_strategy = Team.Strategy.LEAST_LOAD
    team.save()
    a, b = member(), member()
    for status in ("new", "open", "pending", "on_hold"):
        make_ticket(assignee=a, status=status)
    make_ticket(assignee=b, status="open")
    make_ticket(assignee=b, status="open")
    members = {u.pk: u.open_load for u in available_members(team, None)}
    assert members == {a.pk: 4, b.pk: 2}
    assert assign(make_ticket()) == b


def test_away_members_are_skipped(member, make_ticket):
    member(is_away=True)
    b = member()
    assert [assign(make_ticket()) for _ in range(2)] == [b, b]


def test_members_at_their_cap_are_skipped(member, make_ticket):
    a = member(open_ticket_cap=1)
    b = member(open_ticket_cap=5)
    make_ticket(assignee=a, status="open")
    assert [assign(make_ticket()) for _ in range(2)] == [b, b]


def test_cap_frees_up_when_a_ticket_is_solved(member, make_ticket):
    a = member(open_ticket_cap=1)
    busy = make_ticket(assignee=a, status="open")
    assert assign(make_ticket()) is None
    Ticket.objects.filter(pk=busy.pk).update(status="solved")
    assert assign(make_ticket()) == a


def test_skill_filter(member, make_ticket, other_area):
    billing_only = member(skills=[other_area])
    replication_only = member()
    assert [assign(make_ticket()) for _ in range(2)] == [replication_only, replication_only]
    assert assign(make_ticket(product_area=other_area)) == billing_only


def test_no_product_area_means_no_skill_needed(member, make_ticket):
    a = member(skills=[])
    assert assign(make_ticket(product_area=None)) == a


def test_inactive_and_customer_users_are_not_candidates(member, make_ticket, team):
    member(is_active=False)
    customer = member(kind="customer")
    assert customer.kind == "customer"
    assert assign(make_ticket()) is None


def test_non_members_are_not_candidates(make_staff, member, make_ticket, area):
    outsider = make_staff("support_engineer")
    outsider.skills.add(area)
    a = member()
    assert [assign(make_ticket()) for _ in range(2)] == [a, a]


def test_manual_team_assigns_nobody(member, make_ticket, team):
    team.assignment_strategy = Team.Strategy.MANUAL
    team.save()
    member()
    t = make_ticket()
    assert assign(t) is None
    t.refresh_from_db()
    assert t.assignee_id is None
    assert not AuditEvent.objects.exists()


def test_no_candidates_writes_nothing(member, make_ticket, team):
    member(is_away=True)
    t = make_ticket()
    assert assign(t) is None
    t.refresh_from_db()
    team.refresh_from_db()
    assert t.assignee_id is None and team.last_assigned_user_id is None
    assert not t.followers.exists()
    assert not AuditEvent.objects.exists()


def test_ticket_without_team_or_already_assigned_is_left_alone(member, make_ticket):
    a = member()
    assert assign(make_ticket(team=None)) is None
    other = member()
    t = make_ticket(assignee=other)
    assert assign(t) is None
    t.refresh_from_db()
    assert t.assignee_id == other.pk
    assert not AuditEvent.objects.exists()
    assert assign(make_ticket()) == a


def test_assignment_saves_follows_and_audits(member, make_ticket, make_staff):
    lead = make_staff("lead")
    a = member()
    t = make_ticket()
    assert assign(t, actor=lead) == a
    t = Ticket.objects.get(pk=t.pk)
    assert t.assignee_id == a.pk
    assert list(t.followers.all()) == [a]
    event = AuditEvent.objects.get(type="ticket.assigned")
    assert (event.field, event.old, event.new) == ("assignee", None, a.pk)
    assert event.ticket_id == t.pk and event.actor_id == lead.pk
    assert event.data["strategy"] == "round_robin"


def test_candidates_and_loads_in_one_query(member, make_ticket, team, area):
    for _ in range(4):
        u = member()
        make_ticket(assignee=u, status="open")
    with CaptureQueriesContext(connection) as ctx:
        members = list(available_members(team, area))
        loads = [m.open_load for m in members]
    assert len(ctx.captured_queries) == 1
    assert loads == [1, 1, 1, 1]


@pytest.mark.django_db(transaction=True)
def test_concurrent_assignments_stay_fair(member, make_ticket, team):
    """Eight tickets assigned from eight threads at once: each of four members gets two
    (the team row lock keeps the round-robin cursor consistent)."""
    users = [member() for _ in range(4)]
    tickets = [make_ticket() for _ in range(8)]
    barrier = threading.Barrier(len(tickets))
    errors: list[BaseException] = []

    def work(ticket):
        try:
            barrier.wait(timeout=10)
            with transaction.atomic():
                auto_assign(Ticket.objects.get(pk=ticket.pk))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=work, args=(t,)) for t in tickets]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert not errors, errors
    counts = Counter(Ticket.objects.values_list("assignee", flat=True))
    assert counts == {u.pk: 2 for u in users}
