"""Search and the organization page in a real browser against a real server process:
press "/", type a two-word query, move with j, open a hit with Enter; open an
organization from the list and from a search hit. Screenshots: search.png, organization.png."""

from __future__ import annotations

import re

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
    Team,
)
from caseline.tickets import services as tickets

pytestmark = [pytest.mark.browser, pytest.mark.subprocess]


@pytest.fixture
def world(transactional_db, make_staff, migration_seeds):
    team = Team.objects.create(name="Storage L2", assignment_strategy=Team.Strategy.MANUAL)
    alice = make_staff(roles.SE, email="alice@caseline.test", display_name="Alice Agent")
    sc = make_staff(roles.SC, email="sam@caseline.test", display_name="Sam Sales")
    csm = make_staff(roles.CSM, email="cora@caseline.test", display_name="Cora Success")
    team.members.add(alice)
    emea = Region.objects.create(code="EMEA", name="Europe", handoff_order=1)
    acme = Organization.objects.create(
        name="Acme Corp",
        tier="enterprise",
        support_entitlement="premium-24x7",
        region=emea,
        lifecycle_stage="renewing",
        sales_consultant=sc,
        success_manager=csm,
        notes="Renewal due in Q3; two production clusters (Frankfurt, Dublin).",
    )
    OrganizationDomain.objects.create(organization=acme, domain="acme.test")
    area = ProductArea.objects.create(name="Replication", slug="replication")
    OrganizationOwner.objects.create(organization=acme, product_area=area, user=alice)
    Organization.objects.create(name="Globex", tier="standard")
    people = []
    for name, email, title in (
        ("Ann Admin", "ann@acme.test", "IT lead"),
        ("Bert Builder", "bert@acme.test", "DBA"),
        ("Carla CTO", "carla@acme.test", "CTO"),
    ):
        c = Contact.objects.create(name=name, organization=acme, title=title)
        ContactEmail.objects.create(contact=c, email=email, is_primary=True)
        people.append(c)
    made = []
    for i, (subject, sev, body) in enumerate(
        (
            ("Replication lag on the Frankfurt cluster", 2, "Replication lag grows to 40 min."),
            ("Nightly backup stuck at 99%", 3, "The backup job hangs at the end."),
            ("Cluster down after upgrade", 1, "Both nodes refuse to start after 5.2."),
            ("Replication stalls during backup window", 3, "Lag during the nightly backup."),
        )
    ):
        made.append(
            tickets.create_ticket(
                actor=alice,
                requester=people[i % 3],
                subject=subject,
                body_text=body,
                channel="email",
                severity=sev,
                team=team,
                assignee=alice if i % 2 == 0 else None,
            )
        )
    tickets.add_message(
        made[0],
        actor=alice,
        body_text="We see replication lag because the WAL volume is full; <b>resize</b> it.",
    )
    tickets.update_ticket(made[1], actor=alice, assignee=alice, status="solved")
    return {"alice": alice, "acme": acme, "tickets": made}


def test_search_with_keys_then_open_a_hit_and_an_organization(
    world, e2e_server, page, sign_in, screenshot
):
    base = e2e_server
    sign_in(page, base, "alice@caseline.test")
    page.goto(f"{base}/queues/")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "global-search"
    page.keyboard.type("replication lag")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/search/\?q=replication\+lag"))
    rows = page.locator("[data-kbd-row]")
    assert rows.count() >= 2
    assert page.locator(".snippet mark").count() >= 2
    # the message's own HTML is text, not markup
    assert page.locator(".snippet b").count() == 0
    assert page.get_by_text("<b>resize</b>", exact=False).count() >= 1
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert "is-current" in (rows.nth(1).get_attribute("class") or "")
    screenshot(page, "search")

    # "/" on the search page focuses its own box; Escape leaves it; Enter opens the hit
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.name") == "q"
    page.keyboard.press("Escape")
    page.evaluate("document.activeElement.blur()")
    target = rows.nth(1).get_attribute("data-href")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(re.escape(target.split("#")[0]) + r"(#|$)"))
    assert re.search(r"/t/\d+", page.url)

    # the organization list, filtered, then its page
    page.goto(f"{base}/organizations/?tier=enterprise")
    assert page.locator("[data-kbd-row]").count() == 1
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/organizations/{world['acme'].pk}/$"))
    assert page.locator("[data-count=open] .stat").text_content().strip() == "3"
    assert page.locator("#open-tickets [data-kbd-row]").count() == 3
    assert page.locator("#done-tickets [data-kbd-row]").count() == 1
    assert page.locator("#people li").count() == 3
    page.wait_for_function(
        "() => /^-?\\d+[dhm]/.test(document.querySelector('time.countdown').textContent)"
    )
    screenshot(page, "organization")

    # a contact from the people list
    page.click("#people a:has-text('Ann Admin')")
    page.wait_for_url(re.compile(r"/contacts/\d+/$"))
    assert page.locator("text=ann@acme.test").count() >= 1
