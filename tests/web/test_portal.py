"""The customer portal (/portal/) through the Django client: sign-in by one-time link
(issue, consume, expiry, reuse, limits, no address enumeration) and by password; the
organization's tickets only; another organization's ticket is 404; internal notes and
internal metadata never rendered; opening a ticket (bad input shows errors, stores
nothing); replying; attachments; status and ETA."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.test import Client

from caseline import timesource
from caseline.accounts import portal, roles
from caseline.accounts.models import (
    Contact,
    ContactEmail,
    MagicLink,
    Organization,
    ProductArea,
    Team,
    User,
)
from caseline.accounts.tokens import digest
from caseline.audit.models import AuditEvent
from caseline.eta.services import promise
from caseline.notify.models import OutboxMessage
from caseline.tickets import services as tickets
from caseline.tickets.models import Attachment, Message, Ticket

PASSWORD = "pw-for-tests-123"
LINK_RE = re.compile(r"http://testserver(/portal/link/[^/\s]+/)")


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def world(db, make_staff, frozen):
    team = Team.objects.create(name="Storage", assignment_strategy=Team.Strategy.MANUAL)
    agent = make_staff(roles.SE, email="agent@caseline.test", display_name="Alice Agent")
    team.members.add(agent)
    area = ProductArea.objects.create(name="Replication", slug="replication", owning_team=team)
    acme = Organization.objects.create(name="Acme Corp")
    globex = Organization.objects.create(name="Globex")

    def contact(name, email, org):
        c = Contact.objects.create(name=name, organization=org)
        ContactEmail.objects.create(contact=c, email=email, is_primary=True)
        return c

    ann = contact("Ann Acme", "ann@acme.test", acme)
    bert = contact("Bert Acme", "bert@acme.test", acme)
    gus = contact("Gus Globex", "gus@globex.test", globex)
    ann_user = User.objects.create_user(
        username="ann@acme.test",
        email="ann@acme.test",
        password=PASSWORD,
        kind=User.Kind.CUSTOMER,
        contact=ann,
    )

    def ticket(requester, subject, **kw):
        return tickets.create_ticket(
            actor=agent,
            requester=requester,
            subject=subject,
            body_text=f"{subject}.",
            channel="email",
            **kw,
        )

    return {
        "agent": agent,
        "team": team,
        "area": area,
        "acme": acme,
        "globex": globex,
        "ann": ann,
        "bert": bert,
        "gus": gus,
        "ann_user": ann_user,
        "ticket": ticket,
    }


@pytest.fixture
def ann_client(world):
    c = Client()
    c.force_login(world["ann_user"])
    return c


def request_link(client, email, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post("/portal/login/link", {"email": email})


def link_from_mail() -> str:
    assert mail.outbox, "no email was sent"
    found = LINK_RE.search(mail.outbox[-1].body)
    assert found, mail.outbox[-1].body
    return found.group(1)


# --- sign-in link -------------------------------------------------------------------------


def test_link_is_emailed_stored_hashed_and_signs_in_once(world, django_capture_on_commit_callbacks):
    c = Client()
    r = request_link(c, "Bert@Acme.test", django_capture_on_commit_callbacks)
    assert r.status_code == 302 and r["Location"] == "/portal/login/link/sent"
    assert "bert@acme.test" in c.get(r["Location"]).content.decode()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["bert@acme.test"]
    path = link_from_mail()
    secret = path.split("/")[-2]
    link = MagicLink.objects.get()
    assert link.digest == digest(secret) and secret not in link.digest
    assert link.expires_at == timesource.now() + timedelta(minutes=15)
    assert AuditEvent.objects.filter(type="portal.link_sent", subject_id=world["bert"].pk).exists()
    assert secret not in str(AuditEvent.objects.filter(type="portal.link_sent").get().data)

    # Opening the link (a mail scanner, a preview) does not spend it.
    r = c.get(path)
    assert r.status_code == 200 and b"Continue as" in r.content
    assert MagicLink.objects.get().used_at is None
    assert not User.objects.filter(contact=world["bert"]).exists()

    r = c.post(path)
    assert r.status_code == 302 and r["Location"] == "/portal/"
    user = User.objects.get(contact=world["bert"])
    assert user.kind == User.Kind.CUSTOMER and user.email == "bert@acme.test"
    assert not user.has_usable_password()
    assert MagicLink.objects.get().used_at == timesource.now()
    page = c.get("/portal/")
    assert page.status_code == 200 and b"Bert Acme" in page.content
    signed = AuditEvent.objects.get(type="portal.signed_in", subject_id=user.pk)
    assert signed.data["method"] == "link"
    assert AuditEvent.objects.filter(type="portal.user_created", subject_id=user.pk).exists()

    # Reuse is refused, in the same browser and in another one.
    for other in (c, Client()):
        r = other.post(path)
        assert r.status_code == 410 and b"already been used" in r.content
        assert other.get(path).status_code == 410
    assert Client().get("/portal/").status_code == 302


def test_expired_link_is_refused(world, django_capture_on_commit_callbacks):
    c = Client()
    request_link(c, "ann@acme.test", django_capture_on_commit_callbacks)
    path = link_from_mail()
    timesource.advance(15 * 60 - 1)
    assert c.get(path).status_code == 200  # one second left
    timesource.advance(1)
    r = c.post(path)
    assert r.status_code == 410 and b"expired" in r.content
    assert MagicLink.objects.get().used_at is None
    assert "_auth_user_id" not in c.session
    assert c.get("/portal/").status_code == 302


def test_unknown_or_garbage_link_is_404(world):
    c = Client()
    assert c.get("/portal/link/not-a-real-secret/").status_code == 404
    r = c.post("/portal/link/not-a-real-secret/")
    assert r.status_code == 404 and b"not valid" in r.content
    assert "_auth_user_id" not in c.session


def test_request_form_does_not_reveal_whether_an_address_exists(
    world, django_capture_on_commit_callbacks
):
    staff = world["agent"]  # a staff address is no portal account either
    answers = []
    for address in ("ann@acme.test", "nobody@nowhere.test", staff.email):
        c = Client()
        r = request_link(c, address, django_capture_on_commit_callbacks)
        page = c.get(r["Location"]).content.decode().replace(address, "ADDRESS")
        answers.append((r.status_code, r["Location"], page))
    assert answers[0] == answers[1] == answers[2]
    assert [m.to for m in mail.outbox] == [["ann@acme.test"]]
    assert MagicLink.objects.count() == 1


def test_link_uses_the_configured_base_url_not_the_request_host(
    world, settings, django_capture_on_commit_callbacks
):
    settings.PORTAL_BASE_URL = "https://support.example.com"
    with django_capture_on_commit_callbacks(execute=True):
        Client(HTTP_HOST="evil.test").post("/portal/login/link", {"email": "ann@acme.test"})
    body = mail.outbox[-1].body
    assert "https://support.example.com/portal/link/" in body and "evil.test" not in body


def test_malformed_address_gets_an_error(world):
    r = Client().post("/portal/login/link", {"email": "not an address"})
    assert r.status_code == 422 and b"valid email address" in r.content
    assert MagicLink.objects.count() == 0


def test_links_per_address_are_limited_silently(world, settings):
    settings.PORTAL_LINKS_PER_HOUR = 2
    c = Client()
    for _ in range(4):
        r = c.post("/portal/login/link", {"email": "ann@acme.test"})
        assert r.status_code == 302
    assert MagicLink.objects.count() == 2
    assert OutboxMessage.objects.filter(idempotency_key__startswith="portal-link-").count() == 2
    timesource.advance(3601)
    c.post("/portal/login/link", {"email": "ann@acme.test"})
    assert MagicLink.objects.count() == 3


def test_link_requests_per_client_address_are_limited(world, settings):
    settings.PORTAL_LINK_REQUESTS_PER_MINUTE = 2
    c = Client()
    for address in ("x@nowhere.test", "y@nowhere.test"):
        assert c.post("/portal/login/link", {"email": address}).status_code == 302
    r = c.post("/portal/login/link", {"email": "ann@acme.test"})
    assert r.status_code == 429 and int(r["Retry-After"]) > 0
    assert b"Too many" in r.content
    assert MagicLink.objects.count() == 0


def test_using_a_link_retires_the_other_outstanding_ones(world, django_capture_on_commit_callbacks):
    c = Client()
    request_link(c, "ann@acme.test", django_capture_on_commit_callbacks)
    first = link_from_mail()
    request_link(c, "ann@acme.test", django_capture_on_commit_callbacks)
    second = link_from_mail()
    assert first != second
    assert c.post(second).status_code == 302
    assert Client().post(first).status_code == 410


def test_deactivated_customer_gets_no_link(world, django_capture_on_commit_callbacks):
    User.objects.filter(pk=world["ann_user"].pk).update(is_active=False)
    r = request_link(Client(), "ann@acme.test", django_capture_on_commit_callbacks)
    assert r.status_code == 302
    assert mail.outbox == [] and MagicLink.objects.count() == 0


def test_consume_link_service_refuses_deactivated_user(world):
    sent = {}
    portal.request_link(
        "ann@acme.test", link_url=lambda s: sent.setdefault("secret", s) or "", ip="1.2.3.4"
    )
    User.objects.filter(pk=world["ann_user"].pk).update(is_active=False)
    with pytest.raises(portal.LinkRefused) as exc:
        portal.consume_link(sent["secret"])
    assert exc.value.reason == "inactive"
    assert MagicLink.objects.get().used_at is None


# --- password -----------------------------------------------------------------------------


def test_password_sign_in(world):
    c = Client()
    r = c.get("/portal/t/1/")
    assert r.status_code == 302 and r["Location"].startswith("/portal/login/?next=")
    r = c.post("/portal/login/", {"username": "ann@acme.test", "password": "wrong-password"})
    assert r.status_code == 401 and "_auth_user_id" not in c.session
    r = c.post(
        "/portal/login/",
        {"username": "ann@acme.test", "password": PASSWORD, "next": "/portal/new/"},
    )
    assert r.status_code == 302 and r["Location"] == "/portal/new/"
    assert int(c.session["_auth_user_id"]) == world["ann_user"].pk
    event = AuditEvent.objects.get(type="portal.signed_in")
    assert event.data["method"] == "password"


def test_password_sign_in_refuses_staff_and_foreign_next(world):
    c = Client()
    r = c.post("/portal/login/", {"username": "agent@caseline.test", "password": PASSWORD})
    assert r.status_code == 403 and b"Staff sign in" in r.content
    assert "_auth_user_id" not in c.session
    r = c.post(
        "/portal/login/",
        {"username": "ann@acme.test", "password": PASSWORD, "next": "https://evil.test/"},
    )
    assert r["Location"] == "/portal/"


def test_staff_get_403_in_the_portal(world):
    c = Client()
    c.force_login(world["agent"])
    assert c.get("/portal/").status_code == 403


def test_customers_never_see_staff_navigation(ann_client, world):
    page = ann_client.get("/portal/").content.decode()
    for staff_only in ('id="global-search"', "/queues/", "/admin/", "Dashboard"):
        assert staff_only not in page


# --- list and visibility ------------------------------------------------------------------


def test_list_shows_only_the_organizations_tickets(ann_client, world):
    mine = world["ticket"](world["ann"], "Replication lag on site B")
    colleague = world["ticket"](world["bert"], "Invoice question")
    other = world["ticket"](world["gus"], "Globex secret outage")
    page = ann_client.get("/portal/").content.decode()
    assert "Replication lag on site B" in page and "Invoice question" in page
    assert "Globex secret outage" not in page and other.reference not in page
    mine_only = ann_client.get("/portal/?scope=mine").content.decode()
    assert mine.reference in mine_only and colleague.reference not in mine_only
    tickets.update_ticket(colleague, actor=world["agent"], assignee=world["agent"])
    tickets.update_ticket(colleague, actor=world["agent"], status="solved")
    open_page = ann_client.get("/portal/").content.decode()
    assert colleague.reference not in open_page
    assert colleague.reference in ann_client.get("/portal/?show=solved").content.decode()
    assert colleague.reference in ann_client.get("/portal/?show=all").content.decode()


def listed(body: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-ticket="(\d+)"', body)]


def test_list_pages_by_keyset(ann_client, world):
    made = [world["ticket"](world["ann"], f"Ticket number {i}").pk for i in range(27)]
    body = ann_client.get("/portal/").content.decode()
    assert listed(body) == made[::-1][:25]
    assert f"before={made[2]}" in body
    second = ann_client.get(f"/portal/?show=open&scope=org&before={made[2]}").content.decode()
    assert listed(second) == [made[1], made[0]]
    assert "before=" not in second.split('class="pager"')[1].replace("Newest", "")


def test_another_organizations_ticket_is_404_by_url(ann_client, world):
    other = world["ticket"](
        world["gus"], "Globex outage", attachments=[("g.txt", "text/plain", b"globex")]
    )
    att = Attachment.objects.get(message__ticket=other)
    before = Message.objects.count()
    assert ann_client.get(f"/portal/t/{other.pk}/").status_code == 404
    assert ann_client.get("/portal/t/999999/").status_code == 404
    assert ann_client.post(f"/portal/t/{other.pk}/reply", {"body_text": "hi"}).status_code == 404
    assert ann_client.post(f"/portal/t/{other.pk}/solve").status_code == 404
    assert ann_client.get(f"/portal/attachments/{att.pk}").status_code == 404
    assert Message.objects.count() == before
    other.refresh_from_db()
    assert other.status == "new"


def test_internal_notes_and_metadata_are_never_rendered(ann_client, world):
    agent = world["agent"]
    t = world["ticket"](world["ann"], "Backups fail", team=world["team"], tags=["vip-watch"])
    tickets.update_ticket(t, actor=agent, assignee=agent, priority="urgent")
    tickets.add_message(
        t,
        actor=agent,
        kind=Message.Kind.INTERNAL,
        body_text="INTERNAL: customer is on thin ice",
        attachments=[("internal-notes.txt", "text/plain", b"secret")],
    )
    tickets.add_message(t, actor=agent, body_text="We are looking into it.")
    note_file = Attachment.objects.get(filename="internal-notes.txt")
    page = ann_client.get(f"/portal/t/{t.pk}/").content.decode()
    assert "We are looking into it." in page and "Alice Agent" in page
    for secret in (
        "INTERNAL: customer is on thin ice",
        "internal-notes.txt",
        "agent@caseline.test",
        "vip-watch",
        "Storage",
        "urgent",
        "Urgent",
    ):
        assert secret not in page, secret
    assert ann_client.get(f"/portal/attachments/{note_file.pk}").status_code == 404


def test_status_and_promised_eta_are_shown(ann_client, world):
    agent = world["agent"]
    t = world["ticket"](world["ann"], "Failover test")
    reply = tickets.add_message(t, actor=agent, body_text="Update by tomorrow 15:00.")
    due = timesource.now() + timedelta(hours=25)
    promise(t, message=reply, due_at=due, actor=agent)
    page = ann_client.get(f"/portal/t/{t.pk}/").content.decode()
    assert "We promised you an update by" in page
    assert due.isoformat() in page  # <time datetime=...>
    assert "In progress" in page
    listing = ann_client.get("/portal/").content.decode()
    assert due.isoformat() in listing


# --- opening a ticket ---------------------------------------------------------------------


def test_new_ticket_is_created_through_the_service(ann_client, world):
    r = ann_client.get("/portal/new/")
    assert r.status_code == 200 and b"Replication" in r.content
    r = ann_client.post(
        "/portal/new/",
        {
            "subject": "Replica stuck",
            "product_area": str(world["area"].pk),
            "severity": "2",
            "body_text": "The replica stopped at 09:12.",
            "attachments": [_upload("log.txt", b"error 42")],
        },
    )
    t = Ticket.objects.get(subject="Replica stuck")
    assert r.status_code == 302 and r["Location"] == f"/portal/t/{t.pk}/"
    assert (t.channel, t.severity, t.product_area_id) == ("web", 2, world["area"].pk)
    assert t.requester_id == world["ann"].pk and t.organization_id == world["acme"].pk
    first = t.messages.get()
    assert first.author_contact_id == world["ann"].pk
    assert first.author_user_id == world["ann_user"].pk
    assert [a.filename for a in first.attachments.all()] == ["log.txt"]
    page = ann_client.get(r["Location"]).content.decode()
    assert "received" in page and "The replica stopped at 09:12." in page
    att = first.attachments.get()
    download = ann_client.get(f"/portal/attachments/{att.pk}")
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"error 42"


def _upload(name: str, data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="text/plain")


@pytest.mark.parametrize(
    "form, field, message",
    [
        ({"subject": "   "}, "subject", "Subject: required"),
        ({"product_area": "999999"}, "product_area", "no product area with id 999999"),
        ({"product_area": "abc"}, "product_area", "must be an id"),
        ({"severity": "7"}, "severity", "must be between 1 and 4"),
    ],
)
def test_new_ticket_bad_input_shows_errors_and_creates_nothing(
    ann_client, world, form, field, message
):
    data = {"subject": "Valid subject", "severity": "3", "body_text": "text", **form}
    before = (Ticket.objects.count(), Message.objects.count(), AuditEvent.objects.count())
    r = ann_client.post("/portal/new/", data)
    assert r.status_code == 422
    body = r.content.decode()
    assert message in body and 'id="form-errors"' in body
    assert "was not sent" in body
    assert f'name="{field}"' in body
    assert (Ticket.objects.count(), Message.objects.count(), AuditEvent.objects.count()) == before
    if form.get("subject", "x").strip():
        assert 'value="Valid subject"' in body  # what was typed is kept


def test_new_ticket_with_too_large_file_creates_nothing(ann_client, world, settings, media):
    settings.ATTACHMENT_MAX_BYTES = 10
    before = Ticket.objects.count()
    r = ann_client.post(
        "/portal/new/",
        {
            "subject": "Big file",
            "body_text": "see log",
            "attachments": [_upload("big.log", b"x" * 11)],
        },
    )
    assert r.status_code == 422
    assert b"big.log is 11 bytes; the limit is 10 bytes" in r.content
    assert Ticket.objects.count() == before
    assert not list(media.rglob("big.log"))


def test_customer_cannot_smuggle_staff_fields(ann_client, world):
    r = ann_client.post(
        "/portal/new/",
        {"subject": "Sneaky", "team": str(world["team"].pk), "assignee": str(world["agent"].pk)},
    )
    t = Ticket.objects.get(subject="Sneaky")
    assert r.status_code == 302 and t.assignee_id is None


# --- replies, solve, rate -----------------------------------------------------------------


def test_reply_creates_a_public_message(ann_client, world):
    t = world["ticket"](world["ann"], "Slow restore")
    tickets.update_ticket(t, actor=world["agent"], assignee=world["agent"], status="pending")
    r = ann_client.post(
        f"/portal/t/{t.pk}/reply",
        {"body_text": "Here are the logs.", "attachments": [_upload("restore.log", b"log")]},
    )
    assert r.status_code == 302 and r["Location"] == f"/portal/t/{t.pk}/#latest"
    m = t.messages.order_by("-id").first()
    assert (m.kind, m.channel, m.body_text) == ("public", "web", "Here are the logs.")
    assert m.author_contact_id == world["ann"].pk and m.author_user_id == world["ann_user"].pk
    assert [a.filename for a in m.attachments.all()] == ["restore.log"]
    t.refresh_from_db()
    assert t.status == "open"  # the customer's reply takes it off "pending customer"
    assert "Here are the logs." in ann_client.get(f"/portal/t/{t.pk}/").content.decode()


def test_colleague_can_reply_on_an_organization_ticket(ann_client, world):
    t = world["ticket"](world["bert"], "Shared issue")
    r = ann_client.post(f"/portal/t/{t.pk}/reply", {"body_text": "Same here."})
    assert r.status_code == 302
    assert t.messages.order_by("-id").first().author_contact_id == world["ann"].pk


def test_empty_reply_shows_an_error(ann_client, world):
    t = world["ticket"](world["ann"], "Nothing to say")
    before = Message.objects.count()
    r = ann_client.post(f"/portal/t/{t.pk}/reply", {"body_text": "  "})
    assert r.status_code == 422 and b"a message needs text or an attachment" in r.content
    assert Message.objects.count() == before


def test_reply_on_closed_ticket_is_refused(ann_client, world):
    t = world["ticket"](world["ann"], "Old one")
    tickets.update_ticket(t, actor=world["agent"], assignee=world["agent"], status="solved")
    tickets.update_ticket(t, actor=world["agent"], status="closed")
    page = ann_client.get(f"/portal/t/{t.pk}/").content.decode()
    assert "This ticket is closed" in page and 'name="body_text"' not in page
    r = ann_client.post(f"/portal/t/{t.pk}/reply", {"body_text": "hello?"})
    assert r.status_code == 422 and b"is closed" in r.content


def test_solve_and_rate(ann_client, world):
    t = world["ticket"](world["ann"], "Fixed itself")
    tickets.update_ticket(t, actor=world["agent"], assignee=world["agent"])
    r = ann_client.post(f"/portal/t/{t.pk}/solve")
    assert r.status_code == 302
    t.refresh_from_db()
    assert t.status == "solved"
    ann_client.post(
        f"/portal/t/{t.pk}/rate", {"satisfaction": "good", "satisfaction_comment": "Thanks!"}
    )
    t.refresh_from_db()
    assert (t.satisfaction, t.satisfaction_comment) == ("good", "Thanks!")
    assert "You rated this" in ann_client.get(f"/portal/t/{t.pk}/").content.decode()


# --- account ------------------------------------------------------------------------------


def test_link_user_sets_a_password_then_signs_in_with_it(world, django_capture_on_commit_callbacks):
    c = Client()
    request_link(c, "bert@acme.test", django_capture_on_commit_callbacks)
    c.post(link_from_mail())
    page = c.get("/portal/account/").content.decode()
    assert "Set a password" in page and "current_password" not in page
    r = c.post("/portal/account/", {"new_password1": "short", "new_password2": "short"})
    assert r.status_code == 422 and b"too short" in r.content
    r = c.post("/portal/account/", {"new_password1": "a-long-pw-1234", "new_password2": "nope"})
    assert r.status_code == 422 and b"the two passwords differ" in r.content
    r = c.post(
        "/portal/account/", {"new_password1": "a-long-pw-1234", "new_password2": "a-long-pw-1234"}
    )
    assert r.status_code == 302 and c.get("/portal/").status_code == 200  # still signed in
    user = User.objects.get(contact=world["bert"])
    assert user.check_password("a-long-pw-1234")
    assert AuditEvent.objects.filter(type="user.updated", subject_id=user.pk).exists()
    other = Client()
    r = other.post("/portal/login/", {"username": "bert@acme.test", "password": "a-long-pw-1234"})
    assert r.status_code == 302


def test_changing_a_password_needs_the_current_one(ann_client, world):
    r = ann_client.post(
        "/portal/account/",
        {
            "current_password": "wrong",
            "new_password1": "new-pw-5678",
            "new_password2": "new-pw-5678",
        },
    )
    assert r.status_code == 422 and b"not your current password" in r.content
    world["ann_user"].refresh_from_db()
    assert world["ann_user"].check_password(PASSWORD)
    r = ann_client.post(
        "/portal/account/",
        {
            "current_password": PASSWORD,
            "new_password1": "new-pw-5678",
            "new_password2": "new-pw-5678",
        },
    )
    assert r.status_code == 302
    world["ann_user"].refresh_from_db()
    assert world["ann_user"].check_password("new-pw-5678")


def test_guessing_the_current_password_locks_like_sign_in(ann_client, world, settings):
    """A borrowed session cannot guess the current password: the sign-in lockout applies,
    and while locked even the right one is refused."""
    settings.LOGIN_FAILURE_LIMIT = 3
    wrong = {
        "current_password": "wrong",
        "new_password1": "n-pw-5678",
        "new_password2": "n-pw-5678",
    }
    for _ in range(3):
        assert ann_client.post("/portal/account/", wrong).status_code == 422
    right = dict(wrong, current_password=PASSWORD)
    r = ann_client.post("/portal/account/", right)
    assert r.status_code == 422 and b"too many wrong attempts" in r.content
    world["ann_user"].refresh_from_db()
    assert world["ann_user"].check_password(PASSWORD)


# --- demo ---------------------------------------------------------------------------------


def test_demo_seed_gives_a_customer_portal_login(db):
    from django.contrib.auth import authenticate

    from caseline.demo import content as C
    from caseline.demo.seed import portal_customer, seed

    report = seed(tickets=0)
    assert report.created.get("portal logins") == 1
    email, person = portal_customer()
    user = authenticate(username=email, password=C.DEMO_PASSWORD)
    assert user is not None and user.is_customer and user.contact.name == person
    c = Client()
    r = c.post("/portal/login/", {"username": email, "password": C.DEMO_PASSWORD})
    assert r.status_code == 302 and c.get("/portal/").status_code == 200
    assert not seed(tickets=0).anything_created  # idempotent
