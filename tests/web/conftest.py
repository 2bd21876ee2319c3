"""A small support world for the workspace tests: two teams (manual assignment), agents,
an executive (reads, may not change tickets), an organization, tickets made through the
services so SLA clocks run. Product time is frozen (shared with subprocesses through the
time file)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from caseline import timesource
from caseline.accounts import roles
from caseline.accounts.models import Contact, ContactEmail, Organization, Team
from caseline.tickets import services as tickets

T0 = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # Monday 09:00 New York
PASSWORD = "pw-for-tests-123"


@pytest.fixture
def frozen(tmp_path, monkeypatch):
    monkeypatch.setenv(timesource.ENV_VAR, str(tmp_path / "time.json"))
    timesource.set_time(T0)
    from caseline.sla import calendars

    calendars.invalidate()
    yield timesource
    calendars.invalidate()


@pytest.fixture
def ws(db, make_staff, frozen):
    manual = Team.Strategy.MANUAL
    red = Team.objects.create(name="Red team", assignment_strategy=manual)
    blue = Team.objects.create(name="Blue team", assignment_strategy=manual)
    alice = make_staff(roles.SE, email="alice@caseline.test", display_name="Alice Agent")
    bob = make_staff(roles.SE, email="bob@caseline.test", display_name="Bob Builder")
    exec_ = make_staff(roles.EXECUTIVE, email="erin@caseline.test")
    red.members.add(alice)
    blue.members.add(bob)
    org = Organization.objects.create(name="Acme Corp", tier="standard")
    contact = Contact.objects.create(name="Ann Customer", organization=org)
    ContactEmail.objects.create(contact=contact, email="ann@acme.test", is_primary=True)

    def ticket(subject: str, **kw):
        return tickets.create_ticket(
            actor=alice,
            requester=contact,
            subject=subject,
            body_text=f"{subject}: please help.",
            channel="web",
            **kw,
        )

    return {
        "red": red,
        "blue": blue,
        "alice": alice,
        "bob": bob,
        "exec": exec_,
        "org": org,
        "contact": contact,
        "ticket": ticket,
    }


@pytest.fixture
def login(client):
    def as_user(user):
        client.force_login(user)
        return client

    return as_user
