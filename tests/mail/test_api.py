"""/api/v1/mail: mailboxes, quarantine, raw download, deliveries."""

from __future__ import annotations

import pytest

from caseline.audit.models import AuditEvent
from caseline.mail.ingest import ingest
from caseline.mail.models import Mailbox

from .conftest import make_mail

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(make_staff, api_client):
    return api_client(make_staff("admin"))


def test_mailbox_crud_and_secret_never_returned(admin):
    resp = admin.post(
        "/api/v1/mail/mailboxes",
        data={
            "name": "Support",
            "address": "Support@Example.test",
            "imap_host": "imap.example.test",
            "imap_user": "support",
            "imap_password": "hunter2-secret",
        },
        content_type="application/json",
    )
    assert resp.status_code == 201, resp.content
    body = resp.json()
    assert body["address"] == "support@example.test" and body["imap_password_set"] is True
    assert "hunter2" not in resp.content.decode()
    box_id = body["id"]
    events = AuditEvent.objects.filter(type="mailbox.changed", subject_id=box_id)
    assert events.exists() and all("hunter2" not in str(e.__dict__) for e in events)
    resp = admin.patch(
        f"/api/v1/mail/mailboxes/{box_id}",
        data={"imap_security": "starttls", "imap_port": 143},
        content_type="application/json",
    )
    assert resp.status_code == 200 and resp.json()["imap_security"] == "starttls"
    assert admin.get("/api/v1/mail/mailboxes").json()["results"][0]["id"] == box_id
    assert admin.delete(f"/api/v1/mail/mailboxes/{box_id}").status_code == 204
    assert not Mailbox.objects.exists()


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"name": "x", "address": "not-an-address", "kind": "smtp"}, "address"),
        ({"name": "x", "address": "a@b.test", "kind": "pop3"}, "kind"),
        ({"name": "x", "address": "a@b.test"}, "imap_host"),  # imap needs a host
        (
            {"name": "x", "address": "a@b.test", "kind": "smtp", "imap_port": 70000},
            "imap_port",
        ),
        ({"name": "x", "address": "a@b.test", "kind": "smtp", "team": 999999}, "team"),
    ],
)
def test_bad_mailbox_input_is_refused_and_nothing_stored(admin, payload, field):
    resp = admin.post("/api/v1/mail/mailboxes", data=payload, content_type="application/json")
    assert resp.status_code == 422, resp.content
    assert field in resp.json()["error"]["fields"]
    assert not Mailbox.objects.exists()


def test_duplicate_address_and_delete_of_used_mailbox(admin):
    box = Mailbox.objects.create(name="A", address="a@b.test", kind="smtp")
    resp = admin.post(
        "/api/v1/mail/mailboxes",
        data={"name": "B", "address": "A@B.test", "kind": "smtp"},
        content_type="application/json",
    )
    assert resp.status_code == 422 and "address" in resp.json()["error"]["fields"]
    ingest(make_mail(to="a@b.test"), box)
    assert admin.delete(f"/api/v1/mail/mailboxes/{box.id}").status_code == 409
    assert Mailbox.objects.filter(pk=box.pk).exists()


def test_quarantine_list_raw_download_and_release(admin, make_staff, api_client):
    box = Mailbox.objects.create(name="A", address="a@b.test", kind="smtp")
    good = ingest(make_mail(subject="fine"), box).inbound
    bad_raw = b"\x00\x01 garbage"
    bad = ingest(bad_raw, box).inbound
    listed = admin.get("/api/v1/mail/inbound?status=quarantined").json()["results"]
    assert [r["id"] for r in listed] == [bad.id]
    assert listed[0]["reason"].startswith("unparseable")
    assert admin.get("/api/v1/mail/inbound?status=nonsense").status_code == 422
    agent = api_client(make_staff("support_engineer"))
    raw = agent.get(f"/api/v1/mail/inbound/{bad.id}/raw")
    assert raw.status_code == 200 and raw["Content-Type"] == "message/rfc822"
    assert b"".join(raw.streaming_content) == bad_raw
    detail = agent.get(f"/api/v1/mail/inbound/{good.id}").json()
    assert detail["ticket_id"] == good.ticket_id and "printer is on fire" in detail["full_text"]
    assert agent.get("/api/v1/mail/inbound?status=quarantined").status_code == 403
    assert agent.get("/api/v1/mail/inbound/999999").status_code == 404
    # releasing a message that still cannot be parsed quarantines it again, not lost
    again = admin.post(f"/api/v1/mail/inbound/{bad.id}/release").json()
    assert again["status"] == "quarantined"
    assert admin.post(f"/api/v1/mail/inbound/{good.id}/release").status_code == 409
