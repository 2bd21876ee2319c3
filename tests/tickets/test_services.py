"""Ticket services: create (triage, assignment, SC follower), update (fields, state
machine, custom fields, solve rules, SC notification), followers/CCs, the contact.merged
handler, and the read queries (visibility, filters, no N+1)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from caseline.accounts.models import Contact, ContactEmail, Organization, ProductArea, Team, User
from caseline.audit.models import AuditEvent
from caseline.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from caseline.notify.models import OutboxMessage
from caseline.tickets import queries
from caseline.tickets.models import (
    CustomField,
    CustomFieldValue,
    Message,
    Tag,
    Ticket,
    TriageRule,
)
from caseline.tickets.services import (
    add_cc,
    add_follower,
    create_ticket,
    remove_cc,
    remove_follower,
    update_ticket,
)
from caseline.tickets.states import IllegalTransition, Status
from caseline.timesource import now

pytestmark = pytest.mark.django_db


@pytest.fixture
def sc(make_staff):
    return make_staff("sales_consultant", email="sc@caseline.test")


@pytest.fixture
def se(make_staff):
    return make_staff("support_engineer", email="se@caseline.test")


@pytest.fixture
def org(sc):
    return Organization.objects.create(name="Acme", tier="enterprise", sales_consultant=sc)


@pytest.fixture
def contact(org):
    c = Contact.objects.create(name="Ada Customer", organization=org)
    ContactEmail.objects.create(contact=c, email="ada@acme.test", is_primary=True)
    return c


@pytest.fixture
def customer(contact):
    return User.objects.create_user(
        username="ada@acme.test", email="ada@acme.test", kind="customer", contact=contact
    )


def new_ticket(actor, requester, **kw):
    kw.setdefault("subject", "Replication lag on cluster B")
    kw.setdefault("body_text", "Our replica is 3 hours behind since this morning.")
    kw.setdefault("channel", "web")
    return create_ticket(actor=actor, requester=requester, **kw)


def timeline(ticket, type_=None):
    qs = AuditEvent.objects.filter(ticket_id=ticket.pk).order_by("id")
    return list(qs.filter(type=type_) if type_ else qs)


# --- create -----------------------------------------------------------------------------


def test_create_by_customer_makes_first_message_and_adds_sc_follower(customer, contact, org, sc):
    t = new_ticket(customer, contact)
    assert t.status == Status.NEW and t.organization == org and t.requester == contact
    msg = Message.objects.get(ticket=t)
    assert msg.kind == "public" and msg.author_contact == contact and msg.author_user == customer
    assert msg.body_text.startswith("Our replica")
    assert list(t.followers.values_list("id", flat=True)) == [sc.pk]
    created = timeline(t, "ticket.created")
    fields = {e.field: e.new for e in created}
    assert fields["subject"] == "Replication lag on cluster B"
    assert fields["requester"] == contact.pk and fields["organization"] == org.pk
    assert all(e.actor_id == customer.pk and e.old is None for e in created)
    assert created[0].data["message_id"] == msg.pk
    follow = timeline(t, "ticket.follower_added")
    assert follow[0].data == {"kind": "follower", "user_id": sc.pk, "reason": "sales_consultant"}


def test_agent_creates_on_behalf_of_customer(se, contact):
    t = new_ticket(se, contact, channel="phone")
    msg = t.messages.get()
    assert msg.author_contact == contact and msg.author_user is None
    assert msg.channel == "phone"
    assert {e.actor_id for e in timeline(t, "ticket.created")} == {se.pk}


def test_sc_not_added_when_organization_excludes_sc(se, contact, org):
    org.include_sc = False
    org.save()
    t = new_ticket(se, contact)
    assert t.followers.count() == 0


def test_requester_without_organization_and_explicit_organization(se, org):
    lone = Contact.objects.create(name="Lone")
    t = new_ticket(se, lone)
    assert t.organization is None
    t2 = new_ticket(se, lone, organization=org.pk)
    assert t2.organization == org


def test_triage_and_auto_assign_run_on_create(se, contact, make_staff):
    team = Team.objects.create(name="Storage L2")
    area = ProductArea.objects.create(name="Replication", slug="replication", owning_team=team)
    member = make_staff("support_engineer")
    member.skills.add(area)
    team.members.add(member)
    TriageRule.objects.create(name="lag", keywords="replica", set_severity=2, set_product_area=area)
    t = new_ticket(se, contact)
    t.refresh_from_db()
    assert t.severity == 2 and t.product_area == area and t.team == team
    assert t.assignee == member
    assert t.followers.filter(pk=member.pk).exists()
    types = [e.type for e in timeline(t)]
    assert types.index("ticket.created") < types.index("ticket.triaged")
    assert "ticket.assigned" in types


def test_explicit_fields_beat_triage(se, contact):
    TriageRule.objects.create(name="lag", keywords="replica", set_severity=1, set_priority="urgent")
    t = new_ticket(se, contact, severity=4)
    t.refresh_from_db()
    assert t.severity == 4  # chosen explicitly
    assert t.priority == "urgent"  # not chosen: the rule sets it


def test_created_event_is_published_after_triage(se, contact):
    from caseline import events

    seen = []

    def spy(event):
        if event.type == "ticket.created":
            seen.append(Ticket.objects.get(pk=event.subject_id).severity)

    TriageRule.objects.create(name="lag", keywords="replica", set_severity=1)
    events.subscribe("ticket.created", spy)
    try:
        t = new_ticket(se, contact)
    finally:
        events._handlers["ticket.created"].remove(spy)
    assert seen == [1]
    assert t.pk


def test_create_with_tags_custom_fields_and_ccs(se, contact, org):
    CustomField.objects.create(key="version", label="Version", type="text")
    CustomField.objects.create(key="nodes", label="Nodes", type="number")
    other = Contact.objects.create(name="Bob", organization=org)
    t = new_ticket(
        se,
        contact,
        tags=["Replication", "cluster-b", "replication"],
        custom_fields={"version": "7.2", "nodes": 12},
        ccs=[other.pk, contact.pk],
        external_id="ZD-1",
    )
    assert sorted(t.tags.values_list("name", flat=True)) == ["cluster-b", "replication"]
    assert list(t.ccs.all()) == [other]  # the requester is not their own CC
    values = {fv.field.key: fv.value for fv in t.field_values.select_related("field")}
    assert values["version"] == "7.2" and values["nodes"] == 12
    assert t.external_id == "ZD-1"


def test_create_requester_by_email_finds_or_creates(se, contact):
    t = new_ticket(se, {"email": "ADA@acme.test", "name": "whoever"})
    assert t.requester == contact
    t2 = new_ticket(se, {"email": "new.person@elsewhere.test", "name": "New Person"})
    assert t2.requester.name == "New Person"
    assert t2.requester.primary_email == "new.person@elsewhere.test"


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"subject": "  "}, "subject"),
        ({"subject": "x" * 301}, "subject"),
        ({"severity": 5}, "severity"),
        ({"severity": 0}, "severity"),
        ({"severity": True}, "severity"),
        ({"priority": "asap"}, "priority"),
        ({"channel": "fax"}, "channel"),
        ({"custom_fields": {"nope": 1}}, "custom_fields.nope"),
        ({"custom_fields": {"nodes": "many"}}, "custom_fields.nodes"),
        ({"custom_fields": {"env": "staging"}}, "custom_fields.env"),
        ({"custom_fields": {"due": "31/12/2026"}}, "custom_fields.due"),
        ({"tags": ["two words"]}, "tags"),
        ({"team": 999999}, "team"),
        ({"requester": 999999}, "requester"),
        ({"requester": {"email": "not-an-email", "name": "x"}}, "requester.email"),
    ],
)
def test_create_validation_changes_nothing(se, contact, fields, bad):
    CustomField.objects.create(key="nodes", label="Nodes", type="number")
    CustomField.objects.create(key="env", label="Env", type="choice", choices=["prod", "dev"])
    CustomField.objects.create(key="due", label="Due", type="date")
    requester = fields.pop("requester", contact)
    contacts = Contact.objects.count()
    events = AuditEvent.objects.count()
    with pytest.raises(ValidationFailed) as info:
        new_ticket(se, requester, **fields)
    assert bad in info.value.fields
    assert Ticket.objects.count() == 0 and Message.objects.count() == 0
    assert Contact.objects.count() == contacts and AuditEvent.objects.count() == events


def test_create_assignee_must_be_active_staff(se, contact, customer, make_staff):
    with pytest.raises(ValidationFailed) as info:
        new_ticket(se, contact, assignee=customer)
    assert "assignee" in info.value.fields
    gone = make_staff("support_engineer", is_active=False)
    with pytest.raises(ValidationFailed):
        new_ticket(se, contact, assignee=gone.pk)
    t = new_ticket(se, contact, assignee=se)
    assert t.assignee == se and t.followers.filter(pk=se.pk).exists()


def test_html_only_body_is_sanitised_and_gives_text(se, contact):
    t = new_ticket(
        se,
        contact,
        body_text="",
        body_html='<p onclick="x()">Hello <b>team</b></p><script>alert(1)</script>',
    )
    msg = t.messages.get()
    assert msg.body_html == "<p>Hello <b>team</b></p>"
    assert msg.body_text == "Hello team"


# --- update -----------------------------------------------------------------------------


def test_update_fields_emit_events_field_by_field(se, contact, make_staff):
    team = Team.objects.create(name="T1")
    other = make_staff("support_engineer")
    t = new_ticket(se, contact)
    before = t.updated_at
    update_ticket(
        t,
        actor=se,
        subject="New subject",
        severity=1,
        priority="high",
        team=team.pk,
        assignee=other,
        tags=["a", "b"],
    )
    t.refresh_from_db()
    assert (t.subject, t.severity, t.priority, t.team, t.assignee) == (
        "New subject",
        1,
        "high",
        team,
        other,
    )
    assert t.updated_at >= before
    upd = {e.field: (e.old, e.new) for e in timeline(t, "ticket.updated")}
    assert upd["subject"] == ("Replication lag on cluster B", "New subject")
    assert upd["severity"] == (3, 1) and upd["priority"] == ("normal", "high")
    assigned = {e.field: (e.old, e.new) for e in timeline(t, "ticket.assigned")}
    assert assigned == {"team": (None, team.pk), "assignee": (None, other.pk)}
    assert all(e.actor_id == se.pk for e in timeline(t, "ticket.assigned"))
    tags = timeline(t, "ticket.tags_changed")[0]
    assert (tags.old, tags.new) == ([], ["a", "b"])
    assert t.followers.filter(pk=other.pk).exists()  # the assignee follows


def test_update_noop_records_nothing(se, contact):
    t = new_ticket(se, contact)
    n = AuditEvent.objects.count()
    update_ticket(t, actor=se, subject=t.subject, severity=t.severity)
    assert AuditEvent.objects.count() == n


def test_update_tags_replace(se, contact):
    t = new_ticket(se, contact, tags=["x", "y"])
    update_ticket(t, actor=se, tags=["y", "z"])
    assert sorted(t.tags.values_list("name", flat=True)) == ["y", "z"]
    ev = timeline(t, "ticket.tags_changed")[-1]
    assert ev.data == {"added": ["z"], "removed": ["x"]}
    assert Tag.objects.filter(name="x").exists()  # tags stay defined


def test_change_tags_works_against_the_current_tags(se, contact):
    """Add/remove is computed under the row lock from the tags the ticket has now, so an
    edit made meanwhile (another agent) is kept, unlike a replace from a stale list."""
    from caseline.tickets.services import change_tags

    t = new_ticket(se, contact, tags=["x"])
    stale = Ticket.objects.get(pk=t.pk)
    update_ticket(t, actor=se, tags=["x", "other-agent"])
    change_tags(stale, actor=se, add=["New-Tag"], remove=["x"])
    assert sorted(t.tags.values_list("name", flat=True)) == ["new-tag", "other-agent"]
    before = len(timeline(t, "ticket.tags_changed"))
    change_tags(t.pk, actor=se, add=["new-tag"])  # nothing to do: no event
    assert len(timeline(t, "ticket.tags_changed")) == before
    with pytest.raises(ValidationFailed):
        change_tags(t, actor=se, add=["has space"])
    with pytest.raises(NotFound):
        change_tags(10**9, actor=se, add=["a"])


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"severity": 9}, "severity"),
        ({"severity": None}, "severity"),
        ({"priority": "meh"}, "priority"),
        ({"status": "done"}, "status"),
        ({"subject": ""}, "subject"),
        ({"assignee": 987654}, "assignee"),
        ({"product_area": 987654}, "product_area"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_update_validation(se, contact, changes, field):
    t = new_ticket(se, contact)
    n = AuditEvent.objects.count()
    with pytest.raises(ValidationFailed) as info:
        update_ticket(t, actor=se, **changes)
    assert field in info.value.fields
    assert AuditEvent.objects.count() == n


def test_update_assignee_must_be_staff(se, contact, customer):
    t = new_ticket(se, contact)
    with pytest.raises(ValidationFailed) as info:
        update_ticket(t, actor=se, assignee=customer.pk)
    assert "not an active staff user" in info.value.fields["assignee"]


def test_custom_fields_typed_set_and_clear(se, contact):
    CustomField.objects.create(key="version", label="Version", type="text")
    CustomField.objects.create(key="nodes", label="Nodes", type="number")
    CustomField.objects.create(key="env", label="Env", type="choice", choices=["prod", "dev"])
    CustomField.objects.create(key="due", label="Due", type="date")
    t = new_ticket(se, contact)
    update_ticket(
        t,
        actor=se,
        custom_fields={"version": "7.2", "nodes": "2.5", "env": "prod", "due": "2026-03-01"},
    )
    vals = {fv.field.key: fv for fv in CustomFieldValue.objects.filter(ticket=t)}
    assert vals["version"].value_text == "7.2"
    assert float(vals["nodes"].value_number) == 2.5
    assert vals["env"].value_text == "prod"
    assert vals["due"].value_date.isoformat() == "2026-03-01"
    changes = {e.field: (e.old, e.new) for e in timeline(t, "ticket.custom_field_changed")}
    assert changes["nodes"] == (None, 2.5) and changes["due"] == (None, "2026-03-01")
    for bad in ({"nodes": "x"}, {"env": "test"}, {"due": "2026-13-01"}, {"nodes": True}):
        with pytest.raises(ValidationFailed):
            update_ticket(t, actor=se, custom_fields=bad)
    update_ticket(t, actor=se, custom_fields={"env": None, "version": ""})
    assert set(CustomFieldValue.objects.filter(ticket=t).values_list("field__key", flat=True)) == {
        "nodes",
        "due",
    }


def test_inactive_custom_field_can_only_be_cleared(se, contact):
    CustomField.objects.create(key="old", label="Old", type="text", active=False)
    t = new_ticket(se, contact)
    with pytest.raises(ValidationFailed):
        update_ticket(t, actor=se, custom_fields={"old": "v"})
    update_ticket(t, actor=se, custom_fields={"old": None})


def test_solving_needs_an_assignee(se, contact):
    t = new_ticket(se, contact)
    with pytest.raises(Conflict) as info:
        update_ticket(t, actor=se, status="solved")
    assert info.value.status == 409
    assert "needs an assignee" in info.value.message
    assert info.value.fields == {"assignee": "required to solve"}
    t.refresh_from_db()
    assert t.status == "new"
    # assigning in the same change is enough
    update_ticket(t, actor=se, status="solved", assignee=se)
    t.refresh_from_db()
    assert t.status == "solved" and t.solved_at is not None


def test_solving_needs_required_custom_fields(se, contact):
    CustomField.objects.create(key="root_cause", label="RC", type="text", required_on_solve=True)
    t = new_ticket(se, contact, assignee=se)
    with pytest.raises(Conflict) as info:
        update_ticket(t, actor=se, status="solved")
    assert "custom_fields.root_cause" in info.value.fields
    update_ticket(t, actor=se, status="solved", custom_fields={"root_cause": "disk full"})
    assert Ticket.objects.get(pk=t.pk).status == "solved"


def test_illegal_transition_is_409_with_reason(se, contact):
    t = new_ticket(se, contact, assignee=se)
    update_ticket(t, actor=se, status="solved")
    update_ticket(t, actor=se, status="closed")
    t.refresh_from_db()
    assert t.closed_at is not None
    with pytest.raises(IllegalTransition) as info:
        update_ticket(t, actor=se, status="open")
    assert info.value.status == 409 and "closed ticket" in info.value.reason
    with pytest.raises(Conflict):
        update_ticket(t, actor=se, subject="changed after close")


def test_reopen_clears_solved_at(se, contact):
    t = new_ticket(se, contact, assignee=se)
    update_ticket(t, actor=se, status="solved")
    update_ticket(t, actor=se, status="open")
    t.refresh_from_db()
    assert t.status == "open" and t.solved_at is None
    ev = timeline(t, "ticket.status_changed")[-1]
    assert (ev.old, ev.new) == ("solved", "open") and ev.data["reopened"] is True


def test_solve_notifies_sc_through_outbox(se, contact, sc):
    t = new_ticket(se, contact, assignee=se)
    update_ticket(t, actor=se, status="solved")
    solved = timeline(t, "ticket.solved")[0]
    row = OutboxMessage.objects.get()
    assert row.idempotency_key == f"ticket-{t.pk}-solved-{solved.pk}"
    assert row.payload["to"] == [sc.email]
    assert row.payload["subject"] == f"[CL-{t.pk}] solved: {t.subject}"
    assert f"CL-{t.pk}" in row.payload["text"] and "se@caseline.test" in row.payload["text"]
    assert (row.subject_type, row.subject_id) == ("ticket", t.pk)
    # reopen and solve again: a second, distinct notification
    update_ticket(t, actor=se, status="open")
    update_ticket(t, actor=se, status="solved")
    assert OutboxMessage.objects.count() == 2


def test_no_sc_notification_when_sc_solves_or_org_excludes_sc(se, contact, org, sc):
    t = new_ticket(se, contact, assignee=se)
    update_ticket(t, actor=sc, status="solved")
    assert OutboxMessage.objects.count() == 0
    org.include_sc = False
    org.save()
    t2 = new_ticket(se, contact, assignee=se)
    update_ticket(t2, actor=se, status="solved")
    assert OutboxMessage.objects.count() == 0


def test_solve_notification_rolls_back_with_a_failed_transaction(se, contact):
    from django.db import transaction

    t = new_ticket(se, contact, assignee=se)
    with pytest.raises(RuntimeError), transaction.atomic():
        update_ticket(t, actor=se, status="solved")
        raise RuntimeError("boom")
    assert OutboxMessage.objects.count() == 0
    assert Ticket.objects.get(pk=t.pk).status == "new"


def test_customer_may_only_solve_and_rate(customer, contact, se):
    t = new_ticket(customer, contact)
    with pytest.raises(PermissionDenied):
        update_ticket(t, actor=customer, priority="urgent")
    with pytest.raises(PermissionDenied):
        update_ticket(t, actor=customer, status="pending")
    with pytest.raises(Conflict):  # not solved yet
        update_ticket(t, actor=customer, satisfaction="good")
    # a customer may mark their ticket solved without an assignee
    update_ticket(t, actor=customer, status="solved", satisfaction="good")
    t.refresh_from_db()
    assert t.status == "solved" and t.satisfaction == "good"
    with pytest.raises(ValidationFailed):
        update_ticket(t, actor=customer, satisfaction="meh")
    with pytest.raises(PermissionDenied):
        update_ticket(t, actor=se, satisfaction="bad")
    update_ticket(t, actor=customer, satisfaction="bad", satisfaction_comment="slow")
    assert Ticket.objects.get(pk=t.pk).satisfaction_comment == "slow"


def test_organization_change_adds_new_sc(se, contact, make_staff):
    other_sc = make_staff("sales_consultant")
    other = Organization.objects.create(name="Other", sales_consultant=other_sc)
    t = new_ticket(se, contact)
    update_ticket(t, actor=se, organization=other.pk)
    assert t.followers.filter(pk=other_sc.pk).exists()


# --- followers / CCs --------------------------------------------------------------------


def test_followers_and_ccs(se, contact, org, customer, make_staff):
    t = new_ticket(se, contact)
    lead = make_staff("lead")
    add_follower(t, lead, actor=se)
    add_follower(t, lead.pk, actor=se)  # idempotent
    assert t.followers.filter(pk=lead.pk).count() == 1
    assert len(timeline(t, "ticket.follower_added")) == 2  # SC on create + lead
    with pytest.raises(ValidationFailed):
        add_follower(t, customer, actor=se)
    remove_follower(t, lead, actor=se)
    assert not t.followers.filter(pk=lead.pk).exists()
    ev = timeline(t, "ticket.follower_removed")[0]
    assert ev.data == {"kind": "follower", "user_id": lead.pk}
    bob = Contact.objects.create(name="Bob", organization=org)
    add_cc(t, bob.pk, actor=se)
    assert list(t.ccs.all()) == [bob]
    remove_cc(t, bob, actor=se)
    assert t.ccs.count() == 0
    with pytest.raises(ValidationFailed):
        add_cc(t, 123456, actor=se)


# --- contact.merged ---------------------------------------------------------------------


def test_contact_merged_moves_tickets_messages_and_ccs(se, contact, org):
    from caseline.accounts.services import merge_contacts

    dup = Contact.objects.create(name="Ada (dup)", organization=org)
    third = Contact.objects.create(name="Third", organization=org)
    t1 = new_ticket(se, dup)  # dup is requester and author
    t2 = new_ticket(se, third, ccs=[dup])  # dup is CC
    t3 = new_ticket(se, third, ccs=[dup, contact])  # both CC'd
    t4 = new_ticket(se, contact, ccs=[dup])  # dup CC'd on the survivor's own ticket
    merge_contacts(dup, contact, actor=se)
    t1.refresh_from_db()
    assert t1.requester == contact
    assert t1.messages.get().author_contact == contact
    assert list(t2.ccs.all()) == [contact]
    assert list(t3.ccs.all()) == [contact]
    assert list(t4.ccs.all()) == []
    assert not Ticket.objects.filter(requester=dup).exists()
    assert not Message.objects.filter(author_contact=dup).exists()


# --- queries ----------------------------------------------------------------------------


def test_visible_tickets(se, contact, org, customer, make_staff):
    other_org = Organization.objects.create(name="Other")
    stranger = Contact.objects.create(name="S", organization=other_org)
    mine = new_ticket(se, contact)
    theirs = new_ticket(se, stranger)
    assert set(queries.visible_tickets(se)) == {mine, theirs}
    assert list(queries.visible_tickets(customer)) == [mine]
    nobody = make_staff()  # staff without roles
    assert list(queries.visible_tickets(nobody)) == []
    lone = Contact.objects.create(name="Lone")
    lone_user = User.objects.create_user(
        username="lone@x.test", email="lone@x.test", kind="customer", contact=lone
    )
    own = new_ticket(se, lone)
    assert list(queries.visible_tickets(lone_user)) == [own]


def test_list_filters(se, contact, org, make_staff):
    team = Team.objects.create(name="T")
    area = ProductArea.objects.create(name="Billing", slug="billing")
    other = make_staff("support_engineer")
    a = new_ticket(se, contact, team=team, assignee=se, severity=1, tags=["vip"])
    b = new_ticket(se, contact, product_area=area, assignee=other, severity=2)
    c = new_ticket(se, contact, severity=3)
    update_ticket(b, actor=se, status="pending")

    def ids(**f):
        return sorted(t.pk for t in queries.list_tickets(se, f))

    assert ids(status="new") == [a.pk, c.pk]
    assert ids(status="new,pending") == [a.pk, b.pk, c.pk]
    assert ids(team=team.pk) == [a.pk]
    assert ids(assignee="me") == [a.pk]
    assert ids(assignee="none") == [c.pk]
    assert ids(assignee=str(other.pk)) == [b.pk]
    assert ids(severity="2") == [b.pk]
    assert ids(product_area=area.pk) == [b.pk]
    assert ids(tag="VIP") == [a.pk]
    assert ids(organization=org.pk) == [a.pk, b.pk, c.pk]
    assert ids(requester=contact.pk) == [a.pk, b.pk, c.pk]
    assert ids(updated_since=(now() + timedelta(hours=1)).isoformat()) == []
    assert ids(updated_since=(now() - timedelta(hours=1)).isoformat()) == [a.pk, b.pk, c.pk]
    for bad in (
        {"status": "nope"},
        {"severity": "7"},
        {"team": "x"},
        {"updated_since": "yesterday"},
        {"updated_since": "2026-01-01T00:00:00"},  # no time zone
    ):
        with pytest.raises(ValidationFailed):
            queries.list_tickets(se, bad)


def test_list_query_count_does_not_grow_with_rows(se, contact, django_assert_max_num_queries):
    from caseline.tickets.schemas import ticket_list_out

    for i in range(3):
        new_ticket(se, contact, tags=[f"t{i}"])

    def run():
        rows = queries.attach_tags(list(queries.list_tickets(se, {})[:25]))
        return [ticket_list_out(t) for t in rows]

    # the page, its tags, and the permission check (no prefetch per relation)
    with django_assert_max_num_queries(4) as ctx:
        run()
    small = len(ctx.captured_queries)
    for i in range(10):
        new_ticket(se, contact, tags=[f"u{i}"], custom_fields={})
    with django_assert_max_num_queries(small):
        out = run()
    assert len(out) == 13


# --- admin ------------------------------------------------------------------------------


def test_admin_ticket_edit_goes_through_update_ticket(client, se, contact):
    admin_user = User.objects.create_superuser(
        username="root@caseline.test", email="root@caseline.test", password="pw-for-tests-123"
    )
    client.force_login(admin_user)
    t = new_ticket(se, contact, tags=["a"])
    assert client.get("/admin/tickets/ticket/").status_code == 200
    assert client.get(f"/admin/tickets/ticket/{t.pk}/change/").status_code == 200
    assert client.get("/admin/tickets/message/").status_code == 200
    form = {
        "subject": t.subject,
        "status": "pending",
        "severity": "2",
        "priority": t.priority,
        "organization": t.organization_id,
        "product_area": "",
        "team": "",
        "assignee": se.pk,
        "tags": [Tag.objects.get(name="a").pk],
    }
    for prefix in ("field_values", "messages"):
        form.update(
            {
                f"{prefix}-TOTAL_FORMS": "0",
                f"{prefix}-INITIAL_FORMS": "0",
                f"{prefix}-MIN_NUM_FORMS": "0",
                f"{prefix}-MAX_NUM_FORMS": "1000",
            }
        )
    r = client.post(f"/admin/tickets/ticket/{t.pk}/change/", form)
    assert r.status_code == 302, r.content.decode()[:2000]
    t.refresh_from_db()
    assert (t.status, t.severity, t.assignee) == ("pending", 2, se)
    ev = AuditEvent.objects.get(ticket_id=t.pk, type="ticket.status_changed")
    assert ev.actor_id == admin_user.pk and (ev.old, ev.new) == ("new", "pending")
    # an illegal transition is refused by the form, nothing changes
    form["status"] = "closed"
    r = client.post(f"/admin/tickets/ticket/{t.pk}/change/", form)
    assert r.status_code == 200 and b"cannot go from pending to closed" in r.content
    t.refresh_from_db()
    assert t.status == "pending"


# --- customers opening tickets: the same rules for every channel ------------------------


def test_customer_create_rules_live_in_the_service(customer, contact, se, make_staff):
    from caseline.accounts.models import ContactEmail

    other = Contact.objects.create(name="Other")
    # as themselves by default, through the web by default
    t = create_ticket(actor=customer, subject="Help", body_text="x")
    assert t.requester_id == contact.pk and t.channel == "web"
    assert t.organization_id == contact.organization_id
    # naming themselves: the contact, its id, or one of their emails
    ContactEmail.objects.create(contact=contact, email="ada.alt@acme.test")
    for requester in (contact, contact.pk, {"email": "ADA.ALT@acme.test"}):
        assert create_ticket(actor=customer, requester=requester, subject="S").pk
    assert create_ticket(actor=customer, subject="S", channel="api").channel == "api"
    before = Ticket.objects.count()
    for requester in (other, other.pk, {"email": "someone@else.test"}):
        with pytest.raises(PermissionDenied) as exc:
            create_ticket(actor=customer, requester=requester, subject="S")
        assert exc.value.fields == {"requester": "must be you"}
    refused = {
        "team": Team.objects.create(name="T").pk,
        "organization": Organization.objects.create(name="Else").pk,
        "assignee": se.pk,
        "priority": "urgent",
        "tags": ["x"],
        "ccs": [other.pk],
        "external_id": "X-1",
    }
    for field, value in refused.items():
        with pytest.raises(PermissionDenied) as exc:
            create_ticket(actor=customer, subject="S", **{field: value})
        assert exc.value.fields == {field: "staff only"}
    for channel in ("email", "phone", "agent"):
        with pytest.raises(ValidationFailed) as exc:
            create_ticket(actor=customer, subject="S", channel=channel)
        assert "channel" in exc.value.fields
    assert Ticket.objects.count() == before  # nothing written by a refusal
    # a customer account without a contact cannot open tickets
    lone = User.objects.create_user(username="n@x.test", email="n@x.test", kind="customer")
    with pytest.raises(PermissionDenied):
        create_ticket(actor=lone, subject="S")
    # staff keep every field and must name a requester and a channel
    t = create_ticket(actor=se, requester=other, subject="S", channel="phone", priority="high")
    assert (t.requester_id, t.channel, t.priority) == (other.pk, "phone", "high")
    with pytest.raises(ValidationFailed):
        create_ticket(actor=se, subject="S", channel="phone")


def test_create_returns_what_it_wrote(se, contact):
    from caseline.tickets.models import CustomField

    CustomField.objects.create(key="env", label="Env", type="text")
    t = create_ticket(
        actor=se,
        requester=contact,
        subject="S",
        channel="api",
        tags=["b", "a"],
        custom_fields={"env": "prod"},
    )
    assert t.known_details == {
        "tags": ["b", "a"],
        "custom_fields": {"env": "prod"},
        "ccs": [],
        "links": [],
    }
