"""Issue 7's flow in a real browser, against a real `caseline serve` and a real
`caseline worker` (file-backed queue) sharing this test's database; outbound mail goes over
SMTP to a real aiosmtpd listener, chat posts to a real local HTTP receiver.

Three customers of three organizations report the same failure through the portal (each
in their own browser); the product's own detection (the worker's huey task) proposes the
cluster (not the same-area hard negative among other customers' tickets) and mails the
incident manager; the incident manager sees "Similar tickets elsewhere" on the third
ticket and declares the incident with all three in one click; hands
the case to an engineer, who acknowledges in their own browser; the incident goes on the
status page (the room has no control for it yet: the web app's own JSON API with the
session, as a front-end would call it); a broadcast is sent from the room and reaches the three requesters by email
(in their ticket threads), the chat webhook and a confirmed status-page subscriber; the
incident is resolved, its post-mortem written and exported as Markdown and PDF (browser
downloads)."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest

from caseline.accounts import roles
from caseline.accounts.models import Contact, ContactEmail, Organization, ProductArea, User
from caseline.incidents import broadcasts, statuspage
from caseline.incidents.models import Broadcast, DetectionProposal, Incident
from caseline.learning.models import PostMortem, RootCauseCategory
from caseline.notify.models import OutboxMessage
from caseline.sla.models import Clock
from caseline.tickets import services as tickets
from caseline.tickets.models import Message, Ticket
from caseline.timesource import now
from tests.e2e.conftest import PASSWORD
from tests.e2e.incident_support import (  # noqa: F401  (fixtures)
    TIMEOUT,
    hook_receiver,
    incident_stack,
    smtp_sink,
    wait_for,
)

pytestmark = [pytest.mark.browser, pytest.mark.subprocess]

EXPECT_MS = int(TIMEOUT * 1000)

# Three customers, one failure, three wordings.
REPORTS = [
    (
        "nora@northwind.test",
        "Webhook deliveries failing with TLS handshake error",
        "Since 09:00 UTC none of our webhook deliveries arrive. The delivery log shows a TLS "
        "handshake error for every endpoint. Nothing changed on our side.",
    ),
    (
        "gary@globex.test",
        "TLS handshake error on all webhook deliveries",
        "All webhook deliveries from your platform fail since this morning with a TLS "
        "handshake error. Our endpoints have valid certificates.",
    ),
    (
        "ivy@initech.test",
        "Webhooks not delivered: TLS handshake error",
        "Our webhook endpoint has received nothing since 09:00. Your delivery log says TLS "
        "handshake error for each webhook delivery attempt.",
    ),
]
# Other customers' tickets of the same day: the detector's background, none of them this
# failure; the first is a hard negative (same product area and words, another fault).
HARD_NEGATIVE = "Webhook signing secret rotation"
BACKGROUND = [
    (
        HARD_NEGATIVE,
        "We rotated the signing secret of our webhook and now our receiver rejects the "
        "signature header as invalid.",
    ),
    ("Invoice PDF shows wrong VAT number", "The invoice PDF for November shows our old VAT id."),
    ("Password reset mail not arriving", "Our users get no password reset email since Monday."),
    ("Dashboard export to CSV is slow", "Exporting the dashboard to CSV takes minutes now."),
    ("SSO sign-in refused for new employees", "New employees get 'unknown user' with SSO."),
    ("Mobile app crashes on Android 14", "The app closes right after start on Android 14."),
    ("Weekly usage report duplicated", "Each weekly usage report now comes in two copies."),
]
UPDATE = (
    "A certificate rotation on our webhook egress proxies broke the TLS handshake with "
    "many endpoints. We are rolling the proxies back; deliveries queued since 09:00 will "
    "be retried automatically."
)


def _categories() -> None:
    """A previous transactional test's flush removes the migration's seeded rows."""
    if not RootCauseCategory.objects.exists():
        for i, name in enumerate(["Software defect", "Configuration change", "Capacity"]):
            RootCauseCategory.objects.create(name=name, position=i)


@pytest.fixture
def world(transactional_db, migration_seeds, make_staff, settings, hook_receiver):
    _categories()
    im = make_staff(
        roles.INCIDENT_MANAGER,
        email="irene@caseline.test",
        display_name="Irene Incident",
    )
    owner = make_staff(roles.SE, email="omar@caseline.test", display_name="Omar Owner")
    agent = make_staff(roles.SE, email="alice@caseline.test", display_name="Alice Agent")
    ProductArea.objects.create(name="Webhooks", slug="webhooks-flow")

    customers = {}
    for (address, _, _), org_name in zip(
        REPORTS, ["Northwind Logistics", "Globex Retail", "Initech Payments"], strict=True
    ):
        org = Organization.objects.create(name=org_name, tier="enterprise")
        contact = Contact.objects.create(name=address.split("@")[0].title(), organization=org)
        ContactEmail.objects.create(contact=contact, email=address, is_primary=True)
        User.objects.create_user(
            username=address,
            email=address,
            password=PASSWORD,
            kind=User.Kind.CUSTOMER,
            contact=contact,
        )
        customers[address] = contact
    for i, (subject, body) in enumerate(BACKGROUND):
        org = Organization.objects.create(name=f"Background Customer {i}")
        contact = Contact.objects.create(name=f"Bea {i}", organization=org)
        ContactEmail.objects.create(contact=contact, email=f"bea{i}@bg{i}.test", is_primary=True)
        tickets.create_ticket(
            actor=agent, requester=contact, subject=subject, body_text=body, channel="web"
        )

    # configuration an admin did beforehand (API-only today): the ops chat channel and the
    # status page's component
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the receiver listens on 127.0.0.1
    chat = broadcasts.create_chat_webhook(im, name="ops-incidents", url=hook_receiver.url)
    component = statuspage.create_component(im, name="Webhook delivery", group="Integrations")
    return {"im": im, "owner": owner, "chat": chat, "component": component, "customers": customers}


def _new_context(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(EXPECT_MS)
    return context


def _customer_reports(browser, base: str, address: str, subject: str, body: str) -> None:
    context = _new_context(browser)
    try:
        page = context.new_page()
        page.goto(f"{base}/portal/login/")
        page.fill("#id_username", address)
        page.fill("#id_password", PASSWORD)
        page.click("text=Sign in >> nth=-1")
        page.wait_for_url(f"{base}/portal/")
        page.goto(f"{base}/portal/new/")
        page.fill("#id_subject", subject)
        page.select_option("#id_severity", value="1")
        page.fill("#id_body_text", body)
        page.click("text=Submit ticket")
        page.wait_for_url(re.compile(r".*/portal/t/\d+/$"))
    finally:
        context.close()


def _csrf(page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")


@pytest.fixture
def expect():
    """Playwright's expect with this machine's patience (restored afterwards)."""
    from playwright.sync_api import expect as pw_expect

    pw_expect.set_options(timeout=EXPECT_MS)
    try:
        yield pw_expect
    finally:
        pw_expect.set_options(timeout=5_000)


def test_multi_customer_incident_flow(
    world, incident_stack, smtp_sink, hook_receiver, browser, page, sign_in, screenshot, expect
):
    base, logs = incident_stack.base, incident_stack.logs
    page.set_default_timeout(EXPECT_MS)
    im, owner = world["im"], world["owner"]

    # --- 1. three customers report the same failure through the portal -------------------
    for address, subject, body in REPORTS:
        _customer_reports(browser, base, address, subject, body)
    reported = [Ticket.objects.get(subject=subject) for _, subject, _ in REPORTS]
    assert [t.channel for t in reported] == ["web"] * 3
    assert len({t.organization_id for t in reported}) == 3
    first, second, third = reported
    negative = Ticket.objects.get(subject=HARD_NEGATIVE)

    # --- 2. the product's detection (the worker's task after each commit) proposes them ---
    proposal = wait_for(
        lambda: DetectionProposal.objects.filter(ticket=third).first(),
        "the worker's detection proposal for the third report",
        *logs,
    )
    assert set(proposal.matches.values_list("ticket_id", flat=True)) == {first.pk, second.pk}
    alert = wait_for(
        lambda: [m for m in smtp_sink.to(im.email) if f"CL-{third.pk} looks like" in m.subject],
        "the detection mail about the third report to the incident manager",
        *logs,
    )[-1]
    assert "2 ticket(s) of 2 other organization(s)" in alert.subject, alert.subject
    assert "/incidents/proposals/" in alert.text()

    assert not DetectionProposal.objects.filter(matches__ticket=negative).exists()

    sign_in(page, base, im.email)
    page.goto(f"{base}/incidents/proposals/")
    card = page.locator(f'[data-proposal="{proposal.pk}"]')
    expect(card).to_be_visible()
    for t in (first, second):
        expect(card.locator(f'[data-match="{t.pk}"]')).to_be_visible()

    # the agent's view: the third ticket shows the cluster; one click declares the incident
    page.goto(f"{base}/t/{third.pk}")
    similar = page.locator("#panel-similar")
    expect(similar.locator(f'[data-similar-ticket="{first.pk}"]')).to_be_visible()
    expect(similar.locator(f'[data-similar-ticket="{second.pk}"]')).to_be_visible()
    shown = similar.locator("[data-similar-ticket]")
    assert sorted(
        int(shown.nth(i).get_attribute("data-similar-ticket")) for i in range(shown.count())
    ) == sorted([first.pk, second.pk])  # not the hard negative, nor the background
    similar.locator("[data-declare-cluster]").click()
    room_link = similar.locator('[data-proposal] a[href^="/incidents/"]')
    expect(room_link).to_be_visible()
    inc = Incident.objects.get()
    assert inc.source == "detection" and inc.severity == 1
    assert set(inc.tickets.values_list("pk", flat=True)) == {t.pk for t in reported}

    # --- 3. the incident room ------------------------------------------------------------------
    room_link.click()
    page.wait_for_url(f"**/incidents/{inc.pk}/")
    header = page.locator("#inc-header")
    expect(header.locator('[data-field="spoc"]')).to_contain_text("Irene")
    expect(header.locator('[data-field="organizations"]')).to_contain_text("Globex Retail")
    for t in reported:
        expect(page.locator(f'#inc-tickets [data-ticket="{t.pk}"]')).to_be_visible()
    expect(header.locator('[data-owner-target="active"]')).to_be_visible()

    # --- 4. an owner assigned, who acknowledges in their own browser ----------------------------
    header.locator('[data-form="owner"] select[name=user_id]').select_option(str(owner.pk))
    header.locator('[data-form="owner"] button[type=submit]').click()
    expect(header.locator('[data-handoff="pending"]')).to_contain_text("Omar")
    handoff_mail = wait_for(
        lambda: smtp_sink.to(owner.email), "the handoff mail to the new owner", *logs
    )
    assert inc.reference in handoff_mail[-1].subject + handoff_mail[-1].text()

    omar = _new_context(browser)
    try:
        op = omar.new_page()
        sign_in(op, base, owner.email)
        op.goto(f"{base}/incidents/{inc.pk}/")
        op.locator("[data-ack-owner]").click()
        expect(op.locator('#inc-header [data-field="owner"]')).to_contain_text("(acknowledged)")
        expect(op.locator("#inc-header [data-ack-owner]")).to_have_count(0)
    finally:
        omar.close()
    page.reload()
    expect(header.locator('[data-field="owner"]')).to_contain_text("Omar")
    expect(header.locator('[data-owner-target="fulfilled"]')).to_be_visible()
    inc.refresh_from_db()
    assert inc.case_owner_id == owner.pk
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "incident-room")

    # --- 5. on the status page, and a reader subscribes (double opt-in) -------------------------
    # no web control puts an incident on the status page: the session's API call instead
    answer = page.request.patch(
        f"{base}/api/v1/incidents/{inc.pk}/status-page",
        data={
            "public": True,
            "public_title": "Webhook deliveries failing",
            "components": {str(world["component"].pk): "major_outage"},
        },
        headers={"X-CSRFToken": _csrf(page)},
    )
    assert answer.status == 200, answer.text()
    reader = _new_context(browser)
    try:
        rp = reader.new_page()
        rp.goto(f"{base}/status/")
        rp.fill('#subscribe input[name="email"]', "reader@subscriber.test")
        rp.click("#subscribe button[type=submit]")
        expect(rp.locator("[data-subscribed]")).to_be_visible()
        confirm = wait_for(
            lambda: smtp_sink.to("reader@subscriber.test"), "the confirmation mail", *logs
        )
        link = re.search(r"https?://\S+/status/confirm/\S+/", confirm[-1].text())
        assert link, confirm[-1].text()
        rp.goto(link.group(0))
        rp.locator("form button[type=submit]").click()
        expect(rp.locator('[data-done="confirm"]')).to_be_visible()
    finally:
        reader.close()

    # --- 6. a broadcast from the room -----------------------------------------------------------
    page.reload()
    panel = page.locator("#inc-broadcasts")
    form = panel.locator('[data-form="broadcast"]')
    form.locator('textarea[name="body"]').fill(UPDATE)
    form.locator('input[name="public"]').check()
    form.locator("button[type=submit]").click()
    expect(page.locator('#inc-broadcasts [data-sent="1"]')).to_be_visible()
    b = Broadcast.objects.get(incident=inc)
    assert b.ticket_count == 3 and b.public
    for t in reported:  # a public staff reply on each linked ticket, which is our update
        assert Message.objects.filter(
            ticket=t, kind="public", author_user=im, body_text__contains="certificate rotation"
        ).exists()
        # it fulfilled the periodic-update clock: a new cycle runs from the broadcast on
        update = Clock.objects.get(ticket=t, key="support_engineer:periodic_update")
        started = b.created_at.replace(microsecond=0)  # the clock engine counts whole seconds
        assert update.cycle >= 2 and update.started_at >= started, update.__dict__
        assert not Clock.objects.filter(ticket=t, state="breached").exists()

    # every requester gets it by email, in their own ticket's thread, with the next update
    for (address, _, _), ticket in zip(REPORTS, reported, strict=True):
        got = wait_for(
            lambda a=address: [m for m in smtp_sink.to(a) if "certificate rotation" in m.text()],
            f"the broadcast mail to {address}",
            *logs,
        )
        mail = got[-1]
        assert f"[CL-{ticket.pk}]" in mail.subject
        # the ticket thread's own reply mail (our Message-ID naming the ticket's message)
        assert mail.message["X-Caseline-Ticket"] == str(ticket.pk)
        assert str(mail.message["Message-ID"]).startswith(f"<cl-t{ticket.pk}-m")
        assert "next update" in mail.text().lower()
    # the chat channel: Slack-compatible JSON stating the next update time
    post = wait_for(hook_receiver.received, "the chat webhook post", *logs)[-1]
    payload = post.json()
    assert "certificate rotation" in payload["text"] and "Next update" in payload["text"]
    assert inc.reference in payload["blocks"][0]["text"]["text"]
    # the confirmed status-page subscriber
    sub_mail = wait_for(
        lambda: [
            m for m in smtp_sink.to("reader@subscriber.test") if "certificate rotation" in m.text()
        ],
        "the subscriber's broadcast mail",
        *logs,
    )[-1]
    assert "Webhook deliveries failing" in sub_mail.subject

    # delivery state per recipient, as the room shows it
    wait_for(
        lambda: (
            not OutboxMessage.objects.filter(
                subject_type__in=["broadcast", "message"], status=OutboxMessage.Status.PENDING
            ).exists()
        ),
        "the worker to mark the broadcast's deliveries",
        *logs,
    )
    page.reload()
    panel = page.locator("#inc-broadcasts")
    panel.locator(f'[data-broadcast="{b.pk}"] a', has_text="recipients").click()
    table = page.locator(f'#inc-broadcasts [data-deliveries="{b.pk}"]')
    expect(table).to_be_visible()
    for address, _, _ in REPORTS:
        expect(table.locator(f'tr[data-recipient*="{address}"]')).to_have_attribute(
            "data-status", "sent"
        )
    expect(table.locator('tr[data-status="failed"]')).to_have_count(0)
    table.scroll_into_view_if_needed()
    screenshot(page, "incident-broadcasts")

    # the executive feed
    page.goto(f"{base}/incidents/feed/")
    expect(page.locator(f'[data-list="feed"] [data-broadcast="{b.pk}"]')).to_contain_text(
        "certificate rotation"
    )
    page.goto(f"{base}/incidents/{inc.pk}/")

    # the public status page
    status = _new_context(browser)
    try:
        sp = status.new_page()
        sp.goto(f"{base}/status/")
        section = sp.locator(f'[data-incident="{inc.pk}"]')
        expect(section).to_contain_text("Webhook deliveries failing")
        expect(section).to_contain_text("certificate rotation")
        expect(sp.locator('[data-component="Webhook delivery"]')).to_have_attribute(
            "data-status", "major_outage"
        )
        screenshot(sp, "status-page")
    finally:
        status.close()

    # --- 7. resolved -------------------------------------------------------------------------------
    page.locator('#inc-header [data-move="resolved"]').click()
    expect(page.locator("#inc-header")).to_have_attribute("data-status", "resolved")
    pm = PostMortem.objects.get(incident=inc)

    # --- 8. the post-mortem: written and exported -------------------------------------------------
    pm_link = page.locator("#postmortem-panel a", has_text=pm.reference)
    expect(pm_link).to_be_visible()
    pm_link.click()
    page.wait_for_url(f"**/postmortems/{pm.pk}/")
    timeline = page.locator("#timeline")
    # pre-filled from the incident's events (editable rows: the text is an input's value)
    for what in ("Broadcast to 3 tickets", "acknowledged and owns the case", "→ resolved"):
        expect(timeline.locator(f'input[name="text"][value*="{what}"]')).to_have_count(1)
    sections = page.locator("#sections")
    sections.locator("textarea[name=summary]").fill(
        "Webhook deliveries to most customer endpoints failed for 2 hours."
    )
    sections.locator("textarea[name=customer_impact]").fill(
        "Three enterprise customers reported missing webhooks; deliveries were retried."
    )
    sections.locator("textarea[name=root_cause]").fill(
        "The egress proxies got a certificate chain without the intermediate certificate."
    )
    sections.locator("select[name=root_cause_category_id]").select_option(
        label="Configuration change"
    )
    with page.expect_navigation():
        page.click("#save-sections")
    expect(page.locator("#sections textarea[name=root_cause]")).to_have_value(
        re.compile("without the intermediate")
    )
    page.fill("#add-action input[name=what]", "Check the full chain before rotating certificates")
    page.select_option("#add-action select[name=owner_id]", str(owner.pk))
    due = (now() + timedelta(days=30)).strftime("%Y-%m-%dT10:00")
    page.fill("#add-action input[name=due_at]", due)
    with page.expect_navigation():
        page.click("#add-action button[type=submit]")
    assert "Check the full chain" in page.locator("#actions").inner_text(), page.locator(
        ".flash"
    ).all_text_contents()
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "incident-postmortem")

    with page.expect_download() as md_download:
        page.click("#export-md")
    md = md_download.value
    assert md.suggested_filename == f"{pm.reference}.md"
    text = open(md.path(), encoding="utf-8").read()
    assert "for 2 hours" in text and "without the intermediate" in text
    assert "Configuration change" in text and "Check the full chain" in text

    with page.expect_download() as pdf_download:
        page.click("#export-pdf")
    pdf = pdf_download.value
    assert pdf.suggested_filename == f"{pm.reference}.pdf"
    data = open(pdf.path(), "rb").read()
    assert data.startswith(b"%PDF")
    from pypdf import PdfReader

    pdf_text = " ".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(data)).pages)
    assert "without the intermediate" in " ".join(pdf_text.split())
