"""The ticket page in a real browser against a real server process: sign in, open a
ticket, draft a reply that leaves one of the customer's questions unanswered and see the
reply checker flag it, set an ETA with a preset, send; the reply and the ETA are stored."""

from __future__ import annotations

import pytest

from caseline.accounts import roles
from caseline.accounts.models import Contact, ContactEmail, Organization, Team
from caseline.eta.models import ETA
from caseline.tickets import macros
from caseline.tickets import services as tickets
from caseline.tickets.models import Message

pytestmark = [pytest.mark.browser, pytest.mark.subprocess]

QUESTION = (
    "Hello,\n\nour nightly backup of vol-prod-3 stops at 99% since Monday. "
    "Why does the backup stop at 99%?\n\n"
    "Could you also confirm whether snapshot deletion runs asynchronously?\n\nThanks,\nAnn"
)


@pytest.fixture
def world(transactional_db, make_staff):
    team = Team.objects.create(name="Storage L2", assignment_strategy=Team.Strategy.MANUAL)
    alice = make_staff(roles.SE, email="alice@caseline.test", display_name="Alice Agent")
    bob = make_staff(roles.SC, email="bob@caseline.test", display_name="Bob Sales")
    team.members.add(alice)
    org = Organization.objects.create(name="Acme Corp", tier="enterprise", sales_consultant=bob)
    ann = Contact.objects.create(name="Ann Customer", organization=org)
    ContactEmail.objects.create(contact=ann, email="ann@acme.test", is_primary=True)
    t = tickets.create_ticket(
        actor=alice,
        requester=ann,
        subject="Nightly backup stuck at 99%",
        body_text=QUESTION,
        channel="email",
        severity=2,
        team=team,
        assignee=alice,
    )
    tickets.add_message(t, actor=alice, kind="internal", body_text="Disk on vol-prod-3 is full.")
    tickets.update_ticket(t, actor=alice, tags=["backup"])
    macros.create_macro(
        actor=alice,
        name="Ask for logs",
        body="Hi {requester_first_name},\n\ncould you send the backup logs?",
        actions={"status": "pending"},
    )
    return {"alice": alice, "ticket": t}


def test_reply_with_the_checker_and_an_eta(world, e2e_server, page, sign_in, screenshot):
    t = world["ticket"]
    sign_in(page, e2e_server, "alice@caseline.test")
    page.goto(f"{e2e_server}/t/{t.pk}")
    assert page.locator("article.msg-internal").inner_text().count("Disk on vol-prod-3") == 1
    assert page.locator("#ticket-side").get_by_text("Bob Sales").count() >= 1

    box = page.locator("#composer-body")
    box.click()
    box.press_sequentially(
        "Hi Ann,\n\nthe backup stops at 99% because the disk of vol-prod-3 is full; "
        "we are freeing space now.\n\nBest regards,\nAlice"
    )
    flagged = page.locator('#reply-check [data-kind="unanswered_question"]')
    flagged.wait_for()
    assert "snapshot deletion" in flagged.inner_text()
    page.locator('#reply-check [data-kind="missing_eta"]').wait_for()

    page.click('button[data-eta-preset="240"]')  # ETA: in four hours
    assert page.input_value("#eta-input")
    page.locator('#reply-check [data-kind="missing_eta"]').wait_for(state="detached")
    assert page.locator('#reply-check [data-kind="unanswered_question"]').count() == 1
    screenshot(page, "ticket")

    page.click("button[data-send]")  # the checker never blocks sending
    page.wait_for_url(f"**/t/{t.pk}?sent=*")
    page.locator("#eta-panel [data-eta=pending]").wait_for()
    assert "we are freeing space now" in page.locator(".conversation").inner_text()

    reply = Message.objects.filter(ticket=t, author_user=world["alice"], kind="public").latest("id")
    assert "freeing space" in reply.body_text
    eta = ETA.objects.get(ticket=t, status=ETA.Status.PENDING)
    assert eta.message_id == reply.pk
