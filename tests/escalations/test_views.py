"""The escalation web pages (Django test client, SQLite and PostgreSQL): the list with its
filters, the room and its htmx actions through the services (refusals shown inline with
the service's status, nothing changed), the intake form and the managers' queue, the
ticket page's escalation panel; 403 / sign-in redirect / 404 for the others."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from caseline import timesource
from caseline.accounts.models import SMERosterEntry
from caseline.escalations import services
from caseline.escalations.models import (
    Cadence,
    CadenceEntry,
    Commitment,
    Escalation,
    EscalationRequest,
    Stakeholder,
)

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def client_for(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def html(resp) -> str:
    return resp.content.decode()


@pytest.fixture
def esc(world):
    return services.open_escalation(
        world.em, ticket_ids=[world.ticket(severity=1).pk], business_impact="Orders stopped"
    )


# --- list ------------------------------------------------------------------------------------------


def test_list_with_filters_counts_and_countdown(world, esc):
    other = services.open_escalation(
        world.sm, organization_id=world.other_org.pk, owner_id=world.em2.pk, severity=3
    )
    services.set_cadence(esc.pk, world.em, kind="customer_update", every_seconds=3600)
    services.add_commitment(
        esc.pk,
        world.em,
        what="Patch",
        to_whom="Ann",
        owner_id=world.em.pk,
        due_at=timesource.now() + timedelta(days=1),
    )
    Cadence.objects.filter(escalation=esc).update(missed_count=2)
    c = client_for(world.agent)
    r = c.get("/escalations/")
    assert r.status_code == 200
    page = html(r)
    assert esc.reference in page and other.reference in page
    assert 'class="countdown"' in page and 'data-missed="2"' in page
    assert 'href="/escalations/"' in page  # the nav item
    mine = html(client_for(world.em).get("/escalations/?owner=mine"))
    assert esc.reference in mine and other.reference not in mine
    assert other.reference in html(c.get(f"/escalations/?organization={world.other_org.pk}"))
    assert esc.reference not in html(c.get(f"/escalations/?organization={world.other_org.pk}"))
    assert other.reference in html(c.get("/escalations/?severity=3"))
    assert esc.reference not in html(c.get("/escalations/?severity=3"))
    assert esc.reference not in html(c.get("/escalations/?source=direct&owner=none"))
    assert esc.reference in html(c.get("/escalations/?source=direct&status=all"))
    assert esc.reference not in html(c.get("/escalations/?source=ticket"))
    bad = c.get("/escalations/?severity=9")
    assert bad.status_code == 422 and 'data-error="filters"' in html(bad)
    assert c.get("/escalations/?status=sleeping").status_code == 422


def test_list_pages_by_keyset(world):
    for i in range(3):
        services.open_escalation(world.em, organization_id=world.org.pk, title=f"E{i}")
    from caseline.escalations import queries

    rows, after = queries.list_rows(limit=2)
    assert [r.title for r in rows] == ["E2", "E1"] and after == rows[-1].pk
    rows, after = queries.list_rows(limit=2, after=after)
    assert [r.title for r in rows] == ["E0"] and after is None
    r = client_for(world.agent).get(
        f"/escalations/?after={Escalation.objects.order_by('id')[1].pk}"
    )
    assert ">E0<" in html(r) and ">E2<" not in html(r)


def test_pages_refuse_customers_and_send_anonymous_to_sign_in(world, esc, make_staff):
    for path in ("/escalations/", f"/escalations/{esc.pk}/", "/escalations/request/"):
        r = Client().get(path)
        assert r.status_code == 302 and "/login/" in r["Location"]
        assert client_for(world.customer).get(path).status_code == 403
    nobody = make_staff()  # staff without any role
    assert client_for(nobody).get("/escalations/").status_code == 403
    assert client_for(nobody).get("/escalations/request/").status_code == 403
    assert client_for(world.agent).get("/escalations/requests/").status_code == 403
    assert client_for(world.em).get("/escalations/999999/").status_code == 404


# --- the room ----------------------------------------------------------------------------------------


def test_room_renders_everything_readonly_for_agents(world, esc):
    services.add_stakeholder(esc.pk, world.em, contact_id=world.contact.pk, role="decision_maker")
    r = client_for(world.agent).get(f"/escalations/{esc.pk}/")
    assert r.status_code == 200
    page = html(r)
    for part in (
        'id="esc-header"',
        'id="esc-checklist"',
        'id="esc-stakeholders"',
        'id="esc-cadence"',
        'id="esc-commitments"',
        'id="esc-timeline"',
        "Orders stopped",
        "Ann Decider",
        "Decision maker",
        "escalations/room.css",
        "opened",
    ):
        assert part in page, part
    assert "data-move=" not in page and 'data-form="customer"' not in page  # no manage forms
    em_page = html(client_for(world.em).get(f"/escalations/{esc.pk}/"))
    assert 'data-move="active"' in em_page and 'data-move="resolved"' in em_page
    assert 'data-move="closed"' not in em_page  # only legal moves
    assert 'data-form="customer"' in em_page and 'data-form="add-commitment"' in em_page


def test_room_actions_are_manager_only(world, esc):
    c = client_for(world.agent)
    for path, body in (
        (f"/escalations/{esc.pk}/status", {"status": "active"}),
        (f"/escalations/{esc.pk}/cadence", {"kind": "customer_update", "every": "1"}),
        (f"/escalations/{esc.pk}/commitments", {"what": "x"}),
    ):
        assert c.post(path, body, **HX).status_code == 403
    assert Escalation.objects.get(pk=esc.pk).status == "open"


def test_status_moves_with_inline_refusals(world, esc):
    c = client_for(world.em)
    url = f"/escalations/{esc.pk}/status"
    r = c.post(url, {"status": "closed"}, **HX)
    assert r.status_code == 409 and 'data-error="status"' in html(r)
    assert "from open: active, monitoring, resolved" in html(r)
    r = c.post(url, {"status": "resolved", "root_cause": "  "}, **HX)
    assert r.status_code == 422 and 'data-field="root_cause"' in html(r)
    assert Escalation.objects.get(pk=esc.pk).status == "open"
    r = c.post(url, {"status": "active"}, **HX)
    assert r.status_code == 200 and 'data-status="active"' in html(r)
    assert 'id="esc-timeline" hx-swap-oob="true"' in html(r)
    r = c.post(url, {"status": "resolved", "root_cause": "Bad index after upgrade"}, **HX)
    assert r.status_code == 200 and "Bad index after upgrade" in html(r)
    assert 'data-move="closed"' in html(r) and 'data-move="active"' in html(r)
    # without htmx: redirect back with a flash message
    r = c.post(url, {"status": "monitoring"})
    assert r.status_code == 302 and r["Location"].endswith(f"/escalations/{esc.pk}/#esc-header")
    assert "cannot move from resolved to monitoring" in html(c.get(r["Location"]))


def test_checklist_tick_and_untick_with_who_and_when(world, esc):
    step = esc.steps.order_by("position").first()
    c = client_for(world.em)
    r = c.post(f"/escalations/{esc.pk}/steps/{step.pk}", {"done": "1"}, **HX)
    assert r.status_code == 200 and str(world.em) in html(r) and "☑" in html(r)
    step.refresh_from_db()
    assert step.done_by == world.em and step.done_at is not None
    c.post(f"/escalations/{esc.pk}/steps/{step.pk}", {"done": "0"}, **HX)
    step.refresh_from_db()
    assert step.done_at is None
    r = c.post(f"/escalations/{esc.pk}/steps/999999", {"done": "1"}, **HX)
    assert r.status_code == 404 and 'data-error="checklist"' in html(r)


def test_stakeholders_add_renounce_and_sme_suggestions(world, esc, make_staff):
    from caseline.accounts import roles

    sme = make_staff(roles.SE, email="emea-sme@x.test", region=world.emea, display_name="Sam SME")
    SMERosterEntry.objects.create(product_area=world.area, user=sme, position=1)
    c = client_for(world.em)
    page = html(c.get(f"/escalations/{esc.pk}/"))
    assert f'data-suggestion="{sme.pk}"' in page and "Sam SME" in page
    url = f"/escalations/{esc.pk}/stakeholders"
    r = c.post(url, {"side": "customer", "contact_id": str(world.contact.pk), "role": "sme"}, **HX)
    assert r.status_code == 422 and 'data-error="customer"' in html(r)
    assert 'data-field="role"' in html(r)
    r = c.post(
        url,
        {"side": "customer", "contact_id": str(world.foreign_contact.pk), "role": "decision_maker"},
        **HX,
    )
    assert r.status_code == 422 and "not a contact of the escalation" in html(r)
    r = c.post(
        url,
        {"side": "customer", "contact_id": str(world.contact.pk), "role": "decision_maker"},
        **HX,
    )
    assert r.status_code == 200 and "Ann Decider" in html(r)
    r = c.post(
        url,
        {
            "side": "internal",
            "user_id": str(sme.pk),
            "role": "sme",
            "involvement": "4 h/day until resolved",
            "approved_by_id": str(world.sm.pk),
        },
        **HX,
    )
    assert r.status_code == 200
    assert "4 h/day until resolved" in html(r) and str(world.sm) in html(r)
    assert f'data-suggestion="{sme.pk}"' not in html(r)  # engaged: no longer suggested
    r = c.post(url, {"side": "internal", "user_id": str(sme.pk), "role": "sme"}, **HX)
    assert r.status_code == 409 and "already holds this role" in html(r)
    r = c.post(url, {"side": "internal", "user_id": "abc", "role": "sme"}, **HX)
    assert r.status_code == 422 and 'data-field="user_id"' in html(r)
    row = Stakeholder.objects.get(user=sme)
    r = c.post(f"{url}/{row.pk}/renounce", **HX)
    assert r.status_code == 200 and "esc-renounced" in html(r)
    r = c.post(f"{url}/{row.pk}/renounce", **HX)
    assert r.status_code == 409 and 'data-error="renounce"' in html(r)
    assert "already renounced" in html(r)
    assert Stakeholder.objects.filter(escalation=esc).count() == 2


def test_cadence_set_record_update_and_missed_shown(world, esc):
    c = client_for(world.em)
    url = f"/escalations/{esc.pk}/cadence"
    r = c.post(
        url,
        {
            "kind": "customer_update",
            "every": "2",
            "unit": "minutes",
            "reminder_minutes": "0",
            "active": "1",
        },
        **HX,
    )
    assert r.status_code == 422 and 'data-error="cadence-customer_update"' in html(r)
    assert 'data-field="every_seconds"' in html(r)
    assert not Cadence.objects.exists()
    r = c.post(
        url,
        {
            "kind": "customer_update",
            "every": "4",
            "unit": "hours",
            "reminder_minutes": "30",
            "active": "1",
        },
        **HX,
    )
    assert r.status_code == 200
    cad = Cadence.objects.get(escalation=esc)
    assert cad.every_seconds == 4 * 3600 and cad.next_due_at is not None
    assert 'data-clock="next-due"' in html(r)  # the header, out of band
    # the due time passes: the clock's timer records a miss, the room shows it
    from caseline.sla.timers import fire_all_due

    timesource.advance(4 * 3600 + 1)
    fire_all_due()
    page = html(c.get(f"/escalations/{esc.pk}/"))
    assert 'data-clock="missed"' in page and 'data-entry="missed"' in page
    assert 'data-missed="customer_update" class="esc-bad">1<' in page
    r = c.post(
        f"/escalations/{esc.pk}/updates", {"kind": "customer_update", "text": "", "send": "1"}, **HX
    )
    assert r.status_code == 422 and 'data-error="update"' in html(r)
    r = c.post(f"/escalations/{esc.pk}/updates", {"kind": "internal_sync", "text": "x"}, **HX)
    assert r.status_code == 422 and "set one first" in html(r)
    services.add_stakeholder(esc.pk, world.em, contact_id=world.contact.pk, role="day_to_day")
    r = c.post(
        f"/escalations/{esc.pk}/updates",
        {"kind": "customer_update", "text": "Fix deployed to staging", "send": "1"},
        **HX,
    )
    assert r.status_code == 200 and "Fix deployed to staging" in html(r)
    assert CadenceEntry.objects.filter(kind="done").count() == 1
    # through the linked ticket's thread: a public staff reply on the ticket
    from caseline.tickets.models import Message

    r = c.post(
        f"/escalations/{esc.pk}/updates",
        {
            "kind": "customer_update",
            "text": "Rolled out to all regions",
            "send": "1",
            "via": "tickets",
        },
        **HX,
    )
    assert r.status_code == 200
    (ticket_id,) = esc.tickets.values_list("pk", flat=True)
    reply = Message.objects.filter(ticket_id=ticket_id, kind="public").latest("id")
    assert "Rolled out to all regions" in reply.body_text and reply.author_user_id == world.em.pk
    assert "Next update by" in reply.body_text


def test_commitments_add_edit_and_slip_with_notice(world, esc):
    c = client_for(world.em)
    url = f"/escalations/{esc.pk}/commitments"
    r = c.post(
        url, {"what": "", "to_whom": "Ann", "owner_id": str(world.em.pk), "due_at": "soon"}, **HX
    )
    assert r.status_code == 422 and 'data-error="add-commitment"' in html(r)
    assert 'data-field="what"' in html(r) and 'data-field="due_at"' in html(r)
    due = (timesource.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")  # UTC viewer
    r = c.post(
        url,
        {
            "what": "Hotfix build",
            "to_whom": "Ann Decider",
            "owner_id": str(world.em.pk),
            "due_at": due,
        },
        **HX,
    )
    assert r.status_code == 200 and "Hotfix build" in html(r)
    com = Commitment.objects.get()
    edit = f"/escalations/{esc.pk}/commitments/{com.pk}"
    later = (timesource.now() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    r = c.post(
        edit,
        {"what": "Hotfix build", "due_was": due, "due_at": later, "reason": "", "status": "open"},
        **HX,
    )
    assert r.status_code == 422 and f'data-error="commitment-{com.pk}"' in html(r)
    assert 'data-field="reason"' in html(r)
    com.refresh_from_db()
    assert com.due_at.strftime("%Y-%m-%dT%H:%M") == due
    # an unchanged date is no slip; the text changes
    r = c.post(
        edit, {"what": "Hotfix build 2", "due_was": due, "due_at": due, "status": "open"}, **HX
    )
    assert r.status_code == 200 and not com.slips.exists()
    r = c.post(
        edit,
        {
            "what": "Hotfix build 2",
            "due_was": due,
            "due_at": later,
            "reason": "QA found a regression",
            "status": "open",
        },
        **HX,
    )
    assert r.status_code == 200
    page = html(r)
    assert 'data-slips="1"' in page and "QA found a regression" in page
    assert "data-notice=" in page and "We will not make that date" in page
    assert com.slips.count() == 1
    other = services.open_escalation(world.em, organization_id=world.other_org.pk)
    r = c.post(f"/escalations/{other.pk}/commitments/{com.pk}", {"status": "done"}, **HX)
    assert r.status_code == 404 and f"no commitment {com.pk} on ESC-{other.pk}" in html(r)
    com.refresh_from_db()
    assert com.status == "open"


def test_plugin_panels_of_the_escalation_host_render(world, esc):
    from caseline.web import panels

    page = html(client_for(world.agent).get(f"/escalations/{esc.pk}/"))
    for p in panels.panels_for("escalation", world.agent, esc.pk):
        assert f'id="panel-{p["key"]}"' in page


# --- intake ----------------------------------------------------------------------------------------


def test_request_form_my_requests_and_the_queue(world):
    t = world.ticket()
    ex = client_for(world.exec)
    form = ex.get(f"/escalations/request/?ticket={t.pk}&organization={world.org.pk}")
    assert form.status_code == 200 and f'value="{t.pk}"' in html(form)
    r = ex.post(
        "/escalations/request/",
        {
            "organization_id": "",
            "tickets": f"CL-{t.pk}",
            "severity": "1",
            "business_impact": "Revenue",
            "reason": "",
        },
    )
    assert r.status_code == 422 and 'data-field="reason"' in html(r)
    assert "Revenue" in html(r)  # the form keeps what was typed
    r = ex.post("/escalations/request/", {"tickets": "CL-x"})
    assert r.status_code == 422 and 'data-field="ticket_ids"' in html(r)
    assert not EscalationRequest.objects.exists()
    r = ex.post(
        "/escalations/request/",
        {
            "organization_id": "",
            "tickets": f"CL-{t.pk}",
            "severity": "1",
            "business_impact": "Revenue at risk",
            "reason": "CEO call tomorrow",
        },
    )
    assert r.status_code == 302
    req = EscalationRequest.objects.get()
    assert req.organization == world.org and list(req.tickets.all()) == [t]
    assert "Pending" in html(ex.get("/escalations/request/"))
    assert ex.get("/escalations/requests/").status_code == 403

    em = client_for(world.em)
    q = em.get("/escalations/requests/")
    assert q.status_code == 200 and "CEO call tomorrow" in html(q)
    r = em.post(f"/escalations/requests/{req.pk}/decline", {"reason": " "})
    assert r.status_code == 422 and f'data-error="request-{req.pk}"' in html(r)
    r = em.post(f"/escalations/requests/{req.pk}/accept", {"title": "Acme revenue"})
    assert r.status_code == 302
    esc = Escalation.objects.get()
    assert r["Location"] == f"/escalations/{esc.pk}/" and esc.owner == world.em
    assert esc.title == "Acme revenue"
    r = em.post(f"/escalations/requests/{req.pk}/decline", {"reason": "late"})
    assert r.status_code == 409 and "already" in html(r)
    assert f"ESC-{esc.pk}" in html(ex.get("/escalations/request/"))

    second = services.request_escalation(
        world.agent, organization_id=world.other_org.pk, business_impact="x", reason="y"
    )
    r = em.post(f"/escalations/requests/{second.pk}/decline", {"reason": "Handled by the CSM"})
    assert r.status_code == 302
    mine = html(client_for(world.agent).get("/escalations/request/"))
    assert "Handled by the CSM" in mine and "Declined" in mine


# --- ticket panel ----------------------------------------------------------------------------------


def test_ticket_panel_escalate_in_one_click(world):
    t = world.ticket()
    page = html(client_for(world.agent).get(f"/t/{t.pk}"))
    assert f'hx-get="/escalations/ticket/{t.pk}/panel"' in page
    panel = html(client_for(world.agent).get(f"/escalations/ticket/{t.pk}/panel"))
    assert "data-request-escalation" in panel and "data-escalate" not in panel
    assert client_for(world.agent).post(f"/escalations/ticket/{t.pk}/escalate").status_code == 403
    em = client_for(world.em)
    assert "data-escalate" in html(em.get(f"/escalations/ticket/{t.pk}/panel"))
    r = em.post(f"/escalations/ticket/{t.pk}/escalate", **HX)
    esc = Escalation.objects.get()
    assert r.status_code == 204 and r["HX-Redirect"] == f"/escalations/{esc.pk}/"
    assert esc.source == "ticket" and esc.owner == world.em
    panel = html(em.get(f"/escalations/ticket/{t.pk}/panel"))
    assert f'data-escalation="{esc.pk}"' in panel and "data-escalate" not in panel
    # a second click elsewhere (stale panel): 409 with the reason, inline
    r = em.post(f"/escalations/ticket/{t.pk}/escalate", **HX)
    assert r.status_code == 409 and "already part of" in html(r)
    assert Escalation.objects.count() == 1
    assert em.get("/escalations/ticket/999999/panel").status_code == 404
    assert client_for(world.customer).get(f"/escalations/ticket/{t.pk}/panel").status_code == 403


def test_list_query_count_does_not_grow_with_rows(world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    c = client_for(world.agent)

    def count() -> int:
        with CaptureQueriesContext(connection) as q:
            assert c.get("/escalations/?status=all").status_code == 200
        return len(q)

    services.open_escalation(world.em, organization_id=world.org.pk)
    c.get("/escalations/")  # warm the session and permission caches
    one = count()
    for _ in range(4):
        esc = services.open_escalation(world.em, organization_id=world.org.pk)
        services.set_cadence(esc.pk, world.em, kind="internal_sync", every_seconds=3600)
    assert count() == one
    print(f"escalation list: {one} queries for 1 row and for 5 rows")


def test_edit_the_escalation_and_link_tickets(world, esc):
    c = client_for(world.em)
    r = c.post(
        f"/escalations/{esc.pk}/edit",
        {"title": "", "severity": "2", "owner_id": str(world.em.pk), "business_impact": "x"},
        **HX,
    )
    assert r.status_code == 422 and 'data-error="edit"' in html(r)
    r = c.post(f"/escalations/{esc.pk}/edit", {"owner_id": str(world.agent.pk)}, **HX)
    assert r.status_code == 422 and 'data-field="owner_id"' in html(r)
    esc.refresh_from_db()
    assert esc.owner == world.em and esc.severity == 1
    r = c.post(
        f"/escalations/{esc.pk}/edit",
        {"title": "Acme orders down", "severity": "2", "owner_id": str(world.em2.pk),
         "business_impact": "No orders since 09:00"},
        **HX,
    )  # fmt: skip
    assert r.status_code == 200 and "Acme orders down" in html(r)
    esc.refresh_from_db()
    assert (esc.title, esc.severity, esc.owner) == ("Acme orders down", 2, world.em2)
    second, foreign = world.ticket(), world.ticket(org=world.other_org)
    r = c.post(f"/escalations/{esc.pk}/tickets", {"tickets": f"CL-{foreign.pk}"}, **HX)
    assert r.status_code == 422 and 'data-error="link"' in html(r)
    r = c.post(f"/escalations/{esc.pk}/tickets", {"tickets": f"CL-{second.pk}"}, **HX)
    assert r.status_code == 200 and f"CL-{second.pk}" in html(r)
    assert esc.tickets.count() == 2
    assert (
        client_for(world.agent).post(f"/escalations/{esc.pk}/edit", {"title": "x"}).status_code
        == 403
    )
