"""Follow-the-sun handoffs: shift-end timers from the region calendars (across the EU DST
switch), handoffs for live escalations and open Sev-1 tickets, hand and acknowledge
(receiver becomes the holder), late note / late acknowledgement escalated to the
managers, idempotent re-fire, re-arming on calendar and region changes, the API and the
web page and panels. Time moves with the settable time source; the clock's
``fire_all_due`` fires the timers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from caseline import timesource
from caseline.accounts import roles
from caseline.accounts.models import Region
from caseline.audit.models import AuditEvent
from caseline.errors import Conflict, PermissionDenied, ValidationFailed
from caseline.escalations import handoffs, services
from caseline.escalations.models import Escalation, Handoff
from caseline.notify.models import OutboxMessage
from caseline.sla import timers
from caseline.sla.models import Timer
from caseline.tickets.models import Ticket

pytestmark = pytest.mark.django_db

# Tuesday 24 March 2026: EMEA (Berlin, CET = UTC+1) closes at 17:00 local = 16:00 UTC.
TUE_EMEA_END = datetime(2026, 3, 24, 16, 0, tzinfo=UTC)
# Friday 27 March 17:00 CET = 16:00 UTC; the EU switches to summer time on Sunday 29 March,
# so Monday 30 March 17:00 CEST = 15:00 UTC.
FRI_EMEA_END = datetime(2026, 3, 27, 16, 0, tzinfo=UTC)
MON_EMEA_END = datetime(2026, 3, 30, 15, 0, tzinfo=UTC)


def shift_timers(region):
    return list(
        Timer.objects.filter(
            kind=handoffs.SHIFT_END_KIND,
            subject_type="region",
            subject_id=region.pk,
            fired_at__isnull=True,
            cancelled_at__isnull=True,
        ).values_list("due_at", flat=True)
    )


def pending(kind, handoff):
    return list(
        Timer.objects.filter(
            kind=kind,
            subject_type="handoff",
            subject_id=handoff.pk,
            fired_at__isnull=True,
            cancelled_at__isnull=True,
        )
    )


def mails(substring=""):
    return [
        m
        for m in OutboxMessage.objects.filter(kind="email").order_by("id")
        if substring in m.payload.get("subject", "")
    ]


@pytest.fixture
def sun(world, make_staff):
    """EMEA (Berlin) -> AMER (New York) -> APAC (Singapore) -> EMEA; an EMEA engineer
    holding an open Sev-1 ticket, an EMEA escalation manager owning an escalation, AMER
    and APAC engineers, an EMEA support manager and a team lead."""
    from caseline.accounts.models import Team

    w = world
    w.apac = Region.objects.create(
        code="APAC", name="Asia-Pacific", shift_calendar="apac-business", handoff_order=1
    )
    # Order: APAC(1) -> EMEA(2) -> AMER(3) -> APAC
    w.giver = make_staff(roles.SE, email="giver@caseline.test", region=w.emea)
    w.amer_agent = make_staff(roles.SE, email="amer1@caseline.test", region=w.amer)
    w.amer_agent2 = make_staff(roles.SE, email="amer2@caseline.test", region=w.amer)
    w.apac_agent = make_staff(roles.SE, email="apac1@caseline.test", region=w.apac)
    w.emea_sm = make_staff(roles.SUPPORT_MANAGER, email="sm-emea@caseline.test", region=w.emea)
    w.lead = make_staff(roles.LEAD, email="lead-emea@caseline.test", region=w.emea)
    team = Team.objects.create(name="EMEA L2", region=w.emea, lead=w.lead)
    team.members.add(w.giver)
    w.sev1 = w.ticket(severity=1, assignee=w.giver, status="open", subject="Cluster down")
    w.sev2 = w.ticket(severity=2, assignee=w.giver, status="open", subject="Slow UI")
    w.esc_ticket = w.ticket(severity=2, subject="Escalated thing")
    w.esc = services.open_from_ticket(w.esc_ticket.pk, w.em, business_impact="Orders stopped")
    return w


def fire_at(when):
    timesource.set_time(when)
    return timers.fire_all_due()


# --- shift ends -----------------------------------------------------------------------------


def test_next_shift_end_follows_the_calendar_across_dst(sun):
    assert handoffs.next_shift_end(sun.emea, datetime(2026, 3, 24, 10, tzinfo=UTC)) == TUE_EMEA_END
    assert handoffs.next_shift_end(sun.emea, FRI_EMEA_END) == MON_EMEA_END
    # New York is already on summer time (8 March): 17:00 EDT = 21:00 UTC.
    assert handoffs.next_shift_end(sun.amer, TUE_EMEA_END) == datetime(2026, 3, 24, 21, tzinfo=UTC)
    assert handoffs.is_shift_end(sun.emea, TUE_EMEA_END)
    assert not handoffs.is_shift_end(sun.emea, TUE_EMEA_END - timedelta(hours=1))
    assert handoffs.next_region(sun.emea) == sun.amer
    assert handoffs.next_region(sun.amer) == sun.apac
    assert handoffs.next_region(sun.apac) == sun.emea
    # a region without a calendar (or a 24x7 one) has no shift end
    sun.apac.shift_calendar = "24x7"
    assert handoffs.next_shift_end(sun.apac, TUE_EMEA_END) is None


def test_shift_end_opens_handoffs_and_rearms_across_the_dst_switch(sun):
    armed = handoffs.arm_all()
    assert armed["EMEA"] == TUE_EMEA_END
    assert shift_timers(sun.emea) == [TUE_EMEA_END]
    # nothing before the shift end
    assert fire_at(TUE_EMEA_END - timedelta(seconds=1)) == 0
    assert not Handoff.objects.exists()

    fire_at(TUE_EMEA_END)
    rows = list(Handoff.objects.order_by("id"))
    # the live escalation owned in EMEA and the open Sev-1 ticket assigned in EMEA; not Sev-2
    assert {(h.kind, h.escalation_id or h.ticket_id) for h in rows} == {
        ("escalation", sun.esc.pk),
        ("ticket", sun.sev1.pk),
    }
    for h in rows:
        assert (h.from_region, h.to_region, h.status, h.source) == (
            sun.emea,
            sun.amer,
            "pending",
            "shift_end",
        )
        assert h.shift_end_at == TUE_EMEA_END
        assert h.note_due_at == TUE_EMEA_END + timedelta(minutes=30)
        # suggested: AMER is open at 12:00 EDT; no rota, so its staff on shift by calendar
        assert h.suggested_receiver == sun.amer_agent
        assert pending(handoffs.NOTE_DUE_KIND, h) == []  # one timer for the shift end
    [notes] = Timer.objects.filter(kind=handoffs.NOTES_DUE_KIND, fired_at=None)
    assert (notes.subject_type, notes.subject_id) == ("region", sun.emea.pk)
    assert notes.due_at == TUE_EMEA_END + timedelta(minutes=30)
    by_kind = {h.kind: h for h in rows}
    assert by_kind["escalation"].from_user == sun.em
    assert by_kind["ticket"].from_user == sun.giver
    # givers are told, once each
    assert len(mails("Hand-off to AMER")) == 2
    assert (
        AuditEvent.objects.filter(type="handoff.shift_ended", subject_id=sun.emea.pk).count() == 1
    )
    assert AuditEvent.objects.filter(type="handoff.created").count() == 2
    # re-armed for Wednesday; the other regions armed as well
    assert shift_timers(sun.emea) == [TUE_EMEA_END + timedelta(days=1)]
    assert shift_timers(sun.amer) == [datetime(2026, 3, 24, 21, tzinfo=UTC)]

    # Friday's shift end, then Monday's after the EU switch to summer time (15:00 UTC).
    Timer.objects.filter(kind=handoffs.SHIFT_END_KIND).update(cancelled_at=TUE_EMEA_END)
    Timer.objects.filter(kind=handoffs.NOTES_DUE_KIND).update(cancelled_at=TUE_EMEA_END)
    timesource.set_time(FRI_EMEA_END - timedelta(hours=2))
    assert handoffs.arm_region(sun.emea) == FRI_EMEA_END
    fire_at(FRI_EMEA_END)
    fri = set(Handoff.objects.filter(shift_end_at=FRI_EMEA_END).values_list("id", flat=True))
    assert len(fri) == 2
    # Tuesday's open ones (from an earlier shift) were superseded
    assert set(
        Handoff.objects.filter(shift_end_at=TUE_EMEA_END).values_list("status", flat=True)
    ) == {"cancelled"}
    assert shift_timers(sun.emea) == [MON_EMEA_END]
    fire_at(MON_EMEA_END)
    mon = Handoff.objects.filter(shift_end_at=MON_EMEA_END)
    assert mon.count() == 2
    assert all(h.note_due_at == MON_EMEA_END + timedelta(minutes=30) for h in mon)


def test_idempotent_refire_creates_nothing_twice(sun):
    handoffs.arm_region(sun.emea)
    fire_at(TUE_EMEA_END)
    timer = Timer.objects.get(
        kind=handoffs.SHIFT_END_KIND, subject_id=sun.emea.pk, due_at=TUE_EMEA_END
    )
    assert timer.fired_at is not None
    before = (Handoff.objects.count(), OutboxMessage.objects.count(), Timer.objects.count())
    # the clock fires the same timer again (a second clock, a replay) ...
    handoffs.shift_end_fired(timer)
    # ... or the service runs twice for the same shift end, or the loop runs again
    handoffs.open_for_shift_end(sun.emea, TUE_EMEA_END)
    assert timers.fire_all_due() == 0
    # scheduling the fired key again does nothing
    timers.schedule(handoffs.SHIFT_END_KIND, "region", sun.emea.pk, TUE_EMEA_END, key=timer.key)
    assert timers.fire_all_due() == 0
    after = (Handoff.objects.count(), OutboxMessage.objects.count(), Timer.objects.count())
    assert after == before
    # the open handoffs of this shift were kept, not superseded
    assert set(Handoff.objects.values_list("status", flat=True)) == {"pending"}


def test_stale_timer_after_calendar_change_only_rearms(sun):
    from caseline.sla import config
    from caseline.sla.models import Calendar

    handoffs.arm_region(sun.emea)
    cal = Calendar.objects.get(name="emea-business")
    # the calendar now closes at 18:00 Berlin: the subscriber moves the timer
    config.update_calendar(cal, None, hours="Mon-Fri 08:00-18:00")
    assert shift_timers(sun.emea) == [TUE_EMEA_END + timedelta(hours=1)]
    assert Timer.objects.filter(
        kind=handoffs.SHIFT_END_KIND, subject_id=sun.emea.pk, cancelled_at__isnull=False
    ).exists()
    # a left-over timer at the old instant fires but opens nothing (not a shift end now)
    Timer.objects.filter(kind=handoffs.SHIFT_END_KIND, subject_id=sun.emea.pk).update(
        cancelled_at=None
    )
    fire_at(TUE_EMEA_END)
    assert not Handoff.objects.exists()
    fire_at(TUE_EMEA_END + timedelta(hours=1))
    assert Handoff.objects.count() == 2


def test_region_change_rearms(sun):
    from caseline.accounts.services import update_region

    handoffs.arm_region(sun.emea)
    update_region(sun.emea, shift_calendar="amer-business")
    assert shift_timers(sun.emea) == [datetime(2026, 3, 24, 21, tzinfo=UTC)]
    update_region(sun.emea, shift_calendar="")
    assert shift_timers(sun.emea) == []


# --- hand and acknowledge -----------------------------------------------------------------------


def _opened(sun):
    handoffs.arm_region(sun.emea)
    fire_at(TUE_EMEA_END)
    t = Handoff.objects.get(ticket=sun.sev1)
    e = Handoff.objects.get(escalation=sun.esc)
    return t, e


def test_hand_and_acknowledge_ticket_reassigns(sun):
    t, _e = _opened(sun)
    timesource.set_time(TUE_EMEA_END + timedelta(minutes=10))
    h = handoffs.hand(t.pk, sun.giver, receiver_id=sun.amer_agent2.pk, note="Waiting for logs")
    assert (h.status, h.receiver, h.note, h.hand_count) == (
        "handed",
        sun.amer_agent2,
        "Waiting for logs",
        1,
    )
    assert pending(handoffs.NOTE_DUE_KIND, h) == []
    [ack] = pending(handoffs.ACK_DUE_KIND, h)
    assert ack.due_at == TUE_EMEA_END + timedelta(minutes=40)
    assert mails("please acknowledge")[0].payload["to"] == ["amer2@caseline.test"]
    # only the receiver (or an escalation manager) acknowledges
    with pytest.raises(PermissionDenied):
        handoffs.acknowledge(h.pk, sun.amer_agent)
    h = handoffs.acknowledge(h.pk, sun.amer_agent2)
    assert h.status == "acknowledged" and h.acknowledged_by == sun.amer_agent2
    assert Ticket.objects.get(pk=sun.sev1.pk).assignee == sun.amer_agent2
    assert pending(handoffs.ACK_DUE_KIND, h) == []
    assert AuditEvent.objects.filter(
        type="ticket.assigned", ticket_id=sun.sev1.pk, actor=sun.amer_agent2
    ).exists()
    assert AuditEvent.objects.filter(type="handoff.acknowledged", ticket_id=sun.sev1.pk).exists()
    with pytest.raises(Conflict) as exc:
        handoffs.acknowledge(h.pk, sun.amer_agent2)
    assert exc.value.code == "already_acknowledged"
    # nothing escalates later
    n = OutboxMessage.objects.count()
    fire_at(TUE_EMEA_END + timedelta(hours=2))
    assert Handoff.objects.get(pk=h.pk).status == "acknowledged"
    assert (
        len(
            [
                m
                for m in OutboxMessage.objects.all()[n:]
                if "not acknowledged" in m.payload["subject"]
            ]
        )
        == 0
    )
    # the ticket now follows the sun: at AMER's shift end it goes on to APAC
    amer_end = datetime(2026, 3, 24, 21, tzinfo=UTC)
    fire_at(amer_end)
    nxt = Handoff.objects.get(ticket=sun.sev1, shift_end_at=amer_end)
    assert (nxt.from_user, nxt.from_region, nxt.to_region) == (sun.amer_agent2, sun.amer, sun.apac)


def test_acknowledge_escalation_sets_acting_owner(sun, api_client):
    _t, e = _opened(sun)
    handoffs.hand(e.pk, sun.em, receiver_id=sun.amer_agent.pk, note="Exec call at 9")
    handoffs.acknowledge(e.pk, sun.amer_agent)
    esc = Escalation.objects.get(pk=sun.esc.pk)
    assert esc.acting_owner == sun.amer_agent and esc.owner == sun.em
    ev = AuditEvent.objects.get(type="handoff.acknowledged", subject_type="escalation")
    assert (ev.field, ev.old, ev.new) == ("acting_owner", None, sun.amer_agent.pk)
    # the escalation is now held in AMER
    assert handoffs.history(Handoff.objects.get(pk=e.pk)).count() == 3
    detail = api_client(sun.em).get(f"/api/v1/escalations/{esc.pk}").json()
    assert detail["acting_owner"]["id"] == sun.amer_agent.pk and detail["owner"]["id"] == sun.em.pk


def test_hand_validation_and_permissions(sun):
    t, _e = _opened(sun)
    with pytest.raises(ValidationFailed) as exc:
        handoffs.hand(t.pk, sun.giver, receiver_id=sun.apac_agent.pk, note="")
    assert set(exc.value.fields) == {"note", "receiver_id"}
    with pytest.raises(ValidationFailed) as exc:
        handoffs.hand(t.pk, sun.giver, receiver_id=sun.giver.pk, note="x")
    assert "receiver_id" in exc.value.fields
    with pytest.raises(ValidationFailed):
        handoffs.hand(t.pk, sun.giver, receiver_id=None, note="x")
    assert Handoff.objects.get(pk=t.pk).status == "pending"  # bad input changed nothing
    with pytest.raises(PermissionDenied):
        handoffs.hand(t.pk, sun.amer_agent, receiver_id=sun.amer_agent2.pk, note="x")
    # an escalation manager may hand anyone's
    h = handoffs.hand(t.pk, sun.em2, receiver_id=sun.amer_agent2.pk, note="On behalf")
    assert h.handed_by == sun.em2
    # a rota member of AMER who lives elsewhere may receive
    from caseline.oncall.models import Layer, LayerMember, Schedule

    sched = Schedule.objects.create(
        region=sun.amer, name="AMER primary", time_zone="America/New_York"
    )
    layer = Layer.objects.create(schedule=sched, start_date="2026-03-01", handoff_time="09:00")
    LayerMember.objects.create(layer=layer, user=sun.apac_agent, position=1)
    h = handoffs.hand(t.pk, sun.giver, receiver_id=sun.apac_agent.pk, note="Again")
    assert h.hand_count == 2 and h.receiver == sun.apac_agent
    assert len(pending(handoffs.ACK_DUE_KIND, h)) == 1  # the first hand's timer was replaced


def test_manual_start_before_shift_end(sun):
    timesource.set_time(TUE_EMEA_END - timedelta(hours=1))
    with pytest.raises(PermissionDenied):
        handoffs.start(sun.amer_agent, ticket_id=sun.sev2.pk)
    h = handoffs.start(
        sun.giver, ticket_id=sun.sev2.pk, receiver_id=sun.amer_agent.pk, note="Sev-2 but hot"
    )
    assert (h.source, h.status, h.shift_end_at, h.to_region) == (
        "manual",
        "handed",
        TUE_EMEA_END,
        sun.amer,
    )
    with pytest.raises(Conflict) as exc:
        handoffs.start(sun.giver, ticket_id=sun.sev2.pk)
    assert exc.value.code == "handoff_open" and exc.value.fields["handoff_id"] == h.pk
    # a manual hand-off of the Sev-1 started this shift is kept at the shift end
    m = handoffs.start(sun.giver, ticket_id=sun.sev1.pk)
    handoffs.arm_region(sun.emea)
    fire_at(TUE_EMEA_END)
    assert list(Handoff.objects.filter(ticket=sun.sev1).values_list("id", flat=True)) == [m.pk]
    # a hand-off started by hand has its own note timer: 30 minutes after the shift end
    assert [t.due_at for t in pending(handoffs.NOTE_DUE_KIND, m)] == [
        TUE_EMEA_END + timedelta(minutes=30)
    ]
    fire_at(TUE_EMEA_END + timedelta(minutes=30))
    m.refresh_from_db()
    assert (m.status, m.escalated_stage) == ("escalated", "note")
    assert any(x.subject_id == sun.sev1.pk for x in mails("Hand-off not written"))
    with pytest.raises(ValidationFailed):
        handoffs.start(sun.giver, ticket_id=sun.sev1.pk, escalation_id=sun.esc.pk)


# --- late: escalated to the managers ----------------------------------------------------------


def test_no_note_escalates_to_managers_once(sun):
    t, e = _opened(sun)
    fire_at(TUE_EMEA_END + timedelta(minutes=29))
    assert Handoff.objects.get(pk=t.pk).status == "pending"
    fire_at(TUE_EMEA_END + timedelta(minutes=30))
    t.refresh_from_db()
    assert (t.status, t.escalated_stage) == ("escalated", "note")
    assert Handoff.objects.get(pk=e.pk).status == "escalated"
    # one digest per manager: EMEA's support manager and escalation manager, the giver's
    # team lead, the escalation's owner; never the giver of an item
    digests = mails("Hand-off not written")
    by_to = {m.payload["to"][0]: m.payload["text"] for m in digests}
    assert all(len(m.payload["to"]) == 1 for m in digests) and len(by_to) == len(digests)
    assert {"sm-emea@caseline.test", "em@caseline.test", "lead-emea@caseline.test"} <= set(by_to)
    assert "giver@caseline.test" not in by_to
    assert "Cluster down" in by_to["sm-emea@caseline.test"]
    assert "Escalated thing" in by_to["sm-emea@caseline.test"]
    assert "Escalated thing" not in by_to["em@caseline.test"]  # em gives that one
    assert AuditEvent.objects.filter(type="handoff.escalated", ticket_id=sun.sev1.pk).count() == 1
    # the clock fires again: nothing doubles
    n = OutboxMessage.objects.count()
    timers.fire_all_due()
    for timer in Timer.objects.filter(kind=handoffs.NOTES_DUE_KIND, subject_id=sun.emea.pk):
        handoffs.notes_due(timer)
    assert OutboxMessage.objects.count() == n
    assert AuditEvent.objects.filter(type="handoff.escalated", ticket_id=sun.sev1.pk).count() == 1
    # an escalated handoff can still be handed and acknowledged
    h = handoffs.hand(t.pk, sun.giver, receiver_id=sun.amer_agent.pk, note="Late, sorry")
    assert h.status == "handed" and h.escalated_at is not None
    assert handoffs.acknowledge(h.pk, sun.amer_agent).status == "acknowledged"


def test_unacknowledged_escalates_to_managers(sun):
    _t, e = _opened(sun)
    timesource.set_time(TUE_EMEA_END + timedelta(minutes=5))
    handoffs.hand(e.pk, sun.em, receiver_id=sun.amer_agent.pk, note="Call the CIO at 10")
    fire_at(TUE_EMEA_END + timedelta(minutes=34))
    assert Handoff.objects.get(pk=e.pk).status == "handed"
    fire_at(TUE_EMEA_END + timedelta(minutes=35))
    e.refresh_from_db()
    assert (e.status, e.escalated_stage) == ("escalated", "ack")
    [mail] = mails("Hand-off not acknowledged")
    assert "sm-emea@caseline.test" in mail.payload["to"]
    assert "Call the CIO at 10" in mail.payload["text"]
    ev = AuditEvent.objects.get(type="handoff.escalated", subject_type="escalation")
    assert ev.data["stage"] == "ack" and ev.data["handoff"] == e.pk
    timers.fire_all_due()
    assert len(mails("Hand-off not acknowledged")) == 1
    # the receiver can still acknowledge (from escalated)
    assert handoffs.acknowledge(e.pk, sun.amer_agent).status == "acknowledged"


def test_item_closed_cancels_instead_of_escalating(sun):
    from caseline.tickets.services import update_ticket

    t, _e = _opened(sun)
    update_ticket(sun.sev1.pk, actor=sun.giver, status="solved")
    fire_at(TUE_EMEA_END + timedelta(minutes=30))
    t.refresh_from_db()
    assert t.status == "cancelled" and "no longer open" in t.cancel_reason
    with pytest.raises(Conflict):
        handoffs.hand(t.pk, sun.giver, receiver_id=sun.amer_agent.pk, note="x")


# --- API ----------------------------------------------------------------------------------------


def test_api_list_detail_hand_acknowledge(sun, api_client):
    t, e = _opened(sun)
    giver = api_client(sun.giver)
    r = giver.get("/api/v1/handoffs?mine=give")
    assert r.status_code == 200
    assert [x["id"] for x in r.json()["results"]] == [t.pk]
    assert r.json()["results"][0]["can_hand"] is True
    r = giver.get("/api/v1/handoffs?region=AMER&status=pending")
    assert {x["id"] for x in r.json()["results"]} == {t.pk, e.pk}
    assert giver.get("/api/v1/handoffs?status=bogus").status_code == 422
    assert giver.get("/api/v1/handoffs?mine=everything").json()["error"]["fields"] == {
        "mine": "give or acknowledge"
    }
    assert giver.get("/api/v1/handoffs?region=MARS").status_code == 422
    d = giver.get(f"/api/v1/handoffs/{t.pk}").json()
    assert d["item"] == {
        "type": "ticket",
        "id": sun.sev1.pk,
        "reference": f"CL-{sun.sev1.pk}",
        "title": "Cluster down",
        "status": "open",
        "severity": 1,
    }
    assert d["suggested_receiver"]["id"] == sun.amer_agent.pk
    assert {p["id"] for p in d["receiver_options"]} == {sun.amer_agent.pk, sun.amer_agent2.pk}
    assert [ev["type"] for ev in d["history"]] == ["handoff.created"]
    assert giver.get("/api/v1/handoffs/999999").status_code == 404

    url = f"/api/v1/handoffs/{t.pk}/hand"
    r = giver.post(
        url, {"receiver_id": sun.apac_agent.pk, "note": ""}, content_type="application/json"
    )
    assert r.status_code == 422 and set(r.json()["error"]["fields"]) == {"note", "receiver_id"}
    r = api_client(sun.amer_agent).post(
        url, {"receiver_id": sun.amer_agent2.pk, "note": "x"}, content_type="application/json"
    )
    assert r.status_code == 403
    r = giver.post(
        "/api/v1/handoffs/999999/hand",
        {"receiver_id": sun.amer_agent.pk, "note": "x"},
        content_type="application/json",
    )
    assert r.status_code == 404
    r = giver.post(f"/api/v1/handoffs/{t.pk}/acknowledge", content_type="application/json")
    assert r.status_code == 403  # the giver is not the receiver
    r = api_client(sun.em2).post(
        f"/api/v1/handoffs/{t.pk}/acknowledge", content_type="application/json"
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_handed"
    r = giver.post(
        url,
        {"receiver_id": sun.amer_agent.pk, "note": "Logs requested"},
        content_type="application/json",
    )
    assert r.status_code == 200 and r.json()["status"] == "handed"

    recv = api_client(sun.amer_agent)
    r = recv.get("/api/v1/handoffs?mine=acknowledge")
    assert [x["id"] for x in r.json()["results"]] == [t.pk]
    assert r.json()["results"][0]["can_acknowledge"] is True
    r = recv.post(f"/api/v1/handoffs/{t.pk}/acknowledge", content_type="application/json")
    assert r.status_code == 200 and r.json()["status"] == "acknowledged"
    assert r.json()["acknowledged_by"]["id"] == sun.amer_agent.pk
    r = recv.post(f"/api/v1/handoffs/{t.pk}/acknowledge", content_type="application/json")
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_acknowledged"
    r = giver.post(
        url, {"receiver_id": sun.amer_agent.pk, "note": "again"}, content_type="application/json"
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "handoff_closed"
    assert recv.get(f"/api/v1/handoffs?ticket={sun.sev1.pk}").json()["results"][0]["id"] == t.pk


def test_api_start_and_refusals(sun, api_client):
    timesource.set_time(TUE_EMEA_END - timedelta(hours=2))
    giver = api_client(sun.giver)
    r = giver.post("/api/v1/handoffs", {}, content_type="application/json")
    assert r.status_code == 422 and "escalation_id" in r.json()["error"]["fields"]
    r = giver.post("/api/v1/handoffs", {"ticket_id": 999999}, content_type="application/json")
    assert r.status_code == 404
    r = giver.post(
        "/api/v1/handoffs",
        {"ticket_id": sun.sev1.pk, "receiver_id": sun.amer_agent.pk, "note": "Heads-up"},
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    assert r.json()["status"] == "handed" and r.json()["source"] == "manual"
    r = giver.post("/api/v1/handoffs", {"ticket_id": sun.sev1.pk}, content_type="application/json")
    assert r.status_code == 409 and r.json()["error"]["code"] == "handoff_open"
    r = api_client(sun.customer).get("/api/v1/handoffs")
    assert r.status_code == 403
    r = api_client(sun.em).post(
        "/api/v1/handoffs", {"escalation_id": sun.esc.pk}, content_type="application/json"
    )
    assert r.status_code == 201 and r.json()["status"] == "pending"


# --- web ------------------------------------------------------------------------------------------


def test_page_and_panels(sun, client):
    t, e = _opened(sun)
    client.force_login(sun.giver)
    r = client.get("/handoffs/")
    assert r.status_code == 200
    html = r.content.decode()
    assert f'id="handoff-{t.pk}"' in html and 'data-form="hand"' in html
    assert "Hand-offs" in html  # nav item and heading
    # hand through the htmx form: the card comes back handed
    r = client.post(
        f"/handoffs/{t.pk}/hand",
        {"receiver_id": str(sun.amer_agent.pk), "note": "Check replica"},
        HTTP_HX_REQUEST="true",
    )
    assert r.status_code == 200 and 'data-status="handed"' in r.content.decode()
    r = client.post(
        f"/handoffs/{e.pk}/hand", {"receiver_id": "", "note": ""}, HTTP_HX_REQUEST="true"
    )
    assert 'role="alert"' in r.content.decode()  # refusals shown next to the form (not mine)
    client.force_login(sun.amer_agent)
    r = client.get("/handoffs/")
    assert 'data-form="acknowledge"' in r.content.decode()
    r = client.post(f"/handoffs/{t.pk}/acknowledge", HTTP_HX_REQUEST="true")
    assert 'data-status="acknowledged"' in r.content.decode()
    # panels
    r = client.get(f"/escalations/{sun.esc.pk}/handoffs/panel")
    assert r.status_code == 200 and f'data-handoff="{e.pk}"' in r.content.decode()
    r = client.get(f"/handoffs/ticket/{sun.sev1.pk}/panel")
    assert f'data-handoff="{t.pk}"' in r.content.decode()
    r = client.get(f"/handoffs/ticket/{sun.sev2.pk}/panel")
    assert r.status_code == 200 and r.content == b""
    # the giver's Sev-1 panel offers to start one when there is none open
    client.force_login(sun.em)
    handoffs.hand(e.pk, sun.em, receiver_id=sun.amer_agent.pk, note="n")
    handoffs.acknowledge(e.pk, sun.amer_agent)
    r = client.get(f"/escalations/{sun.esc.pk}/handoffs/panel")
    assert 'data-field="acting-owner"' in r.content.decode()
    assert 'data-form="start-handoff"' in r.content.decode()  # EM may act on any
    r = client.post("/handoffs/start", {"escalation_id": str(sun.esc.pk)}, HTTP_HX_REQUEST="true")
    assert r.status_code == 200
    assert Handoff.objects.filter(escalation=sun.esc, source="manual").exists()
    # customers and anonymous users get nothing
    client.logout()
    assert client.get("/handoffs/").status_code == 302


def test_demo_seeds_one_acknowledged_and_one_pending_once(sun):
    from caseline.demo.esc_handoffs import seed_handoffs

    class Report:
        def __init__(self):
            self.created = {}

        def add(self, what, n=1):
            self.created[what] = self.created.get(what, 0) + n

    report = Report()
    seed_handoffs(report, {})
    seed_handoffs(report, {})
    assert report.created == {"handoffs": 2}
    acked = Handoff.objects.get(escalation=sun.esc)
    assert acked.status == "acknowledged" and acked.to_region == sun.amer
    assert Escalation.objects.get(pk=sun.esc.pk).acting_owner == acked.receiver
    pending_one = Handoff.objects.get(status="pending")
    assert pending_one.ticket == sun.sev1 and pending_one.from_user == sun.giver
    assert shift_timers(sun.emea) == [TUE_EMEA_END]
