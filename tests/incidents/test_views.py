"""The incident list, the incident room and its forms, the ticket page's "Incident" panel
and the nav item (both databases)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from caseline import timesource
from caseline.incidents import services
from caseline.incidents.models import Incident
from tests.incidents.core_support import events, frozen, world  # noqa: F401

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def _act(c, inc, action, **data):
    return c.post(reverse("incident_action", args=[inc.pk, action]), data=data, follow=True)


def test_list_filters_and_nav(world):
    a = services.declare_incident(world.im, title="Sync outage", severity=1)
    b = services.declare_incident(world.im, title="Slow search", severity=3)
    services.transition(b.pk, world.im, "resolved")
    c = _client(world.exec)
    html = c.get(reverse("incident_list")).content.decode()
    assert 'href="/incidents/"' in html  # the nav item
    assert f'data-incident="{a.pk}"' in html and f'data-incident="{b.pk}"' not in html  # live
    html = c.get(reverse("incident_list") + "?status=all&severity=3").content.decode()
    assert f'data-incident="{b.pk}"' in html and f'data-incident="{a.pk}"' not in html
    html = c.get(reverse("incident_list") + "?status=all&q=sync").content.decode()
    assert "Sync outage" in html and "Slow search" not in html
    anon = Client().get(reverse("incident_list"))
    assert anon.status_code == 302


def test_room_shows_header_roles_timeline_and_pages(world):
    t1, t2 = world.ticket(world.orgs[0]), world.ticket(world.orgs[1])
    inc = services.declare_incident(
        world.agent, title="Sync outage", ticket_ids=[t1.pk, t2.pk], incident_manager_id=world.im.pk
    )
    services.assign_owner(inc.pk, world.im, user_id=world.agent.pk)
    services.add_note(inc.pk, world.im, text="Pinned finding", pinned=True)
    c = _client(world.agent)
    html = c.get(reverse("incident_room", args=[inc.pk])).content.decode()
    assert "Sync outage" in html and "Sev-1" in html
    assert 'data-field="spoc"' in html and "im@caseline.test" in html
    assert 'data-handoff="pending"' in html and "data-ack-owner" in html  # the receiver sees it
    assert 'data-owner-target="active"' in html and 'class="countdown"' in html
    assert "Org A" in html and "Org B" in html
    assert t1.reference in html and t2.reference in html
    assert html.index("Pinned finding") < html.index("declared a Sev-1")  # pinned first
    assert 'data-page-state="sent"' in html
    assert "data-move=" not in html  # an agent cannot move the status
    html = _client(world.im).get(reverse("incident_room", args=[inc.pk])).content.decode()
    for move in ("identified", "monitoring", "resolved"):
        assert f'data-move="{move}"' in html
    assert "data-ack-owner" not in html
    assert _client(world.im).get(reverse("incident_room", args=[99999])).status_code == 404


def test_room_forms_call_the_services(world):
    inc = services.declare_incident(world.im, title="Outage", ticket_ids=[world.ticket().pk])
    im = _client(world.im)
    r = _act(im, inc, "transition", status="identified", note="cert")
    assert "Status changed." in r.content.decode()
    r = _act(im, inc, "transition", status="closed")
    assert "cannot move from identified to closed" in r.content.decode()
    _act(im, inc, "note", text="Rolled back", pinned="on")
    _act(im, inc, "role", role="sme", user_id=str(world.agent2.pk))
    _act(im, inc, "task", title="Tell status page", assignee_id=str(world.agent.pk))
    task = inc.tasks.get()
    _act(im, inc, "task-done", task_id=str(task.pk), done="1")
    _act(im, inc, "owner", user_id=str(world.agent.pk))
    t2 = world.ticket(world.orgs[2])
    _act(_client(world.agent), inc, "link", ticket_ids=f"CL-{t2.pk}")
    timesource.advance(30)
    r = _act(_client(world.agent), inc, "ack-owner")
    assert "You own the case now." in r.content.decode()
    page = inc.pages.get()
    r = _act(_client(world.e1), inc, "ack-page", page_id=str(page.pk))
    assert "paging stopped" in r.content.decode()
    inc = Incident.objects.get(pk=inc.pk)
    task.refresh_from_db()
    assert inc.status == "identified" and inc.case_owner == world.agent and task.done
    assert inc.tickets.count() == 2
    assert inc.timeline.filter(kind="note", pinned=True).count() == 1
    assert inc.roles.filter(role="sme", user=world.agent2).exists()
    page.refresh_from_db()
    assert page.state == "acknowledged"
    # an agent may not run the incident
    r = _client(world.agent).post(reverse("incident_action", args=[inc.pk, "note"]), {"text": "x"})
    assert r.status_code == 403
    assert (
        _client(world.im).post(reverse("incident_action", args=[inc.pk, "bogus"])).status_code
        == 404
    )


def test_ticket_panel_declares_in_one_click_and_then_links(world):
    from caseline.web import panels

    t = world.ticket()
    [p] = [p for p in panels.panels_for("ticket", world.agent, t.pk) if p["key"] == "incident"]
    assert p["url"] == reverse("ticket_incident_panel", args=[t.pk])
    c = _client(world.agent)
    html = c.get(p["url"]).content.decode()
    assert "data-declare-incident" in html
    r = c.post(
        reverse("ticket_declare_incident", args=[t.pk]), {"severity": "1"}, HTTP_HX_REQUEST="true"
    )
    assert r.status_code == 200
    inc = Incident.objects.get(tickets=t)
    assert inc.severity == 1 and inc.source == "ticket" and inc.declared_by == world.agent
    html = r.content.decode()
    assert inc.reference in html and "data-declare-incident" not in html
    assert len(events("incident.declared", inc.pk)) == 1
    # without htmx: redirect to the room; an executive sees no button and may not declare
    t2 = world.ticket()
    r = c.post(reverse("ticket_declare_incident", args=[t2.pk]))
    assert r.status_code == 302 and "/incidents/" in r["Location"]
    ex = _client(world.exec)
    assert (
        "data-declare-incident"
        not in ex.get(reverse("ticket_incident_panel", args=[world.ticket().pk])).content.decode()
    )
    assert ex.post(reverse("ticket_declare_incident", args=[t.pk])).status_code == 403
    # the ticket page itself lists the panel
    html = c.get(reverse("ticket", args=[t.pk])).content.decode()
    assert 'data-panel="incident"' in html
