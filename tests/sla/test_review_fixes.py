"""Regression tests for the SLA review (notes/sla-review.md): breach publication (B1),
re-match on solved tickets and stale state (B4, B6), severity changes across policies
without the target kind (G4), policy edits re-matching open tickets (G1), guarded deletes
and validated rule params (B2, B5), owner calendar and on-duty notification (G2, G3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from caseline import timesource
from caseline.accounts import roles
from caseline.accounts.models import Contact, ContactEmail, Organization
from caseline.audit.models import AuditEvent
from caseline.sla import calendars, services
from caseline.sla import clockstate as cs
from caseline.sla import timers as timer_mod
from caseline.sla.models import Clock, Timer
from caseline.tickets import services as tickets

MON_0900_NY = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # Monday 09:00 EST
ACK = "support_engineer:acknowledge"
PENDING_Q = {"fired_at__isnull": True, "cancelled_at__isnull": True, "failed_at__isnull": True}


@pytest.fixture
def clock_at(tmp_path, monkeypatch):
    monkeypatch.setenv(timesource.ENV_VAR, str(tmp_path / "time.json"))
    timesource.set_time(MON_0900_NY)
    calendars.invalidate()
    yield timesource
    calendars.invalidate()


@pytest.fixture
def world(db, make_staff, clock_at):
    org = Organization.objects.create(name="Acme Review", tier="standard")
    contact = Contact.objects.create(name="Ann", organization=org)
    ContactEmail.objects.create(contact=contact, email="ann@acme-review.test", is_primary=True)
    agent = make_staff(roles.SE)
    admin = make_staff(roles.ADMIN)
    return {"org": org, "contact": contact, "agent": agent, "admin": admin}


def new_ticket(world, **kw):
    return tickets.create_ticket(
        actor=world["agent"],
        requester=world["contact"],
        subject=kw.pop("subject", "Replication lag"),
        body_text="Our replica is 2 hours behind.",
        channel=kw.pop("channel", "web"),
        **kw,
    )


def clocks(ticket) -> dict[str, cs.ClockView]:
    return {c.key: c for c in services.clocks_of(ticket.pk)}


def breaches(ticket) -> list[str]:
    return list(
        AuditEvent.objects.filter(ticket_id=ticket.pk, type="sla.breached")
        .order_by("id")
        .values_list("data__clock", flat=True)
    )


# --- B1: every breach publishes exactly one sla.breached ------------------------------------


def test_late_reply_before_the_timer_fires_publishes_the_breach(world, clock_at):
    from caseline.events import subscribe

    seen = []
    subscribe("sla.breached", seen.append)
    t = new_ticket(world)
    clock_at.advance(3600 + 5)  # the SE acknowledgement was due 5 s ago; no timer ran yet
    tickets.add_message(t, actor=world["agent"], kind="public", body_text="sorry, on it")
    row = Clock.objects.get(ticket=t, key=ACK)
    assert row.state == "breached" and row.breached_at == MON_0900_NY + timedelta(hours=1)
    assert row.fulfilled_at is not None
    assert breaches(t).count(ACK) == 1
    assert [e for e in seen if e.subject_id == t.pk and e.data["clock"] == ACK]
    timer_mod.fire_all_due()  # the breach timer was cancelled: nothing more
    assert breaches(t).count(ACK) == 1
    assert clocks(t)[ACK].state == "breached"


def test_pause_after_due_publishes_the_breach_once(world, clock_at):
    t = new_ticket(world)
    clock_at.advance(3600 + 5)
    tickets.update_ticket(t, actor=world["agent"], status="pending")
    assert breaches(t).count(ACK) == 1
    clock_at.advance(60)
    tickets.update_ticket(t, actor=world["agent"], status="open")
    timer_mod.fire_all_due()
    assert breaches(t).count(ACK) == 1
    assert clocks(t)[ACK].state == "breached"


def test_reply_before_due_applied_after_the_breach_keeps_it_breached(world, clock_at):
    """The reverse race: a reply made before the due time commits after the clock process
    published the breach. The published breach stands (the clock is fulfilled late)."""
    t = new_ticket(world)
    clock_at.advance(3600)
    timer_mod.fire_all_due()
    assert breaches(t).count(ACK) == 1
    before_due = MON_0900_NY + timedelta(minutes=59)
    services.apply(t.pk, cs.Event(at=before_due, type="reply", author=frozenset({"staff"})))
    row = Clock.objects.get(ticket=t, key=ACK)
    assert row.breached_at == MON_0900_NY + timedelta(hours=1)
    assert row.fulfilled_at == before_due and row.state == "breached"
    assert clocks(t)[ACK].state == "breached"
    assert breaches(t).count(ACK) == 1


# --- B4 / B6: re-match on stopped tickets, stale pause, after-hours cycles (pure + DB) -------

from caseline.clock.calendar import Calendar  # noqa: E402

H = 3600
UTC24 = Calendar.always_open()
BIZ = Calendar.build("UTC", "Mon-Fri 09:00-17:00", name="biz")
SE = cs.SE


def _spec(kind, seconds, *, cal=UTC24, pause=frozenset({"pending"}), ah=None, tid=None):
    return cs.TargetSpec(
        role=SE,
        kind=kind,
        seconds=seconds,
        calendar=cal,
        calendar_name=cal.name,
        after_hours=ah,
        after_hours_name=ah.name if ah else "",
        pause_statuses=pause,
        target_id=tid,
    )


def _matcher(*policies):
    return lambda facts: cs.match(policies, facts)


def _at(h, m=0):
    return datetime(2026, 3, 2, h, m, tzinfo=UTC)  # Monday


def test_rematch_drops_a_pause_the_new_policy_does_not_have():
    sev3 = cs.PolicySpec(SE, (_spec(cs.RESOLUTION, 10 * H),), severities=frozenset({3}), id=1)
    sev2 = cs.PolicySpec(
        SE, (_spec(cs.RESOLUTION, 8 * H, pause=frozenset()),), severities=frozenset({2}), id=2
    )
    m = _matcher(sev3, sev2)
    s = cs.step(None, cs.Event(_at(10), "created", facts=cs.Facts(severity=3)), m)
    s = cs.step(s, cs.Event(_at(11), "status", status="pending"), m)
    assert not s.clocks["support_engineer:resolution"].running
    s = cs.step(s, cs.Event(_at(12), "severity", facts=cs.Facts(severity=2)), m)
    c = s.clocks["support_engineer:resolution"]
    assert c.running and c.consumed == H and c.due == int(_at(12).timestamp()) + 7 * H


def test_periodic_update_cycles_choose_after_hours_again():
    upd = _spec(cs.UPDATE, H, cal=BIZ, ah=UTC24)
    m = _matcher(cs.PolicySpec(SE, (upd,), id=1))
    s = cs.step(None, cs.Event(_at(7), "created", facts=cs.Facts()), m)  # before 09:00
    assert s.clocks["support_engineer:periodic_update"].after_hours
    staff = frozenset({"staff", "assignee"})
    s = cs.step(s, cs.Event(_at(7, 30), "reply", author=staff), m)  # still after hours
    assert s.clocks["support_engineer:periodic_update"].calendar_name == "24x7"
    s = cs.step(s, cs.Event(_at(10), "reply", author=staff), m)  # business hours now
    c = s.clocks["support_engineer:periodic_update"]
    assert not c.after_hours and c.calendar_name == "biz" and c.cycle == 3


def test_rematch_keeps_the_after_hours_calendar_of_the_new_target():
    ack3 = _spec(cs.ACK, H, cal=BIZ, ah=UTC24, tid=1)
    ack2 = _spec(cs.ACK, 2 * H, cal=BIZ, ah=UTC24, tid=2)
    m = _matcher(
        cs.PolicySpec(SE, (ack3,), severities=frozenset({3}), id=1),
        cs.PolicySpec(SE, (ack2,), severities=frozenset({2}), id=2),
    )
    s = cs.step(None, cs.Event(_at(7), "created", facts=cs.Facts(severity=3)), m)
    s = cs.step(s, cs.Event(_at(7, 30), "severity", facts=cs.Facts(severity=2)), m)
    c = s.clocks["support_engineer:acknowledge"]
    assert c.after_hours and c.calendar_name == "24x7" and c.consumed == 1800
    assert c.due == int(_at(7, 30).timestamp()) + 2 * H - 1800


# --- G4: elapsed time kept across policies without the target kind ---------------------------


def test_severity_round_trip_keeps_elapsed_time_of_a_suspended_clock():
    sev3 = cs.PolicySpec(
        SE, (_spec(cs.ACK, H), _spec(cs.RESOLUTION, 10 * H)), severities=frozenset({3}), id=1
    )
    sev1 = cs.PolicySpec(SE, (_spec(cs.ACK, H),), severities=frozenset({1}), id=2)
    m = _matcher(sev3, sev1)
    s = cs.step(None, cs.Event(_at(10), "created", facts=cs.Facts(severity=3)), m)
    s = cs.step(s, cs.Event(_at(12), "severity", facts=cs.Facts(severity=1)), m)
    r = s.clocks["support_engineer:resolution"]
    assert r.suspended and not r.running and r.consumed == 2 * H
    view = {v.key: v for v in cs.view(s, _at(13))}
    assert view["support_engineer:resolution"].state == "suspended"
    s = cs.step(s, cs.Event(_at(13), "status", status="pending"), m)  # ignored while suspended
    s = cs.step(s, cs.Event(_at(14), "status", status="open"), m)
    s = cs.step(s, cs.Event(_at(15), "severity", facts=cs.Facts(severity=3)), m)
    r = s.clocks["support_engineer:resolution"]
    assert not r.suspended and r.running and r.consumed == 2 * H
    assert r.due == int(_at(15).timestamp()) + 8 * H


def test_solved_ticket_severity_change_starts_no_clock(world, clock_at):
    t = new_ticket(world, assignee=world["agent"].pk)
    clock_at.advance(600)
    tickets.update_ticket(t, actor=world["agent"], status="solved")
    clock_at.advance(600)
    tickets.update_ticket(t, actor=world["agent"], severity=1)
    assert not [k for k, v in clocks(t).items() if v.state == "active"]
    assert not Timer.objects.filter(subject_id=t.pk, subject_type="ticket", **PENDING_Q).exists()


def test_premium_chat_sev1_gets_sev1_and_premium_targets(world, clock_at):
    world["org"].tier = "premium"
    world["org"].save(update_fields=["tier"])
    t = new_ticket(world, channel="chat", severity=1)
    c = clocks(t)
    assert c[ACK].seconds == 3600 and c[ACK].calendar == "24x7"  # Sev-1
    assert c["support_engineer:resolution"].seconds == 30 * 60  # premium chat/phone
    assert c["support_engineer:actionable"].seconds == 15 * 60
    assert "support_engineer:periodic_update" in c


def test_persisted_suspended_clock_resumes_with_its_elapsed_time(world, clock_at):
    from caseline.sla.models import Policy

    Policy.objects.filter(name="Support engineer (default)").update(severities=[2, 3, 4])
    from caseline.sla import policies

    policies.invalidate()
    t = new_ticket(world, severity=3)
    clock_at.advance(1800)
    tickets.update_ticket(t, actor=world["agent"], severity=1)
    row = Clock.objects.get(ticket=t, key="support_engineer:resolution")
    assert row.suspended and row.state == "suspended" and row.running_since is None
    assert not Timer.objects.filter(
        key__startswith=f"sla:{t.pk}:support_engineer:resolution", **PENDING_Q
    ).exists()
    clock_at.advance(3600)
    tickets.update_ticket(t, actor=world["agent"], severity=3)
    r = clocks(t)["support_engineer:resolution"]
    assert r.state == "active" and r.elapsed == 1800


# --- G1: policy edits re-match open tickets ---------------------------------------------------

import json  # noqa: E402

RES = "support_engineer:resolution"


def _admin_json(api_client, world):
    a = api_client(world["admin"])

    def call(method, path, body=None):
        return getattr(a, method)(path, json.dumps(body or {}), content_type="application/json")

    return call, a


def test_policy_edit_reaches_paused_clocks_and_deactivate_and_delete_rematch(
    world, clock_at, api_client
):
    J, a = _admin_json(api_client, world)
    body = {
        "name": "X",
        "position": 1,
        "targets": [{"kind": "resolution", "seconds": 7200, "business": False}],
    }
    r = J("post", "/api/v1/sla/policies", body)
    assert r.status_code == 201, r.content
    pid = r.json()["id"]
    t1 = new_ticket(world, assignee=world["agent"].pk, subject="running")
    t2 = new_ticket(world, assignee=world["agent"].pk, subject="paused")
    tickets.update_ticket(t2, actor=world["agent"], status="pending")
    body["targets"][0]["seconds"] = 600
    assert (
        J("patch", f"/api/v1/sla/policies/{pid}", {"targets": body["targets"]}).status_code == 200
    )
    assert clocks(t2)[RES].seconds == 600  # the paused clock took the new target
    clock_at.advance(60)
    tickets.update_ticket(t2, actor=world["agent"], status="open")
    assert clocks(t2)[RES].due_at == timesource.now() + timedelta(seconds=600)
    assert clocks(t1)[RES].seconds == 600
    # Deactivated: the default policy's resolution applies again, elapsed time kept.
    assert J("patch", f"/api/v1/sla/policies/{pid}", {"active": False}).status_code == 200
    c = clocks(t1)[RES]
    assert c.seconds == 72 * 3600 and c.calendar == "amer-business" and c.elapsed == 60
    # Reactivated, then deleted: no clock stays on the deleted policy, no timer of it.
    assert J("patch", f"/api/v1/sla/policies/{pid}", {"active": True}).status_code == 200
    assert Clock.objects.get(ticket=t1, key=RES).policy_id == pid
    assert a.delete(f"/api/v1/sla/policies/{pid}").status_code == 204
    assert not Clock.objects.filter(policy_id=pid).exists()
    row = Clock.objects.get(ticket=t1, key=RES)
    assert row.seconds == 72 * 3600 and row.running_since is not None
    pending = Timer.objects.filter(subject_id=t1.pk, subject_type="ticket", **PENDING_Q)
    assert pending.filter(key__startswith=f"sla:{t1.pk}:{RES}:").count() == 1


def test_policy_condition_change_rematches_open_tickets(world, clock_at, api_client):
    J, _a = _admin_json(api_client, world)
    t = new_ticket(world, severity=2, assignee=world["agent"].pk)
    clock_at.advance(300)
    body = {
        "name": "Sev-2 fast",
        "position": 5,
        "severities": [4],
        "targets": [{"kind": "resolution", "seconds": 3600, "business": False}],
    }
    r = J("post", "/api/v1/sla/policies", body)
    assert clocks(t)[RES].seconds == 72 * 3600  # does not match severity 2
    assert (
        J("patch", f"/api/v1/sla/policies/{r.json()['id']}", {"severities": [2]}).status_code == 200
    )
    c = clocks(t)[RES]
    assert c.seconds == 3600 and c.calendar == "24x7" and c.state == "active"
    # A solved ticket is not re-matched (it picks up the policies when reopened and changed).
    tickets.update_ticket(t, actor=world["agent"], status="solved")
    assert (
        J("patch", f"/api/v1/sla/policies/{r.json()['id']}", {"severities": [4]}).status_code == 200
    )
    assert Clock.objects.get(ticket=t, key=RES).seconds == 3600


# --- B2: a calendar used by any clock is not deleted -----------------------------------------


def test_calendar_of_a_paused_clock_cannot_be_deleted(world, clock_at, api_client):
    from django.contrib.admin.sites import site

    from caseline.sla.models import Calendar

    J, a = _admin_json(api_client, world)
    r = J(
        "post",
        "/api/v1/sla/calendars",
        {"name": "cal-x", "time_zone": "Europe/Berlin", "hours": "Mon-Fri 08:00-17:00"},
    )
    cid = r.json()["id"]
    r = J(
        "post",
        "/api/v1/sla/policies",
        {
            "name": "X",
            "position": 1,
            "targets": [{"kind": "resolution", "seconds": 7200, "calendar": "cal-x"}],
        },
    )
    pid = r.json()["id"]
    t = new_ticket(world, assignee=world["agent"].pk)
    tickets.update_ticket(t, actor=world["agent"], status="pending")
    # The policy goes (its clocks move to the default policy); a paused clock that still
    # counts on cal-x (as one would between an edit and the re-match) keeps it in use.
    assert a.delete(f"/api/v1/sla/policies/{pid}").status_code == 204
    Clock.objects.filter(ticket=t, key=RES).update(calendar="cal-x")
    r = a.delete(f"/api/v1/sla/calendars/{cid}")
    assert r.status_code == 409, r.content
    assert r.json()["error"]["message"].endswith("ticket clocks (running, paused or suspended)")
    cal = Calendar.objects.get(pk=cid)
    admin = site._registry[Calendar]
    req = type("R", (), {"user": world["admin"]})()
    assert admin.has_delete_permission(req, cal) is False
    tickets.update_ticket(t, actor=world["agent"], status="open")  # still works
    assert clocks(t)[RES].calendar == "cal-x"


# --- B5: escalation rule params validated per action -------------------------------------------


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        (
            {"threshold": "percent", "value": 50, "action": "notify", "params": {"to": ["ceo"]}},
            "params.to",
        ),
        (
            {"threshold": "percent", "value": 50, "action": "notify", "params": {"to": []}},
            "params.to",
        ),
        (
            {
                "threshold": "after_breach",
                "value": 0,
                "action": "raise_priority",
                "params": {"to": "ultra"},
            },
            "params.to",
        ),
        (
            {
                "threshold": "after_breach",
                "value": 0,
                "action": "hand_to_sme",
                "params": {"to": "x"},
            },
            "params.to",
        ),
        (
            {
                "threshold": "after_breach",
                "value": 0,
                "action": "notify",
                "params": {"when": "night"},
            },
            "params.when",
        ),
        ({"threshold": "after_breach", "value": 10**12, "action": "notify"}, "value"),
        ({"threshold": "after_breach", "value": 0, "action": "notify", "order": 10**12}, "order"),
        ({"threshold": "after_breach", "value": 0, "action": "notify", "order": "x"}, "order"),
    ],
)
def test_rule_params_are_validated_with_field_names(world, clock_at, api_client, rule, field):
    from caseline.sla.models import Policy

    J, _a = _admin_json(api_client, world)
    body = {
        "name": "bad",
        "position": 1,
        "targets": [{"kind": "acknowledge", "seconds": 60, "business": False, "rules": [rule]}],
    }
    r = J("post", "/api/v1/sla/policies", body)
    assert r.status_code == 422, r.content
    assert f"targets.0.rules.0.{field}" in r.json()["error"]["fields"]
    assert not Policy.objects.filter(name="bad").exists()


def test_policy_position_is_bounded(world, clock_at, api_client):
    J, _a = _admin_json(api_client, world)
    calendar_time = {"kind": "acknowledge", "seconds": 60, "business": False}
    body = {
        "name": "ah",
        "position": 1,
        "targets": [{**calendar_time, "after_hours_calendar": "24x7"}],
    }
    r = J("post", "/api/v1/sla/policies", body)
    assert r.status_code == 422 and "targets.0.after_hours_calendar" in r.json()["error"]["fields"]
    r = J("post", "/api/v1/sla/policies", {"name": "big", "position": 10**12, "targets": []})
    assert r.status_code == 422 and "position" in r.json()["error"]["fields"]
    ok = {
        "threshold": "percent",
        "value": 50,
        "action": "notify",
        "params": {"to": ["on_duty", "assignee"], "when": "after_hours"},
    }
    body = {
        "name": "good",
        "position": 1,
        "targets": [{"kind": "acknowledge", "seconds": 60, "business": False, "rules": [ok]}],
    }
    assert J("post", "/api/v1/sla/policies", body).status_code == 201


# --- G3: the after-hours acknowledgement pages the region's on-duty engineer --------------------


def test_after_hours_ack_notifies_the_on_duty_engineer(world, clock_at, make_staff):
    from datetime import date

    from caseline.accounts.models import Region
    from caseline.oncall import services as oncall

    amer = Region.objects.update_or_create(
        code="AMER", defaults={"name": "AMER", "time_zone": "America/New_York", "handoff_order": 3}
    )[0]
    world["org"].region = amer
    world["org"].save(update_fields=["region"])
    night = make_staff(roles.SE, region=amer)
    s = oncall.create_schedule(actor=None, region="AMER", name="AMER primary")
    oncall.add_layer(
        s,
        actor=None,
        start_date=date(2026, 3, 2),
        handoff_time="09:00",
        rotation_days=7,
        member_ids=[night.pk],
    )
    clock_at.set_time(datetime(2026, 3, 7, 1, 0, tzinfo=UTC))  # Friday 20:00 EST
    t = new_ticket(world)
    assert clocks(t)[ACK].after_hours
    clock_at.advance(60)
    timer_mod.fire_all_due()
    fired = [
        e.data
        for e in AuditEvent.objects.filter(ticket_id=t.pk, type="sla.action_fired")
        if e.data.get("to") == ["on_duty"]
    ]
    assert len(fired) == 1 and fired[0]["outcome"] == "done"
    assert fired[0]["emails"] == [night.email]
    # In business hours the rule is no step of the acknowledgement at all.
    clock_at.set_time(MON_0900_NY)
    t2 = new_ticket(world, subject="day")
    clock_at.advance(60)
    timer_mod.fire_all_due()
    assert not [
        e
        for e in AuditEvent.objects.filter(ticket_id=t2.pk, type="sla.action_fired")
        if e.data.get("to") == ["on_duty"]
    ]


# --- G2: the actionable response and resolution count on the owner's calendar ------------------


def test_owner_region_calendar_runs_actionable_and_resolution(world, clock_at, make_staff):
    from caseline.accounts.models import Region

    emea = Region.objects.update_or_create(
        code="EMEA",
        defaults={
            "name": "EMEA",
            "time_zone": "Europe/Berlin",
            "handoff_order": 2,
            "shift_calendar": "emea-business",
        },
    )[0]
    anna = make_staff(roles.SE, region=emea)
    # Friday 18:00 UTC (19:00 Berlin, 13:00 New York): EMEA closed, AMER open.
    clock_at.set_time(datetime(2026, 3, 6, 18, 0, tzinfo=UTC))
    t = new_ticket(world)
    c = clocks(t)
    assert c["support_engineer:actionable"].calendar == "amer-business"
    clock_at.advance(600)
    tickets.update_ticket(t, actor=world["agent"], assignee=anna)
    c = clocks(t)
    act, res = c["support_engineer:actionable"], c["support_engineer:resolution"]
    assert act.calendar == "emea-business" and res.calendar == "emea-business"
    assert act.elapsed == 600  # elapsed time kept; counting resumes Monday 08:00 Berlin
    # 23 h 50 min of 08:00-17:00 Berlin from Monday: Wednesday 13:50 Berlin (12:50 UTC)
    assert act.due_at == datetime(2026, 3, 11, 12, 50, tzinfo=UTC)
    assert c[ACK].calendar == "amer-business"  # the acknowledgement is the team's
    tickets.update_ticket(t, actor=world["agent"], assignee=world["agent"])  # no region
    assert clocks(t)["support_engineer:actionable"].calendar == "amer-business"


# --- due_within with an older breached clock ---------------------------------------------------


def test_due_within_sees_the_next_deadline_behind_a_breached_clock(world, clock_at):
    from caseline.sla import queries
    from caseline.tickets.models import Ticket

    t = new_ticket(world, severity=1)  # Sev-1: owner assigned 15 min, acknowledge 1 h
    clock_at.advance(15 * 60)
    timer_mod.fire_all_due()  # owner_assigned breached, still running (nobody assigned)
    assert Clock.objects.get(ticket=t, key="support_engineer:owner_assigned").breached_at
    qs = Ticket.objects.filter(pk=t.pk)
    assert queries.filter_breached(qs).exists()
    assert not queries.filter_due_within(qs, 30).exists()  # acknowledge due in 45 min
    assert queries.filter_due_within(qs, 50).exists()
    assert queries.filter_due_within(queries.with_next_deadline(qs), 50).exists()


# --- B1 with two connections: a reply holding the ticket vs the breach timer -----------------


@pytest.mark.django_db(transaction=True)
def test_reply_committing_while_the_breach_timer_fires_is_not_contradicted(world, clock_at):
    """PostgreSQL: the clock process claims the due breach timer while a reply made before
    the due time is still being committed (the ticket locked). The timer waits for the
    ticket, then finds the clock fulfilled on time: no breach is published, and the clock
    is not left contradicting a published one. (SQLite serialises writers.)"""
    import threading
    import time as _time

    from django.db import connection, connections, transaction

    from caseline.tickets.models import Ticket

    if connection.vendor != "postgresql":
        pytest.skip("row locks: PostgreSQL")
    from caseline.sla import config

    # Its own policy (a transactional test may run after another one flushed the seeds).
    after_breach = {"threshold": "after_breach", "value": 0, "action": "notify"}
    config.create_policy(
        None,
        name="race",
        position=1,
        targets=[
            {"kind": "acknowledge", "seconds": 3600, "business": False, "rules": [after_breach]}
        ],
    )
    t = new_ticket(world)
    due = MON_0900_NY + timedelta(hours=1)
    clock_at.set_time(due - timedelta(minutes=10))
    timer_mod.fire_all_due()  # the 75 % rule: the acknowledgement's next step is its breach
    clock_at.set_time(due)
    fired = []

    def clock_process():
        try:
            fired.append(timer_mod.fire_all_due())
        finally:
            connections.close_all()

    with transaction.atomic():
        list(Ticket.objects.select_for_update().filter(pk=t.pk).values_list("pk"))
        b = threading.Thread(target=clock_process)
        b.start()
        _time.sleep(0.5)  # let the clock process claim the timer (the outcome holds anyway)
        services.apply(
            t.pk,
            cs.Event(at=due - timedelta(seconds=60), type="reply", author=frozenset({"staff"})),
        )
    b.join(timeout=60)
    assert not b.is_alive()
    row = Clock.objects.get(ticket=t, key=ACK)
    assert row.fulfilled_at == due - timedelta(seconds=60)
    assert row.breached_at is None and row.state == "fulfilled"
    assert ACK not in breaches(t)
