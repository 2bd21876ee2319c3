"""Sign in, work the "unassigned in my teams" queue with the keyboard, bulk-assign two
tickets -- in a real browser against a real server process."""

from __future__ import annotations

import re

import pytest

from caseline.accounts import roles
from caseline.accounts.models import Contact, ContactEmail, Organization, Team
from caseline.tickets import services as tickets
from caseline.tickets.models import Ticket

pytestmark = [pytest.mark.browser, pytest.mark.subprocess]


@pytest.fixture
def world(transactional_db, make_staff, migration_seeds):
    manual = Team.Strategy.MANUAL
    red = Team.objects.create(name="Database team", assignment_strategy=manual)
    alice = make_staff(roles.SE, email="alice@caseline.test", display_name="Alice Agent")
    bob = make_staff(roles.SE, email="bob@caseline.test", display_name="Bob Builder")
    red.members.add(alice, bob)
    orgs = []
    for name, tier in (
        ("Acme Corp", "enterprise"),
        ("Globex", "standard"),
        ("Initech", "standard"),
    ):
        org = Organization.objects.create(name=name, tier=tier)
        contact = Contact.objects.create(name=f"{name} admin", organization=org)
        ContactEmail.objects.create(
            contact=contact, email=f"admin@{name.split()[0].lower()}.test", is_primary=True
        )
        orgs.append(contact)
    subjects = [
        ("Replication lag on the EU cluster", 2),
        ("Nightly backup stuck at 99%", 3),
        ("SSO login loop after IdP certificate rotation", 1),
        ("Export to CSV drops non-ASCII names", 4),
        ("API rate limit too low for the sync job", 3),
    ]
    made = []
    for i, (subject, sev) in enumerate(subjects):
        made.append(
            tickets.create_ticket(
                actor=alice,
                requester=orgs[i % 3],
                subject=subject,
                body_text=f"{subject}. Please help.",
                channel="email",
                severity=sev,
                team=red,
            )
        )
    mine = tickets.create_ticket(
        actor=alice,
        requester=orgs[0],
        subject="Upgrade path to 5.x",
        body_text="Which versions can we skip?",
        channel="phone",
        team=red,
        assignee=alice,
    )
    tickets.update_ticket(made[1], actor=alice, tags=["backup"])
    tickets.add_message(made[0], actor=alice, kind="public", body_text="Looking at it now.")
    return {"alice": alice, "bob": bob, "tickets": made, "mine": mine}


def test_sign_in_work_the_queue_with_keys_and_bulk_assign(
    world, e2e_server, page, sign_in, screenshot
):
    base = e2e_server
    page.goto(f"{base}/queues/mine/")
    assert "/login/" in page.url  # signed out: the sign-in page
    screenshot(page, "sign-in")
    sign_in(page, base, "alice@caseline.test")
    page.goto(f"{base}/queues/unassigned/")
    rows = page.locator("[data-kbd-row]")
    assert rows.count() == 5
    # live countdowns: rendered by app.js (e.g. "59m 58s"), ticking
    first_cd = page.locator("time.countdown").first
    page.wait_for_function(
        "() => /^-?\\d+[dhm]/.test(document.querySelector('time.countdown').textContent)"
    )
    before = first_cd.text_content()
    page.wait_for_timeout(1100)
    assert first_cd.text_content() != before
    assert "cd-amber" in (first_cd.get_attribute("class") or "")  # 1 h ack: under the 1 h mark
    screenshot(page, "queue-unassigned")

    # j j j k -> the second row is current (the first j enters the list); x selects it;
    # j x selects the third
    for key in "jjjk":
        page.keyboard.press(key)
    second = rows.nth(1)
    assert "is-current" in second.get_attribute("class")
    page.keyboard.press("x")
    page.keyboard.press("j")
    page.keyboard.press("x")
    assert page.locator("#selected-count").text_content() == "2"
    chosen = [int(rows.nth(i).get_attribute("data-id")) for i in (1, 2)]

    # bulk-assign the two to Bob through htmx; the list refreshes by itself
    page.select_option("#bulk-assign select[name=value]", str(world["bob"].pk))
    page.click("#bulk-assign button[type=submit]")
    page.wait_for_selector("#bulk-result:has-text('2 tickets changed')")
    page.wait_for_function("() => document.querySelectorAll('[data-kbd-row]').length === 3")
    assert set(Ticket.objects.filter(pk__in=chosen).values_list("assignee_id", flat=True)) == {
        world["bob"].pk
    }

    # "/" focuses search; Escape leaves it; Enter on the current row opens the ticket
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "global-search"
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    target = page.locator("[data-kbd-row].is-current").get_attribute("data-id")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/t/{target}(/|$|#)"))

    # "r" on a row opens that ticket with the composer focused
    page.goto(f"{base}/queues/unassigned/")
    page.keyboard.press("j")
    target = page.locator("[data-kbd-row].is-current").get_attribute("data-id")
    page.keyboard.press("r")
    page.wait_for_url(re.compile(rf"/t/{target}#reply$"))
    page.wait_for_function("() => document.activeElement.hasAttribute('data-kbd-reply')")


def test_my_open_and_saved_view_screens(world, e2e_server, page, sign_in, screenshot):
    base = e2e_server
    sign_in(page, base, "alice@caseline.test")
    page.goto(f"{base}/queues/mine/")
    assert page.locator("[data-kbd-row]").count() == 1
    screenshot(page, "queue-mine")
    page.goto(f"{base}/queues/custom/?status=new&sort=deadline")
    page.fill("#save-view input[name=name]", "New by deadline")
    page.click("#save-view button[type=submit]")
    page.wait_for_url(re.compile(r"/queues/v/\d+/$"))
    assert page.locator(".views a.active").text_content().strip().startswith("New by deadline")
    assert page.locator("[data-kbd-row]").count() == 5  # the answered one is open
    screenshot(page, "queue-saved-view")


def test_dashboard_draws_its_charts(world, e2e_server, page, sign_in, screenshot):
    base = e2e_server
    sign_in(page, base, "alice@caseline.test")
    page.goto(f"{base}/dashboard/")
    assert page.locator("#stat-backlog").text_content().strip() == "6"
    # Chart.js drew into each canvas (a chart instance is attached to it)
    for canvas in ("chart-backlog", "chart-achievement", "chart-breaches"):
        assert page.evaluate(f"!!Chart.getChart(document.getElementById('{canvas}'))")
    screenshot(page, "dashboard")
