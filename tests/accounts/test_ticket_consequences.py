"""What accounts changes do to tickets, with audit rows on every ticket touched:
a contact merge moves requester / CCs / message authors; a change of an organization's
sales consultant (or of include_sc) moves the SC follower of its open tickets."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from caseline.accounts import services
from caseline.accounts.models import Contact, User
from caseline.audit.models import AuditEvent
from caseline.tickets.models import Message, Ticket

pytestmark = pytest.mark.django_db


def make_ticket(org, requester, *, status="open", assignee=None, ccs=(), followers=()):
    t = Ticket.objects.create(
        subject="Replication lag",
        requester=requester,
        organization=org,
        status=status,
        assignee=assignee,
    )
    Message.objects.create(ticket=t, kind="public", author_contact=requester, body_text="hi")
    t.ccs.add(*ccs)
    t.followers.add(*followers)
    return t


def audit(ticket, field):
    return list(
        AuditEvent.objects.filter(ticket_id=ticket.pk, field=field)
        .order_by("id")
        .values_list("type", "actor_id", "old", "new")
    )


# --- contact merge ----------------------------------------------------------------------


@pytest.fixture
def acme():
    return services.create_organization(name="Acme", domains=["acme.com"])


def test_merge_audits_every_ticket_touched(acme, se, published):
    dup = services.create_contact(name="Ada (dup)", emails=["ada@home.example"])
    keep = services.create_contact(name="Ada", emails=["ada@acme.com"])
    third = services.create_contact(name="Third", emails=["third@acme.com"])
    t1 = make_ticket(acme, dup)  # requester + author
    t2 = make_ticket(acme, third, ccs=[dup])  # CC moves
    t3 = make_ticket(acme, third, ccs=[dup, keep])  # CC dropped (survivor already CC)
    t4 = make_ticket(acme, keep, ccs=[dup])  # CC dropped (survivor is requester)
    untouched = make_ticket(acme, third)
    published.clear()

    services.merge_contacts(dup, keep, actor=se)

    t1.refresh_from_db()
    assert t1.requester == keep and t1.messages.get().author_contact == keep
    assert audit(t1, "requester") == [("ticket.updated", se.pk, dup.pk, keep.pk)]
    assert audit(t1, "message_author") == [("ticket.updated", se.pk, dup.pk, keep.pk)]
    assert list(t2.ccs.all()) == [keep]
    assert audit(t2, "ccs") == [("ticket.updated", se.pk, dup.pk, keep.pk)]
    assert list(t3.ccs.all()) == [keep]
    assert audit(t3, "ccs") == [("ticket.updated", se.pk, dup.pk, None)]
    assert list(t4.ccs.all()) == []
    assert audit(t4, "ccs") == [("ticket.updated", se.pk, dup.pk, None)]
    assert not AuditEvent.objects.filter(ticket_id=untouched.pk).exists()
    # one ticket.updated event per ticket touched (webhooks, SLA listen to these)
    updated = sorted(e.subject_id for e in published if e.type == "ticket.updated")
    assert updated == sorted([t1.pk, t2.pk, t3.pk, t4.pk])
    event = next(e for e in published if e.type == "ticket.updated" and e.subject_id == t1.pk)
    assert event.actor_id == se.pk and event.data["changes"]["requester"] == [dup.pk, keep.pk]
    assert event.audit_id is None or AuditEvent.objects.filter(pk=event.audit_id).exists()
    t1_row = AuditEvent.objects.filter(ticket_id=t1.pk, field="requester").get()
    assert t1_row.actor_label == se.email and t1_row.data["reason"] == "contact_merged"


def test_merge_moves_the_portal_user_with_audit(acme, se):
    dup = services.create_contact(name="Dup", emails=["dup@acme.com"])
    keep = services.create_contact(name="Keep", emails=["keep@acme.com"])
    login = User.objects.create_user(
        username="dup@acme.com", email="dup@acme.com", kind=User.Kind.CUSTOMER, contact=dup
    )
    services.merge_contacts(dup, keep, actor=se)
    login.refresh_from_db()
    assert login.contact == keep and login.is_active
    row = AuditEvent.objects.get(subject_type="contact", subject_id=keep.pk, field="portal_user")
    assert (row.old, row.new, row.actor_id) == (None, login.pk, se.pk)
    row = AuditEvent.objects.get(subject_type="user", subject_id=login.pk, field="contact")
    assert (row.old, row.new) == (dup.pk, keep.pk)


def test_merge_deactivates_the_second_portal_user(acme, se, api_client):
    """Both contacts have a portal login: the survivor's stays; the merged one's is
    deactivated (it would see none of its tickets and file new ones on a dead contact)."""
    dup = services.create_contact(name="Dup", emails=["dup@acme.com"])
    keep = services.create_contact(name="Keep", emails=["keep@acme.com"])
    dup_login = User.objects.create_user(
        username="dup@acme.com", email="dup@acme.com", kind=User.Kind.CUSTOMER, contact=dup
    )
    keep_login = User.objects.create_user(
        username="keep@acme.com", email="keep@acme.com", kind=User.Kind.CUSTOMER, contact=keep
    )
    dup_client = api_client(dup_login)
    assert dup_client.get("/api/v1/me").status_code == 200
    t = make_ticket(acme, dup)

    services.merge_contacts(dup, keep, actor=se)

    dup_login.refresh_from_db()
    keep_login.refresh_from_db()
    assert dup_login.contact == dup and not dup_login.is_active
    assert keep_login.contact == keep and keep_login.is_active
    assert dup_client.get("/api/v1/me").status_code == 401
    row = AuditEvent.objects.get(subject_type="user", subject_id=dup_login.pk, field="is_active")
    assert (row.old, row.new, row.actor_id) == (True, False, se.pk)
    assert AuditEvent.objects.filter(
        subject_type="contact", subject_id=dup.pk, field="portal_user_active"
    ).exists()
    # the survivor's login now sees the moved ticket
    t.refresh_from_db()
    assert t.requester == keep
    assert api_client(keep_login).get(f"/api/v1/tickets/{t.pk}").status_code == 200


def test_merge_through_the_api_audits_tickets(acme, make_staff, api_client):
    se = make_staff("support_engineer")
    dup = services.create_contact(name="Dup", emails=["dup@acme.com"])
    keep = services.create_contact(name="Keep", emails=["keep@acme.com"])
    t = make_ticket(acme, dup)
    resp = api_client(se).post(
        f"/api/v1/contacts/{dup.pk}/merge",
        data=json.dumps({"into": keep.pk}),
        content_type="application/json",
    )
    assert resp.status_code == 200, resp.content
    assert audit(t, "requester") == [("ticket.updated", se.pk, dup.pk, keep.pk)]
    timeline = api_client(se).get(f"/api/v1/tickets/{t.pk}/timeline")
    assert timeline.status_code == 200
    assert "requester" in timeline.content.decode()


# --- the sales consultant follows the organization's open tickets ------------------------


@pytest.fixture
def two_scs(make_staff):
    return make_staff("sales_consultant"), make_staff("sales_consultant")


def followers(t):
    return set(t.followers.values_list("pk", flat=True))


def test_changing_the_sc_moves_the_follower_on_open_tickets(two_scs, se, published):
    old_sc, new_sc = two_scs
    org = services.create_organization(name="Globex", sales_consultant=old_sc)
    contact = services.create_contact(name="C", emails=["c@globex.example"], organization=org)
    open_t = make_ticket(org, contact, followers=[old_sc])
    pending = make_ticket(org, contact, status="pending", followers=[old_sc])
    closed = make_ticket(org, contact, status="closed", followers=[old_sc])
    assigned = make_ticket(org, contact, assignee=old_sc, followers=[old_sc])
    other_org = services.create_organization(name="Other", sales_consultant=old_sc)
    elsewhere = make_ticket(other_org, contact, followers=[old_sc])
    published.clear()

    services.update_organization(org, actor=se, sales_consultant=new_sc.pk)

    for t in (open_t, pending):
        assert followers(t) == {new_sc.pk}
        assert audit(t, "followers") == [
            ("ticket.follower_removed", se.pk, old_sc.pk, None),
            ("ticket.follower_added", se.pk, None, new_sc.pk),
        ]
    assert followers(closed) == {old_sc.pk} and audit(closed, "followers") == []
    # the old SC keeps following what they are assigned to; the new SC joins
    assert followers(assigned) == {old_sc.pk, new_sc.pk}
    assert followers(elsewhere) == {old_sc.pk}
    kinds = sorted((e.type, e.subject_id) for e in published if e.type.startswith("ticket."))
    assert kinds == sorted(
        [
            ("ticket.follower_removed", open_t.pk),
            ("ticket.follower_removed", pending.pk),
            ("ticket.follower_added", open_t.pk),
            ("ticket.follower_added", pending.pk),
            ("ticket.follower_added", assigned.pk),
        ]
    )


def test_include_sc_switch_removes_and_adds_the_follower(two_scs, se):
    sc, _ = two_scs
    org = services.create_organization(name="Initech", sales_consultant=sc)
    contact = services.create_contact(name="C", emails=["c@initech.example"], organization=org)
    t = make_ticket(org, contact, status="new", followers=[sc])
    services.update_organization(org, actor=se, include_sc=False)
    assert followers(t) == set()
    services.update_organization(org, actor=se, include_sc=True)
    assert followers(t) == {sc.pk}
    assert [r[0] for r in audit(t, "followers")] == [
        "ticket.follower_removed",
        "ticket.follower_added",
    ]
    # unrelated changes do not touch followers
    services.update_organization(org, actor=se, notes="renewal in May")
    assert len(audit(t, "followers")) == 2


def test_removing_the_sc_and_an_inactive_sc(two_scs, se):
    sc, other = two_scs
    org = services.create_organization(name="Umbrella", sales_consultant=sc)
    contact = services.create_contact(name="C", emails=["c@umbrella.example"], organization=org)
    t = make_ticket(org, contact, followers=[sc])
    services.update_organization(org, actor=se, sales_consultant=None)
    assert followers(t) == set()
    User.objects.filter(pk=other.pk).update(is_active=False)
    other.refresh_from_db()
    # an inactive user cannot become SC (refused by validation); nothing moves
    from caseline.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        services.update_organization(org, actor=se, sales_consultant=other.pk)
    assert followers(t) == set()


def test_sc_follower_sync_is_set_based(two_scs, se):
    """The number of statements does not grow with the number of open tickets."""
    old_sc, new_sc = two_scs
    org = services.create_organization(name="Massive", sales_consultant=old_sc)
    contact = services.create_contact(name="C", emails=["c@massive.example"], organization=org)

    def statements(n_tickets, sc_to):
        Ticket.objects.filter(organization=org).delete()
        for _ in range(n_tickets):
            make_ticket(org, contact, followers=[old_sc])
        services.update_organization(org, actor=se, sales_consultant=old_sc.pk)
        with CaptureQueriesContext(connection) as ctx:
            services.update_organization(org, actor=se, sales_consultant=sc_to.pk)
        return len(ctx.captured_queries)

    small = statements(3, new_sc)
    big = statements(60, old_sc)
    assert big <= small + 2, (small, big)
    assert (
        Ticket.followers.through.objects.filter(user_id=old_sc.pk, ticket__organization=org).count()
        == 60
    )


def test_patch_organization_sc_via_api(two_scs, make_staff, api_client):
    old_sc, new_sc = two_scs
    csm = make_staff("customer_success_manager")
    org = services.create_organization(name="Hooli", sales_consultant=old_sc)
    contact = Contact.objects.create(name="C", organization=org)
    t = make_ticket(org, contact, followers=[old_sc])
    resp = api_client(csm).patch(
        f"/api/v1/organizations/{org.pk}",
        data=json.dumps({"sales_consultant_id": new_sc.pk}),
        content_type="application/json",
    )
    assert resp.status_code == 200, resp.content
    assert followers(t) == {new_sc.pk}
    assert audit(t, "followers")[-1] == ("ticket.follower_added", csm.pk, None, new_sc.pk)
