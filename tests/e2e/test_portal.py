"""The customer portal in a real browser against a real server process: a customer signs
in with a one-time link (read from the outbox row the server wrote), submits a ticket
with an attachment, replies, and cannot open another organization's ticket; another
customer signs in with a password and sees their organization's tickets and the ETA."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from caseline.accounts import roles
from caseline.accounts.models import Contact, ContactEmail, Organization, ProductArea, Team, User
from caseline.eta.services import promise
from caseline.notify.models import OutboxMessage
from caseline.tickets import services as tickets
from caseline.tickets.models import Message, Ticket
from caseline.timesource import now

pytestmark = [pytest.mark.browser, pytest.mark.subprocess]

PASSWORD = "pw-for-tests-123"


@pytest.fixture
def world(transactional_db, make_staff):
    team = Team.objects.create(name="Storage L2", assignment_strategy=Team.Strategy.MANUAL)
    agent = make_staff(roles.SE, email="sam@caseline.test", display_name="Sam Carter")
    team.members.add(agent)
    for name in ("Backup & Restore", "Replication", "Billing"):
        ProductArea.objects.create(name=name, slug=name.lower().replace(" & ", "-"))
    acme = Organization.objects.create(name="Acme Corp", tier="enterprise")
    globex = Organization.objects.create(name="Globex", tier="standard")

    def contact(name, email, org):
        c = Contact.objects.create(name=name, organization=org)
        ContactEmail.objects.create(contact=c, email=email, is_primary=True)
        return c

    ann = contact("Ann Archer", "ann@acme.test", acme)
    bert = contact("Bert Brown", "bert@acme.test", acme)  # no login yet: link only
    gus = contact("Gus Green", "gus@globex.test", globex)
    User.objects.create_user(
        username="ann@acme.test",
        email="ann@acme.test",
        password=PASSWORD,
        kind=User.Kind.CUSTOMER,
        contact=ann,
    )

    def ticket(requester, subject, body, **kw):
        return tickets.create_ticket(
            actor=agent, requester=requester, subject=subject, body_text=body, channel="email", **kw
        )

    failover = ticket(
        ann,
        "Failover to site B takes 40 minutes",
        "Our DR drill failed over, but it took 40 minutes instead of 5.",
        severity=2,
        team=team,
    )
    tickets.update_ticket(failover, actor=agent, assignee=agent)
    tickets.add_message(
        failover,
        actor=agent,
        kind=Message.Kind.INTERNAL,
        body_text="INTERNAL: their replication link is undersized; do not tell them yet",
    )
    answer = tickets.add_message(
        failover,
        actor=agent,
        body_text="Thanks Ann. We are replaying the drill's logs in our lab and will "
        "report what held the failover up.",
    )
    promise(failover, message=answer, due_at=now() + timedelta(hours=20), actor=agent)
    ticket(bert, "Invoice 2026-114 shows the wrong VAT number", "Please correct the VAT id.")
    ticket(ann, "Nightly backup job stuck at 99%", "Since Tuesday the job never completes.")
    secret = ticket(gus, "Globex: cluster outage in Frankfurt", "Everything is down.")
    return {"failover": failover, "globex_ticket": secret, "bert": bert}


def link_for(address: str) -> str:
    row = (
        OutboxMessage.objects.filter(idempotency_key__startswith="portal-link-")
        .order_by("-id")
        .first()
    )
    assert row is not None and row.payload["to"] == [address]
    found = re.search(r"https?://\S+/portal/link/\S+/", row.payload["text"])
    assert found, row.payload["text"]
    return found.group(0)


def test_customer_signs_in_by_link_submits_replies_and_is_kept_out(
    world, e2e_server, page, screenshot
):
    base = e2e_server
    page.goto(f"{base}/portal/")
    assert "/portal/login/" in page.url
    screenshot(page, "portal-sign-in")
    page.fill("#id_email", "bert@acme.test")
    page.click("text=Send me a link")
    page.wait_for_selector("text=Check your email")
    link = link_for("bert@acme.test")
    page.goto(link)
    page.click("#use-link")
    page.wait_for_url(f"{base}/portal/")
    assert page.locator("#portal-tickets").is_visible()
    assert page.locator("text=Globex").count() == 0
    # no staff navigation for customers
    assert page.locator("#global-search").count() == 0

    # submit a ticket with an attachment
    page.click("text=New ticket >> nth=0")
    page.fill("#id_subject", "Restore of VM web-07 fails with error 0x5A")
    page.select_option("#id_product_area", label="Backup & Restore")
    page.select_option("#id_severity", value="2")
    page.fill("#id_body_text", "Restoring web-07 from last night's backup fails at 12%.")
    page.set_input_files(
        "#id_attachments",
        files=[{"name": "restore.log", "mimeType": "text/plain", "buffer": b"error 0x5A at 12%"}],
    )
    page.click("text=Submit ticket")
    page.wait_for_url(re.compile(r".*/portal/t/\d+/$"))
    made = Ticket.objects.get(subject="Restore of VM web-07 fails with error 0x5A")
    assert (made.channel, made.severity, made.requester_id) == ("web", 2, world["bert"].pk)
    assert made.product_area.name == "Backup & Restore"
    assert page.locator("text=restore.log").is_visible()

    # reply
    page.fill("#id_body_text", "It also fails for web-08, same error.")
    page.click("text=Send reply")
    page.wait_for_selector("text=Reply sent.")
    assert page.locator(".msg", has_text="It also fails for web-08").is_visible()
    reply = made.messages.order_by("-id").first()
    assert (reply.kind, reply.author_contact_id) == ("public", world["bert"].pk)

    # another organization's ticket: 404, nothing of it shown
    response = page.goto(f"{base}/portal/t/{world['globex_ticket'].pk}/")
    assert response.status == 404
    assert "cluster outage" not in page.content()


def test_customer_signs_in_with_password_and_follows_a_ticket(world, e2e_server, page, screenshot):
    base = e2e_server
    page.goto(f"{base}/portal/login/")
    page.fill("#id_username", "ann@acme.test")
    page.fill("#id_password", PASSWORD)
    page.click("text=Sign in >> nth=-1")
    page.wait_for_url(f"{base}/portal/")
    rows = page.locator("#portal-tickets tbody tr")
    assert rows.count() == 3  # Acme's open tickets, Ann's and Bert's; not Globex's
    assert page.locator("text=Invoice 2026-114").is_visible()
    screenshot(page, "portal-tickets")

    page.click("text=Failover to site B takes 40 minutes")
    page.wait_for_selector("#conversation")
    assert page.locator("#eta").is_visible()
    assert "We are replaying the drill" in page.content()
    assert "INTERNAL" not in page.content()
    assert "undersized" not in page.content()
    screenshot(page, "portal")
