"""The "actionable" flag of a staff reply, through the messages API, drives the
first-actionable-response clock (docs/sla.md)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from caseline import timesource
from caseline.accounts import roles
from caseline.accounts.models import Contact, Organization
from caseline.audit.models import AuditEvent
from caseline.sla import calendars, services
from caseline.tickets import services as tickets

MON_0900_NY = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # Monday 09:00 EST
ACT = "support_engineer:actionable"
ACK = "support_engineer:acknowledge"


@pytest.fixture
def w(db, make_staff, api_client, tmp_path, monkeypatch):
    monkeypatch.setenv(timesource.ENV_VAR, str(tmp_path / "time.json"))
    timesource.set_time(MON_0900_NY)
    calendars.invalidate()
    org = Organization.objects.create(name="Flag Co", tier="standard")
    contact = Contact.objects.create(name="Fay", organization=org)
    agent = make_staff(roles.SE)
    yield {"contact": contact, "agent": agent, "api": api_client(agent)}
    calendars.invalidate()


def new_ticket(w):
    return tickets.create_ticket(
        actor=w["agent"],
        requester=w["contact"],
        subject="Login fails",
        body_text="SSO loops.",
        channel="web",
    )


def reply(w, t, **extra):
    timesource.advance(600)
    r = w["api"].post(
        f"/api/v1/tickets/{t.pk}/messages",
        data={"kind": "public", "body_text": "Looking into it.", **extra},
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    return r


def state(t, key):
    return {c.key: c for c in services.clocks_of(t.pk)}[key].state


def test_an_explicitly_non_actionable_reply_does_not_fulfil_and_an_actionable_one_does(w):
    t = new_ticket(w)
    reply(w, t)  # the bare acknowledgement
    assert state(t, ACK) == "fulfilled" and state(t, ACT) == "active"
    reply(w, t, actionable=False)  # by default this second reply would be actionable
    assert state(t, ACT) == "active"
    added = AuditEvent.objects.filter(ticket_id=t.pk, type="ticket.message_added")
    assert [e.data.get("actionable") for e in added.order_by("id")][-2:] == [None, False]
    reply(w, t, actionable=True)
    assert state(t, ACT) == "fulfilled"
    assert added.order_by("id").last().data["actionable"] is True


def test_without_the_flag_the_second_reply_is_actionable(w):
    t = new_ticket(w)
    reply(w, t)
    reply(w, t)
    assert state(t, ACT) == "fulfilled"


def test_a_first_reply_flagged_actionable_fulfils_both(w):
    t = new_ticket(w)
    reply(w, t, actionable=True)
    assert state(t, ACK) == "fulfilled" and state(t, ACT) == "fulfilled"


def test_a_non_boolean_flag_is_refused_and_nothing_is_added(w):
    t = new_ticket(w)
    before = t.messages.count()
    r = w["api"].post(
        f"/api/v1/tickets/{t.pk}/messages",
        data={"kind": "public", "body_text": "x", "actionable": "sometimes"},
        content_type="application/json",
    )
    assert 400 <= r.status_code < 500
    assert "error" in r.json()
    assert t.messages.count() == before
    assert state(t, ACK) == "active"
