"""The post-mortem editor in a real browser (a real `caseline serve`): an escalation
resolved through the services has its post-mortem and review meeting; a lead writes the
summary, picks the root-cause category, adds an action item, sends it to review,
publishes it and downloads the PDF; the trends page draws its charts."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from caseline.accounts import roles
from caseline.accounts.models import Contact, Organization, ProductArea, Region
from caseline.escalations import services as esc
from caseline.learning.models import PostMortem, RootCauseCategory
from caseline.tickets.models import Message, Ticket
from caseline.timesource import now
from tests.e2e.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.subprocess]


def _seed_categories() -> None:
    """A previous transactional test's flush removes the migration's seeded rows."""
    if not RootCauseCategory.objects.exists():
        for i, name in enumerate(["Software defect", "Configuration change", "Capacity"]):
            RootCauseCategory.objects.create(name=name, position=i)


@pytest.fixture
def resolved(migration_seeds, make_staff):
    _seed_categories()
    amer = Region.objects.create(code="AMER", name="Americas", shift_calendar="amer-business")
    em = make_staff(roles.ESCALATION_MANAGER, email="em-pm@caseline.test", region=amer)
    make_staff(roles.LEAD, email="lead-pm@caseline.test")
    make_staff(roles.SE, email="se-pm@caseline.test")
    org = Organization.objects.create(name="Acme PM e2e")
    contact = Contact.objects.create(name="Ann", organization=org)
    area = ProductArea.objects.create(name="Replication e2e", slug="replication-e2e")
    t = Ticket.objects.create(
        subject="Replica lag", requester=contact, organization=org, product_area=area
    )
    Message.objects.create(ticket=t, kind="public", author_contact=contact, body_text="Help")
    e = esc.open_escalation(None, ticket_ids=[t.pk], owner_id=em.pk, title="Replica lag")
    esc.transition(e.pk, em, "active")
    esc.transition(e.pk, em, "resolved", root_cause="Agent throttles WAL shipping")
    return PostMortem.objects.get(escalation=e)


def test_write_publish_and_export_a_postmortem(resolved, e2e_server, page, sign_in, screenshot):
    base, pm = e2e_server, resolved
    due = (now() + timedelta(days=30)).strftime("%Y-%m-%dT10:00")
    sign_in(page, base, "lead-pm@caseline.test", PASSWORD)
    page.goto(f"{base}/postmortems/")
    page.click(f"text={pm.reference}")
    page.wait_for_url(re.compile(rf"/postmortems/{pm.pk}/$"))
    assert "due by" in page.locator("#review").text_content()
    page.fill("#sections textarea[name=summary]", "Replication stalled for 3 hours.")
    page.select_option("#sections select[name=root_cause_category_id]", label="Software defect")
    with page.expect_navigation():
        page.click("#save-sections")
    assert "Saved." in page.content()
    page.fill("#add-action input[name=what]", "Alert on replica lag")
    page.select_option("#add-action select[name=owner_id]", label="se-pm@caseline.test")
    page.fill("#add-action input[name=due_at]", due)
    with page.expect_navigation():
        page.click("#add-action button[type=submit]")
    assert "Alert on replica lag" in page.locator("#actions").text_content(), page.locator(
        ".flash"
    ).all_text_contents()
    screenshot(page, "postmortem-editor")
    with page.expect_navigation():
        page.click("#to-in_review")
    with page.expect_navigation():
        page.click("#to-published")
    assert page.locator("#pm-status").text_content().strip() == "Published"
    pdf = page.request.get(f"{base}/api/v1/postmortems/{pm.pk}/export.pdf")
    assert pdf.status == 200 and pdf.body().startswith(b"%PDF")
    md = page.request.get(f"{base}/api/v1/postmortems/{pm.pk}/export.md")
    assert "Replication stalled for 3 hours." in md.text()

    page.goto(f"{base}/trends/")
    for canvas in ("chart-month", "chart-area", "chart-category", "chart-org"):
        assert page.evaluate(f"!!Chart.getChart(document.getElementById('{canvas}'))")
    screenshot(page, "trends")
