"""Organization list and page, contact page and the contact merge action (Django client):
the right facts, people and tickets, the counts, keyset pages, filters, access rules,
merges through the page (and a refused one that changes nothing)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from caseline.accounts import roles
from caseline.accounts.models import (
    Contact,
    ContactEmail,
    Organization,
    OrganizationDomain,
    OrganizationOwner,
    ProductArea,
    Region,
    User,
)
from caseline.audit.models import AuditEvent
from caseline.tickets import services as tickets
from caseline.tickets.models import Ticket

pytestmark = pytest.mark.django_db


def html(resp) -> str:
    assert resp.status_code == 200, resp.content[:800]
    return resp.content.decode()


def section(page: str, element_id: str) -> str:
    """The HTML of the <section id=…> on the page."""
    m = re.search(rf'<section class="panel" id="{element_id}">(.*?)</section>', page, re.S)
    assert m, f"no section {element_id}"
    return m.group(1)


def ticket_ids(fragment: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-kbd-row data-id="(\d+)"', fragment)]


@pytest.fixture
def world(ws, make_staff):
    alice, org, ann = ws["alice"], ws["org"], ws["contact"]
    emea = Region.objects.create(code="EMEA", name="Europe", handoff_order=1)
    sc = make_staff(roles.SC, email="sam@caseline.test", display_name="Sam Sales")
    csm = make_staff(roles.CSM, email="cora@caseline.test", display_name="Cora Success")
    org.tier = "enterprise"
    org.support_entitlement = "premium-24x7"
    org.region = emea
    org.lifecycle_stage = "renewing"
    org.sales_consultant = sc
    org.success_manager = csm
    org.notes = "Renewal in Q3 <b>handle with care</b>"
    org.save()
    OrganizationDomain.objects.create(organization=org, domain="acme.test")
    area = ProductArea.objects.create(name="Replication", slug="replication")
    OrganizationOwner.objects.create(organization=org, product_area=area, user=alice)
    ann.title = "IT lead"
    ann.phone = "+49 30 1234"
    ann.save()
    other = Organization.objects.create(name="Globex", tier="basic")
    gus = Contact.objects.create(name="Gus Globex", organization=other)
    ContactEmail.objects.create(contact=gus, email="gus@globex.test", is_primary=True)
    t = ws["ticket"]
    ws["open1"] = t("Replication lag", team=ws["red"], assignee=alice, severity=2)
    ws["sev1"] = t("Everything is down", team=ws["red"], severity=1)
    ws["done"] = t("Solved already", team=ws["red"], assignee=alice)
    tickets.update_ticket(ws["done"], actor=alice, status="solved")
    ws["globex_ticket"] = tickets.create_ticket(
        actor=alice, requester=gus, subject="Globex problem", body_text="x", channel="web"
    )
    ws.update(sc=sc, csm=csm, emea=emea, other=other, gus=gus, area=area)
    return ws


# --- access ---------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/organizations/", "/organizations/{org}/", "/contacts/{c}/"])
def test_anonymous_goes_to_sign_in_and_customer_is_refused(world, client, url):
    url = url.format(org=world["org"].pk, c=world["contact"].pk)
    resp = client.get(url)
    assert resp.status_code == 302 and resp["Location"].startswith("/login/?next=")
    customer = User.objects.create_user(
        username="ann@acme.test",
        email="ann@acme.test",
        password="pw-for-tests-123",
        kind=User.Kind.CUSTOMER,
        contact=world["contact"],
    )
    client.force_login(customer)
    assert client.get(url).status_code == 403


def test_nav_shows_organizations(world, login):
    page = html(login(world["alice"]).get("/queues/"))
    assert 'href="/organizations/"' in page


# --- list -----------------------------------------------------------------------------


def test_list_shows_facts_and_filters(world, login):
    c = login(world["alice"])
    page = html(c.get("/organizations/"))
    assert "Acme Corp" in page and "Globex" in page and "acme.test" in page
    assert "premium-24x7" in page and "Sam Sales" in page and "Cora Success" in page

    def names(query: str) -> list[str]:
        return re.findall(r'<td><a href="/organizations/\d+/">([^<]+)</a>', html(c.get(query)))

    assert names("/organizations/?q=glob") == ["Globex"]
    assert names("/organizations/?tier=enterprise") == ["Acme Corp"]
    assert names("/organizations/?region=emea") == ["Acme Corp"]
    assert names("/organizations/?stage=renewing") == ["Acme Corp"]
    assert names(f"/organizations/?am={world['csm'].pk}") == ["Acme Corp"]
    assert names(f"/organizations/?am={world['sc'].pk}") == ["Acme Corp"]
    assert names(f"/organizations/?am={world['bob'].pk}") == []


def test_list_refuses_bad_filters(world, login):
    c = login(world["alice"])
    resp = c.get("/organizations/?tier=golden")
    assert resp.status_code == 422 and "tier" in resp.json()["error"]["fields"]
    resp = c.get("/organizations/?am=abc")
    assert resp.status_code == 422 and "am" in resp.json()["error"]["fields"]
    resp = c.get("/organizations/?cursor=%%%")
    assert resp.status_code == 422 and "cursor" in resp.json()["error"]["fields"]


def test_list_keyset_pages(world, login, monkeypatch):
    from caseline.web import directory_views as views

    for i in range(5):
        Organization.objects.create(name=f"Org {i:02d}")
    monkeypatch.setattr(views, "LIST_LIMIT", 3)
    c = login(world["alice"])
    seen: list[str] = []
    url = "/organizations/"
    while url:
        page = html(c.get(url))
        seen += re.findall(r'<td><a href="/organizations/\d+/">([^<]+)</a>', page)
        m = re.search(r'<a href="([^"]+)" class="btn" rel="next">', page)
        url = m.group(1).replace("&amp;", "&") if m else None
    assert seen == sorted(Organization.objects.values_list("name", flat=True))
    assert len(seen) == 7


# --- organization page ----------------------------------------------------------------


def test_organization_page_facts_people_and_counts(world, login):
    page = html(login(world["alice"]).get(f"/organizations/{world['org'].pk}/"))
    for text in ("Acme Corp", "acme.test", "Enterprise", "premium-24x7", "EMEA", "Renewing"):
        assert text in page
    assert "Sam Sales" in page and "Cora Success" in page
    assert "Replication</dt><dd>Alice Agent</dd>" in page  # owner per product area
    assert "&lt;b&gt;handle with care&lt;/b&gt;" in page  # notes are text, not markup
    people = section(page, "people")
    assert f'href="/contacts/{world["contact"].pk}/"' in people and "ann@acme.test" in people
    assert "Gus Globex" not in page
    counts = dict(re.findall(r'data-count="(\w+)"><span class="stat">(\d+)</span>', page))
    assert counts == {"open": "2", "breached": "0", "sev1": "1"}


def test_organization_page_tickets_open_first_with_countdown(world, login, frozen):
    from caseline.sla.models import TicketSla
    from caseline.sla.services import copy_next_deadlines_to_tickets

    due = frozen.now() + timedelta(minutes=30)
    TicketSla.objects.filter(ticket=world["open1"]).update(next_deadline=due)
    TicketSla.objects.filter(ticket=world["sev1"]).update(next_deadline=due + timedelta(hours=3))
    copy_next_deadlines_to_tickets([world["open1"].pk, world["sev1"].pk])  # the queues' copy
    page = html(login(world["alice"]).get(f"/organizations/{world['org'].pk}/"))
    opened = section(page, "open-tickets")
    done = section(page, "done-tickets")
    assert set(ticket_ids(opened)) == {world["open1"].pk, world["sev1"].pk}
    assert ticket_ids(done) == [world["done"].pk]
    assert world["globex_ticket"].pk not in ticket_ids(page)
    assert page.index('id="open-tickets"') < page.index('id="done-tickets"')
    # next SLA deadline first, shown as a live countdown
    assert ticket_ids(opened) == [world["open1"].pk, world["sev1"].pk]
    assert f'<time class="countdown" datetime="{due.isoformat()}"' in opened
    assert f'href="/t/{world["open1"].pk}"' in opened
    assert "Alice Agent" in opened and "unassigned" in opened
    assert "Sev-1" in opened and "status-" in opened


def test_breached_and_old_sev1_counts(world, login, frozen):
    frozen.advance(2 * 3600)  # past the first acknowledgement of every open ticket
    page = html(login(world["alice"]).get(f"/organizations/{world['org'].pk}/"))
    counts = dict(re.findall(r'data-count="(\w+)"><span class="stat">(\d+)</span>', page))
    assert counts["breached"] == "2"
    frozen.advance(91 * 24 * 3600)
    page = html(login(world["alice"]).get(f"/organizations/{world['org'].pk}/"))
    counts = dict(re.findall(r'data-count="(\w+)"><span class="stat">(\d+)</span>', page))
    assert counts["sev1"] == "0" and counts["open"] == "2"


def test_organization_tickets_page_through(world, login, monkeypatch):
    from caseline.tickets import directory

    extra = [world["ticket"](f"More {i}", team=world["red"]) for i in range(3)]
    monkeypatch.setattr(directory, "PAGE_SIZE", 2)
    c = login(world["alice"])
    url = f"/organizations/{world['org'].pk}/"
    seen: list[int] = []
    while url:
        opened = section(html(c.get(url)), "open-tickets")
        seen += ticket_ids(opened)
        m = re.search(r'<a href="([^"]+)" class="btn" rel="next">More open', opened)
        url = m.group(1).replace("&amp;", "&") if m else None
    expected = {world["open1"].pk, world["sev1"].pk, *(t.pk for t in extra)}
    assert sorted(seen) == sorted(expected) and len(seen) == len(expected)


def test_unknown_organization_is_404(world, login):
    resp = login(world["alice"]).get("/organizations/999999/")
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"


# --- contact page and merge -----------------------------------------------------------


def test_contact_page(world, login):
    ann = world["contact"]
    ContactEmail.objects.create(contact=ann, email="ann.private@mail.test")
    page = html(login(world["alice"]).get(f"/contacts/{ann.pk}/"))
    for text in (
        "Ann Customer",
        "ann@acme.test",
        "ann.private@mail.test",
        "+49 30 1234",
        "IT lead",
    ):
        assert text in page
    assert f'href="/organizations/{world["org"].pk}/"' in page
    assert set(ticket_ids(section(page, "open-tickets"))) == {
        world["open1"].pk,
        world["sev1"].pk,
    }
    assert ticket_ids(section(page, "done-tickets")) == [world["done"].pk]
    assert 'id="merge"' in page  # agents may merge contacts


def _dupe(world) -> Contact:
    dupe = Contact.objects.create(name="Ann C.", organization=world["org"], phone="")
    ContactEmail.objects.create(contact=dupe, email="ann.c@acme.test", is_primary=True)
    world["dupe_ticket"] = tickets.create_ticket(
        actor=world["alice"], requester=dupe, subject="Dupe's ticket", body_text="x", channel="web"
    )
    return dupe


def test_merge_through_the_page(world, login):
    ann, dupe = world["contact"], _dupe(world)
    c = login(world["alice"])
    page = html(c.get(f"/contacts/{dupe.pk}/"))
    assert f'<option value="{ann.pk}">Ann Customer' in page  # same-organization suggestion
    resp = c.post(f"/contacts/{dupe.pk}/merge", {"into": str(ann.pk)}, HTTP_HX_REQUEST="true")
    assert resp.status_code == 204 and resp["HX-Redirect"] == f"/contacts/{ann.pk}/"
    dupe.refresh_from_db()
    assert dupe.merged_into_id == ann.pk
    assert set(ann.emails.values_list("email", flat=True)) == {"ann@acme.test", "ann.c@acme.test"}
    assert Ticket.objects.get(pk=world["dupe_ticket"].pk).requester_id == ann.pk
    assert AuditEvent.objects.filter(type="contact.merged", subject_id=dupe.pk).exists()
    survivor = html(c.get(f"/contacts/{ann.pk}/"))
    assert "merged into Ann Customer" in survivor  # the flash message
    assert f'href="/contacts/{dupe.pk}/"' in survivor  # "merged into this one"
    assert world["dupe_ticket"].pk in ticket_ids(section(survivor, "open-tickets"))
    gone = html(c.get(f"/contacts/{dupe.pk}/"))
    assert f'data-merged-into="{ann.pk}"' in gone and 'id="merge"' not in gone


def test_merge_plain_form_redirects(world, login):
    ann, dupe = world["contact"], _dupe(world)
    resp = login(world["alice"]).post(f"/contacts/{dupe.pk}/merge", {"into": f"#{ann.pk}"})
    assert resp.status_code == 302 and resp["Location"] == f"/contacts/{ann.pk}/"
    dupe.refresh_from_db()
    assert dupe.merged_into_id == ann.pk


def _state(contact: Contact):
    contact.refresh_from_db()
    return (
        contact.merged_into_id,
        sorted(contact.emails.values_list("email", flat=True)),
        AuditEvent.objects.count(),
    )


def test_merge_into_itself_shows_the_error_and_changes_nothing(world, login):
    ann = world["contact"]
    before = _state(ann)
    c = login(world["alice"])
    resp = c.post(f"/contacts/{ann.pk}/merge", {"into": str(ann.pk)})
    assert resp.status_code == 422
    page = resp.content.decode()
    assert 'class="errors" role="alert"' in page and "cannot be merged into itself" in page
    assert _state(ann) == before
    resp = c.post(f"/contacts/{ann.pk}/merge", {"into": str(ann.pk)}, HTTP_HX_REQUEST="true")
    assert resp.status_code == 422
    err = resp.json()["error"]
    assert err["code"] == "validation_error" and "into" in err["fields"]
    assert _state(ann) == before


def test_merge_bad_targets(world, login):
    ann = world["contact"]
    before = _state(ann)
    c = login(world["alice"])
    for into, status in (("", 422), ("abc", 422), ("999999", 404)):
        resp = c.post(f"/contacts/{ann.pk}/merge", {"into": into}, HTTP_HX_REQUEST="true")
        assert resp.status_code == status, (into, resp.content)
        assert "into" in resp.json()["error"]["fields"]
    assert _state(ann) == before


def test_merge_needs_manage_contacts(world, login):
    """Executives read the directory but may not merge (docs/permissions.md)."""
    ann, dupe = world["contact"], _dupe(world)
    c = login(world["exec"])
    page = html(c.get(f"/contacts/{dupe.pk}/"))
    assert 'id="merge"' not in page
    resp = c.post(f"/contacts/{dupe.pk}/merge", {"into": str(ann.pk)})
    assert resp.status_code == 403
    dupe.refresh_from_db()
    assert dupe.merged_into_id is None


def test_get_on_merge_is_refused(world, login):
    resp = login(world["alice"]).get(f"/contacts/{world['contact'].pk}/merge")
    assert resp.status_code == 405


def test_query_count_is_fixed(world, login, django_assert_max_num_queries):
    for i in range(6):
        p = Contact.objects.create(name=f"Person {i}", organization=world["org"])
        ContactEmail.objects.create(contact=p, email=f"p{i}@acme.test")
        world["ticket"](f"Extra {i}", team=world["red"], assignee=world["bob"])
    c = login(world["alice"])
    c.get(f"/organizations/{world['org'].pk}/")  # warm caches (permissions, session)
    with django_assert_max_num_queries(30):
        html(c.get(f"/organizations/{world['org'].pk}/"))
    with django_assert_max_num_queries(25):
        html(c.get("/organizations/"))
