"""The escalation flow in a real browser, against a real `caseline serve` AND a real
`caseline clock` process that share this test's database and a settable time file
(CASELINE_TIME_FILE, flowing time): an escalation manager opens an escalation from a
ticket in one click, maps a customer contact and an internal SME, sets a customer-update
cadence, misses the update when the product's time is advanced for every process (the
clock process fires the due timer), sees the miss in the room, and slips a commitment
(reason, drafted notice). The browser's own countdown may disagree with the shifted
product time; nothing here reads it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from caseline import timesource
from caseline.accounts import roles
from caseline.accounts.models import Contact, ContactEmail, Organization, ProductArea, Region
from caseline.escalations.models import CadenceEntry, Commitment, Escalation, Stakeholder
from caseline.tickets import services as tickets
from tests.conftest import free_port
from tests.e2e.conftest import _status

pytestmark = [pytest.mark.browser, pytest.mark.subprocess]
TIMEOUT = 60.0


def wait_for(condition, what: str, log: Path | None = None, timeout: float = TIMEOUT) -> None:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            detail = log.read_text()[-3000:] if log and log.exists() else ""
            raise AssertionError(f"timed out waiting for {what}\n{detail}")
        time.sleep(0.05)


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


@pytest.fixture
def timed_server(subprocess_env, tmp_path, monkeypatch):
    """A web server and a clock process reading the same time file as this test; the time
    flows (offset 0 at the start) until the test advances it for all of them."""
    monkeypatch.setenv(timesource.ENV_VAR, subprocess_env["CASELINE_TIME_FILE"])
    timesource.reset()
    env = dict(subprocess_env, LOG_LEVEL="WARNING")
    port = free_port()
    serve_log, clock_log = tmp_path / "serve.log", tmp_path / "clock.log"
    serve = clock = None
    try:
        with open(serve_log, "wb") as out:
            serve = subprocess.Popen(
                [sys.executable, "-m", "caseline", "serve", "--host", "127.0.0.1",
                 "--port", str(port)],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        with open(clock_log, "wb") as out:
            clock = subprocess.Popen(
                [sys.executable, "-m", "caseline", "clock"],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: _status(f"{base}/healthz") == 200, "the server", serve_log)
        wait_for(lambda: "clock: running" in clock_log.read_text(), "the clock", clock_log)
        yield {"base": base, "clock_log": clock_log}
    finally:
        _stop(clock)
        _stop(serve)


@pytest.fixture
def world(transactional_db, migration_seeds, make_staff):
    # two regions in hand-off order; no shift calendars, so no shift end fires by itself
    emea = Region.objects.create(code="EMEA", name="EMEA", handoff_order=2)
    amer = Region.objects.create(code="AMER", name="Americas", handoff_order=3)
    em = make_staff(
        roles.ESCALATION_MANAGER, email="em@caseline.test", display_name="Erin EM", region=emea
    )
    rita = make_staff(
        roles.SE, email="rita@caseline.test", display_name="Rita Receiver", region=amer
    )
    sme = make_staff(roles.SE, email="sme@caseline.test", display_name="Sam SME")
    agent = make_staff(roles.SE, email="agent@caseline.test", display_name="Alice Agent")
    org = Organization.objects.create(name="Acme Flow", tier="enterprise")
    ann = Contact.objects.create(name="Ann Customer", organization=org)
    ContactEmail.objects.create(contact=ann, email="ann@acme-flow.test", is_primary=True)
    area = ProductArea.objects.create(name="Replication", slug="replication-flow")
    t = tickets.create_ticket(
        actor=agent,
        requester=ann,
        subject="Replication stalled on the primary cluster",
        body_text="Our replication stopped an hour ago; orders are not syncing.",
        channel="email",
        severity=1,
        assignee=agent,
        product_area=area,
    )
    return {"em": em, "sme": sme, "rita": rita, "ann": ann, "ticket": t}


def test_escalation_room_flow(world, timed_server, browser, page, sign_in, screenshot):
    base, t = timed_server["base"], world["ticket"]
    sign_in(page, base, "em@caseline.test")

    # one click from the ticket
    page.goto(f"{base}/t/{t.pk}")
    page.locator("#panel-escalation [data-escalate]").click()
    page.wait_for_url("**/escalations/*/")
    esc = Escalation.objects.get()
    assert esc.source == "ticket" and esc.owner == world["em"]
    assert list(esc.tickets.all()) == [t]
    header = page.locator("#esc-header")
    assert esc.reference in header.inner_text() and "Erin EM" in header.inner_text()

    # stakeholders: a customer contact and an internal SME
    form = page.locator('[data-form="customer"]')
    form.locator("select[name=contact_id]").select_option(label="Ann Customer")
    form.locator("select[name=role]").select_option("decision_maker")
    form.locator("button[type=submit]").click()
    page.locator('[data-side="customer"]').get_by_text("Ann Customer").wait_for()
    form = page.locator('[data-form="internal"]')
    form.locator("select[name=user_id]").select_option(label="Sam SME")
    form.locator("select[name=role]").select_option("sme")
    form.locator("input[name=involvement]").fill("4 h/day until resolved")
    form.locator("select[name=approved_by_id]").select_option(label="Erin EM")
    form.locator("button[type=submit]").click()
    internal = page.locator('[data-side="internal"]')
    internal.get_by_text("4 h/day until resolved").wait_for()
    assert "Sam SME" in internal.inner_text()
    assert Stakeholder.objects.filter(escalation=esc, renounced_at__isnull=True).count() == 2

    # a customer update every 5 minutes, no reminder
    form = page.locator('[data-form="cadence-customer_update"]')
    form.locator("input[name=every]").fill("5")
    form.locator("select[name=unit]").select_option("minutes")
    form.locator("input[name=reminder_minutes]").fill("0")
    form.locator("button[type=submit]").click()
    page.locator('#esc-header [data-clock="next-due"]').wait_for()
    assert page.locator('#esc-header [data-clock="missed"]').inner_text() == "0"

    # the product's time moves past the due time for every process: the clock process
    # fires the due timer and records the miss; the room shows it
    timesource.advance(5 * 60 + 5)
    wait_for(
        lambda: CadenceEntry.objects.filter(kind="missed").exists(),
        "the clock process to record the missed update",
        timed_server["clock_log"],
    )
    page.reload()
    assert page.locator('#esc-header [data-clock="missed"]').inner_text() == "1"
    missed = page.locator('[data-cadence="customer_update"] [data-entry="missed"]')
    assert missed.count() == 1 and "missed" in missed.inner_text()

    # a commitment, then its date slips: reason, drafted notice to review
    due = timesource.now() + timedelta(days=1)
    form = page.locator('[data-form="add-commitment"]')
    form.locator("input[name=what]").fill("Hotfix build for the replication stall")
    form.locator("input[name=to_whom]").fill("Ann Customer")
    form.locator("input[name=due_at]").fill(due.strftime("%Y-%m-%dT%H:%M"))  # viewer in UTC
    form.locator("button[type=submit]").click()
    page.locator("[data-commitment]").get_by_text("Hotfix build").wait_for()
    com = Commitment.objects.get()
    row = page.locator(f'[data-commitment="{com.pk}"]')
    row.locator("details.esc-edit summary").click()
    edit = page.locator(f'[data-form="commitment-{com.pk}"]')
    edit.locator("input[name=due_at]").fill((due + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"))
    edit.locator("input[name=reason]").fill("QA found a regression in the hotfix")
    edit.locator("button[type=submit]").click()
    notice = page.locator("pre.esc-notice")
    notice.wait_for()
    assert "We will not make that date" in notice.inner_text()
    assert "QA found a regression" in page.locator("tr.esc-slip").inner_text()
    assert com.slips.count() == 1
    timeline = page.locator("#esc-timeline").inner_text()
    assert "commitment_slipped" in timeline and "update_missed" in timeline
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "escalation-room")

    # executive summary (the summaries panel): generate, then send to the internal people
    summaries = page.locator("#panel-summaries")
    summaries.locator('[data-form="summary-generate"] button').click()
    summaries.locator("[data-draft]").wait_for()
    draft = summaries.locator('textarea[name="text"]').input_value()
    assert "Hotfix build" in draft
    page.once("dialog", lambda d: d.accept())
    summaries.locator('[data-form="summary-send"] button').click()
    summaries.locator("#esc-summaries-sent [data-sent]").wait_for()

    # follow-the-sun: Erin (EMEA) hands over to Rita (AMER), who acknowledges
    handoffs = page.locator("#panel-handoffs")
    handoffs.locator('[data-form="start-handoff"] button').click()
    hand = handoffs.locator('[data-form="hand"]')
    hand.wait_for()
    hand.locator("select[name=receiver_id]").select_option(str(world["rita"].pk))
    hand.locator("textarea[name=note]").fill("Hotfix moved to Friday; call Ann at 09:00 her time.")
    hand.locator("button[type=submit]").click()
    handoffs.locator('[data-handoff][data-status="handed"]').wait_for()
    rita = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        rita.set_default_timeout(15_000)
        rp = rita.new_page()
        sign_in(rp, base, "rita@caseline.test")
        rp.goto(f"{base}/escalations/{esc.pk}/")
        card = rp.locator("#panel-handoffs [data-handoff]")
        assert "Call Ann".lower() in card.inner_text().lower()
        rp.locator('#panel-handoffs [data-form="acknowledge"] button').click()
        rp.locator('#panel-handoffs [data-handoff][data-status="acknowledged"]').wait_for()
    finally:
        rita.close()
    esc.refresh_from_db()
    assert esc.acting_owner is not None and esc.acting_owner.email == "rita@caseline.test"

    # the list shows it with its missed update
    page.goto(f"{base}/escalations/?owner=mine")
    row = page.locator(f'tr[data-id="{esc.pk}"]')
    assert row.locator("[data-missed]").inner_text() == "1"
    screenshot(page, "escalations")
