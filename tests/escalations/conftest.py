from __future__ import annotations

from datetime import UTC, datetime

import pytest

from caseline import timesource

# Tuesday 24 March 2026 10:00 UTC: 11:00 in Berlin (emea-business open), 06:00 in New York
# (amer-business closed).
T0 = datetime(2026, 3, 24, 10, 0, 0, tzinfo=UTC)


@pytest.fixture
def frozen(tmp_path, monkeypatch):
    from caseline.sla import calendars

    monkeypatch.setenv(timesource.ENV_VAR, str(tmp_path / "time.json"))
    timesource.set_time(T0)
    calendars.invalidate()
    yield T0
    calendars.invalidate()


class World:
    pass


@pytest.fixture
def world(db, make_staff, frozen):
    from caseline.accounts import roles
    from caseline.accounts.models import (
        Contact,
        ContactEmail,
        Organization,
        ProductArea,
        Region,
        User,
    )
    from caseline.tickets.models import Message, Ticket

    w = World()
    w.amer = Region.objects.create(
        code="AMER", name="Americas", shift_calendar="amer-business", handoff_order=3
    )
    w.emea = Region.objects.create(
        code="EMEA", name="EMEA", shift_calendar="emea-business", handoff_order=2
    )
    w.org = Organization.objects.create(name="Acme Esc", include_sc=False, region=w.emea)
    w.other_org = Organization.objects.create(name="Globex Esc", include_sc=False)
    w.contact = Contact.objects.create(name="Ann Decider", organization=w.org)
    ContactEmail.objects.create(contact=w.contact, email="ann@acme-esc.test", is_primary=True)
    w.foreign_contact = Contact.objects.create(name="Bob Other", organization=w.other_org)
    w.customer = User.objects.create_user(
        username="ann@acme-esc.test",
        email="ann-portal@acme-esc.test",
        kind=User.Kind.CUSTOMER,
        contact=w.contact,
    )
    w.em = make_staff(roles.ESCALATION_MANAGER, email="em@caseline.test", region=w.emea)
    w.em2 = make_staff(roles.ESCALATION_MANAGER, email="em2@caseline.test")
    w.sm = make_staff(roles.SUPPORT_MANAGER, email="sm@caseline.test")
    w.agent = make_staff(roles.SE, email="agent@caseline.test")
    w.exec = make_staff(roles.EXECUTIVE, email="exec@caseline.test")
    w.area = ProductArea.objects.create(name="Replication Esc", slug="replication-esc")

    def ticket(org=None, contact=None, **fields):
        t = Ticket.objects.create(
            subject=fields.pop("subject", "Replication down"),
            requester=contact or w.contact,
            organization=org or w.org,
            product_area=fields.pop("product_area", w.area),
            **fields,
        )
        Message.objects.create(
            ticket=t, kind="public", author_contact=contact or w.contact, body_text="Help"
        )
        return t

    w.ticket = ticket
    return w
