"""Linking and merging tickets."""

from __future__ import annotations

import pytest

from caseline.accounts.models import Contact, Organization
from caseline.audit.models import AuditEvent
from caseline.errors import Conflict, ValidationFailed
from caseline.notify.models import OutboxMessage
from caseline.tickets.models import Message, TicketLink
from caseline.tickets.services import (
    create_ticket,
    link_tickets,
    merge_tickets,
    update_ticket,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def se(make_staff):
    return make_staff("support_engineer")


@pytest.fixture
def org(make_staff):
    return Organization.objects.create(name="Acme", sales_consultant=make_staff("sales_consultant"))


@pytest.fixture
def ada(org):
    return Contact.objects.create(name="Ada", organization=org)


@pytest.fixture
def bob(org):
    return Contact.objects.create(name="Bob", organization=org)


def make(actor, requester, subject="Sync broken", body="The nightly sync fails with E42."):
    return create_ticket(
        actor=actor, requester=requester, subject=subject, body_text=body, channel="email"
    )


# --- links ------------------------------------------------------------------------------


def test_link_records_on_both_timelines_and_is_idempotent(se, ada, bob):
    a, b = make(se, ada), make(se, bob)
    link = link_tickets(a, b, "related", actor=se)
    assert (link.source, link.target, link.kind, link.created_by) == (a, b, "related", se)
    again = link_tickets(a.pk, b.pk, "related", actor=se)
    assert again.pk == link.pk and TicketLink.objects.count() == 1
    src_ev = AuditEvent.objects.get(ticket_id=a.pk, type="ticket.linked")
    dst_ev = AuditEvent.objects.get(ticket_id=b.pk, type="ticket.linked")
    assert (
        src_ev.data
        == dst_ev.data
        == {
            "link_id": link.pk,
            "kind": "related",
            "source_id": a.pk,
            "target_id": b.pk,
        }
    )
    # another kind between the same tickets is another link
    link_tickets(a, b, "incident_of", actor=se)
    assert TicketLink.objects.count() == 2


def test_link_across_organizations_is_allowed(se, ada):
    other = Contact.objects.create(name="O", organization=Organization.objects.create(name="O"))
    problem = make(se, ada, subject="Problem: E42")
    incident = make(se, other)
    link_tickets(incident, problem, "incident_of", actor=se)
    assert problem.links_in.get().source == incident


@pytest.mark.parametrize(("kind", "field"), [("dupe", "kind"), ("related", "target")])
def test_link_validation(se, ada, kind, field):
    a = make(se, ada)
    with pytest.raises(ValidationFailed) as info:
        link_tickets(a, a if field == "target" else a.pk + 1000, kind, actor=se)
    assert field in info.value.fields
    assert TicketLink.objects.count() == 0


def test_link_to_missing_ticket(se, ada):
    a = make(se, ada)
    with pytest.raises(ValidationFailed) as info:
        link_tickets(a, 424242, "related", actor=se)
    assert "no ticket" in info.value.fields["target"]


# --- merge ------------------------------------------------------------------------------


def test_merge(se, ada, bob):
    target = make(se, ada, subject="Sync broken (first report)")
    source = make(se, bob, body="Nightly sync: E42 again\nsecond line")
    outbox = OutboxMessage.objects.count()
    result = merge_tickets(source, target, actor=se)
    source.refresh_from_db()
    target.refresh_from_db()
    assert result.pk == source.pk
    assert source.merged_into == target
    assert source.status == "closed" and source.closed_at is not None
    assert source.solved_at is not None
    assert target.status == "new"  # internal notes do not change status
    # notes
    src_note = source.messages.get(kind="internal")
    assert f"Merged into CL-{target.pk}" in src_note.body_text
    dst_note = target.messages.get(kind="internal")
    assert f"CL-{source.pk} merged into this ticket" in dst_note.body_text
    assert "> Nightly sync: E42 again\n> second line" in dst_note.body_text
    # the public conversation is not moved
    assert target.messages.filter(kind="public").count() == 1
    assert source.messages.filter(kind="public").count() == 1
    # requester becomes CC, duplicate link exists
    assert list(target.ccs.all()) == [bob]
    assert TicketLink.objects.filter(source=source, target=target, kind="duplicate_of").exists()
    # the state machine path: -> solved -> closed, recorded
    steps = [
        (e.old, e.new)
        for e in AuditEvent.objects.filter(
            ticket_id=source.pk, type="ticket.status_changed"
        ).order_by("id")
    ]
    assert steps == [("new", "solved"), ("solved", "closed")]
    merged = AuditEvent.objects.get(ticket_id=source.pk, type="ticket.merged")
    assert merged.data == {"source_id": source.pk, "target_id": target.pk, "force": False}
    assert AuditEvent.objects.filter(ticket_id=target.pk, type="ticket.merged").exists()
    # merging is not "solved by an engineer": no SC notification
    assert OutboxMessage.objects.count() == outbox


def test_merge_same_requester_adds_no_cc(se, ada):
    a, b = make(se, ada), make(se, ada)
    merge_tickets(b, a, actor=se)
    assert a.ccs.count() == 0


def test_merge_of_solved_ticket_goes_straight_to_closed(se, ada, bob):
    target, source = make(se, ada), make(se, bob)
    update_ticket(source, actor=se, assignee=se, status="solved")
    merge_tickets(source, target, actor=se)
    source.refresh_from_db()
    assert source.status == "closed"


def test_merge_refusals(se, ada, bob):
    a, b, c = make(se, ada), make(se, bob), make(se, ada)
    with pytest.raises(ValidationFailed):
        merge_tickets(a, a, actor=se)
    # into a closed ticket
    update_ticket(c, actor=se, assignee=se, status="solved")
    update_ticket(c, actor=se, status="closed")
    with pytest.raises(Conflict, match="closed"):
        merge_tickets(a, c, actor=se)
    with pytest.raises(Conflict, match="closed"):
        merge_tickets(c, a, actor=se)
    # merged ones
    merge_tickets(b, a, actor=se)
    d = make(se, ada)
    with pytest.raises(Conflict):
        merge_tickets(b, d, actor=se)  # b already merged (and closed)
    with pytest.raises(Conflict, match="merge into that one"):
        merge_tickets(d, b, actor=se)
    assert Message.objects.filter(ticket=d, kind="internal").count() == 0


def test_merge_across_organizations_needs_force(se, ada):
    other = Contact.objects.create(name="Zed", organization=Organization.objects.create(name="Z"))
    a, z = make(se, ada), make(se, other)
    before = AuditEvent.objects.count()
    with pytest.raises(Conflict) as info:
        merge_tickets(z, a, actor=se)
    assert "force" in info.value.message
    assert AuditEvent.objects.count() == before
    z.refresh_from_db()
    assert z.merged_into is None and z.status == "new"
    merge_tickets(z, a, actor=se, force=True)
    z.refresh_from_db()
    assert z.merged_into == a
    assert AuditEvent.objects.get(ticket_id=z.pk, type="ticket.merged").data["force"] is True


def test_merge_missing_target(se, ada):
    a = make(se, ada)
    from caseline.errors import NotFound

    with pytest.raises(NotFound):
        merge_tickets(a, 999999, actor=se)
