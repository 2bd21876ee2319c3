from __future__ import annotations

import pytest

from caseline.accounts import roles
from caseline.accounts.models import Contact, ContactEmail, Organization, OrganizationDomain, User
from caseline.tickets.models import Message, Ticket


class World:
    """Two organizations with a customer, a ticket and messages each, and staff."""

    def __init__(self, make_staff):
        self.acme = Organization.objects.create(name="Acme Rockets")
        OrganizationDomain.objects.create(organization=self.acme, domain="acme-rockets.example")
        self.globex = Organization.objects.create(name="Globex Corporation")
        OrganizationDomain.objects.create(organization=self.globex, domain="globex.example")
        self.ann = Contact.objects.create(name="Ann Archer", organization=self.acme)
        ContactEmail.objects.create(
            contact=self.ann, email="ann@acme-rockets.example", is_primary=True
        )
        self.bob = Contact.objects.create(name="Bob Builder", organization=self.globex)
        ContactEmail.objects.create(contact=self.bob, email="bob@globex.example", is_primary=True)
        self.customer = User.objects.create_user(
            username="ann@acme-rockets.example",
            email="ann@acme-rockets.example",
            kind=User.Kind.CUSTOMER,
            contact=self.ann,
        )
        self.agent = make_staff(roles.SE)
        self.exec = make_staff(roles.EXECUTIVE)
        self.t_acme = Ticket.objects.create(
            subject="SSO login fails after okta migration",
            requester=self.ann,
            organization=self.acme,
        )
        self.m_acme = Message.objects.create(
            ticket=self.t_acme,
            author_contact=self.ann,
            body_text="Since Monday our sso-okta login shows error 500: login failed. "
            "We don't know why; the R&D C++ client <b>crashes</b> too.",
        )
        self.note_acme = Message.objects.create(
            ticket=self.t_acme,
            kind=Message.Kind.INTERNAL,
            author_user=self.agent,
            body_text="Internal: okta certificate zebracorn expired on their side.",
        )
        self.t_globex = Ticket.objects.create(
            subject="Globex okta login broken", requester=self.bob, organization=self.globex
        )
        self.m_globex = Message.objects.create(
            ticket=self.t_globex,
            author_contact=self.bob,
            body_text="Our okta login is broken, secret project quasarwidget affected.",
        )


@pytest.fixture
def world(db, make_staff):
    return World(make_staff)
