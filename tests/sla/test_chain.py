"""Chained SLA timers: one pending timer per clock (its next threshold or breach), each
firing schedules the following step; a policy edit picks the next step again; a calendar
edit moves the one pending timer per clock (set-based recompute)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from caseline import timesource
from caseline.accounts import roles
from caseline.accounts.models import Contact, Organization
from caseline.audit.models import AuditEvent
from caseline.sla import calendars, config, services
from caseline.sla import timers as timer_mod
from caseline.sla.models import Calendar, Clock, EscalationRule, Policy, Target, TicketSla, Timer
from caseline.tickets import services as tickets

MON_0900_NY = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # Monday 09:00 EST
PENDING = {"fired_at__isnull": True, "cancelled_at__isnull": True, "failed_at__isnull": True}
ACK = "support_engineer:acknowledge"
RES = "support_engineer:resolution"


@pytest.fixture
def clock_at(tmp_path, monkeypatch):
    monkeypatch.setenv(timesource.ENV_VAR, str(tmp_path / "time.json"))
    timesource.set_time(MON_0900_NY)
    calendars.invalidate()
    yield timesource
    calendars.invalidate()


@pytest.fixture
def world(db, make_staff, clock_at):
    org = Organization.objects.create(name="Chain Co", tier="standard")  # no SC
    contact = Contact.objects.create(name="Cy", organization=org)
    return {"org": org, "contact": contact, "agent": make_staff(roles.SE)}


def new_ticket(world, subject="Chained"):
    return tickets.create_ticket(
        actor=world["agent"],
        requester=world["contact"],
        subject=subject,
        body_text="Something broke.",
        channel="web",
    )


def pending(ticket, clock_key):
    return list(Timer.objects.filter(key__startswith=f"sla:{ticket.pk}:{clock_key}:", **PENDING))


def rules_of(kind):
    target = Target.objects.get(policy__name="Support engineer (default)", kind=kind)
    return {(r.threshold, r.value): r for r in target.rules.all()}


@pytest.fixture
def fired(monkeypatch):
    """Record rule actions and breach events in the order they happen."""
    from caseline.events import subscribe
    from caseline.sla import actions

    seen: list[tuple] = []
    monkeypatch.setattr(
        actions,
        "run",
        lambda action, **kw: seen.append(
            ("rule", kw["ticket"].pk, kw["params"]["cycle"], action, kw["rule_id"], kw["at"])
        ),
    )
    subscribe(
        "sla.breached",
        lambda e: seen.append(("breach", e.subject_id, e.data["clock"], e.at)),
    )
    return seen


def test_chained_thresholds_fire_in_order_at_the_right_times(world, clock_at, fired):
    t = new_ticket(world)
    r = rules_of("acknowledge")
    r75, r_breach = r[("percent", 75)], r[("after_breach", 0)]
    # One pending timer: the 75 % rule at 09:45.
    (p,) = pending(t, ACK)
    assert p.key.endswith(f":r{r75.pk}") and p.due_at == MON_0900_NY + timedelta(minutes=45)

    clock_at.set_time(MON_0900_NY + timedelta(minutes=45) - timedelta(seconds=1))
    timer_mod.fire_all_due()
    assert [f for f in fired if f[1] == t.pk] == []

    clock_at.set_time(MON_0900_NY + timedelta(minutes=45))
    timer_mod.fire_all_due()
    mine = [f for f in fired if f[1] == t.pk]
    assert mine == [
        ("rule", t.pk, f"{ACK}:1", "notify", r75.pk, MON_0900_NY + timedelta(minutes=45))
    ]
    # ... which scheduled the breach, at 10:00.
    (p,) = pending(t, ACK)
    assert p.key.endswith(":breach") and p.due_at == MON_0900_NY + timedelta(hours=1)
    assert Clock.objects.get(ticket=t, key=ACK).step == "breach"

    clock_at.set_time(MON_0900_NY + timedelta(minutes=59, seconds=59))
    timer_mod.fire_all_due()
    assert len([f for f in fired if f[1] == t.pk]) == 1

    clock_at.set_time(MON_0900_NY + timedelta(hours=1))
    timer_mod.fire_all_due()  # the breach, then (chained, same moment) the after-breach rule
    mine = [f for f in fired if f[1] == t.pk and f[2].startswith(ACK)]
    assert [m[0] for m in mine] == ["rule", "breach", "rule"]
    assert mine[1][3] == MON_0900_NY + timedelta(hours=1)
    assert mine[2][3:] == ("notify", r_breach.pk, MON_0900_NY + timedelta(hours=1))
    assert pending(t, ACK) == []
    assert Clock.objects.get(ticket=t, key=ACK).step == ""
    keys = set(
        Timer.objects.filter(
            key__startswith=f"sla:{t.pk}:{ACK}:1:", fired_at__isnull=False
        ).values_list("key", flat=True)
    )
    assert keys == {f"sla:{t.pk}:{ACK}:1:{s}" for s in (f"r{r75.pk}", "breach", f"r{r_breach.pk}")}

    # Firing again, or scheduling a fired key again, does nothing: each step fires once.
    n = len(fired)
    timer_mod.fire_all_due()
    services._sync_timers(t.pk, services.load_state(t.pk)[1].clocks[ACK])
    timer_mod.fire_all_due()
    assert len(fired) == n
    assert AuditEvent.objects.filter(ticket_id=t.pk, type="sla.breached").count() == 1


def test_a_late_clock_catches_up_through_the_chain_in_order(world, clock_at, fired):
    """A clock process down for hours: the steps of a clock fire in their order, once."""
    t = new_ticket(world)
    clock_at.set_time(MON_0900_NY + timedelta(hours=5))
    timer_mod.fire_all_due()
    mine = [(f[0], f[2]) for f in fired if f[1] == t.pk and f[2].startswith(ACK)]
    assert mine == [("rule", f"{ACK}:1"), ("breach", ACK), ("rule", f"{ACK}:1")]


def test_pause_cancels_and_resume_rearms_the_next_step_only(world, clock_at, fired):
    t = new_ticket(world)
    r75 = rules_of("resolution")[("percent", 75)]
    clock_at.advance(600)
    tickets.update_ticket(t, actor=world["agent"], status="pending")
    assert pending(t, RES) == []
    assert Clock.objects.get(ticket=t, key=RES).step == ""
    clock_at.advance(3600)
    tickets.update_ticket(t, actor=world["agent"], status="open")
    (p,) = pending(t, RES)
    row = Clock.objects.get(ticket=t, key=RES)
    assert row.step == f"r{r75.pk}" and p.key.endswith(row.step)
    # 75 % of 72 business hours minus the 10 minutes already consumed, from the resume.
    cal = calendars.get_calendar("amer-business")
    assert p.due_at == cal.add(timesource.now(), 54 * 3600 - 600)


def test_a_rule_added_after_tickets_exist_gets_its_timers(world, clock_at, fired, make_staff):
    a = new_ticket(world, "A")
    clock_at.advance(2 * 3600)  # 11:00; a's resolution clock consumed 2 h of 72
    b = new_ticket(world, "B")
    se = Policy.objects.get(name="Support engineer (default)")
    body = config._policy_snapshot(se)
    for tg in body["targets"]:
        if tg["kind"] == "resolution":
            # a 2 % notification (1 h 26 min 24 s): a is past it, b is not
            tg["rules"].append({"threshold": "percent", "value": 2, "action": "notify"})
    old_rules = set(EscalationRule.objects.values_list("pk", flat=True))
    config.update_policy(se, None, targets=body["targets"])
    assert set(EscalationRule.objects.values_list("pk", flat=True)) > old_rules  # kept ids
    r2 = EscalationRule.objects.get(target__policy=se, target__kind="resolution", value=2)
    r75 = rules_of("resolution")[("percent", 75)]

    # b (nothing consumed yet): the new rule is its next step, at 2 % of 72 h from 11:00.
    (pb,) = pending(b, RES)
    assert pb.key.endswith(f":r{r2.pk}")
    assert pb.due_at == timesource.now() + timedelta(seconds=5184)
    assert Clock.objects.get(ticket=b, key=RES).step == f"r{r2.pk}"
    # a is running and past 2 % in this running period: the rule applies and fires now.
    (pa,) = pending(a, RES)
    assert pa.key.endswith(f":r{r2.pk}") and pa.due_at <= timesource.now()
    timer_mod.fire_all_due()
    assert [f[4] for f in fired if f[1] == a.pk and f[0] == "rule" and RES in f[2]] == [r2.pk]
    (pa,) = pending(a, RES)
    assert pa.key.endswith(f":r{r75.pk}")  # the chain goes on with the 75 % rule
    # Editing the policy again (same rules) re-fires nothing and keeps the next steps.
    config.update_policy(se, None, targets=config._policy_snapshot(se)["targets"])
    timer_mod.fire_all_due()
    assert [f[4] for f in fired if f[1] == a.pk and f[0] == "rule" and RES in f[2]] == [r2.pk]
    assert pending(a, RES)[0].key.endswith(f":r{r75.pk}")


def test_a_calendar_edit_moves_due_times_and_the_one_pending_timer(world, clock_at):
    ts = [new_ticket(world, f"T{i}") for i in range(3)]
    clock_at.advance(3600)
    tickets.add_message(ts[0], actor=world["agent"], kind="public", body_text="ack")
    amer = Calendar.objects.get(name="amer-business")
    before = {t.pk: Clock.objects.get(ticket=t, key=RES).due_at for t in ts}
    n_timers = Timer.objects.count()
    config.update_calendar(amer, None, hours="Mon-Fri 08:00-12:00")
    cal = calendars.get_calendar("amer-business")
    r75 = rules_of("resolution")[("percent", 75)]
    for t in ts:
        row = Clock.objects.get(ticket=t, key=RES)
        assert row.due_at == cal.add(row.running_since, 72 * 3600 - row.consumed)
        assert row.due_at > before[t.pk]
        (p,) = pending(t, RES)
        assert p.key.endswith(f":r{r75.pk}") and row.step == f"r{r75.pk}"
        assert p.due_at == cal.add(row.running_since, 54 * 3600 - row.consumed)
        view = {c.key: c for c in services.clocks_of(t.pk)}
        assert view[RES].due_at == row.due_at
        nd = min(c.due_at for c in Clock.objects.filter(ticket=t, running_since__isnull=False))
        assert TicketSla.objects.get(ticket=t).next_deadline == nd
        t.refresh_from_db()
        assert t.next_due_at == nd  # the ticket row's mirror (the queues sort on it)
    assert Timer.objects.count() == n_timers  # moved, none added
    # Nothing moves the second time: no clock, ticket or timer row is written.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as q:
        assert services.recompute(calendars=["amer-business"]) == 8  # 9 clocks, 1 fulfilled
    writes = [
        x["sql"] for x in q.captured_queries if x["sql"].lstrip().upper().startswith("UPDATE")
    ]
    assert not [w for w in writes if "sla_clock" in w or "sla_timer" in w or "sla_ticket" in w]


def test_an_inline_step_that_fails_becomes_a_pending_timer_and_is_retried(
    world, clock_at, monkeypatch
):
    """The after-breach rule runs inline with the breach; when its action raises, the
    breach still counts and the rule becomes its own pending timer, fired on its own."""
    from caseline.sla import actions

    calls = []

    def flaky(action, **kw):
        calls.append(kw["rule_id"])
        if len(calls) == 2:  # the after-breach notify, run inline: fails once
            raise RuntimeError("mail relay down")

    monkeypatch.setattr(actions, "run", flaky)
    t = new_ticket(world)
    r_breach = rules_of("acknowledge")[("after_breach", 0)]
    clock_at.set_time(MON_0900_NY + timedelta(hours=1))
    assert timer_mod.claim_and_fire() == 1  # the 75 % rule: it schedules the breach
    assert timer_mod.claim_and_fire() == 1  # the breach: its after-breach rule fails inline
    assert AuditEvent.objects.filter(ticket_id=t.pk, type="sla.breached").count() == 1
    (p,) = pending(t, ACK)
    assert p.key.endswith(f":r{r_breach.pk}") and p.due_at == timesource.now()
    timer_mod.fire_all_due()
    assert calls.count(r_breach.pk) == 2
    assert pending(t, ACK) == []
    assert Timer.objects.get(key=p.key).fired_at is not None
    assert AuditEvent.objects.filter(ticket_id=t.pk, type="sla.breached").count() == 1
