"""Paging for Sev-1 incidents: the on-duty person, then the next on the rota, then the
manager; a real HTTP gateway receives the pages; acknowledgements stop the chain; the
clock firing twice changes nothing (both databases)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from caseline import timesource
from caseline.errors import Conflict, NotFound, PermissionDenied
from caseline.incidents import services
from caseline.notify import signing
from caseline.notify.services import deliver
from caseline.sla import timers
from caseline.sla.models import Timer
from tests.incidents.core_support import events, frozen, outbox, receiver, world  # noqa: F401

pytestmark = pytest.mark.django_db


def _states(inc):
    return [(p.level, p.recipient.email, p.reason, p.state) for p in inc.pages.order_by("id")]


def test_declaring_a_sev1_pages_the_on_duty_person_through_the_gateway(world, receiver):
    target = services.add_paging_target(
        world.sm, name="SMS gateway", url=receiver.url, secret="s" * 32
    )
    t = world.ticket(world.orgs[0])  # an EMEA organization
    inc = services.declare_from_ticket(t.pk, world.agent, incident_manager_id=world.im.pk)
    [page] = inc.pages.all()
    assert (page.recipient, page.level, page.reason, page.state) == (world.e1, 1, "on_duty", "sent")
    assert page.ack_due_at == page.sent_at + timedelta(minutes=5)
    assert Timer.objects.get(key=f"inc-page:{inc.pk}:1:1").due_at == page.ack_due_at
    # email with the signed link
    [mail] = outbox(f"inc-page-{page.pk}-email")
    assert mail.payload["to"] == ["e1@caseline.test"]
    link = services.ack_url(page)
    assert link in mail.payload["text"] and "/incidents/pages/ack/" in link
    # the gateway: a signed JSON POST delivered to a real HTTP server
    [row] = outbox(f"inc-page-{page.pk}-gw-")
    assert row.webhook_id == target.webhook_id
    assert deliver(row.pk) == "sent"
    [req] = receiver.requests
    body = receiver.bodies()[0]
    assert body["type"] == "incident.paged"
    assert body["data"]["recipient"]["email"] == "e1@caseline.test"
    assert body["data"]["incident"]["reference"] == inc.reference
    assert body["data"]["ack_url"] == link
    headers = {k.lower(): v for k, v in req["headers"].items()}
    assert headers["idempotency-key"] == row.idempotency_key
    assert signing.verify_signature(
        "s" * 32,
        req["body"],
        headers["x-caseline-timestamp"],
        headers["x-caseline-signature"],
        tolerance=None,
    )
    [ev] = events("incident.paged", inc.pk)
    assert ev.data["recipients"] == [world.e1.pk] and ev.data["gateways"] == [target.pk]
    # The gateway's webhook row is not subscribed to domain events: one POST only.
    assert len(outbox("wh-")) == 0


def test_no_ack_escalates_to_the_next_on_the_rota_then_the_manager(world):
    t = world.ticket(world.orgs[0])
    inc = services.declare_from_ticket(t.pk, world.agent, incident_manager_id=world.im.pk)
    timesource.advance(299)
    timers.fire_all_due()
    assert _states(inc) == [(1, "e1@caseline.test", "on_duty", "sent")]
    timesource.advance(1)
    timers.fire_all_due()
    assert _states(inc) == [
        (1, "e1@caseline.test", "on_duty", "escalated"),
        (2, "e2@caseline.test", "next_on_rota", "sent"),  # EMEA secondary
    ]
    assert len(events("incident.page_escalated", inc.pk)) == 1
    timesource.advance(300)
    timers.fire_all_due()
    assert _states(inc)[-1] == (3, "im@caseline.test", "manager", "sent")
    assert outbox(f"inc-page-{inc.pages.get(level=3).pk}-email")
    # Nobody left: exhausted once; the manager's page still waits for a late ack.
    timesource.advance(300)
    timers.fire_all_due()
    timers.fire_all_due()
    assert len(events("incident.paging_exhausted", inc.pk)) == 1
    assert _states(inc)[-1][3] == "sent"
    # The clock firing a level's timer twice: nothing new.
    for key in (f"inc-page:{inc.pk}:1:1", f"inc-page:{inc.pk}:1:2"):
        services.page_ack_due(Timer.objects.get(key=key))
    assert inc.pages.count() == 3
    assert len(events("incident.page_escalated", inc.pk)) == 2
    # A late acknowledgement by the first person still stops the chain.
    services.acknowledge_page(inc.pages.get(level=1).pk, world.e1)
    assert [s for *_, s in _states(inc)] == ["acknowledged", "escalated", "cancelled"]


def test_acknowledging_stops_the_chain(world):
    inc = services.declare_incident(
        world.agent, title="Down", ticket_ids=[world.ticket().pk], incident_manager_id=world.im.pk
    )
    page = inc.pages.get()
    timesource.advance(120)
    with pytest.raises(PermissionDenied):
        services.acknowledge_page(page.pk, world.agent2)  # neither paged nor a manager
    page = services.acknowledge_page(page.pk, world.e1)
    assert page.state == "acknowledged" and page.acknowledged_by == world.e1
    [ev] = events("incident.page_acknowledged", inc.pk)
    assert ev.data["seconds"] == 120
    assert services.acknowledge_page(page.pk, world.e1).state == "acknowledged"  # idempotent
    timesource.advance(3600)
    timers.fire_all_due()
    assert inc.pages.count() == 1 and events("incident.page_escalated", inc.pk) == []


def test_a_manager_acknowledges_for_the_paged_person_and_chain_restarts_by_hand(world):
    inc = services.declare_incident(world.im, title="Down", ticket_ids=[world.ticket().pk])
    page = inc.pages.get()
    services.acknowledge_page(page.pk, world.sm)
    pages = services.page_now(inc.pk, world.im)
    assert [(p.chain, p.level, p.recipient) for p in pages] == [(2, 1, world.e1)]
    timesource.advance(300)
    timers.fire_all_due()
    assert inc.pages.filter(chain=2).count() == 2
    # resolving cancels the waiting page
    services.transition(inc.pk, world.im, "resolved")
    assert inc.pages.filter(state="sent").count() == 0
    with pytest.raises(Conflict):
        services.acknowledge_page(inc.pages.get(chain=2, level=2).pk, world.e2)


def test_ack_minutes_configurable_and_support_managers_when_no_rota(world, settings):
    from caseline.oncall.models import Override

    settings.INCIDENT_PAGE_ACK_MINUTES = 10
    Override.objects.all().delete()  # nobody on duty anywhere
    inc = services.declare_incident(world.agent, title="Down")  # no incident manager
    [page] = inc.pages.all()
    assert (page.recipient, page.reason) == (world.sm, "manager")
    assert page.ack_due_at == page.sent_at + timedelta(minutes=10)


def test_nobody_to_page_is_recorded(world, make_staff):
    from caseline.accounts.models import User
    from caseline.oncall.models import Override

    Override.objects.all().delete()
    User.objects.filter(pk=world.sm.pk).update(is_active=False)
    inc = services.declare_incident(world.agent, title="Down")
    assert inc.pages.count() == 0
    assert len(events("incident.paging_exhausted", inc.pk)) == 1


def test_signed_link_acknowledges_without_signing_in(world):
    inc = services.declare_incident(world.im, title="Down", ticket_ids=[world.ticket().pk])
    page = inc.pages.get()
    link = services.ack_url(page)
    client = Client()
    resp = client.get(link)
    assert resp.status_code == 200 and b"data-ack-page" in resp.content
    page.refresh_from_db()
    assert page.state == "sent"  # a GET (a link scanner) acknowledges nothing
    resp = client.post(link)
    assert resp.status_code == 200 and b"Acknowledged" in resp.content
    page.refresh_from_db()
    assert page.state == "acknowledged" and page.acknowledged_by == world.e1
    assert events("incident.page_acknowledged", inc.pk)[0].data["via"] == "link"
    assert client.get(link[:-3] + "xx/").status_code == 404
    with pytest.raises(NotFound):
        services.page_from_token("nonsense")
