"""The ticket status state machine: every (old, new) pair, allowed or illegal, with a
reason; and the same table enforced through update_ticket."""

from __future__ import annotations

import itertools

import pytest

from caseline.errors import Conflict
from caseline.tickets.states import ALLOWED, IllegalTransition, Status, check_transition

S = Status
# The expected table, written out by hand (not derived from ALLOWED).
EXPECTED_ALLOWED = {
    (S.NEW, S.OPEN),
    (S.NEW, S.PENDING),
    (S.NEW, S.ON_HOLD),
    (S.NEW, S.SOLVED),
    (S.OPEN, S.PENDING),
    (S.OPEN, S.ON_HOLD),
    (S.OPEN, S.SOLVED),
    (S.PENDING, S.OPEN),
    (S.PENDING, S.ON_HOLD),
    (S.PENDING, S.SOLVED),
    (S.ON_HOLD, S.OPEN),
    (S.ON_HOLD, S.PENDING),
    (S.ON_HOLD, S.SOLVED),
    (S.SOLVED, S.OPEN),
    (S.SOLVED, S.CLOSED),
}
PAIRS = list(itertools.product(Status.values, Status.values))


@pytest.mark.pure
@pytest.mark.parametrize(("old", "new"), PAIRS)
def test_every_pair(old, new):
    if old == new or (old, new) in EXPECTED_ALLOWED:
        check_transition(old, new)  # no error
    else:
        with pytest.raises(IllegalTransition) as info:
            check_transition(old, new)
        err = info.value
        assert isinstance(err, Conflict) and err.status == 409
        assert err.code == "illegal_transition"
        assert err.old == old and err.new == new
        assert err.reason and err.fields == {"status": err.reason}


@pytest.mark.pure
def test_table_matches_module():
    from_module = {(o, n) for o, targets in ALLOWED.items() for n in targets}
    assert from_module == EXPECTED_ALLOWED


@pytest.mark.pure
def test_reasons_are_explanatory():
    with pytest.raises(IllegalTransition, match="closed ticket cannot change status"):
        check_transition(S.CLOSED, S.OPEN)
    with pytest.raises(IllegalTransition, match="allowed from open: on_hold, pending, solved"):
        check_transition(S.OPEN, S.CLOSED)
    with pytest.raises(IllegalTransition, match="unknown status 'done'"):
        check_transition(S.OPEN, "done")
    with pytest.raises(IllegalTransition, match="cannot go from pending to new"):
        check_transition(S.PENDING, S.NEW)


@pytest.mark.django_db
@pytest.mark.parametrize(("old", "new"), [p for p in PAIRS if p[0] != p[1]])
def test_every_pair_through_update_ticket(old, new, make_staff):
    """The service applies exactly the table: allowed pairs change the status and record
    the change; illegal pairs are a 409 and change nothing."""
    from caseline.accounts.models import Contact
    from caseline.audit.models import AuditEvent
    from caseline.tickets.models import Ticket
    from caseline.tickets.services import update_ticket

    agent = make_staff("support_engineer")
    contact = Contact.objects.create(name="R")
    ticket = Ticket.objects.create(subject="s", requester=contact, status=old, assignee=agent)
    before = AuditEvent.objects.count()
    if (old, new) in EXPECTED_ALLOWED:
        update_ticket(ticket, actor=agent, status=new)
        ticket.refresh_from_db()
        assert ticket.status == new
        row = AuditEvent.objects.get(ticket_id=ticket.pk, type="ticket.status_changed")
        assert (row.field, row.old, row.new) == ("status", old, new)
        if new == S.SOLVED:
            assert ticket.solved_at is not None
        if old == S.SOLVED and new == S.OPEN:
            assert ticket.solved_at is None
        assert (ticket.closed_at is not None) == (new == S.CLOSED)
    else:
        with pytest.raises(Conflict):
            update_ticket(ticket, actor=agent, status=new)
        ticket.refresh_from_db()
        assert ticket.status == old
        assert AuditEvent.objects.count() == before
