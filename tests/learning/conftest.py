from __future__ import annotations

from datetime import UTC, datetime

import pytest

from caseline import timesource

# Wednesday 25 November 2026 15:00 in New York (20:00 UTC): the day before Thanksgiving.
T0 = datetime(2026, 11, 25, 20, 0, 0, tzinfo=UTC)


@pytest.fixture
def frozen(tmp_path, monkeypatch, settings):
    from caseline.sla import calendars

    settings.MEDIA_ROOT = str(tmp_path / "media")  # the invitations' .ics files

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
    from caseline.accounts.models import Contact, Organization, ProductArea, Region
    from caseline.tickets.models import Message, Ticket

    w = World()
    w.amer = Region.objects.create(
        code="AMER", name="Americas", shift_calendar="amer-business", handoff_order=3
    )
    w.emea = Region.objects.create(
        code="EMEA", name="EMEA", shift_calendar="emea-business", handoff_order=2
    )
    w.org = Organization.objects.create(name="Acme PM", include_sc=False)
    w.org2 = Organization.objects.create(name="Globex PM", include_sc=False)
    w.contact = Contact.objects.create(name="Ann", organization=w.org)
    w.contact2 = Contact.objects.create(name="Bob", organization=w.org2)
    w.em = make_staff(roles.ESCALATION_MANAGER, email="em@caseline.test", region=w.amer)
    w.em_emea = make_staff(roles.ESCALATION_MANAGER, email="em-emea@caseline.test", region=w.emea)
    w.im = make_staff(roles.INCIDENT_MANAGER, email="im@caseline.test", region=w.amer)
    w.lead = make_staff(roles.LEAD, email="lead@caseline.test")
    w.agent = make_staff(roles.SE, email="agent@caseline.test")
    w.area = ProductArea.objects.create(name="Replication", slug="replication")
    w.area2 = ProductArea.objects.create(name="Billing", slug="billing")

    def ticket(org=None, contact=None, area=None):
        t = Ticket.objects.create(
            subject="Replication down",
            requester=contact or w.contact,
            organization=org or w.org,
            product_area=area or w.area,
        )
        Message.objects.create(
            ticket=t, kind="public", author_contact=contact or w.contact, body_text="Help"
        )
        return t

    w.ticket = ticket

    def resolved_escalation(owner=None, root_cause="Replica lag after a config push", **kw):
        from caseline.escalations import services as esc_services

        t = kw.pop("ticket", None) or ticket()
        esc = esc_services.open_escalation(
            None, ticket_ids=[t.pk], owner_id=(owner or w.em).pk, title="Replication outage"
        )
        esc_services.transition(esc.pk, owner or w.em, "active")
        esc_services.transition(esc.pk, owner or w.em, "resolved", root_cause=root_cause)
        esc.refresh_from_db()
        return esc

    w.resolved_escalation = resolved_escalation
    return w


def resolve_incident(inc, actor=None):
    """Publish ``incident.status_changed`` the way the incidents services do (the incident
    row resolved, the audit event with the status change)."""
    from django.db import transaction

    from caseline.audit.services import record
    from caseline.timesource import now

    with transaction.atomic():
        old = inc.status
        inc.status = "resolved"
        inc.resolved_at = now()
        inc.save()
        record(
            "incident.status_changed",
            "incident",
            inc.pk,
            actor=actor,
            changes={"status": (old, "resolved")},
            subject=inc,
        )
    return inc
