"""Escalation services: opening and ownership, legal transitions, intake, procedure
checklist, stakeholder roles with history, SME suggestions skipping people off shift,
cadence timers fired by the clock (reminder, miss, reset), commitments and their slips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from caseline import timesource
from caseline.accounts.models import SMERosterEntry
from caseline.audit.models import AuditEvent
from caseline.errors import Conflict, ValidationFailed
from caseline.escalations import queries, services
from caseline.escalations.models import (
    Cadence,
    CadenceEntry,
    Commitment,
    Escalation,
    EscalationRequest,
    Stakeholder,
)
from caseline.notify.models import OutboxMessage
from caseline.sla import timers
from caseline.sla.models import Timer

from .conftest import T0

pytestmark = pytest.mark.django_db


def events(esc, prefix="escalation."):
    return list(
        AuditEvent.objects.filter(
            subject_type="escalation", subject_id=esc.pk, type__startswith=prefix
        )
        .order_by("id")
        .values_list("type", flat=True)
    )


def pending_timers(subject_type, subject_id):
    return list(
        Timer.objects.filter(
            subject_type=subject_type,
            subject_id=subject_id,
            fired_at__isnull=True,
            cancelled_at__isnull=True,
            failed_at__isnull=True,
        ).order_by("due_at")
    )


# --- opening and ownership ------------------------------------------------------------------


def test_open_from_ticket_owner_checklist_and_audit(world):
    t = world.ticket(severity=1)
    esc = services.open_from_ticket(t.pk, world.em, business_impact="Orders stopped")
    assert (esc.owner, esc.organization, esc.severity, esc.source, esc.status) == (
        world.em,
        world.org,
        1,
        "ticket",
        "open",
    )
    assert list(esc.tickets.values_list("id", flat=True)) == [t.pk]
    steps = list(esc.steps.values_list("position", "title"))
    assert steps[0] == (1, "Map the customer contacts and their roles") and len(steps) == 6
    ev = AuditEvent.objects.get(type="escalation.opened", subject_id=esc.pk)
    assert ev.ticket_id == t.pk and ev.actor == world.em and ev.data["tickets"] == [t.pk]
    # one live escalation per ticket
    with pytest.raises(Conflict) as exc:
        services.open_from_ticket(t.pk, world.em)
    assert exc.value.code == "already_escalated" and exc.value.fields["escalation_id"] == esc.pk
    # ... on every path: a direct open naming it, a link into another escalation
    with pytest.raises(Conflict) as exc:
        services.open_escalation(world.em, ticket_ids=[t.pk])
    assert exc.value.code == "already_escalated"
    other = services.open_escalation(world.em, ticket_ids=[world.ticket().pk])
    with pytest.raises(Conflict) as exc:
        services.link_tickets(other.pk, world.em, [t.pk])
    assert exc.value.fields["ticket_ids"] == [t.pk]
    assert set(other.tickets.values_list("id", flat=True)) != {t.pk}
    # once it is closed, the ticket may be escalated again
    services.transition(esc.pk, world.em, "resolved", root_cause="Disk full")
    services.transition(esc.pk, world.em, "closed")
    services.link_tickets(other.pk, world.em, [t.pk])


def test_owner_must_hold_the_escalation_manager_role(world):
    t = world.ticket()
    with pytest.raises(ValidationFailed) as exc:
        services.open_escalation(world.sm, ticket_ids=[t.pk])  # an SM is no owner by default
    assert "owner_id" in exc.value.fields
    with pytest.raises(ValidationFailed) as exc:
        services.open_escalation(world.sm, ticket_ids=[t.pk], owner_id=world.agent.pk)
    assert "escalation manager" in exc.value.fields["owner_id"]
    assert not Escalation.objects.exists()
    esc = services.open_escalation(world.sm, ticket_ids=[t.pk], owner_id=world.em2.pk)
    assert esc.owner == world.em2 and esc.opened_by == world.sm
    with pytest.raises(ValidationFailed):
        services.update_escalation(esc.pk, world.sm, owner_id=world.agent.pk)
    services.update_escalation(esc.pk, world.sm, owner_id=world.em.pk, severity=1)
    esc.refresh_from_db()
    assert (esc.owner, esc.severity) == (world.em, 1)


def test_tickets_of_several_organizations_are_refused(world):
    a = world.ticket()
    b = world.ticket(org=world.other_org, contact=world.foreign_contact)
    with pytest.raises(ValidationFailed) as exc:
        services.open_escalation(world.em, ticket_ids=[a.pk, b.pk])
    assert "organization_id" in exc.value.fields
    with pytest.raises(ValidationFailed) as exc:
        services.open_escalation(world.em, ticket_ids=[a.pk, b.pk], organization_id=world.org.pk)
    assert str(b.pk) in exc.value.fields["ticket_ids"]
    assert not Escalation.objects.exists()


# --- transitions ----------------------------------------------------------------------------


def test_legal_transitions_with_timestamps_and_root_cause(world):
    esc = services.open_escalation(world.em, ticket_ids=[world.ticket().pk])
    timesource.advance(60)
    services.transition(esc.pk, world.em, "active")
    timesource.advance(60)
    services.transition(esc.pk, world.em, "monitoring")
    with pytest.raises(ValidationFailed) as exc:
        services.transition(esc.pk, world.em, "resolved", root_cause="   ")
    assert "root_cause" in exc.value.fields
    esc.refresh_from_db()
    assert esc.status == "monitoring" and esc.resolved_at is None
    timesource.advance(60)
    services.transition(esc.pk, world.em, "resolved", root_cause="Disk firmware bug")
    timesource.advance(60)
    services.transition(esc.pk, world.em, "closed")
    esc.refresh_from_db()
    assert (esc.status, esc.root_cause) == ("closed", "Disk firmware bug")
    assert [esc.active_at, esc.monitoring_at, esc.resolved_at, esc.closed_at] == [
        T0 + timedelta(seconds=60 * i) for i in (1, 2, 3, 4)
    ]
    changes = list(
        AuditEvent.objects.filter(type="escalation.status_changed", subject_id=esc.pk)
        .order_by("id")
        .values_list("old", "new")
    )
    assert changes == [
        ("open", "active"),
        ("active", "monitoring"),
        ("monitoring", "resolved"),
        ("resolved", "closed"),
    ]


@pytest.mark.parametrize(
    ("path", "illegal"),
    [([], "closed"), (["active"], "open"), (["resolved", "closed"], "active")],
)
def test_illegal_transitions_are_409_with_the_allowed_moves(world, path, illegal):
    esc = services.open_escalation(world.em, ticket_ids=[world.ticket().pk])
    for status in path:
        services.transition(esc.pk, world.em, status, root_cause="cause")
    before = Escalation.objects.get(pk=esc.pk).status
    with pytest.raises(Conflict) as exc:
        services.transition(esc.pk, world.em, illegal)
    assert exc.value.code == "illegal_transition"
    assert exc.value.fields["status"].startswith(f"from {before}")
    assert Escalation.objects.get(pk=esc.pk).status == before


def test_reopening_clears_resolved_at(world):
    esc = services.open_escalation(world.em, ticket_ids=[world.ticket().pk])
    services.transition(esc.pk, world.em, "resolved", root_cause="cause")
    services.transition(esc.pk, world.em, "active")
    esc.refresh_from_db()
    assert esc.status == "active" and esc.resolved_at is None and esc.root_cause == "cause"


# --- intake ---------------------------------------------------------------------------------


def test_request_accept_creates_the_escalation(world):
    t = world.ticket()
    req = services.request_escalation(
        world.exec,
        organization_id=None,
        ticket_ids=[t.pk],
        severity=1,
        business_impact="Board meeting tomorrow",
        reason="CEO called me",
    )
    assert req.organization == world.org and req.status == "pending"
    # the requester sees their request; another agent does not; managers see the queue
    assert list(queries.visible_requests(world.exec)) == [req]
    assert list(queries.visible_requests(world.agent)) == []
    assert list(queries.visible_requests(world.em)) == [req]
    esc = services.accept_request(req.pk, world.em)
    req.refresh_from_db()
    assert (req.status, req.escalation, req.decided_by) == ("accepted", esc, world.em)
    assert (esc.source, esc.owner, esc.severity) == ("request", world.em, 1)
    assert list(esc.tickets.all()) == [t]
    assert AuditEvent.objects.filter(type="escalation.request_accepted", subject_id=req.pk).exists()
    with pytest.raises(Conflict):
        services.decline_request(req.pk, world.em2, reason="too late")


def test_request_decline_needs_a_reason_the_requester_sees(world):
    req = services.request_escalation(
        world.agent,
        organization_id=world.org.pk,
        business_impact="Slow reports",
        reason="Customer is annoyed",
    )
    with pytest.raises(ValidationFailed) as exc:
        services.decline_request(req.pk, world.em, reason=" ")
    assert "reason" in exc.value.fields
    assert EscalationRequest.objects.get(pk=req.pk).status == "pending"
    services.decline_request(req.pk, world.em, reason="Handled by the support lead")
    req = queries.visible_request(world.agent, req.pk)
    assert (req.status, req.decline_reason) == ("declined", "Handled by the support lead")
    mail = OutboxMessage.objects.get(idempotency_key=f"escalation-request-{req.pk}-declined")
    assert mail.payload["to"] == ["agent@caseline.test"]
    assert "Handled by the support lead" in mail.payload["text"]
    assert not Escalation.objects.exists()


def test_request_validation(world):
    with pytest.raises(ValidationFailed) as exc:
        services.request_escalation(
            world.agent, organization_id=None, business_impact="", reason="", severity=9
        )
    assert {"organization_id", "business_impact", "reason", "severity"} <= set(exc.value.fields)
    assert not EscalationRequest.objects.exists()


# --- checklist ------------------------------------------------------------------------------


def test_checklist_steps_ticked_with_who_and_when(world):
    tpl = services.create_type(world.em, name="Data loss", checklist=["Freeze backups", "Call"])
    esc = services.open_escalation(world.em, ticket_ids=[world.ticket().pk], type_id=tpl.pk)
    first, second = esc.steps.order_by("position")
    assert (first.title, second.title) == ("Freeze backups", "Call")
    timesource.advance(300)
    step = services.tick_step(esc.pk, first.pk, world.em)
    assert (step.done_at, step.done_by) == (T0 + timedelta(seconds=300), world.em)
    services.tick_step(esc.pk, first.pk, world.em)  # ticking again changes nothing
    services.tick_step(esc.pk, first.pk, world.em2, done=False)
    first.refresh_from_db()
    assert first.done_at is None and first.done_by is None
    assert events(esc, "escalation.step") == ["escalation.step_changed"] * 2
    # the template is a copy: editing the type later does not touch the escalation
    services.update_type(tpl.pk, world.em, checklist=["Other"])
    assert esc.steps.count() == 2


# --- stakeholders ---------------------------------------------------------------------------


def test_stakeholder_roles_keep_history(world):
    esc = services.open_escalation(world.em, ticket_ids=[world.ticket().pk])
    dm = services.add_stakeholder(
        esc.pk, world.em, contact_id=world.contact.pk, role="decision_maker"
    )
    with pytest.raises(Conflict):
        services.add_stakeholder(
            esc.pk, world.em, contact_id=world.contact.pk, role="decision_maker"
        )
    timesource.advance(3600)
    services.renounce_stakeholder(esc.pk, dm.pk, world.em)
    with pytest.raises(Conflict):
        services.renounce_stakeholder(esc.pk, dm.pk, world.em)
    timesource.advance(3600)
    again = services.add_stakeholder(
        esc.pk, world.em, contact_id=world.contact.pk, role="decision_maker"
    )
    sme = services.add_stakeholder(
        esc.pk,
        world.em,
        user_id=world.agent.pk,
        role="sme",
        involvement="4 h/day until resolved",
        approved_by_id=world.sm.pk,
    )
    rows = list(Stakeholder.objects.filter(escalation=esc).order_by("id"))
    assert [(r.role, r.assumed_at, r.renounced_at) for r in rows] == [
        ("decision_maker", T0, T0 + timedelta(hours=1)),
        ("decision_maker", T0 + timedelta(hours=2), None),
        ("sme", T0 + timedelta(hours=2), None),
    ]
    assert again.pk != dm.pk
    assert (sme.side, sme.involvement, sme.approved_by) == (
        "internal",
        "4 h/day until resolved",
        world.sm,
    )
    assert events(esc, "escalation.stakeholder") == [
        "escalation.stakeholder_added",
        "escalation.stakeholder_renounced",
        "escalation.stakeholder_added",
        "escalation.stakeholder_added",
    ]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"contact": True, "role": "sme"}, "role"),
        ({"user": True, "role": "decision_maker"}, "role"),
        ({"role": "sme"}, "contact_id"),
        ({"foreign": True, "role": "technical_lead"}, "contact_id"),
    ],
)
def test_stakeholder_validation(world, kwargs, field):
    esc = services.open_escalation(world.em, ticket_ids=[world.ticket().pk])
    args = {"role": kwargs["role"]}
    if kwargs.get("contact"):
        args["contact_id"] = world.contact.pk
    if kwargs.get("user"):
        args["user_id"] = world.agent.pk
    if kwargs.get("foreign"):
        args["contact_id"] = world.foreign_contact.pk
    with pytest.raises(ValidationFailed) as exc:
        services.add_stakeholder(esc.pk, world.em, **args)
    assert field in exc.value.fields
    assert not Stakeholder.objects.exists()


def test_sme_suggestions_in_backup_order_skipping_off_shift(world, make_staff):
    from caseline.accounts import roles

    # T0 = 06:00 in New York (amer-business closed), 11:00 in Berlin (emea-business open).
    amer_sme = make_staff(roles.SE, email="amer-sme@x.test", region=world.amer)
    away_sme = make_staff(roles.SE, email="away-sme@x.test", region=world.emea, is_away=True)
    emea_sme = make_staff(roles.SE, email="emea-sme@x.test", region=world.emea)
    emea_backup = make_staff(roles.SE, email="emea-backup@x.test", region=world.emea)
    for pos, u in enumerate([amer_sme, away_sme, emea_sme, emea_backup], start=1):
        SMERosterEntry.objects.create(product_area=world.area, user=u, position=pos)
    esc = services.open_escalation(world.em, ticket_ids=[world.ticket().pk])
    got = queries.sme_suggestions(esc)
    assert [s["user_id"] for s in got["suggestions"]] == [emea_sme.pk, emea_backup.pk]
    assert {(s["user_id"], s["why"]) for s in got["skipped"]} == {
        (amer_sme.pk, "off shift"),
        (away_sme.pk, "away"),
    }
    # an SME already engaged is not suggested again
    services.add_stakeholder(esc.pk, world.em, user_id=emea_sme.pk, role="sme")
    assert [s["user_id"] for s in queries.sme_suggestions(esc)["suggestions"]] == [emea_backup.pk]
    # at 14:00 New York time the AMER expert is on shift and first again
    later = datetime(2026, 3, 24, 18, 0, tzinfo=UTC)  # 14:00 EDT, 19:00 Berlin (closed)
    assert [s["user_id"] for s in queries.sme_suggestions(esc, at=later)["suggestions"]] == [
        amer_sme.pk
    ]


# --- cadence --------------------------------------------------------------------------------


def test_cadence_reminds_records_a_miss_and_resets(world):
    esc = services.open_escalation(world.em, ticket_ids=[world.ticket().pk])
    cad = services.set_cadence(
        esc.pk, world.em, kind="customer_update", every_seconds=7200, reminder_seconds=1800
    )
    due = T0 + timedelta(hours=2)
    assert cad.next_due_at == due
    assert [(t.kind, t.due_at) for t in pending_timers("cadence", cad.pk)] == [
        ("escalation.cadence_reminder", due - timedelta(minutes=30)),
        ("escalation.cadence_due", due),
    ]
    # nothing before the reminder moment
    timesource.set_time(due - timedelta(minutes=30, seconds=1))
    assert timers.fire_all_due() == 0
    timesource.set_time(due - timedelta(minutes=30))
    assert timers.fire_all_due() == 1
    mail = OutboxMessage.objects.get(subject_type="escalation", subject_id=esc.pk)
    assert mail.payload["to"] == ["em@caseline.test"] and "30 min" in mail.payload["subject"]
    # the due moment passes without an update: a miss is recorded, the next cycle starts
    timesource.set_time(due)
    assert timers.fire_all_due() == 1
    cad.refresh_from_db()
    assert (cad.missed_count, cad.next_due_at) == (1, due + timedelta(hours=2))
    miss = CadenceEntry.objects.get(cadence=cad, kind="missed")
    assert (miss.due_at, miss.at) == (due, due)
    assert events(esc, "escalation.update") == [
        "escalation.update_reminded",
        "escalation.update_missed",
    ]
    # recording the update resets the cadence from now and states the next time
    timesource.set_time(due + timedelta(minutes=10))
    entry = services.record_update(esc.pk, world.em, kind="customer_update", text="Fix in test")
    assert entry.next_due_at == due + timedelta(minutes=10, hours=2)
    cad.refresh_from_db()
    assert cad.next_due_at == entry.next_due_at
    # the replaced cycle's timers never fire: no second miss at its due time
    timesource.set_time(due + timedelta(hours=2, minutes=1))
    timers.fire_all_due()
    assert CadenceEntry.objects.filter(cadence=cad, kind="missed").count() == 1
    timesource.set_time(entry.next_due_at)
    timers.fire_all_due()
    assert CadenceEntry.objects.filter(cadence=cad, kind="missed").count() == 2


def test_business_cadence_counts_on_the_calendar(world):
    esc = services.open_escalation(world.em, ticket_ids=[world.ticket().pk])
    cad = services.set_cadence(
        esc.pk,
        world.em,
        kind="internal_sync",
        every_seconds=3600,
        business=True,
        calendar="amer-business",
        reminder_seconds=0,
    )
    # 06:00 EDT is closed: one business hour from the 08:00 opening = 09:00 EDT = 13:00 UTC
    assert cad.next_due_at == datetime(2026, 3, 24, 13, 0, tzinfo=UTC)
    assert [t.kind for t in pending_timers("cadence", cad.pk)] == ["escalation.cadence_due"]
    with pytest.raises(ValidationFailed) as exc:
        services.set_cadence(
            esc.pk,
            world.em,
            kind="internal_sync",
            every_seconds=3600,
            business=True,
            calendar="no-such-calendar",
        )
    assert "calendar" in exc.value.fields


def test_resolving_stops_the_cadence_and_a_send_emails_customers(world):
    esc = services.open_escalation(world.em, ticket_ids=[world.ticket().pk])
    cad = services.set_cadence(esc.pk, world.em, kind="customer_update", every_seconds=3600)
    with pytest.raises(ValidationFailed) as exc:
        services.record_update(esc.pk, world.em, kind="customer_update", text="x", send=True)
    assert "send" in exc.value.fields  # no customer stakeholder yet; nothing recorded
    assert not CadenceEntry.objects.filter(kind="done").exists()
    services.add_stakeholder(esc.pk, world.em, contact_id=world.contact.pk, role="day_to_day")
    entry = services.record_update(
        esc.pk, world.em, kind="customer_update", text="Engineers are on it", send=True
    )
    mail = OutboxMessage.objects.get(idempotency_key=f"esc-update-{entry.pk}")
    assert mail.payload["to"] == ["ann@acme-esc.test"]
    assert "Next update by 2026-03-24 11:00 UTC" in mail.payload["text"]
    services.transition(esc.pk, world.em, "resolved", root_cause="cause")
    assert pending_timers("cadence", cad.pk) == []
    assert Cadence.objects.get(pk=cad.pk).next_due_at is None
    with pytest.raises(Conflict):
        services.record_update(esc.pk, world.em, kind="customer_update", text="late")


# --- commitments ----------------------------------------------------------------------------


def test_commitment_slip_history_notice_and_overdue(world):
    esc = services.open_escalation(world.em, ticket_ids=[world.ticket().pk])
    services.add_stakeholder(esc.pk, world.em, user_id=world.agent.pk, role="engineering_lead")
    due = T0 + timedelta(days=1)
    c = services.add_commitment(
        esc.pk,
        world.em,
        what="Hotfix build",
        to_whom="Ann Decider",
        owner_id=world.agent.pk,
        due_at=due.isoformat(),
    )
    with pytest.raises(ValidationFailed) as exc:
        services.update_commitment(c.pk, world.em, due_at=due + timedelta(days=1))
    assert "reason" in exc.value.fields
    assert Commitment.objects.get(pk=c.pk).due_at == due
    new_due = due + timedelta(days=2)
    services.update_commitment(c.pk, world.em, due_at=new_due, reason="QA found a regression")
    newer_due = due + timedelta(days=3)
    services.update_commitment(c.pk, world.em, due_at=newer_due, reason="Vendor delay")
    c.refresh_from_db()
    slips = list(c.slips.order_by("id"))
    assert [(s.old_due_at, s.new_due_at, s.reason) for s in slips] == [
        (due, new_due, "QA found a regression"),
        (new_due, newer_due, "Vendor delay"),
    ]
    assert (
        "QA found a regression" in slips[0].draft_notice
        and "Dear Ann Decider" in slips[0].draft_notice
    )
    mail = OutboxMessage.objects.get(idempotency_key=f"esc-slip-{slips[0].pk}")
    assert mail.payload["to"] == ["em@caseline.test", "agent@caseline.test"]
    assert slips[0].draft_notice in mail.payload["text"]
    assert events(esc, "escalation.commitment") == [
        "escalation.commitment_added",
        "escalation.commitment_slipped",
        "escalation.commitment_slipped",
    ]
    # the first due time passes: not overdue (it moved); the last one does
    timesource.set_time(new_due + timedelta(minutes=1))
    timers.fire_all_due()
    assert Commitment.objects.get(pk=c.pk).overdue_at is None
    timesource.set_time(newer_due)
    timers.fire_all_due()
    assert Commitment.objects.get(pk=c.pk).overdue_at == newer_due
    assert events(esc, "escalation.commitment_overdue") == ["escalation.commitment_overdue"]
    # done: its timers stop; a done commitment cannot slip
    services.update_commitment(c.pk, world.em, status="done")
    with pytest.raises(ValidationFailed):
        services.update_commitment(
            c.pk, world.em, due_at=newer_due + timedelta(days=1), reason="again"
        )
