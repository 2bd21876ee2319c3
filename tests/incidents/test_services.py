"""The incident core's services: declaring, linking, transitions, roles with history, the
Sev-1 owner handoff and its breach, tasks, the timeline (both databases)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from caseline import timesource
from caseline.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from caseline.incidents import queries, services
from caseline.incidents.models import (
    Incident,
    IncidentRole,
    OwnerHandoff,
    OwnerTarget,
    TimelineEntry,
)
from caseline.sla import timers
from tests.incidents.core_support import events, frozen, outbox, world  # noqa: F401

pytestmark = pytest.mark.django_db


def test_declare_from_several_tickets_derives_orgs_and_areas(world):
    t1 = world.ticket(world.orgs[0])
    t2 = world.ticket(world.orgs[1], product_area=world.area2)
    inc = services.declare_incident(
        world.im,
        title="Sync outage",
        severity=2,
        ticket_ids=[t1.pk, t2.pk],
        organization_ids=[world.orgs[2].pk],
    )
    assert inc.source == Incident.Source.TICKETS
    assert inc.incident_manager == world.im  # the declarer runs incidents
    assert {o.pk for o in inc.organizations.all()} == {o.pk for o in world.orgs}
    assert {a.pk for a in inc.product_areas.all()} == {world.area.pk, world.area2.pk}
    role = IncidentRole.objects.get(incident=inc)
    assert (role.role, role.user_id, role.renounced_at) == ("incident_manager", world.im.pk, None)
    [ev] = events("incident.declared", inc.pk)
    assert ev.data["tickets"] == [t1.pk, t2.pk]
    entry = TimelineEntry.objects.get(incident=inc)
    assert entry.event_type == "incident.declared" and "CL-" in entry.text
    # Not a Sev-1: no owner target, nobody paged.
    assert not OwnerTarget.objects.filter(incident=inc).exists()
    assert not inc.pages.exists()


def test_declare_sources_and_defaults(world):
    t = world.ticket()
    one = services.declare_from_ticket(t.pk, world.agent)
    assert one.source == "ticket" and one.title == t.subject and one.severity == 1
    assert one.incident_manager is None  # an agent declares; no IM yet
    direct = services.declare_incident(world.agent, title="Status page down", severity=3)
    assert direct.source == "direct" and direct.organizations.count() == 0
    detected = services.declare_incident(
        None, title="Cluster", severity=2, ticket_ids=[t.pk], source="detection"
    )
    assert detected.source == "detection"
    with pytest.raises(NotFound):
        services.declare_from_ticket(999999, world.agent)


def test_bad_input_changes_nothing(world):
    before = Incident.objects.count()
    with pytest.raises(ValidationFailed) as e:
        services.declare_incident(
            world.im, title="", severity=7, ticket_ids=[999999], incident_manager_id=world.agent.pk
        )
    assert set(e.value.fields) == {"title", "severity", "ticket_ids", "incident_manager_id"}
    with pytest.raises(ValidationFailed) as e:
        services.declare_incident(world.im, title="   ")
    assert "title" in e.value.fields
    assert Incident.objects.count() == before
    assert events("incident.declared") == []


def test_transitions_timestamps_skips_reopen_and_closed(world):
    inc = services.declare_incident(world.im, title="X", severity=2)
    t0 = inc.declared_at
    timesource.advance(60)
    inc = services.transition(inc.pk, world.im, "identified")
    assert inc.identified_at == t0 + timedelta(seconds=60)
    with pytest.raises(Conflict) as e:
        services.transition(inc.pk, world.im, "closed")
    assert e.value.code == "illegal_transition"
    assert e.value.fields["status"] == "from identified: investigating, monitoring, resolved"
    inc = services.transition(inc.pk, world.im, "investigating")  # wrong cause
    assert inc.identified_at is None
    inc = services.transition(inc.pk, world.im, "resolved")  # skip forward
    assert inc.resolved_at is not None and inc.monitoring_at is None
    inc = services.transition(inc.pk, world.im, "investigating", note="it came back")
    assert inc.resolved_at is None and inc.status == "investigating"
    for to in ("monitoring", "resolved", "closed"):
        inc = services.transition(inc.pk, world.im, to)
    assert inc.closed_at is not None
    with pytest.raises(Conflict) as e:
        services.transition(inc.pk, world.im, "investigating")
    assert "no further moves" in e.value.fields["status"]
    with pytest.raises(ValidationFailed):
        services.transition(inc.pk, world.im, "bogus")
    changes = [(ev.old, ev.new) for ev in events("incident.status_changed", inc.pk)]
    assert changes[0] == ("investigating", "identified") and changes[-1] == ("resolved", "closed")
    with pytest.raises(Conflict):
        services.link_tickets(inc.pk, world.im, [world.ticket().pk])


def test_link_and_unlink_tickets(world):
    t1 = world.ticket(world.orgs[0])
    inc = services.declare_incident(world.im, title="X", severity=2, ticket_ids=[t1.pk])
    t2 = world.ticket(world.orgs[1], product_area=world.area2)
    t3 = world.ticket(world.orgs[1])
    services.link_tickets(inc.pk, world.agent, [t2.pk, t3.pk, t1.pk])
    assert set(inc.tickets.values_list("id", flat=True)) == {t1.pk, t2.pk, t3.pk}
    [ev] = events("incident.tickets_linked", inc.pk)
    assert ev.data["tickets"] == [t2.pk, t3.pk]
    services.link_tickets(inc.pk, world.agent, [t2.pk])  # already linked: no event
    assert len(events("incident.tickets_linked", inc.pk)) == 1
    services.unlink_ticket(inc.pk, world.im, t2.pk)
    # Org B stays (t3), area2 goes (no other ticket).
    assert world.orgs[1] in inc.organizations.all()
    assert world.area2 not in inc.product_areas.all()
    services.unlink_ticket(inc.pk, world.im, t3.pk)
    assert world.orgs[1] not in inc.organizations.all()
    with pytest.raises(NotFound):
        services.unlink_ticket(inc.pk, world.im, t3.pk)
    with pytest.raises(ValidationFailed):
        services.link_tickets(inc.pk, world.im, [])


def test_roles_keep_history_single_holder_and_smes(world):
    inc = services.declare_incident(world.im, title="X", severity=2)
    services.assign_role(inc.pk, world.sm, role="incident_manager", user_id=world.im2.pk)
    inc.refresh_from_db()
    assert inc.incident_manager == world.im2
    rows = list(inc.roles.filter(role="incident_manager").order_by("id"))
    assert [r.user_id for r in rows] == [world.im.pk, world.im2.pk]
    assert rows[0].renounced_at is not None and rows[1].renounced_at is None
    with pytest.raises(ValidationFailed) as e:  # an agent cannot be the IM
        services.assign_role(inc.pk, world.sm, role="incident_manager", user_id=world.agent.pk)
    assert "user_id" in e.value.fields
    with pytest.raises(ValidationFailed):  # the owner changes only by the handoff
        services.assign_role(inc.pk, world.sm, role="case_owner", user_id=world.agent.pk)
    services.assign_role(inc.pk, world.sm, role="communications_lead", user_id=world.agent.pk)
    sme = services.assign_role(inc.pk, world.sm, role="sme", user_id=world.agent2.pk)
    services.assign_role(inc.pk, world.sm, role="sme", user_id=world.e1.pk)
    with pytest.raises(Conflict) as e:
        services.assign_role(inc.pk, world.sm, role="sme", user_id=world.agent2.pk)
    assert e.value.code == "role_held"
    services.renounce_role(inc.pk, world.sm, sme.pk)
    with pytest.raises(Conflict):
        services.renounce_role(inc.pk, world.sm, sme.pk)
    services.assign_role(inc.pk, world.sm, role="sme", user_id=world.agent2.pk)  # again
    assert inc.roles.filter(role="sme", user=world.agent2).count() == 2
    # renouncing the IM leaves the incident without a SPOC
    im_row = inc.roles.get(role="incident_manager", renounced_at__isnull=True)
    services.renounce_role(inc.pk, world.sm, im_row.pk)
    inc.refresh_from_db()
    assert inc.incident_manager is None
    assert len(events("incident.role_assigned", inc.pk)) == 5


def test_sev1_owner_handoff_needs_the_receivers_ack(world):
    inc = services.declare_incident(world.im, title="Outage", severity=1)
    target = OwnerTarget.objects.get(incident=inc)
    # The SLA engine's Sev-1 owner-assigned target (seeded: 15 min, 24x7).
    assert (target.seconds, target.calendar) == services.owner_target_definition()
    assert target.due_at == inc.declared_at + timedelta(seconds=target.seconds)
    handoff = services.assign_owner(inc.pk, world.im, user_id=world.agent.pk, note="you know it")
    inc.refresh_from_db()
    assert handoff.state == "pending" and inc.case_owner is None
    assert outbox(f"inc-handoff-{handoff.pk}")[0].payload["to"] == ["agent@caseline.test"]
    with pytest.raises(PermissionDenied):
        services.acknowledge_ownership(inc.pk, world.agent2)
    # A newer handoff replaces the pending one.
    h2 = services.assign_owner(inc.pk, world.im, user_id=world.agent2.pk)
    handoff.refresh_from_db()
    assert handoff.state == "cancelled"
    timesource.advance(300)
    services.acknowledge_ownership(inc.pk, world.agent2)
    inc.refresh_from_db()
    h2.refresh_from_db()
    assert inc.case_owner == world.agent2 and h2.state == "acknowledged"
    target.refresh_from_db()
    assert target.state == "fulfilled"
    [ev] = events("incident.owner_acknowledged", inc.pk)
    assert ev.data["on_time"] is True
    with pytest.raises(Conflict) as e:
        services.acknowledge_ownership(inc.pk, world.agent2)
    assert e.value.code == "no_pending_handoff"
    with pytest.raises(Conflict):
        services.assign_owner(inc.pk, world.im, user_id=world.agent2.pk)
    # The target's timer fires later: nothing happens.
    timesource.advance(target.seconds)
    timers.fire_all_due()
    assert events("incident.owner_breached", inc.pk) == []
    # Handing over again: the old owner keeps the role until the new one acknowledges.
    services.assign_owner(inc.pk, world.im, user_id=world.agent.pk)
    services.acknowledge_ownership(inc.pk, world.agent)
    owners = list(inc.roles.filter(role="case_owner").order_by("id"))
    assert [o.user_id for o in owners] == [world.agent2.pk, world.agent.pk]
    assert owners[0].renounced_at is not None and owners[1].renounced_at is None


def test_owner_breach_notifies_managers_once_and_a_late_ack_counts(world):
    t = world.ticket()
    inc = services.declare_from_ticket(t.pk, world.agent, incident_manager_id=world.im.pk)
    services.assign_owner(inc.pk, world.im, user_id=world.agent.pk)
    target = OwnerTarget.objects.get(incident=inc)
    timesource.advance(target.seconds - 1)
    timers.fire_all_due()
    assert events("incident.owner_breached", inc.pk) == []
    timesource.advance(1)
    timers.fire_all_due()
    [ev] = events("incident.owner_breached", inc.pk)
    assert ev.data["pending_handoff_to"] == world.agent.pk
    [mail] = outbox(f"inc-owner-breach-{inc.pk}-")
    assert {"im@caseline.test", "im2@caseline.test", "sm@caseline.test"} <= set(mail.payload["to"])
    assert "agent@caseline.test" not in mail.payload["to"]
    target.refresh_from_db()
    assert target.state == "breached"
    pinned = queries.timeline(inc.pk).first()
    assert pinned.pinned and pinned.event_type == "incident.owner_breached"
    # Firing again (the clock twice): nothing more.
    timers.fire_all_due()
    from caseline.sla.models import Timer

    timer = Timer.objects.get(key=f"inc-owner:{inc.pk}:1")
    services.owner_due(timer)
    assert len(events("incident.owner_breached", inc.pk)) == 1
    services.acknowledge_ownership(inc.pk, world.agent)
    target.refresh_from_db()
    assert target.state == "breached" and target.fulfilled_at is not None
    assert events("incident.owner_acknowledged", inc.pk)[0].data["on_time"] is False


def test_renouncing_the_owner_restarts_the_target_and_resolving_stops_it(world):
    inc = services.declare_incident(world.im, title="Outage", severity=1)
    services.assign_owner(inc.pk, world.im, user_id=world.agent.pk)
    services.acknowledge_ownership(inc.pk, world.agent)
    row = inc.roles.get(role="case_owner")
    timesource.advance(3600)
    services.renounce_role(inc.pk, world.im, row.pk)
    target = OwnerTarget.objects.get(incident=inc)
    assert target.cycle == 2 and target.state == "active"
    assert target.started_at == timesource.now()
    services.transition(inc.pk, world.im, "resolved")
    target.refresh_from_db()
    assert target.state == "stopped"
    timesource.advance(target.seconds)
    timers.fire_all_due()
    assert events("incident.owner_breached", inc.pk) == []


def test_raising_severity_to_1_starts_the_owner_target(world):
    inc = services.declare_incident(world.im, title="Slow", severity=3)
    services.update_incident(inc.pk, world.im, severity=1, title="Down")
    target = OwnerTarget.objects.get(incident=inc)
    assert target.state == "active"
    changes = {ev.field: (ev.old, ev.new) for ev in events("incident.updated", inc.pk)}
    assert changes["severity"] == (3, 1) and changes["title"] == ("Slow", "Down")
    services.update_incident(inc.pk, world.im, severity=2)
    target.refresh_from_db()
    assert target.state == "stopped"
    with pytest.raises(ValidationFailed):
        services.update_incident(inc.pk, world.im, severity=0)
    with pytest.raises(ValidationFailed):
        services.update_incident(inc.pk, world.im, status="closed")


def test_tasks(world):
    inc = services.declare_incident(world.im, title="X", severity=2)
    due = timesource.now() + timedelta(hours=2)
    task = services.add_task(
        inc.pk, world.im, title="Roll back", assignee_id=world.agent.pk, due_at=due
    )
    assert (task.assignee, task.due_at, task.done) == (world.agent, due, False)
    task = services.update_task(task.pk, world.agent, done=True)
    assert task.done and task.done_by == world.agent and task.done_at == timesource.now()
    task = services.update_task(task.pk, world.agent, done=False, assignee_id=None)
    assert not task.done and task.done_at is None and task.assignee is None
    with pytest.raises(ValidationFailed):
        services.add_task(inc.pk, world.im, title="")
    with pytest.raises(ValidationFailed):
        services.update_task(task.pk, world.im, due_at="tomorrow")
    with pytest.raises(NotFound):
        services.update_task(999999, world.im, done=True)
    # added; done; done + assignee (one audit row per changed field)
    assert len(events("incident.task_changed", inc.pk)) == 4


def test_timeline_notes_and_pins(world):
    inc = services.declare_incident(world.im, title="X", severity=2)
    timesource.advance(10)
    note = services.add_note(inc.pk, world.im, text="Customers see 500s on /sync")
    timesource.advance(10)
    services.add_note(inc.pk, world.im, text="Root cause: expired cert", pinned=True)
    declared = TimelineEntry.objects.get(incident=inc, event_type="incident.declared")
    services.pin_entry(note.pk, world.sm)
    texts = [e.text for e in queries.timeline(inc.pk)]
    assert texts[:2] == ["Customers see 500s on /sync", "Root cause: expired cert"]
    assert texts[2] == declared.text
    services.pin_entry(note.pk, world.sm, pinned=False)
    assert [e.pinned for e in queries.timeline(inc.pk)][:2] == [True, False]
    assert len(events("incident.entry_pinned", inc.pk)) == 2
    assert len(events("incident.note_added", inc.pk)) == 2
    with pytest.raises(ValidationFailed):
        services.add_note(inc.pk, world.im, text=" ")


def test_every_service_writes_a_timeline_entry(world):
    t = world.ticket()
    inc = services.declare_incident(world.im, title="X", severity=2, ticket_ids=[t.pk])
    services.link_tickets(inc.pk, world.im, [world.ticket(world.orgs[1]).pk])
    services.unlink_ticket(inc.pk, world.im, t.pk)
    services.update_incident(inc.pk, world.im, summary="now known")
    services.transition(inc.pk, world.im, "identified")
    services.assign_role(inc.pk, world.im, role="sme", user_id=world.agent.pk)
    services.assign_owner(inc.pk, world.im, user_id=world.agent.pk)
    services.acknowledge_ownership(inc.pk, world.agent)
    services.add_task(inc.pk, world.im, title="T")
    kinds = set(TimelineEntry.objects.filter(incident=inc).values_list("event_type", flat=True))
    assert kinds >= {
        "incident.declared",
        "incident.tickets_linked",
        "incident.ticket_unlinked",
        "incident.updated",
        "incident.status_changed",
        "incident.role_assigned",
        "incident.owner_assigned",
        "incident.owner_acknowledged",
        "incident.task_changed",
    }


def test_owner_handoff_refused_once_resolved(world):
    inc = services.declare_incident(world.im, title="X", severity=1)
    services.transition(inc.pk, world.im, "resolved")
    with pytest.raises(Conflict) as e:
        services.assign_owner(inc.pk, world.im, user_id=world.agent.pk)
    assert e.value.code == "incident_not_live"
    assert not OwnerHandoff.objects.filter(incident=inc).exists()


def test_owner_target_follows_a_business_time_sev1_policy(world):
    """When the Sev-1 policy's owner-assigned target counts business time, so does the
    incident's: declared at 20:00 UTC on a Tuesday (21:00 in Berlin, closed), 15 business
    minutes on emea-business end at 08:15 Berlin on Wednesday (07:15 UTC)."""
    from datetime import UTC, datetime

    from caseline.sla import policies
    from caseline.sla.models import Calendar, Policy, Target

    policy = Policy.objects.get(name="Sev-1 around the clock")
    Target.objects.filter(policy=policy, kind="owner_assigned").update(
        business=True, calendar=Calendar.objects.get(name="emea-business")
    )
    Policy.objects.filter(pk=policy.pk).update(updated_at=timesource.now())
    policies.invalidate()
    timesource.set_time(datetime(2026, 3, 24, 20, 0, tzinfo=UTC))
    inc = services.declare_incident(world.im, title="Night outage", severity=1)
    target = OwnerTarget.objects.get(incident=inc)
    assert (target.seconds, target.calendar) == (900, "emea-business")
    assert target.due_at == datetime(2026, 3, 25, 7, 15, tzinfo=UTC)
    timesource.set_time(datetime(2026, 3, 25, 7, 14, tzinfo=UTC))
    timers.fire_all_due()
    assert events("incident.owner_breached", inc.pk) == []
    timesource.set_time(datetime(2026, 3, 25, 7, 15, tzinfo=UTC))
    timers.fire_all_due()
    assert len(events("incident.owner_breached", inc.pk)) == 1
    policies.invalidate()
