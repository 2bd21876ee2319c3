from __future__ import annotations

from datetime import UTC, datetime

import pytest

from caseline import timesource

T0 = datetime(2026, 3, 24, 10, 0, 0, tzinfo=UTC)


@pytest.fixture
def frozen(tmp_path, monkeypatch):
    monkeypatch.setenv(timesource.ENV_VAR, str(tmp_path / "time.json"))
    timesource.set_time(T0)
    return T0


@pytest.fixture
def world(db, make_staff, frozen):
    from caseline.accounts import roles
    from caseline.accounts.models import Contact, ContactEmail, Organization, User
    from caseline.tickets.models import Message, Ticket

    class W:
        pass

    w = W()
    w.org = Organization.objects.create(name="Acme ETA", include_sc=False)
    w.contact = Contact.objects.create(name="Ann", organization=w.org)
    ContactEmail.objects.create(contact=w.contact, email="ann@acme-eta.test", is_primary=True)
    w.customer = User.objects.create_user(
        username="ann@acme-eta.test",
        email="ann@acme-eta.test",
        kind=User.Kind.CUSTOMER,
        contact=w.contact,
    )
    w.agent = make_staff(roles.SE, email="agent@caseline.test")
    w.other = make_staff(roles.SE, email="other@caseline.test")
    w.manager = make_staff(roles.SUPPORT_MANAGER, email="boss@caseline.test")

    def ticket():
        t = Ticket.objects.create(
            subject="Replication lag", requester=w.contact, organization=w.org, assignee=w.agent
        )
        Message.objects.create(ticket=t, kind="public", author_contact=w.contact, body_text="Help")
        return t

    w.ticket = ticket
    return w
