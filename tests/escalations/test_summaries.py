"""Executive summaries: the pure facts and DST arithmetic, the services (generate, edit,
send, notes, schedule), the schedule's timers fired by the clock (draft, send, next day,
stopped at resolution, no burst after downtime), the API and the room panel."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from types import SimpleNamespace

import pytest
from django.test import Client

from caseline import timesource
from caseline.accounts.models import Organization, Region, User
from caseline.audit.models import AuditEvent
from caseline.errors import Conflict, ValidationFailed
from caseline.escalations import services, summaries
from caseline.escalations.models import (
    Commitment,
    CommitmentSlip,
    Escalation,
    ExecutiveSummary,
    Stakeholder,
    SummarySchedule,
)
from caseline.notify.models import OutboxMessage
from caseline.sla import timers
from caseline.sla.models import Timer

BERLIN = "Europe/Berlin"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- pure: "17:00 local" each day, across DST ----------------------------------------------


@pytest.mark.pure
def test_next_local_is_the_same_wall_time_every_day_across_dst():
    at = time(17, 0)
    # Berlin: CET (UTC+1) until Sunday 29 March 2026 02:00, CEST (UTC+2) after.
    assert summaries.next_local(utc(2026, 3, 27, 12), at, BERLIN) == utc(2026, 3, 27, 16)
    assert summaries.next_local(utc(2026, 3, 27, 16), at, BERLIN) == utc(2026, 3, 28, 16)
    assert summaries.next_local(utc(2026, 3, 28, 16), at, BERLIN) == utc(2026, 3, 29, 15)
    assert summaries.next_local(utc(2026, 3, 29, 15), at, BERLIN) == utc(2026, 3, 30, 15)
    # ... and back in October (CEST -> CET on 25 October 2026)
    assert summaries.next_local(utc(2026, 10, 24, 15), at, BERLIN) == utc(2026, 10, 25, 16)
    # New York: EST -> EDT on 8 March 2026
    ny = "America/New_York"
    assert summaries.next_local(utc(2026, 3, 7, 22), at, ny) == utc(2026, 3, 8, 21)
    # A local time inside the spring gap lands on the same wall time shifted by the gap;
    # an ambiguous one (autumn) on its first occurrence.
    assert summaries.next_local(utc(2026, 3, 28, 12), time(2, 30), BERLIN) == utc(
        2026, 3, 29, 1, 30
    )
    assert summaries.next_local(utc(2026, 10, 24, 12), time(2, 30), BERLIN) == utc(
        2026, 10, 25, 0, 30
    )
    # strictly after: at the very instant, the next day's
    assert summaries.next_local(utc(2026, 6, 1, 17), at, "UTC") == utc(2026, 6, 2, 17)


@pytest.mark.pure
def test_assemble_is_a_pure_function_of_the_loaded_records():
    org = Organization(name="Acme")
    owner = User(pk=3, display_name="Erin Manager", email="erin@x.test")
    esc = Escalation(
        pk=7,
        title="Replication down",
        organization=org,
        owner=owner,
        severity=1,
        status="active",
        business_impact="Quarter-end close blocked.",
        next_steps="Ship hotfix 4.2.1",
        risks="Storage vendor slow to answer",
        opened_at=utc(2026, 3, 23, 9),
    )
    sme = User(pk=4, display_name="Sam SME", email="sam@x.test")
    from caseline.accounts.models import Contact

    ann = Contact(pk=5, name="Ann Decider")
    people = [
        Stakeholder(pk=11, escalation=esc, user=sme, role="sme", involvement="4 h/day"),
        Stakeholder(pk=12, escalation=esc, contact=ann, role="decision_maker"),
        Stakeholder(
            pk=13,
            escalation=esc,
            user=User(pk=6, display_name="Gone"),
            role="engineering_lead",
            renounced_at=utc(2026, 3, 24, 8),
        ),
    ]
    c = Commitment(
        pk=21,
        escalation=esc,
        what="Root-cause analysis",
        to_whom="Ann",
        owner=sme,
        due_at=utc(2026, 3, 26, 12),
        status="open",
    )
    done = Commitment(
        pk=22, escalation=esc, what="Logs", to_whom="Ann", owner=sme, due_at=utc(2026, 3, 20)
    )
    done.status = "done"
    slip = CommitmentSlip(
        pk=31,
        commitment=c,
        old_due_at=utc(2026, 3, 25, 12),
        new_due_at=utc(2026, 3, 26, 12),
        reason="Waiting for logs",
        by=owner,
    )

    def ev(pk, type_, **kw):
        return SimpleNamespace(
            pk=pk,
            type=type_,
            at=utc(2026, 3, 24, 9, pk),
            actor_label=kw.pop("actor", "erin@x.test"),
            field=kw.pop("field", ""),
            old=kw.pop("old", None),
            new=kw.pop("new", None),
            data=kw,
        )

    events = [
        ev(1, "escalation.status_changed", field="status", old="open", new="active"),
        ev(2, "escalation.stakeholder_added", stakeholder=11, role="sme", involvement="4 h/day"),
        ev(3, "escalation.summary_sent", summary=1),  # our own: not a change
        ev(4, "escalation.update_missed", kind="customer_update", due_at="2026-03-24T08:00:00Z"),
        ev(5, "escalation.step_changed", field="step_done", old=False, new=True, title="Map"),
        ev(6, "escalation.commitment_slipped", reason="Waiting for logs"),
    ]
    records = summaries.Records(
        escalation=esc,
        at=utc(2026, 3, 24, 16),
        since=utc(2026, 3, 23, 16),
        zone=BERLIN,
        events=events,
        commitments=[c, done],
        slips=[slip],
        stakeholders=people,
    )
    facts = summaries.assemble(records)
    assert facts["status"] == "Active" and facts["impact"] == "Quarter-end close blocked."
    assert [c["text"] for c in facts["changes"]] == [
        "Status moved from open to active by erin@x.test.",
        "Sam SME joined as sme (4 h/day).",
        "Customer update due Tue 24 Mar 2026 09:00 CET was missed.",
        "Checklist step “Map” done by erin@x.test.",
        "A commitment slipped by erin@x.test: Waiting for logs.",
    ]
    assert facts["changes"][0]["at"] == "Tue 24 Mar 2026 10:01 CET"
    assert facts["commitments"][0] == {
        "what": "Root-cause analysis",
        "to_whom": "Ann",
        "owner": "Sam SME",
        "due": "Thu 26 Mar 2026 13:00 CET",
        "status": "open",
        "slips": 1,
    }
    assert facts["commitments"][1]["status"] == "done"
    assert facts["slips"] == [
        {
            "what": "Root-cause analysis",
            "old": "Wed 25 Mar 2026 13:00 CET",
            "new": "Thu 26 Mar 2026 13:00 CET",
            "reason": "Waiting for logs",
            "by": "Erin Manager",
        }
    ]
    # people engaged: current roles only
    assert facts["internal"] == [{"name": "Sam SME", "role": "sme", "involvement": "4 h/day"}]
    assert facts["customer"] == [{"name": "Ann Decider", "role": "decision maker"}]
    assert facts["next_steps"] == "Ship hotfix 4.2.1" and facts["risks"].startswith("Storage")


@pytest.mark.pure
def test_an_overdue_open_commitment_says_so():
    org = Organization(name="Acme")
    esc = Escalation(pk=1, title="t", organization=org, status="open", opened_at=utc(2026, 1, 1))
    c = Commitment(pk=1, escalation=esc, what="Fix", to_whom="A", owner=User(email="o@x.test"))
    c.due_at = utc(2026, 1, 2)
    facts = summaries.assemble(
        summaries.Records(
            escalation=esc, at=utc(2026, 1, 3), since=None, zone="UTC", commitments=[c]
        )
    )
    assert facts["commitments"][0]["status"] == "overdue" and facts["owner"] == "nobody"


# --- services -------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_default_schedule(settings):
    """These tests set the schedule themselves; the default one armed at opening
    (``ESCALATION_SUMMARY_DEFAULT``) has its own test below."""
    settings.ESCALATION_SUMMARY_DEFAULT = False


@pytest.fixture
def esc(world):
    Region.objects.filter(pk=world.emea.pk).update(time_zone=BERLIN)
    e = services.open_escalation(
        world.em,
        ticket_ids=[world.ticket().pk],
        business_impact="Replication down for the EU cluster.",
    )
    services.add_stakeholder(
        e.pk, world.em, user_id=world.exec.pk, role="executive_sponsor", involvement="daily"
    )
    services.add_stakeholder(e.pk, world.em, contact_id=world.contact.pk, role="decision_maker")
    return e


def summary_mails(esc) -> list[OutboxMessage]:
    return list(
        OutboxMessage.objects.filter(idempotency_key__startswith="esc-summary-").order_by("id")
    )


def test_zone_is_the_owners_region_else_own_else_the_organizations(world, esc):
    esc = summaries.get_escalation(esc.pk)
    assert summaries.zone_for(esc) == BERLIN
    User.objects.filter(pk=world.em.pk).update(region=None, time_zone="Asia/Tokyo")
    assert summaries.zone_for(summaries.get_escalation(esc.pk)) == "Asia/Tokyo"
    User.objects.filter(pk=world.em.pk).update(time_zone="UTC")
    Region.objects.filter(pk=world.emea.pk).update(time_zone="Europe/Paris")
    # the organization (Acme Esc) is in EMEA
    assert summaries.zone_for(summaries.get_escalation(esc.pk)) == "Europe/Paris"
    Organization.objects.filter(pk=world.org.pk).update(region=None)
    assert summaries.zone_for(summaries.get_escalation(esc.pk)) == "UTC"
    sched = SummarySchedule(escalation=esc, time_zone="America/Chicago")
    assert summaries.zone_for(esc, sched) == "America/Chicago"


def test_generate_edit_and_send_by_hand(world, esc):
    draft = summaries.generate(esc.pk, world.em)
    assert draft.status == "draft" and draft.since is None
    assert draft.subject.startswith(f"[ESC-{esc.pk}] Executive summary Tue 24 Mar 2026: ")
    assert "Replication down for the EU cluster." in draft.text
    assert "Escalation opened (direct) by em@caseline.test." in draft.text
    assert "exec@caseline.test, executive sponsor (daily)" in draft.text
    assert "Ann Decider (customer), decision maker" in draft.text
    assert "Times in Europe/Berlin." in draft.text
    assert "<h3>Customer impact</h3>" in draft.html and "Ann Decider" in draft.html

    edited = summaries.edit_draft(esc.pk, draft.pk, world.em, text="Short <b>version</b>.")
    assert edited.edited_by == world.em and edited.text == "Short <b>version</b>.\n"
    assert "Short &lt;b&gt;version&lt;/b&gt;." in edited.html  # escaped

    sent = summaries.send_now(esc.pk, world.em)
    assert sent.pk == draft.pk and sent.status == "sent" and sent.sent_by == world.em
    assert sent.recipients == ["em@caseline.test", "exec@caseline.test"]
    [mail] = summary_mails(esc)
    assert mail.payload["to"] == sent.recipients
    assert mail.payload["text"] == "Short <b>version</b>.\n"
    assert "&lt;b&gt;" in mail.payload["html"]
    types = list(
        AuditEvent.objects.filter(subject_type="escalation", subject_id=esc.pk)
        .filter(type__startswith="escalation.summary")
        .values_list("type", flat=True)
    )
    assert types == [
        "escalation.summary_generated",
        "escalation.summary_edited",
        "escalation.summary_sent",
    ]
    # a sent summary is kept as sent
    with pytest.raises(Conflict) as exc:
        summaries.edit_draft(esc.pk, sent.pk, world.em, text="again")
    assert exc.value.code == "summary_sent"
    # sending with no draft generates one first
    timesource.advance(60)
    second = summaries.send_now(esc.pk, world.em)
    assert second.pk != sent.pk and second.edited_at is None
    assert ExecutiveSummary.objects.filter(escalation=esc, status="sent").count() == 2


def test_what_changed_since_the_last_sent_summary(world, esc):
    summaries.send_now(esc.pk, world.em)
    timesource.advance(3600)
    step = esc.steps.order_by("position").first()
    services.tick_step(esc.pk, step.pk, world.em)
    c = services.add_commitment(
        esc.pk,
        world.em,
        what="Hotfix",
        to_whom="Ann",
        owner_id=world.agent.pk,
        due_at=timesource.now() + timedelta(days=1),
    )
    services.update_commitment(
        c.pk, world.em, due_at=timesource.now() + timedelta(days=2), reason="QA regression"
    )
    summaries.set_notes(esc.pk, world.em, next_steps="Deploy hotfix", risks="Vendor delay")
    draft = summaries.generate(esc.pk, world.em)
    assert draft.since is not None
    assert "Escalation opened" not in draft.text  # reported last time
    assert f"Checklist step “{step.title}” done by em@caseline.test." in draft.text
    assert "New commitment to Ann: Hotfix" in draft.text
    assert "A commitment slipped by em@caseline.test: QA regression." in draft.text
    assert "Hotfix: Wed 25 Mar 2026 12:00 CET -> Thu 26 Mar 2026 12:00 CET" in draft.text
    assert "slipped 1x since the last summary" in draft.text
    assert "Deploy hotfix" in draft.text and "Vendor delay" in draft.text
    assert "Next steps updated by em@caseline.test." in draft.text


def test_opening_arms_the_default_daily_schedule(world, settings):
    """Every new escalation gets the default: daily 17:00 in the owner's zone, the draft an
    hour before, on the timer table."""
    settings.ESCALATION_SUMMARY_DEFAULT = True
    esc = services.open_escalation(
        world.em, ticket_ids=[world.ticket().pk], business_impact="Orders stopped"
    )
    sched = SummarySchedule.objects.get(escalation=esc)
    assert sched.active and sched.send_time.strftime("%H:%M") == "17:00"
    assert sched.next_send_at is not None and sched.lead_minutes == 60
    kinds = set(
        Timer.objects.filter(subject_type="escalation", subject_id=esc.pk).values_list(
            "kind", flat=True
        )
    )
    assert {"escalation.summary_draft", "escalation.summary_send"} <= kinds


def test_bad_input_changes_nothing(world, esc):
    def state():
        return (
            list(SummarySchedule.objects.values()),
            list(Timer.objects.filter(kind__startswith="escalation.summary").values()),
        )

    before = state()
    with pytest.raises(ValidationFailed) as exc:
        summaries.set_schedule(
            esc.pk, world.em, send_time="25:00", time_zone="Mars/Olympus", lead_minutes=-5
        )
    assert set(exc.value.fields) == {"send_time", "time_zone", "lead_minutes"}
    assert state() == before
    draft = summaries.generate(esc.pk, world.em)
    with pytest.raises(ValidationFailed):
        summaries.edit_draft(esc.pk, draft.pk, world.em, text="   ")
    draft.refresh_from_db()
    assert draft.edited_at is None
    # nobody internal with an email: 422, nothing sent
    User.objects.filter(pk__in=[world.em.pk, world.exec.pk]).update(is_active=False)
    with pytest.raises(ValidationFailed) as exc:
        summaries.send_now(esc.pk, world.em)
    assert "recipients" in exc.value.fields
    assert not ExecutiveSummary.objects.filter(status="sent").exists()


# --- the schedule on the clock -------------------------------------------------------------


def fire_at(when: datetime) -> int:
    timesource.set_time(when)
    return timers.fire_all_due()


def test_schedule_drafts_notifies_sends_and_arms_the_next_day(world, esc):
    sched = summaries.set_schedule(esc.pk, world.em)  # 17:00 Berlin, draft 60 min before
    assert sched.next_send_at == utc(2026, 3, 24, 16)
    pending = dict(
        Timer.objects.filter(timers.PENDING, kind__startswith="escalation.summary").values_list(
            "key", "due_at"
        )
    )
    assert pending == {
        f"esc-summary:{esc.pk}:1:draft": utc(2026, 3, 24, 15),
        f"esc-summary:{esc.pk}:1:send": utc(2026, 3, 24, 16),
    }
    assert fire_at(utc(2026, 3, 24, 14, 59, 59)) == 0
    assert fire_at(utc(2026, 3, 24, 15)) == 1
    draft = ExecutiveSummary.objects.get(escalation=esc, status="draft")
    note = OutboxMessage.objects.get(idempotency_key=f"esc-summary:{esc.pk}:1:draft:email")
    assert note.payload["to"] == ["em@caseline.test"]
    assert "Tue 24 Mar 2026 17:00 CET" in note.payload["text"]
    # the owner edits it; the send keeps the edit
    summaries.edit_draft(esc.pk, draft.pk, world.em, text="Edited for the CEO.")
    assert fire_at(utc(2026, 3, 24, 16)) == 1
    draft.refresh_from_db()
    assert draft.status == "sent" and draft.text == "Edited for the CEO.\n"
    assert draft.occurrence == 1 and draft.sent_by is None
    assert [m.payload["text"] for m in summary_mails(esc)] == ["Edited for the CEO.\n"]
    sched.refresh_from_db()
    assert sched.occurrence == 2 and sched.next_send_at == utc(2026, 3, 25, 16)
    # day 2: untouched draft at 16:00 CET, refreshed at the send with what happened since
    assert fire_at(utc(2026, 3, 25, 15)) == 1
    services.set_cadence(esc.pk, world.em, kind="internal_sync", every_seconds=86400)
    assert fire_at(utc(2026, 3, 25, 16)) == 1
    second = ExecutiveSummary.objects.get(escalation=esc, occurrence=2)
    assert "Internal sync cadence set to every day by em@caseline.test." in second.text
    assert second.since == draft.generated_at
    assert "Escalation opened" not in second.text


def test_dst_week_sends_at_17_local_every_day(world, esc):
    timesource.set_time(utc(2026, 3, 27, 12))
    summaries.set_schedule(esc.pk, world.em, lead_minutes=0)
    sent_at = []
    for _day in range(27, 32):
        nxt = SummarySchedule.objects.get(escalation=esc).next_send_at
        assert fire_at(nxt) == 1
        sent_at.append(nxt)
    assert sent_at == [
        utc(2026, 3, 27, 16),
        utc(2026, 3, 28, 16),
        utc(2026, 3, 29, 15),  # CEST from Sunday
        utc(2026, 3, 30, 15),
        utc(2026, 3, 31, 15),
    ]
    assert ExecutiveSummary.objects.filter(escalation=esc, status="sent").count() == 5


def test_a_clock_down_for_days_sends_once_and_resumes_in_the_future(world, esc):
    summaries.set_schedule(esc.pk, world.em)
    fire_at(utc(2026, 3, 27, 18))  # three days later
    assert ExecutiveSummary.objects.filter(escalation=esc, status="sent").count() == 1
    assert SummarySchedule.objects.get(escalation=esc).next_send_at == utc(2026, 3, 28, 16)


def test_resolving_stops_the_schedule_and_reopening_rearms_it(world, esc):
    summaries.set_schedule(esc.pk, world.em)
    services.transition(esc.pk, world.em, "resolved", root_cause="Disk firmware")
    assert not Timer.objects.filter(timers.PENDING, kind__startswith="escalation.summary").exists()
    assert SummarySchedule.objects.get(escalation=esc).next_send_at is None
    assert fire_at(utc(2026, 3, 26, 12)) == 0
    assert not ExecutiveSummary.objects.exists()
    services.transition(esc.pk, world.em, "active")
    sched = SummarySchedule.objects.get(escalation=esc)
    assert sched.occurrence == 2 and sched.next_send_at == utc(2026, 3, 26, 16)
    assert fire_at(utc(2026, 3, 26, 16)) == 2
    assert ExecutiveSummary.objects.get(escalation=esc).occurrence == 2
    services.transition(esc.pk, world.em, "resolved", root_cause="Disk firmware")
    services.transition(esc.pk, world.em, "closed")
    assert fire_at(utc(2026, 3, 30)) == 0
    # a closed escalation takes no schedule
    with pytest.raises(Conflict):
        summaries.set_schedule(esc.pk, world.em)


def test_changing_the_schedule_replaces_the_pending_occurrence(world, esc):
    summaries.set_schedule(esc.pk, world.em)
    sched = summaries.set_schedule(
        esc.pk, world.em, send_time="09:30", time_zone="America/New_York", lead_minutes=30
    )
    # 24 March 10:00 UTC = 06:00 EDT: today 09:30 EDT = 13:30 UTC
    assert sched.occurrence == 2 and sched.next_send_at == utc(2026, 3, 24, 13, 30)
    assert set(
        Timer.objects.filter(timers.PENDING, kind__startswith="escalation.summary").values_list(
            "key", flat=True
        )
    ) == {f"esc-summary:{esc.pk}:2:draft", f"esc-summary:{esc.pk}:2:send"}
    summaries.set_schedule(esc.pk, world.em, active=False)
    assert not Timer.objects.filter(timers.PENDING, kind__startswith="escalation.summary").exists()
    assert fire_at(utc(2026, 3, 25)) == 0
    assert AuditEvent.objects.filter(type="escalation.summary_schedule_set").count() == 3


# --- API -------------------------------------------------------------------------------------


def test_api(world, esc, api_client):
    em, se = api_client(world.em), api_client(world.agent)
    base = f"/api/v1/escalations/{esc.pk}"
    r = em.get(f"{base}/summary-schedule")
    assert r.status_code == 200 and r.json()["active"] is False
    assert r.json()["zone"] == BERLIN and r.json()["send_time"] == "17:00"
    r = em.put(f"{base}/summary-schedule", {"send_time": "18:15"}, content_type="application/json")
    assert r.status_code == 200, r.content
    assert r.json()["next_send_at"] == "2026-03-24T17:15:00Z"
    assert r.json()["next_draft_at"] == "2026-03-24T16:15:00Z"
    r = em.put(
        f"{base}/summary-schedule", {"time_zone": "Nowhere/Else"}, content_type="application/json"
    )
    assert r.status_code == 422 and "time_zone" in r.json()["error"]["fields"]
    r = em.patch(
        f"{base}/summary-notes", {"risks": "Vendor delay"}, content_type="application/json"
    )
    assert r.status_code == 200 and r.json() == {"next_steps": "", "risks": "Vendor delay"}
    r = em.post(f"{base}/summaries")
    assert r.status_code == 201 and "Vendor delay" in r.json()["text"]
    sid = r.json()["id"]
    r = em.patch(
        f"{base}/summaries/{sid}", {"subject": "Board update"}, content_type="application/json"
    )
    assert r.status_code == 200 and r.json()["subject"] == "Board update"
    assert r.json()["edited_by"]["id"] == world.em.pk
    r = em.post(f"{base}/summaries/send")
    assert r.status_code == 200 and r.json()["status"] == "sent" and not r.json()["scheduled"]
    r = se.get(f"{base}/summaries?status=sent")
    assert r.status_code == 200 and [s["id"] for s in r.json()["results"]] == [sid]
    assert se.get(f"{base}/summaries/{sid}").json()["subject"] == "Board update"
    assert se.get(f"{base}/summaries?status=nope").status_code == 422
    r = em.patch(f"{base}/summaries/{sid}", {"text": "x"}, content_type="application/json")
    assert r.status_code == 409 and r.json()["error"]["code"] == "summary_sent"
    # reading is for every staff role, changing for escalation managers
    assert se.post(f"{base}/summaries").status_code == 403
    assert (
        se.put(f"{base}/summary-schedule", {}, content_type="application/json").status_code == 403
    )
    assert em.get("/api/v1/escalations/999999/summaries").status_code == 404
    assert em.get(f"{base}/summaries/999999").status_code == 404
    assert em.post("/api/v1/escalations/999999/summaries/send").status_code == 404


# --- the room panel --------------------------------------------------------------------------


def _web(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_panel_shows_schedule_draft_and_sent_and_runs_the_actions(world, esc):
    from django.urls import reverse

    from caseline.web import panels

    assert any(p["key"] == "summaries" for p in panels.panels_for("escalation", world.em, esc.pk))
    em = _web(world.em)
    hx = {"HTTP_HX_REQUEST": "true"}
    url = reverse("escalation_summaries_panel", kwargs={"escalation_id": esc.pk})
    r = em.get(url)
    assert r.status_code == 200 and b"Not scheduled." in r.content
    r = em.post(
        reverse("escalation_summaries_schedule", args=[esc.pk]),
        {"send_time": "17:00", "time_zone": "", "lead_minutes": "60", "active": ["0", "1"]},
        **hx,
    )
    assert r.status_code == 200 and b"Daily at <b>17:00</b> Europe/Berlin" in r.content
    r = em.post(reverse("escalation_summaries_schedule", args=[esc.pk]), {"send_time": "x"}, **hx)
    assert b'data-error="schedule"' in r.content
    r = em.post(
        reverse("escalation_summaries_notes", args=[esc.pk]),
        {"next_steps": "Deploy", "risks": "None"},
        **hx,
    )
    assert r.status_code == 200 and Escalation.objects.get(pk=esc.pk).next_steps == "Deploy"
    r = em.post(reverse("escalation_summaries_generate", args=[esc.pk]), **hx)
    draft = ExecutiveSummary.objects.get(escalation=esc, status="draft")
    assert f'data-draft="{draft.pk}"'.encode() in r.content
    r = em.post(
        reverse("escalation_summaries_edit", args=[esc.pk, draft.pk]),
        {"subject": "Exec update", "text": "All good."},
        **hx,
    )
    assert b"<b>edited</b>" in r.content
    r = em.post(reverse("escalation_summaries_send", args=[esc.pk]), **hx)
    assert f'data-sent="{draft.pk}"'.encode() in r.content and b"Sent (1)" in r.content
    r = em.get(reverse("escalation_summaries_view", args=[esc.pk, draft.pk]))
    assert r.status_code == 200 and b"All good." in r.content
    # a reader sees it without forms and may not act
    se = _web(world.agent)
    r = se.get(url)
    assert r.status_code == 200 and b"summary-edit" not in r.content
    assert se.post(reverse("escalation_summaries_generate", args=[esc.pk])).status_code == 403
    assert em.get(reverse("escalation_summaries_panel", args=[999999])).status_code == 404


def test_demo_seeds_a_sent_summary_and_a_draft_once(world, esc):
    from caseline.demo.esc_summaries import seed_summaries

    report = SimpleNamespace(created={}, add=lambda what, n=1: report.created.update({what: n}))
    seed_summaries(report, {})
    assert report.created == {"executive summaries sent": 1, "executive summary drafts": 1}
    rows = list(ExecutiveSummary.objects.filter(escalation=esc).order_by("id"))
    assert [r.status for r in rows] == ["sent", "draft"]
    assert "Checklist step" in rows[1].text and "Escalation opened" not in rows[1].text
    assert SummarySchedule.objects.get(escalation=esc).next_send_at == utc(2026, 3, 24, 16)
    seed_summaries(report, {})
    assert ExecutiveSummary.objects.filter(escalation=esc).count() == 2
