"""Escalation actions (caseline.sla.actions): notify, raise priority, reassign to the next
region's on-duty engineer, hand to the first on-shift SME; audited, idempotent per
(ticket, rule, target, cycle, action), runnable from a timer."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from caseline import timesource
from caseline.accounts import roles
from caseline.accounts.models import (
    Contact,
    Organization,
    ProductArea,
    Region,
    SMERosterEntry,
    Team,
)
from caseline.audit.models import AuditEvent
from caseline.notify.models import OutboxMessage
from caseline.oncall import services as oncall
from caseline.sla import actions, timers
from caseline.tickets.models import Ticket

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 24, 10, 0, tzinfo=UTC)  # Tue 11:00 Berlin, 06:00 New York


@pytest.fixture
def frozen(tmp_path, monkeypatch):
    monkeypatch.setenv(timesource.ENV_VAR, str(tmp_path / "time.json"))
    timesource.set_time(T0)
    return T0


@pytest.fixture
def w(make_staff, frozen):
    class W:
        pass

    w = W()
    w.amer = Region.objects.create(code="AMER", name="Americas", handoff_order=3)
    w.emea = Region.objects.create(code="EMEA", name="EMEA", handoff_order=2)
    w.apac = Region.objects.create(code="APAC", name="APAC", handoff_order=1)
    w.dan = make_staff(roles.SE, region=w.amer, email="dan@x.test")
    w.anna = make_staff(roles.SE, region=w.emea, email="anna@x.test")
    w.ben = make_staff(roles.SE, region=w.emea, email="ben@x.test")
    w.lead = make_staff(roles.LEAD, region=w.amer, email="lead@x.test")
    w.sm = make_staff(roles.SUPPORT_MANAGER, region=w.amer, email="sm@x.test")
    w.sm_emea = make_staff(roles.SUPPORT_MANAGER, region=w.emea, email="sm2@x.test")
    w.em = make_staff(roles.ESCALATION_MANAGER, region=w.apac, email="em@x.test")
    w.team = Team.objects.create(name="Storage", region=w.amer, lead=w.lead)
    w.area = ProductArea.objects.create(name="Replication", slug="replication")
    w.org = Organization.objects.create(name="Acme", include_sc=False)
    w.contact = Contact.objects.create(name="Ann", organization=w.org)
    w.ticket = Ticket.objects.create(
        subject="Lag",
        requester=w.contact,
        organization=w.org,
        assignee=w.dan,
        team=w.team,
        product_area=w.area,
        status="open",
    )
    s = oncall.create_schedule(actor=None, region="EMEA", name="EMEA")
    oncall.add_layer(
        s,
        actor=None,
        start_date=date(2026, 3, 23),
        handoff_time="09:00",
        rotation_days=7,
        member_ids=[w.anna.pk, w.ben.pk],
    )
    return w


def fired(ticket) -> list[dict]:
    return [
        e.data
        for e in AuditEvent.objects.filter(ticket_id=ticket.pk, type="sla.action_fired").order_by(
            "id"
        )
    ]


def test_names_and_unknown_action(w):
    assert actions.ACTION_NAMES == (
        "notify",
        "raise_priority",
        "reassign_next_region",
        "hand_to_sme",
    )
    with pytest.raises(ValueError):
        actions.run(
            "page_the_ceo", ticket=w.ticket, target="resolution", params={}, at=T0, rule_id=1
        )
    assert fired(w.ticket) == []


def test_raise_priority_one_step_once_per_cycle(w):
    run = lambda **kw: actions.run(  # noqa: E731
        "raise_priority", ticket=w.ticket, target="resolution", rule_id=7, **kw
    )
    run(params={}, at=T0)
    assert w.ticket.priority == "high"
    run(params={}, at=T0)  # the same firing again: nothing
    w.ticket.refresh_from_db()
    assert w.ticket.priority == "high"
    run(params={"cycle": 2}, at=T0)  # another cycle
    assert Ticket.objects.get(pk=w.ticket.pk).priority == "urgent"
    run(params={"cycle": 3}, at=T0)
    assert Ticket.objects.get(pk=w.ticket.pk).priority == "urgent"
    data = fired(w.ticket)
    assert [d["outcome"] for d in data] == ["done", "done", "unchanged"]
    assert data[0]["priority"] == ["normal", "high"] and data[0]["rule_id"] == 7
    assert AuditEvent.objects.filter(ticket_id=w.ticket.pk, type="ticket.updated").count() == 2


def test_raise_priority_to_urgent_never_lowers(w):
    actions.run(
        "raise_priority", ticket=w.ticket, target="ack", params={"to": "urgent"}, at=T0, rule_id=1
    )
    assert w.ticket.priority == "urgent"
    actions.run(
        "raise_priority", ticket=w.ticket, target="ack", params={"to": "low"}, at=T0, rule_id=2
    )
    assert Ticket.objects.get(pk=w.ticket.pk).priority == "urgent"


def test_notify_writes_one_outbox_email(w):
    actions.run(
        "notify",
        ticket=w.ticket,
        target="resolution",
        params={"to": ["assignee", "team_lead", "manager", "escalation_manager"], "label": "75 %"},
        at=T0,
        rule_id=3,
    )
    mail = OutboxMessage.objects.get()
    # the ticket's region (AMER, the assignee's) has its own manager; no EM there: all EMs
    assert mail.payload["to"] == [w.dan.email, w.lead.email, w.sm.email, w.em.email]
    assert "75 %" in mail.payload["subject"] and w.ticket.reference in mail.payload["subject"]
    actions.run("notify", ticket=w.ticket, target="resolution", params={}, at=T0, rule_id=3)
    assert OutboxMessage.objects.count() == 1  # idempotent
    with pytest.raises(ValueError):
        actions.run("notify", ticket=w.ticket, target="x", params={"to": ["ceo"]}, at=T0, rule_id=4)


def test_reassign_to_the_next_regions_on_duty_engineer(w):
    # AMER -> next in the chain wraps to APAC (nobody on duty) -> EMEA: anna this week
    actions.run(
        "reassign_next_region", ticket=w.ticket, target="resolution", params={}, at=T0, rule_id=5
    )
    assert w.ticket.assignee == w.anna
    data = fired(w.ticket)[-1]
    assert (data["outcome"], data["from_region"], data["region"]) == ("done", "AMER", "EMEA")
    assert data["assignee"] == [w.dan.pk, w.anna.pk]
    assert AuditEvent.objects.filter(ticket_id=w.ticket.pk, type="ticket.assigned").exists()


def test_reassign_with_nobody_on_duty(w):
    from caseline.oncall.models import Schedule

    Schedule.objects.update(active=False)
    actions.run(
        "reassign_next_region", ticket=w.ticket, target="resolution", params={}, at=T0, rule_id=5
    )
    assert Ticket.objects.get(pk=w.ticket.pk).assignee == w.dan
    assert fired(w.ticket)[-1]["outcome"] == "no_candidate"


def test_hand_to_first_on_shift_sme_skipping_away_and_off_shift(w, make_staff):
    away = make_staff(roles.SE, region=w.emea, is_away=True)
    SMERosterEntry.objects.create(product_area=w.area, user=away, position=1)
    SMERosterEntry.objects.create(product_area=w.area, user=w.ben, position=2)  # off this week
    SMERosterEntry.objects.create(product_area=w.area, user=w.anna, position=3)
    actions.run("hand_to_sme", ticket=w.ticket, target="resolution", params={}, at=T0, rule_id=6)
    assert w.ticket.assignee == w.anna
    data = fired(w.ticket)[-1]
    assert data["roster_position"] == 3
    assert data["skipped"] == [
        {"user": away.pk, "why": "away"},
        {"user": w.ben.pk, "why": "off shift"},
    ]


def test_hand_to_sme_without_area_or_candidate(w):
    Ticket.objects.filter(pk=w.ticket.pk).update(product_area=None)
    actions.run("hand_to_sme", ticket=w.ticket, target="resolution", params={}, at=T0, rule_id=6)
    assert fired(w.ticket)[-1] == {**fired(w.ticket)[-1], "outcome": "no_candidate"}
    assert Ticket.objects.get(pk=w.ticket.pk).assignee == w.dan


def test_closed_ticket_is_left_alone(w):
    Ticket.objects.filter(pk=w.ticket.pk).update(status="closed")
    actions.run("raise_priority", ticket=w.ticket, target="resolution", params={}, at=T0, rule_id=1)
    assert Ticket.objects.get(pk=w.ticket.pk).priority == "normal"
    assert fired(w.ticket)[-1]["outcome"] == "unchanged"


def test_a_timer_runs_an_action_once(w):
    actions.schedule_action(
        w.ticket.pk, "raise_priority", due_at=T0 + timedelta(seconds=30), target="resolution"
    )
    assert timers.fire_all_due() == 0
    timesource.advance(30)
    assert timers.fire_all_due() == 1
    assert timers.fire_all_due() == 0
    assert Ticket.objects.get(pk=w.ticket.pk).priority == "high"
    assert len(fired(w.ticket)) == 1
    with pytest.raises(ValueError):
        actions.schedule_action(w.ticket.pk, "explode", due_at=T0)
