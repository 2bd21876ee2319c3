"""The SLA engine against the real database: seeded defaults, clocks kept from domain
events, timers (breach, thresholds) firing once, queryset helpers, the API, recompute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from caseline import timesource
from caseline.accounts import roles
from caseline.accounts.models import Contact, ContactEmail, Organization
from caseline.audit.models import AuditEvent
from caseline.errors import NotFound
from caseline.sla import calendars, config, queries, services
from caseline.sla import timers as timer_mod
from caseline.sla.models import Calendar, Clock, Policy, Target, TicketSla, Timer
from caseline.tickets import services as tickets
from caseline.tickets.models import Ticket

MON_0900_NY = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # Monday 09:00 EST
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
    sc = make_staff(roles.SC)
    org = Organization.objects.create(name="Acme SLA", tier="standard", sales_consultant=sc)
    contact = Contact.objects.create(name="Ann", organization=org)
    ContactEmail.objects.create(contact=contact, email="ann@acme-sla.test", is_primary=True)
    agent = make_staff(roles.SE)
    return {"org": org, "contact": contact, "agent": agent, "sc": sc}


def new_ticket(world, **kw) -> Ticket:
    return tickets.create_ticket(
        actor=world["agent"],
        requester=world["contact"],
        subject=kw.pop("subject", "Replication lag"),
        body_text="Our replica is 2 hours behind.",
        channel=kw.pop("channel", "web"),
        **kw,
    )


def clocks(ticket) -> dict[str, services.cs.ClockView]:
    return {c.key: c for c in services.clocks_of(ticket.pk)}


def test_defaults_are_seeded(db):
    names = set(Calendar.objects.values_list("name", flat=True))
    assert {"amer-business", "emea-business", "apac-business", "24x7", "follow-the-sun"} <= names
    se = Policy.objects.get(name="Support engineer (default)")
    targets = {t.kind: t for t in se.targets.all()}
    assert targets["acknowledge"].seconds == 3600
    assert targets["acknowledge"].after_hours_calendar.name == "24x7"
    assert targets["actionable"].seconds == 24 * 3600
    assert targets["resolution"].seconds == 72 * 3600
    assert targets["resolution"].calendar.name == "amer-business"
    sev1 = Policy.objects.get(name="Sev-1 around the clock")
    assert sev1.severities == [1]
    assert {t.kind: t.seconds for t in sev1.targets.all()} == {
        "acknowledge": 3600,
        "owner_assigned": 900,
        "periodic_update": 3600,
    }
    premium = Policy.objects.get(name="Premium chat and phone")
    res = premium.targets.get(kind="resolution")
    assert res.seconds == 1800 and not res.business
    assert res.rules.get().action == "hand_to_sme"
    sc = Policy.objects.get(name="Sales consultant (default)")
    assert {t.kind: t.seconds for t in sc.targets.all()} == {"acknowledge": 900, "actionable": 3600}
    cal = calendars.get_calendar("follow-the-sun")
    assert cal.is_open(datetime(2026, 3, 3, 3, 0, tzinfo=UTC))  # APAC hours


def test_ticket_clocks_follow_the_timeline(world, clock_at):
    t = new_ticket(world)
    c = clocks(t)
    assert set(c) == {
        "support_engineer:acknowledge",
        "support_engineer:actionable",
        "support_engineer:resolution",
        "sales_consultant:acknowledge",
        "sales_consultant:actionable",
    }
    ack = c["support_engineer:acknowledge"]
    assert ack.state == "active" and ack.due_at == MON_0900_NY + timedelta(hours=1)
    assert c["sales_consultant:acknowledge"].due_at == MON_0900_NY + timedelta(minutes=15)
    sla = TicketSla.objects.get(ticket=t)
    assert sla.next_deadline == MON_0900_NY + timedelta(minutes=15)
    # One pending timer per clock: the SE acknowledgement's next step is its 75 % rule.
    ack_timers = Timer.objects.filter(key__startswith=f"sla:{t.pk}:support_engineer:acknowledge:1:")
    rule75 = Target.objects.get(
        policy__name="Support engineer (default)", kind="acknowledge"
    ).rules.get(threshold="percent", value=75)
    (pending,) = ack_timers
    assert pending.key.endswith(f":r{rule75.pk}") and pending.state == "pending"
    assert pending.due_at == MON_0900_NY + timedelta(minutes=45)
    assert Clock.objects.get(ticket=t, key="support_engineer:acknowledge").step == f"r{rule75.pk}"
    assert Timer.objects.filter(subject_id=t.pk, **PENDING_Q).count() == 5  # one per clock

    clock_at.advance(600)
    tickets.add_message(t, actor=world["sc"], kind="public", body_text="On it, looping in support.")
    c = clocks(t)
    assert c["sales_consultant:acknowledge"].state == "fulfilled"
    assert c["support_engineer:acknowledge"].state == "active"  # the SC is not the SE

    clock_at.advance(600)
    tickets.add_message(t, actor=world["agent"], kind="internal", body_text="checking logs")
    assert clocks(t)["support_engineer:acknowledge"].state == "active"
    tickets.add_message(t, actor=world["agent"], kind="public", body_text="We have it.")
    c = clocks(t)
    assert c["support_engineer:acknowledge"].state == "fulfilled"
    assert c["support_engineer:acknowledge"].elapsed == 1200
    assert c["support_engineer:actionable"].state == "active"  # the bare acknowledgement
    assert [x.state for x in ack_timers.all()] == ["cancelled"]
    assert Clock.objects.get(ticket=t, key="support_engineer:acknowledge").step == ""

    clock_at.advance(1800)
    tickets.update_ticket(t, actor=world["agent"], status="pending")
    c = clocks(t)
    assert c["support_engineer:resolution"].state == "paused"
    assert c["support_engineer:resolution"].elapsed == 3000
    assert c["support_engineer:resolution"].due_at is None
    clock_at.advance(7200)
    assert clocks(t)["support_engineer:resolution"].elapsed == 3000
    tickets.add_message(t, author_contact=world["contact"], kind="public", body_text="Any news?")
    t.refresh_from_db()
    assert t.status == "open"
    res = clocks(t)["support_engineer:resolution"]
    assert res.state == "active" and res.elapsed == 3000

    tickets.add_message(t, actor=world["agent"], kind="public", body_text="Fixed: resync done.")
    assert clocks(t)["support_engineer:actionable"].state == "fulfilled"


def test_persisted_state_equals_the_pure_fold(world, clock_at):
    """The incremental, stored state gives the same clocks as folding the timeline."""
    from caseline.sla import clockstate as cs
    from caseline.sla import policies

    t = new_ticket(world)
    events = [
        cs.Event(MON_0900_NY, "created", facts=services.facts_of(Ticket.objects.get(pk=t.pk)))
    ]
    clock_at.advance(900)
    tickets.add_message(t, actor=world["agent"], kind="public", body_text="ack")
    events.append(cs.Event(timesource.now(), "reply", author=frozenset({"staff"})))
    events.append(cs.Event(timesource.now(), "status", status="open"))
    clock_at.advance(3600)
    tickets.update_ticket(t, actor=world["agent"], status="pending")
    events.append(cs.Event(timesource.now(), "status", status="pending"))
    clock_at.advance(3600)
    at = timesource.now()
    pure = cs.compute(events, policies.matcher, at)
    assert pure == services.clocks_of(t.pk, at)


def test_after_hours_ack_runs_on_24x7(world, clock_at):
    clock_at.set_time(datetime(2026, 3, 7, 1, 0, tzinfo=UTC))  # Friday 20:00 EST
    t = new_ticket(world)
    c = clocks(t)
    ack = c["support_engineer:acknowledge"]
    assert ack.after_hours and ack.calendar == "24x7"
    assert ack.due_at == datetime(2026, 3, 7, 2, 0, tzinfo=UTC)
    act = c["support_engineer:actionable"]
    # starts Monday 08:00 EDT (12:00 UTC), 24 business hours: due Wednesday 14:00 EDT
    assert act.due_at == datetime(2026, 3, 11, 18, 0, tzinfo=UTC)
    on_duty = world["sc"].__class__.objects.create_user(
        username="night@caseline.test", email="night@caseline.test"
    )
    from django.contrib.auth.models import Group

    on_duty.groups.add(Group.objects.get(name=roles.SE))
    clock_at.advance(1200)
    tickets.add_message(t, actor=on_duty, kind="public", body_text="Night shift here, on it.")
    assert clocks(t)["support_engineer:acknowledge"].state == "fulfilled"


def test_breach_fires_once_with_event_and_audit(world, clock_at):
    from caseline.events import subscribe

    seen = []
    subscribe("sla.breached", seen.append)
    t = new_ticket(world)
    clock_at.advance(15 * 60)  # the SC acknowledgement is due now
    timer_mod.fire_all_due()
    rows = AuditEvent.objects.filter(ticket_id=t.pk, type="sla.breached")
    assert [r.data["clock"] for r in rows] == ["sales_consultant:acknowledge"]
    assert [e.subject_id for e in seen if e.subject_id == t.pk] == [t.pk]
    assert Clock.objects.get(ticket=t, key="sales_consultant:acknowledge").state == "breached"
    assert clocks(t)["sales_consultant:acknowledge"].state == "breached"
    timer_mod.fire_all_due()
    timer_mod.schedule(
        services.BREACH_KIND,
        "ticket",
        t.pk,
        timesource.now(),
        f"sla:{t.pk}:sales_consultant:acknowledge:1:breach",
    )
    timer_mod.fire_all_due()
    assert AuditEvent.objects.filter(ticket_id=t.pk, type="sla.breached").count() == 1
    sla = TicketSla.objects.get(ticket=t)
    assert queries.filter_breached(Ticket.objects.filter(pk=t.pk)).exists()
    assert sla.next_deadline <= timesource.now()


def test_threshold_rules_call_the_actions(world, clock_at, monkeypatch):
    from caseline.sla import actions

    calls = []
    monkeypatch.setattr(actions, "run", lambda action, **kw: calls.append((action, kw)))
    t = new_ticket(world)
    clock_at.advance(45 * 60)  # 75 % of the SE acknowledge hour
    timer_mod.fire_all_due()
    acks = [(a, kw) for a, kw in calls if kw["target"] == "acknowledge"]
    notify75 = [kw for a, kw in acks if a == "notify" and kw["params"].get("to") == ["assignee"]]
    assert len(notify75) == 1
    assert notify75[0]["ticket"].pk == t.pk
    assert notify75[0]["at"] == MON_0900_NY + timedelta(minutes=45)
    assert notify75[0]["params"]["cycle"] == "support_engineer:acknowledge:1"
    n = len(calls)
    timer_mod.fire_all_due()
    assert len(calls) == n  # fired once


def test_fulfilled_clock_fires_no_threshold(world, clock_at, monkeypatch):
    from caseline.sla import actions

    calls = []
    monkeypatch.setattr(actions, "run", lambda action, **kw: calls.append((action, kw)))
    t = new_ticket(world)
    clock_at.advance(60)
    tickets.add_message(t, actor=world["agent"], kind="public", body_text="ack")
    clock_at.advance(3 * 3600)
    timer_mod.fire_all_due()
    assert not [
        c for c in calls if c[1]["target"] == "acknowledge" and "support" in c[1]["params"]["cycle"]
    ]


def test_severity_change_rematches_and_keeps_elapsed(world, clock_at):
    t = new_ticket(world)
    clock_at.advance(20 * 60)
    tickets.update_ticket(t, actor=world["agent"], severity=1)
    c = clocks(t)
    assert "support_engineer:owner_assigned" in c
    assert "support_engineer:periodic_update" in c
    # Sev-1 names no resolution target: the default policy's applies (per-kind matching)
    # and the clock keeps its elapsed time.
    assert c["support_engineer:resolution"].elapsed == 1200
    assert c["support_engineer:resolution"].state == "active"
    ack = c["support_engineer:acknowledge"]
    assert ack.elapsed == 1200 and ack.calendar == "24x7"
    assert ack.due_at == MON_0900_NY + timedelta(hours=1)
    owner = c["support_engineer:owner_assigned"]
    assert owner.due_at == MON_0900_NY + timedelta(minutes=35)
    tickets.update_ticket(t, actor=world["agent"], assignee=world["agent"])
    assert clocks(t)["support_engineer:owner_assigned"].state == "fulfilled"


def test_solving_stops_and_queryset_helpers(world, clock_at):
    a = new_ticket(world, subject="A")
    clock_at.advance(60)
    b = new_ticket(world, subject="B")
    clock_at.advance(60)
    c = new_ticket(world, subject="C")
    tickets.update_ticket(c, actor=world["agent"], assignee=world["agent"], status="solved")
    assert all(v.state in ("fulfilled",) for v in clocks(c).values())
    assert TicketSla.objects.get(ticket=c).next_deadline is None
    qs = Ticket.objects.filter(pk__in=[a.pk, b.pk, c.pk])
    ordered = list(queries.order_by_deadline(qs).values_list("pk", flat=True))
    assert ordered == [a.pk, b.pk, c.pk]
    assert list(queries.order_by_deadline(qs, descending=True).values_list("pk", flat=True)) == [
        b.pk,
        a.pk,
        c.pk,
    ]
    ann = {r.pk: r.sla_next_deadline for r in queries.with_next_deadline(qs)}
    assert ann[c.pk] is None and ann[a.pk] == MON_0900_NY + timedelta(minutes=15)
    assert set(queries.filter_due_within(qs, 14).values_list("pk", flat=True)) == {a.pk, b.pk}
    assert set(queries.filter_due_within(qs, 13).values_list("pk", flat=True)) == {a.pk}
    assert not queries.filter_due_within(qs, 12).exists()
    assert not queries.filter_breached(qs).exists()
    clock_at.advance(13 * 60)
    assert set(queries.filter_breached(qs).values_list("pk", flat=True)) == {a.pk}


def test_ticket_sla_api(world, clock_at, api_client, make_staff):
    t = new_ticket(world)
    resp = api_client(world["agent"]).get(f"/api/v1/tickets/{t.pk}/sla")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    by_key = {c["key"]: c for c in body["clocks"]}
    ack = by_key["support_engineer:acknowledge"]
    assert ack["state"] == "active" and ack["target"] == "acknowledge"
    assert ack["due_at"].startswith("2026-03-02T15:00:00")
    assert ack["remaining"] == 3600 and ack["elapsed"] == 0
    assert body["next_deadline"].startswith("2026-03-02T14:15:00")
    assert api_client(world["agent"]).get("/api/v1/tickets/999999/sla").status_code == 404


def test_calendar_api_validates_and_recomputes(world, clock_at, api_client, make_staff):
    lead = api_client(make_staff(roles.LEAD))
    bad = lead.post(
        "/api/v1/sla/calendars",
        data={
            "name": "Bad Name",
            "time_zone": "Mars/Olympus",
            "hours": "Mon-Fri 9-5",
            "holidays": [
                {"country": "XX"},
                {"country": "US", "categories": "public"},
                {"country": "US", "categories": [{"a": 1}]},
            ],
            "closed_dates": ["2026-13-01"],
        },
        content_type="application/json",
    )
    assert bad.status_code == 422
    fields = bad.json()["error"]["fields"]
    assert {"name", "time_zone", "hours", "holidays.0", "closed_dates.0"} <= set(fields)
    assert "holidays.1.categories" in fields and "holidays.2" in fields
    assert not Calendar.objects.filter(name="Bad Name").exists()

    ok = lead.post(
        "/api/v1/sla/calendars",
        data={
            "name": "night-desk",
            "time_zone": "America/New_York",
            "hours": "Sun-Thu 22:00-06:00",
            "holidays": [{"country": "US"}],
        },
        content_type="application/json",
    )
    assert ok.status_code == 201, ok.content
    cal_id = ok.json()["id"]
    assert calendars.get_calendar("night-desk").is_open(datetime(2026, 3, 3, 4, 0, tzinfo=UTC))

    # A ticket running on amer-business; editing the calendar moves its due times.
    t = new_ticket(world)
    amer = Calendar.objects.get(name="amer-business")
    before = clocks(t)["support_engineer:resolution"].due_at
    r = lead.patch(
        f"/api/v1/sla/calendars/{amer.pk}",
        data={"hours": "Mon-Fri 08:00-12:00"},
        content_type="application/json",
    )
    assert r.status_code == 200, r.content
    after = clocks(t)["support_engineer:resolution"].due_at
    assert after > before
    row = Clock.objects.get(ticket=t, key="support_engineer:resolution")
    assert row.due_at == after
    # The clock's one pending timer (its 75 % step) moved with the calendar.
    (timer,) = Timer.objects.filter(
        key__startswith=f"sla:{t.pk}:support_engineer:resolution:1:", **PENDING_Q
    )
    assert timer.key == f"sla:{t.pk}:support_engineer:resolution:1:{row.step}"
    assert row.step.startswith("r")
    assert timer.due_at == calendars.get_calendar("amer-business").add(
        row.running_since, 54 * 3600 - row.consumed
    )
    assert AuditEvent.objects.filter(type="sla.recomputed").exists()

    assert lead.delete(f"/api/v1/sla/calendars/{amer.pk}").status_code == 409
    assert lead.delete(f"/api/v1/sla/calendars/{cal_id}").status_code == 204
    union = lead.post(
        "/api/v1/sla/calendars",
        data={"name": "loop", "kind": "union", "members": ["nope"]},
        content_type="application/json",
    )
    assert union.status_code == 422 and "members" in union.json()["error"]["fields"]


def test_policy_api_validates_and_recomputes(world, clock_at, api_client, make_staff):
    admin = api_client(make_staff(roles.ADMIN))
    bad = admin.post(
        "/api/v1/sla/policies",
        data={
            "name": "Broken",
            "role": "janitor",
            "severities": [9],
            "targets": [
                {"kind": "lunch", "seconds": 0},
                {
                    "kind": "resolution",
                    "seconds": 60,
                    "calendar": "nope",
                    "rules": [{"threshold": "percent", "value": 150, "action": "dance"}],
                },
            ],
        },
        content_type="application/json",
    )
    assert bad.status_code == 422
    f = bad.json()["error"]["fields"]
    assert {
        "role",
        "severities",
        "targets.0.kind",
        "targets.0.seconds",
        "targets.1.calendar",
        "targets.1.rules.0.value",
        "targets.1.rules.0.action",
    } <= set(f)
    assert not Policy.objects.filter(name="Broken").exists()

    t = new_ticket(world)
    se = Policy.objects.get(name="Support engineer (default)")
    body = admin.get(f"/api/v1/sla/policies/{se.pk}").json()
    targets = body["targets"]
    for tg in targets:
        if tg["kind"] == "resolution":
            tg["seconds"] = 8 * 3600
    r = admin.patch(
        f"/api/v1/sla/policies/{se.pk}", data={"targets": targets}, content_type="application/json"
    )
    assert r.status_code == 200, r.content
    res = clocks(t)["support_engineer:resolution"]
    assert res.seconds == 8 * 3600
    assert res.due_at == datetime(2026, 3, 2, 22, 0, tzinfo=UTC)  # Mon 17:00 EST (the close)
    assert Target.objects.filter(policy=se, kind="resolution").count() == 1

    created = admin.post(
        "/api/v1/sla/policies",
        data={
            "name": "Enterprise",
            "position": 5,
            "tiers": ["enterprise"],
            "targets": [
                {
                    "kind": "acknowledge",
                    "seconds": 600,
                    "business": False,
                    "rules": [{"threshold": "after_breach", "value": 3600, "action": "notify"}],
                }
            ],
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    world["org"].tier = "enterprise"
    world["org"].save()
    t2 = new_ticket(world)
    assert clocks(t2)["support_engineer:acknowledge"].seconds == 600


def test_get_calendar_cache_is_invalidated(world, clock_at):
    cal = config.create_calendar(None, name="short", time_zone="UTC", hours="Mon 09:00-10:00")
    first = calendars.get_calendar("short")
    assert calendars.get_calendar("short") is first
    config.update_calendar(cal, None, hours="Mon 09:00-11:00")
    second = calendars.get_calendar("short")
    assert second is not first
    assert (
        second.between(datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC)) == 7200
    )
    with pytest.raises(NotFound):
        calendars.get_calendar("no-such-calendar")
