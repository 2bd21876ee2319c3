"""Post-mortem services on both databases: creation at resolution with the review on the
business calendar, incidents and linked subjects, action-item reminders through the one
timer table, review moves, publishing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from caseline import timesource
from caseline.audit.models import AuditEvent
from caseline.errors import Conflict, ValidationFailed
from caseline.learning import services
from caseline.learning.models import ActionItem, PostMortem, RootCauseCategory
from caseline.notify.models import OutboxMessage
from caseline.sla import timers
from caseline.sla.models import Timer

from .conftest import T0, resolve_incident

pytestmark = pytest.mark.django_db


def _emails(prefix: str) -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(idempotency_key__startswith=prefix).order_by("id"))


def test_resolving_an_escalation_creates_the_postmortem_and_schedules_its_review(world):
    esc = world.resolved_escalation()
    pm = PostMortem.objects.get(escalation=esc)
    assert pm.status == "draft"
    assert pm.root_cause == "Replica lag after a config push"
    assert pm.product_area == world.area
    assert pm.resolved_at == T0
    assert list(pm.authors.all()) == [world.em]
    # The timeline is pre-filled from the escalation's audit events, oldest first.
    texts = [t.text for t in pm.timeline.all()]
    assert texts[0].startswith(f"ESC-{esc.pk}: escalation.opened")
    assert any("status: active → resolved" in t for t in texts)
    assert all(t.source == "escalation" for t in pm.timeline.all())
    # Resolved Wed 25 Nov 15:00 New York; Thu 26 is Thanksgiving, then a weekend: the
    # 5th business day on amer-business is Thu 3 Dec. Latest = its close (17:00 EST),
    # the default start its opening + 2 h (10:00 EST).
    review = pm.review
    assert review.calendar == "amer-business"
    assert review.latest_at == datetime(2026, 12, 3, 22, 0, tzinfo=UTC)
    assert review.scheduled_at == datetime(2026, 12, 3, 15, 0, tzinfo=UTC)
    assert list(review.attendees.all()) == [world.em]
    invite = _emails(f"pm-review:{review.pk}:0:invitation")
    assert len(invite) == 1 and invite[0].payload["to"] == ["em@caseline.test"]
    assert "Thu 03 Dec 2026 10:00 EST" in invite[0].payload["subject"]
    from django.core.files.storage import default_storage

    (attachment,) = invite[0].payload["attachments"]
    assert attachment["filename"] == "invite.ics"
    with default_storage.open(attachment["path"]) as fh:
        ics = fh.read().decode()
    assert "METHOD:REQUEST" in ics and f"UID:postmortem-review-{review.pk}@caseline" in ics
    assert "DTSTART:20261203T150000Z" in ics and "SEQUENCE:0" in ics
    reminder = Timer.objects.get(key=f"pm-review:{review.pk}:0:reminder")
    assert reminder.kind == services.REVIEW_REMINDER_KIND
    assert reminder.due_at == review.scheduled_at - timedelta(hours=24)


def test_review_uses_the_owners_region_calendar(world):
    esc = world.resolved_escalation(owner=world.em_emea)
    review = esc.postmortem.review
    # Berlin: Wed 25 Nov 21:00 -> Thu 26, Fri 27, Mon 30, Tue 1, Wed 2 Dec (no holiday).
    assert review.calendar == "emea-business"
    assert review.latest_at == datetime(2026, 12, 2, 16, 0, tzinfo=UTC)  # 17:00 CET


def test_review_falls_back_to_amer_business_without_a_region(world, make_staff):
    from caseline.accounts import roles

    nomad = make_staff(roles.ESCALATION_MANAGER, email="nomad@caseline.test")
    review = world.resolved_escalation(owner=nomad).postmortem.review
    assert review.calendar == "amer-business"


def test_reopen_and_resolve_again_keeps_one_postmortem(world):
    from caseline.escalations import services as esc_services

    esc = world.resolved_escalation()
    esc_services.transition(esc.pk, world.em, "active")
    esc_services.transition(esc.pk, world.em, "resolved", root_cause="Second look")
    assert PostMortem.objects.filter(escalation=esc).count() == 1


def test_resolving_an_incident_creates_its_postmortem_and_a_linked_escalation_joins_it(world):
    from caseline.incidents.models import Incident, TimelineEntry

    t = world.ticket()
    inc = Incident.objects.create(title="EU replication down", incident_manager=world.im)
    inc.tickets.add(t)
    inc.product_areas.add(world.area2)
    TimelineEntry.objects.create(incident=inc, text="Declared Sev-1", at=T0 - timedelta(hours=3))
    TimelineEntry.objects.create(
        incident=inc, kind="note", text="Failover started", at=T0 - timedelta(hours=2), pinned=True
    )
    resolve_incident(inc, world.im)
    pm = PostMortem.objects.get(incident=inc)
    assert pm.escalation is None
    assert pm.product_area == world.area2
    texts = [x.text for x in pm.timeline.all()]
    assert texts[:2] == [
        f"INC-{inc.pk}: Declared Sev-1",
        f"INC-{inc.pk}: Failover started [pinned]",
    ]
    assert pm.review.attendees.filter(pk=world.im.pk).exists()

    # An escalation on the same ticket, resolved later, joins that post-mortem.
    esc = world.resolved_escalation(ticket=t)
    pm.refresh_from_db()
    assert pm.escalation_id == esc.pk and pm.incident_id == inc.pk
    assert PostMortem.objects.count() == 1
    sources = set(pm.timeline.values_list("source", flat=True))
    assert sources == {"incident", "escalation"}
    assert pm.root_cause == "Replica lag after a config push"
    assert pm.review.attendees.filter(pk=world.em.pk).exists()


def test_escalation_postmortem_includes_a_linked_incidents_events(world):
    from caseline.incidents.models import Incident, TimelineEntry

    t = world.ticket()
    inc = Incident.objects.create(title="Wide outage", status="monitoring")
    inc.tickets.add(t)
    TimelineEntry.objects.create(incident=inc, text="Broadcast sent", at=T0 - timedelta(hours=1))
    pm = world.resolved_escalation(ticket=t).postmortem
    assert any(x.text == f"INC-{inc.pk}: Broadcast sent" for x in pm.timeline.all())


def test_create_by_hand_and_conflicts(world):
    from caseline.escalations import services as esc_services

    esc = esc_services.open_escalation(
        None, ticket_ids=[world.ticket().pk], owner_id=world.em.pk, title="Open one"
    )
    with pytest.raises(ValidationFailed) as err:
        services.create_postmortem(world.lead, escalation_id=esc.pk)
    assert "escalation_id" in err.value.fields
    resolved = world.resolved_escalation()
    with pytest.raises(Conflict):
        services.create_postmortem(world.lead, escalation_id=resolved.pk)
    with pytest.raises(ValidationFailed):
        services.create_postmortem(world.lead)


def test_move_review_within_limit_and_beyond_with_reason(world):
    pm = world.resolved_escalation().postmortem
    review = pm.review
    earlier = review.latest_at - timedelta(days=2)
    services.move_review(pm.pk, world.lead, scheduled_at=earlier)
    review.refresh_from_db()
    assert review.scheduled_at == earlier and review.sequence == 1
    assert Timer.objects.get(key=f"pm-review:{review.pk}:0:reminder").cancelled_at is not None
    assert Timer.objects.filter(key=f"pm-review:{review.pk}:1:reminder", cancelled_at=None).exists()
    (update,) = _emails(f"pm-review:{review.pk}:1:update")
    from django.core.files.storage import default_storage

    with default_storage.open(update.payload["attachments"][0]["path"]) as fh:
        assert "SEQUENCE:1" in fh.read().decode()

    later = review.latest_at + timedelta(days=3)
    with pytest.raises(ValidationFailed) as err:
        services.move_review(pm.pk, world.lead, scheduled_at=later)
    assert "reason" in err.value.fields
    review.refresh_from_db()
    assert review.scheduled_at == earlier  # unchanged
    with pytest.raises(ValidationFailed):
        services.move_review(pm.pk, world.lead, scheduled_at=T0 - timedelta(hours=1))
    services.move_review(
        pm.pk,
        world.lead,
        scheduled_at=later,
        reason="The database vendor joins on Tuesday",
        attendee_ids=[world.em.pk, world.im.pk],
    )
    review.refresh_from_db()
    assert review.scheduled_at == later and review.sequence == 2
    assert set(review.attendees.values_list("email", flat=True)) == {
        "em@caseline.test",
        "im@caseline.test",
    }
    update = _emails(f"pm-review:{review.pk}:2:update")[0]
    assert "The database vendor joins" in update.payload["text"]


def test_review_reminder_fires_through_the_clock(world):
    pm = world.resolved_escalation().postmortem
    timesource.set_time(pm.review.scheduled_at - timedelta(hours=23))
    timers.fire_all_due()
    pm.review.refresh_from_db()
    assert pm.review.reminded_at is not None
    assert len(_emails(f"pm-review:{pm.review.pk}:0:reminder")) == 1


def test_action_item_reminder_overdue_and_rearm(world):
    pm = world.resolved_escalation().postmortem
    due = T0 + timedelta(days=3)
    item = services.add_action_item(
        pm.pk, world.lead, what="Alert on replica lag", owner_id=world.agent.pk, due_at=due
    )
    stamp = int(due.timestamp())
    assert Timer.objects.get(key=f"pm-action:{item.pk}:{stamp}:reminder").due_at == due - timedelta(
        hours=24
    )
    # Before the reminder: nothing.
    timesource.set_time(due - timedelta(hours=25))
    timers.fire_all_due()
    item.refresh_from_db()
    assert item.reminded_at is None
    # Reminder time.
    timesource.set_time(due - timedelta(hours=23))
    timers.fire_all_due()
    item.refresh_from_db()
    assert item.reminded_at is not None and item.overdue_at is None
    mail = _emails(f"pm-action:{item.pk}:{stamp}:reminder")
    assert len(mail) == 1 and mail[0].payload["to"] == ["agent@caseline.test"]
    # Moving the due date re-arms: the old overdue timer is cancelled.
    new_due = due + timedelta(days=2)
    services.update_action_item(item.pk, world.lead, due_at=new_due)
    assert Timer.objects.get(key=f"pm-action:{item.pk}:{stamp}:overdue").cancelled_at is not None
    timesource.set_time(due + timedelta(hours=1))
    timers.fire_all_due()
    item.refresh_from_db()
    assert item.overdue_at is None and item.reminded_at is None
    timesource.set_time(new_due + timedelta(minutes=1))
    timers.fire_all_due()
    item.refresh_from_db()
    assert item.overdue_at is not None
    assert len(_emails(f"pm-action:{item.pk}:{int(new_due.timestamp())}:overdue")) == 1
    types = set(
        AuditEvent.objects.filter(subject_type="postmortem", subject_id=pm.pk).values_list(
            "type", flat=True
        )
    )
    assert "postmortem.action_item_reminded" in types
    assert "postmortem.action_item_overdue" in types


def test_done_cancels_the_reminders_and_wont_do_needs_a_reason(world):
    pm = world.resolved_escalation().postmortem
    due = T0 + timedelta(days=3)
    item = services.add_action_item(
        pm.pk, world.lead, what="Runbook for failover", owner_id=world.agent.pk, due_at=due
    )
    services.update_action_item(item.pk, world.lead, status="done")
    item.refresh_from_db()
    assert item.status == "done" and item.done_at == T0
    assert not Timer.objects.filter(
        subject_type="pm_action_item", subject_id=item.pk, cancelled_at=None
    ).exists()
    timesource.set_time(due + timedelta(hours=1))
    timers.fire_all_due()
    item.refresh_from_db()
    assert item.overdue_at is None
    other = services.add_action_item(
        pm.pk,
        world.lead,
        what="Capacity plan",
        owner_id=world.agent.pk,
        due_at=due + timedelta(days=5),
    )
    with pytest.raises(ValidationFailed) as err:
        services.update_action_item(other.pk, world.lead, status="wont_do")
    assert "reason" in err.value.fields
    services.update_action_item(other.pk, world.lead, status="wont_do", reason="Superseded")
    other.refresh_from_db()
    assert other.status == ActionItem.Status.WONT_DO and other.reason == "Superseded"
    # Re-opening re-arms.
    services.update_action_item(other.pk, world.lead, status="open")
    assert Timer.objects.filter(
        subject_type="pm_action_item", subject_id=other.pk, cancelled_at=None, fired_at=None
    ).exists()


def test_bad_action_items_change_nothing(world):
    pm = world.resolved_escalation().postmortem
    with pytest.raises(ValidationFailed) as err:
        services.add_action_item(
            pm.pk, world.lead, what="", owner_id=999999, due_at=T0 - timedelta(days=1)
        )
    assert set(err.value.fields) == {"what", "owner_id", "due_at"}
    assert not ActionItem.objects.exists()


def test_publish_needs_the_sections_and_locks_the_record(world):
    pm = world.resolved_escalation().postmortem
    with pytest.raises(ValidationFailed) as err:
        services.publish(pm.pk, world.lead)
    assert set(err.value.fields) == {"summary", "root_cause_category_id"}
    cat = RootCauseCategory.objects.get(name="Configuration change")
    services.update_postmortem(
        pm.pk, world.lead, summary="Replication stopped for 3 h", root_cause_category_id=cat.pk
    )
    services.set_status(pm.pk, world.lead, "in_review")
    pm = services.publish(pm.pk, world.lead)
    assert pm.status == "published" and pm.published_by == world.lead
    with pytest.raises(Conflict):
        services.update_postmortem(pm.pk, world.lead, summary="changed")
    with pytest.raises(Conflict):
        services.set_status(pm.pk, world.lead, "draft")


def test_timeline_editing(world):
    pm = world.resolved_escalation().postmortem
    n = pm.timeline.count()
    item = services.add_timeline_item(
        pm.pk, world.lead, at=T0 - timedelta(hours=5), text="Config pushed to replicas"
    )
    assert pm.timeline.first() == item  # oldest first
    services.edit_timeline_item(pm.pk, item.pk, world.lead, text="Config pushed (v2)")
    item.refresh_from_db()
    assert item.text == "Config pushed (v2)"
    services.delete_timeline_item(pm.pk, item.pk, world.lead)
    assert pm.timeline.count() == n
    assert services.refill_timeline(pm.pk, world.lead) == 0
    with pytest.raises(ValidationFailed):
        services.add_timeline_item(pm.pk, world.lead, at="yesterday", text="")


def test_categories_are_seeded_and_managed(world):
    names = list(RootCauseCategory.objects.values_list("name", flat=True))
    assert {"Software defect", "Configuration change", "Capacity", "Third-party"} <= set(names)
    cat = services.create_category(world.lead, name="Security")
    with pytest.raises(ValidationFailed):
        services.create_category(world.lead, name="security")
    services.update_category(cat.pk, world.lead, active=False)
    cat.refresh_from_db()
    assert cat.active is False


def test_with_the_incident_services_declare_resolve_and_mtta(world):
    """The real incidents services: declaring pages the rota, resolving publishes the
    event our subscriber turns into a post-mortem; the trends see the acknowledgement."""
    from caseline.incidents import services as inc_services
    from caseline.learning import queries

    t = world.ticket()
    inc = inc_services.declare_incident(
        world.im,
        title="Replication down for many",
        ticket_ids=[t.pk],
        product_area_ids=[world.area.pk],
        incident_manager_id=world.im.pk,
    )
    timesource.set_time(T0 + timedelta(minutes=30))
    inc_services.transition(inc.pk, world.im, "resolved", note="Agent rolled back")
    pm = PostMortem.objects.get(incident=inc)
    assert any("Status investigating → resolved" in x.text for x in pm.timeline.all())
    assert pm.review.latest_at == datetime(2026, 12, 3, 22, 0, tzinfo=UTC)
    t = queries.trends(since=T0 - timedelta(days=1), until=T0 + timedelta(days=1))
    assert t["totals"]["incidents"] == 1
    assert t["mttr"]["incidents"] == 1800
