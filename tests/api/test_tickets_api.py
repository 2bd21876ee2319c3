"""/api/v1 tickets endpoints: success, 422, 403, 404 and 401 for each; customers confined
to their organization and never seeing internal notes (list, detail, messages,
attachments, timeline)."""

from __future__ import annotations

import base64
import json

import pytest
from django.test import Client

from caseline.accounts.models import Contact, ContactEmail, Organization, User
from caseline.audit.models import AuditEvent
from caseline.notify.models import OutboxMessage
from caseline.tickets.models import Attachment, Message, Ticket, TicketLink
from caseline.tickets.services import add_message, create_ticket

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


def send(client, method, path, data=None):
    fn = getattr(client, method)
    if data is None:
        return fn(path)
    return fn(path, data=json.dumps(data), content_type="application/json")


def err(response):
    return response.json()["error"]


@pytest.fixture
def sc(make_staff):
    return make_staff("sales_consultant", email="sc@caseline.test")


@pytest.fixture
def se(make_staff):
    return make_staff("support_engineer", email="se@caseline.test")


@pytest.fixture
def exec_(make_staff):
    return make_staff("executive")


@pytest.fixture
def manager(make_staff):
    return make_staff("support_manager")


@pytest.fixture
def org(sc):
    return Organization.objects.create(name="Acme", sales_consultant=sc)


@pytest.fixture
def other_org():
    return Organization.objects.create(name="Globex")


def _contact(org, name, email):
    c = Contact.objects.create(name=name, organization=org)
    ContactEmail.objects.create(contact=c, email=email, is_primary=True)
    return c


@pytest.fixture
def ada(org):
    return _contact(org, "Ada", "ada@acme.test")


@pytest.fixture
def zed(other_org):
    return _contact(other_org, "Zed", "zed@globex.test")


@pytest.fixture
def customer(ada):
    return User.objects.create_user(
        username="ada@acme.test", email="ada@acme.test", kind="customer", contact=ada
    )


@pytest.fixture
def ticket(se, ada):
    return create_ticket(
        actor=se, requester=ada, subject="Sync broken", body_text="E42", channel="email"
    )


@pytest.fixture
def foreign(se, zed):
    return create_ticket(
        actor=se, requester=zed, subject="Globex issue", body_text="secret", channel="email"
    )


@pytest.fixture
def note(ticket, se):
    return add_message(
        ticket,
        actor=se,
        kind="internal",
        body_text="INTERNAL: customer is on old version",
        attachments=[("internal.txt", "text/plain", b"internal only")],
    )


@pytest.fixture
def public_reply(ticket, se):
    return add_message(
        ticket,
        actor=se,
        body_text="Please send logs",
        attachments=[("howto.txt", "text/plain", b"public how-to")],
    )


@pytest.fixture
def c_se(api_client, se):
    return api_client(se)


@pytest.fixture
def c_cust(api_client, customer):
    return api_client(customer)


# --- 401 everywhere ---------------------------------------------------------------------

ENDPOINTS = [
    ("post", "/api/v1/tickets", {"subject": "x", "body_text": "y", "requester": 1}),
    ("get", "/api/v1/tickets", None),
    ("get", "/api/v1/tickets/1", None),
    ("patch", "/api/v1/tickets/1", {"subject": "x"}),
    ("get", "/api/v1/tickets/1/timeline", None),
    ("get", "/api/v1/tickets/1/messages", None),
    ("post", "/api/v1/tickets/1/messages", {"body_text": "x"}),
    ("get", "/api/v1/attachments/1", None),
    ("post", "/api/v1/tickets/1/followers", {"user_id": 1}),
    ("delete", "/api/v1/tickets/1/followers", {"user_id": 1}),
    ("delete", "/api/v1/tickets/1/followers/1", None),
    ("post", "/api/v1/tickets/1/ccs", {"contact_id": 1}),
    ("delete", "/api/v1/tickets/1/ccs", {"contact_id": 1}),
    ("delete", "/api/v1/tickets/1/ccs/1", None),
    ("post", "/api/v1/tickets/1/links", {"target": 2, "kind": "related"}),
    ("post", "/api/v1/tickets/1/merge", {"into": 2}),
    ("get", "/api/v1/custom-fields", None),
    ("post", "/api/v1/custom-fields", {"key": "k", "label": "K", "type": "text"}),
    ("get", "/api/v1/custom-fields/1", None),
    ("patch", "/api/v1/custom-fields/1", {"label": "x"}),
]


@pytest.mark.parametrize(("method", "path", "data"), ENDPOINTS)
def test_unauthenticated_is_401(method, path, data):
    r = send(Client(), method, path, data)
    assert r.status_code == 401
    assert err(r)["code"] == "unauthenticated"
    r = send(Client(HTTP_AUTHORIZATION="Bearer cl_wrong"), method, path, data)
    assert r.status_code == 401


# --- POST /tickets ----------------------------------------------------------------------


def test_create_by_staff(c_se, se, ada, sc):
    payload = {
        "subject": "Backups fail",
        "body_text": "Since Monday",
        "requester": ada.pk,
        "severity": 2,
        "priority": "high",
        "tags": ["backup"],
        "attachments": [
            {
                "filename": "log.txt",
                "content_type": "text/plain",
                "content_base64": base64.b64encode(b"ERR 1").decode(),
            }
        ],
    }
    r = send(c_se, "post", "/api/v1/tickets", payload)
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["reference"] == f"CL-{body['id']}"
    assert body["status"] == "new" and body["severity"] == 2 and body["priority"] == "high"
    assert body["channel"] == "api"
    assert body["requester"] == {"id": ada.pk, "name": "Ada", "email": "ada@acme.test"}
    assert body["organization"]["name"] == "Acme"
    assert body["tags"] == ["backup"] and body["followers"] == [sc.pk]
    assert body["assignee"] is None and body["links"] == [] and body["merged_into"] is None
    t = Ticket.objects.get(pk=body["id"])
    assert t.messages.get().attachments.get().size == 5


def test_create_requester_by_email(c_se, ada):
    r = send(
        c_se,
        "post",
        "/api/v1/tickets",
        {"subject": "S", "body_text": "B", "requester": {"email": "ada@acme.test"}},
    )
    assert r.status_code == 201 and r.json()["requester"]["id"] == ada.pk
    r = send(
        c_se,
        "post",
        "/api/v1/tickets",
        {"subject": "S", "body_text": "B", "requester": {"email": "n@new.test", "name": "N"}},
    )
    assert r.status_code == 201 and r.json()["requester"]["name"] == "N"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"subject": "", "requester": "ADA"}, "subject"),
        ({"subject": "S", "requester": "ADA", "severity": 7}, "severity"),
        ({"subject": "S", "requester": "ADA", "channel": "fax"}, "channel"),
        ({"subject": "S"}, "requester"),
        ({"subject": "S", "requester": {"email": "bad"}}, "requester.email"),
        ({"subject": "S", "requester": "ADA", "custom_fields": {"nope": 1}}, "custom_fields.nope"),
        ({"requester": "ADA"}, "subject"),
        (
            {
                "subject": "S",
                "requester": "ADA",
                "attachments": [{"filename": "a", "content_base64": "***"}],
            },
            "attachments.0.content_base64",
        ),
    ],
)
def test_create_422(c_se, ada, payload, field):
    if payload.get("requester") == "ADA":
        payload["requester"] = ada.pk
    contacts = Contact.objects.count()
    r = send(c_se, "post", "/api/v1/tickets", payload)
    assert r.status_code == 422, r.content
    assert err(r)["code"] == "validation_error" and field in err(r)["fields"]
    assert Ticket.objects.count() == 0 and Contact.objects.count() == contacts


def test_create_attachment_over_limit_is_422(c_se, ada, settings):
    settings.ATTACHMENT_MAX_BYTES = 4
    r = send(
        c_se,
        "post",
        "/api/v1/tickets",
        {
            "subject": "S",
            "requester": ada.pk,
            "attachments": [
                {"filename": "a", "content_base64": base64.b64encode(b"12345").decode()}
            ],
        },
    )
    assert r.status_code == 422 and "attachments.0" in err(r)["fields"]
    assert Ticket.objects.count() == 0 and Attachment.objects.count() == 0


def test_create_403_for_executive(api_client, exec_, ada):
    r = send(api_client(exec_), "post", "/api/v1/tickets", {"subject": "S", "requester": ada.pk})
    assert r.status_code == 403 and err(r)["code"] == "permission_denied"
    assert Ticket.objects.count() == 0


def test_customer_creates_as_themselves(c_cust, ada, zed, customer):
    r = send(c_cust, "post", "/api/v1/tickets", {"subject": "Portal", "body_text": "help"})
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["requester"]["id"] == ada.pk
    assert Ticket.objects.get(pk=body["id"]).channel == "web"
    msg = Message.objects.get(ticket_id=body["id"])
    assert msg.author_user == customer
    # naming themselves is fine, naming someone else is not
    r = send(c_cust, "post", "/api/v1/tickets", {"subject": "S", "requester": ada.pk})
    assert r.status_code == 201
    r = send(c_cust, "post", "/api/v1/tickets", {"subject": "S", "requester": zed.pk})
    assert r.status_code == 403
    r = send(c_cust, "post", "/api/v1/tickets", {"subject": "S", "assignee_id": 1})
    assert r.status_code == 403 and "assignee_id" in err(r)["fields"]
    r = send(c_cust, "post", "/api/v1/tickets", {"subject": "S", "channel": "phone"})
    assert r.status_code == 422


# --- GET /tickets -----------------------------------------------------------------------


def test_list_paginates_and_filters(c_se, se, ada):
    ids = [
        create_ticket(actor=se, requester=ada, subject=f"T{i}", body_text="b", channel="web").pk
        for i in range(5)
    ]
    r = c_se.get("/api/v1/tickets?limit=2")
    assert r.status_code == 200
    body = r.json()
    assert [t["id"] for t in body["results"]] == ids[::-1][:2]
    assert body["meta"]["has_more"] is True
    seen = [t["id"] for t in body["results"]]
    while body["meta"]["has_more"]:
        body = c_se.get(body["links"]["next"]).json()
        seen += [t["id"] for t in body["results"]]
    assert seen == ids[::-1]
    Ticket.objects.filter(pk=ids[0]).update(status="pending", assignee=se)
    r = c_se.get("/api/v1/tickets?status=pending&assignee=me")
    assert [t["id"] for t in r.json()["results"]] == [ids[0]]
    r = c_se.get("/api/v1/tickets?status=new,open&assignee=none")
    assert len(r.json()["results"]) == 4


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "status=bogus", "severity=9", "cursor=!!", "team=abc"]
)
def test_list_422(c_se, query):
    r = c_se.get(f"/api/v1/tickets?{query}")
    assert r.status_code == 422


def test_list_customer_sees_only_own_org(c_cust, ticket, foreign):
    r = c_cust.get("/api/v1/tickets")
    assert r.status_code == 200
    assert [t["id"] for t in r.json()["results"]] == [ticket.pk]
    r = c_cust.get(f"/api/v1/tickets?organization={foreign.organization_id}")
    assert r.json()["results"] == []


def test_list_staff_without_roles_sees_nothing(api_client, make_staff, ticket):
    r = api_client(make_staff()).get("/api/v1/tickets")
    assert r.status_code == 200 and r.json()["results"] == []


# --- GET /tickets/{id} ------------------------------------------------------------------


def test_detail(c_se, c_cust, ticket, foreign):
    r = c_se.get(f"/api/v1/tickets/{ticket.pk}")
    assert r.status_code == 200 and r.json()["subject"] == "Sync broken"
    assert c_cust.get(f"/api/v1/tickets/{ticket.pk}").status_code == 200
    # another organization's ticket does not exist for the customer
    r = c_cust.get(f"/api/v1/tickets/{foreign.pk}")
    assert r.status_code == 404 and err(r)["code"] == "not_found"
    assert c_se.get("/api/v1/tickets/999999").status_code == 404


# --- PATCH /tickets/{id} ----------------------------------------------------------------


def test_patch(c_se, se, ticket):
    r = send(
        c_se,
        "patch",
        f"/api/v1/tickets/{ticket.pk}",
        {"severity": 1, "assignee_id": se.pk, "tags": ["x"], "status": "open"},
    )
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["severity"] == 1 and body["assignee"]["id"] == se.pk and body["tags"] == ["x"]
    assert body["status"] == "open" and se.pk in body["followers"]
    r = send(c_se, "patch", f"/api/v1/tickets/{ticket.pk}", {"assignee_id": None})
    assert r.status_code == 200 and r.json()["assignee"] is None


def test_patch_422_409(c_se, ticket):
    r = send(c_se, "patch", f"/api/v1/tickets/{ticket.pk}", {"severity": 0})
    assert r.status_code == 422 and "severity" in err(r)["fields"]
    r = send(c_se, "patch", f"/api/v1/tickets/{ticket.pk}", {"severity": "high"})
    assert r.status_code == 422
    r = send(c_se, "patch", f"/api/v1/tickets/{ticket.pk}", {"status": "solved"})
    assert r.status_code == 409 and "assignee" in err(r)["message"]
    r = send(c_se, "patch", f"/api/v1/tickets/{ticket.pk}", {"status": "closed"})
    assert r.status_code == 409 and err(r)["code"] == "illegal_transition"
    assert "cannot go from new to closed" in err(r)["message"]


def test_patch_solve_writes_sc_outbox_row(c_se, se, ticket, sc):
    r = send(
        c_se, "patch", f"/api/v1/tickets/{ticket.pk}", {"assignee_id": se.pk, "status": "solved"}
    )
    assert r.status_code == 200 and r.json()["solved_at"]
    row = OutboxMessage.objects.get()
    assert row.payload["to"] == [sc.email]


def test_patch_403_404(api_client, exec_, c_cust, ticket, foreign):
    r = send(api_client(exec_), "patch", f"/api/v1/tickets/{ticket.pk}", {"severity": 1})
    assert r.status_code == 403
    r = send(c_cust, "patch", f"/api/v1/tickets/{ticket.pk}", {"severity": 1})
    assert r.status_code == 403
    r = send(c_cust, "patch", f"/api/v1/tickets/{foreign.pk}", {"status": "solved"})
    assert r.status_code == 404
    ticket.refresh_from_db()
    assert ticket.severity == 3


def test_customer_patch_solve_and_rate(c_cust, ticket):
    r = send(c_cust, "patch", f"/api/v1/tickets/{ticket.pk}", {"satisfaction": "good"})
    assert r.status_code == 409
    r = send(c_cust, "patch", f"/api/v1/tickets/{ticket.pk}", {"status": "solved"})
    assert r.status_code == 200 and r.json()["status"] == "solved"
    r = send(c_cust, "patch", f"/api/v1/tickets/{ticket.pk}", {"satisfaction": "good"})
    assert r.status_code == 200 and r.json()["satisfaction"] == "good"


# --- timeline ---------------------------------------------------------------------------


def test_timeline(c_se, se, ticket):
    send(c_se, "patch", f"/api/v1/tickets/{ticket.pk}", {"severity": 1})
    r = c_se.get(f"/api/v1/tickets/{ticket.pk}/timeline?limit=100")
    assert r.status_code == 200
    rows = r.json()["results"]
    assert rows[0]["type"] == "ticket.created"
    change = [e for e in rows if e["type"] == "ticket.updated"][0]
    assert (change["field"], change["old"], change["new"]) == ("severity", 3, 1)
    assert change["actor"] == {"id": se.pk, "email": se.email, "name": str(se)}
    assert change["at"]
    assert c_se.get("/api/v1/tickets/999999/timeline").status_code == 404
    assert c_se.get(f"/api/v1/tickets/{ticket.pk}/timeline?limit=500").status_code == 422


def test_timeline_is_staff_only(c_cust, ticket, foreign):
    assert c_cust.get(f"/api/v1/tickets/{ticket.pk}/timeline").status_code == 403
    assert c_cust.get(f"/api/v1/tickets/{foreign.pk}/timeline").status_code == 403


# --- messages ---------------------------------------------------------------------------


def test_messages_staff_sees_all_customer_public_only(c_se, c_cust, ticket, note, public_reply):
    r = c_se.get(f"/api/v1/tickets/{ticket.pk}/messages")
    assert r.status_code == 200
    kinds = [m["kind"] for m in r.json()["results"]]
    assert kinds == ["public", "internal", "public"]
    r = c_cust.get(f"/api/v1/tickets/{ticket.pk}/messages")
    assert r.status_code == 200
    results = r.json()["results"]
    assert [m["id"] for m in results] == [ticket.messages.order_by("id")[0].pk, public_reply.pk]
    assert all("kind" not in m and "channel" not in m for m in results)
    assert "INTERNAL" not in r.content.decode() and "internal.txt" not in r.content.decode()
    assert results[0]["author"]["role"] == "customer"
    assert results[1]["author"]["role"] == "staff"
    assert results[1]["attachments"][0]["filename"] == "howto.txt"


def test_messages_404(c_se, c_cust, foreign):
    assert c_cust.get(f"/api/v1/tickets/{foreign.pk}/messages").status_code == 404
    assert c_se.get("/api/v1/tickets/999999/messages").status_code == 404
    r = send(c_cust, "post", f"/api/v1/tickets/{foreign.pk}/messages", {"body_text": "x"})
    assert r.status_code == 404
    assert foreign.messages.count() == 1


def test_post_messages(c_se, ticket):
    payload = {
        "kind": "public",
        "body_html": "<p>Hi<script>x()</script></p>",
        "attachments": [
            {
                "filename": "fix.txt",
                "content_type": "text/plain",
                "content_base64": base64.b64encode(b"do this").decode(),
            }
        ],
    }
    r = send(c_se, "post", f"/api/v1/tickets/{ticket.pk}/messages", payload)
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["body_html"] == "<p>Hi</p>" and body["body_text"] == "Hi"
    assert body["attachments"][0]["size"] == 7
    assert body["channel"] == "api"
    ticket.refresh_from_db()
    assert ticket.status == "open"
    r = send(
        c_se,
        "post",
        f"/api/v1/tickets/{ticket.pk}/messages",
        {"kind": "internal", "body_text": "n"},
    )
    assert r.status_code == 201 and r.json()["kind"] == "internal"


def test_post_messages_422(c_se, ticket):
    for payload in ({"body_text": ""}, {"kind": "shout", "body_text": "x"}):
        r = send(c_se, "post", f"/api/v1/tickets/{ticket.pk}/messages", payload)
        assert r.status_code == 422
    assert ticket.messages.count() == 1


def test_post_messages_403(api_client, exec_, c_cust, ticket):
    c_exec = api_client(exec_)
    r = send(c_exec, "post", f"/api/v1/tickets/{ticket.pk}/messages", {"body_text": "x"})
    assert r.status_code == 403  # executives write no public replies
    r = send(
        c_exec,
        "post",
        f"/api/v1/tickets/{ticket.pk}/messages",
        {"kind": "internal", "body_text": "exec note"},
    )
    assert r.status_code == 201  # but may write internal notes
    r = send(
        c_cust,
        "post",
        f"/api/v1/tickets/{ticket.pk}/messages",
        {"kind": "internal", "body_text": "x"},
    )
    assert r.status_code == 403
    assert not Message.objects.filter(ticket=ticket, body_text="x").exists()


def test_customer_reply_reopens(c_cust, c_se, se, ticket):
    send(c_se, "patch", f"/api/v1/tickets/{ticket.pk}", {"assignee_id": se.pk, "status": "solved"})
    r = send(c_cust, "post", f"/api/v1/tickets/{ticket.pk}/messages", {"body_text": "still"})
    assert r.status_code == 201 and r.json()["author"]["role"] == "customer"
    assert c_se.get(f"/api/v1/tickets/{ticket.pk}").json()["status"] == "open"


# --- attachments ------------------------------------------------------------------------


def test_attachment_download_and_visibility(c_se, c_cust, note, public_reply, foreign, se):
    public_att = public_reply.attachments.get()
    internal_att = note.attachments.get()
    r = c_se.get(f"/api/v1/attachments/{public_att.pk}")
    assert r.status_code == 200
    assert b"".join(r.streaming_content) == b"public how-to"
    assert r["Content-Type"] == "text/plain"
    assert "attachment" in r["Content-Disposition"] and "howto.txt" in r["Content-Disposition"]
    r = c_cust.get(f"/api/v1/attachments/{public_att.pk}")
    assert r.status_code == 200 and b"".join(r.streaming_content) == b"public how-to"
    # staff read internal files; customers never
    assert c_se.get(f"/api/v1/attachments/{internal_att.pk}").status_code == 200
    r = c_cust.get(f"/api/v1/attachments/{internal_att.pk}")
    assert r.status_code == 404 and err(r)["code"] == "not_found"
    # another organization's file
    other = add_message(foreign, actor=se, body_text="x", attachments=[("o.txt", "", b"o")])
    assert c_cust.get(f"/api/v1/attachments/{other.attachments.get().pk}").status_code == 404
    assert c_se.get("/api/v1/attachments/999999").status_code == 404


def test_internal_notes_never_reach_customers(c_cust, ticket, note, foreign):
    """Every read path a customer has: list, detail, messages, attachments, timeline."""
    paths = [
        "/api/v1/tickets",
        f"/api/v1/tickets/{ticket.pk}",
        f"/api/v1/tickets/{ticket.pk}/messages",
        f"/api/v1/tickets/{ticket.pk}/timeline",
        f"/api/v1/attachments/{note.attachments.get().pk}",
    ]
    for path in paths:
        r = c_cust.get(path)
        content = b"" if r.streaming else r.content
        assert b"INTERNAL" not in content and b"internal only" not in content, path
        assert b"Globex" not in content and b"secret" not in content, path


# --- followers and CCs ------------------------------------------------------------------


def test_followers(c_se, ticket, make_staff, customer):
    lead = make_staff("lead")
    r = send(c_se, "post", f"/api/v1/tickets/{ticket.pk}/followers", {"user_id": lead.pk})
    assert r.status_code == 200 and lead.pk in r.json()["followers"]
    r = send(c_se, "delete", f"/api/v1/tickets/{ticket.pk}/followers", {"user_id": lead.pk})
    assert r.status_code == 200 and lead.pk not in r.json()["followers"]
    send(c_se, "post", f"/api/v1/tickets/{ticket.pk}/followers", {"user_id": lead.pk})
    r = c_se.delete(f"/api/v1/tickets/{ticket.pk}/followers/{lead.pk}")
    assert r.status_code == 200 and lead.pk not in r.json()["followers"]
    r = send(c_se, "post", f"/api/v1/tickets/{ticket.pk}/followers", {"user_id": customer.pk})
    assert r.status_code == 422
    r = send(c_se, "post", f"/api/v1/tickets/{ticket.pk}/followers", {"user_id": "x"})
    assert r.status_code == 422
    r = send(c_se, "post", "/api/v1/tickets/999999/followers", {"user_id": lead.pk})
    assert r.status_code == 404


def test_followers_and_ccs_403(api_client, exec_, c_cust, ticket, se):
    for client in (api_client(exec_), c_cust):
        r = send(client, "post", f"/api/v1/tickets/{ticket.pk}/followers", {"user_id": se.pk})
        assert r.status_code == 403
        r = send(client, "post", f"/api/v1/tickets/{ticket.pk}/ccs", {"contact_id": 1})
        assert r.status_code == 403


def test_ccs(c_se, ticket, org):
    bob = Contact.objects.create(name="Bob", organization=org)
    r = send(c_se, "post", f"/api/v1/tickets/{ticket.pk}/ccs", {"contact_id": bob.pk})
    assert r.status_code == 200 and r.json()["ccs"] == [bob.pk]
    r = send(c_se, "delete", f"/api/v1/tickets/{ticket.pk}/ccs", {"contact_id": bob.pk})
    assert r.status_code == 200 and r.json()["ccs"] == []
    send(c_se, "post", f"/api/v1/tickets/{ticket.pk}/ccs", {"contact_id": bob.pk})
    r = c_se.delete(f"/api/v1/tickets/{ticket.pk}/ccs/{bob.pk}")
    assert r.status_code == 200 and r.json()["ccs"] == []
    r = send(c_se, "post", f"/api/v1/tickets/{ticket.pk}/ccs", {"contact_id": 999999})
    assert r.status_code == 422
    r = send(c_se, "post", "/api/v1/tickets/999999/ccs", {"contact_id": bob.pk})
    assert r.status_code == 404


# --- links and merge --------------------------------------------------------------------


def test_links(c_se, ticket, foreign, api_client, sc):
    r = send(
        c_se,
        "post",
        f"/api/v1/tickets/{ticket.pk}/links",
        {"target": foreign.pk, "kind": "related"},
    )
    assert r.status_code == 201
    link = r.json()
    assert (link["source_id"], link["target_id"], link["kind"]) == (
        ticket.pk,
        foreign.pk,
        "related",
    )
    detail = c_se.get(f"/api/v1/tickets/{foreign.pk}").json()
    assert detail["links"] == [link]
    r = send(
        c_se, "post", f"/api/v1/tickets/{ticket.pk}/links", {"target": foreign.pk, "kind": "x"}
    )
    assert r.status_code == 422
    r = send(
        c_se, "post", f"/api/v1/tickets/{ticket.pk}/links", {"target": 999999, "kind": "related"}
    )
    assert r.status_code == 422
    r = send(c_se, "post", "/api/v1/tickets/999999/links", {"target": ticket.pk, "kind": "related"})
    assert r.status_code == 404
    r = send(  # SCs do not merge or link
        api_client(sc),
        "post",
        f"/api/v1/tickets/{ticket.pk}/links",
        {"target": foreign.pk, "kind": "duplicate_of"},
    )
    assert r.status_code == 403
    assert TicketLink.objects.count() == 1


def test_merge(c_se, se, ada, ticket, foreign, api_client, sc):
    dup = create_ticket(actor=se, requester=ada, subject="dup", body_text="same", channel="web")
    r = send(c_se, "post", f"/api/v1/tickets/{dup.pk}/merge", {"into": ticket.pk})
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["merged_into"] == ticket.pk and body["status"] == "closed"
    assert body["links"][0]["kind"] == "duplicate_of"
    # again: already merged
    r = send(c_se, "post", f"/api/v1/tickets/{dup.pk}/merge", {"into": ticket.pk})
    assert r.status_code == 409
    # across organizations: 409 unless forced
    r = send(c_se, "post", f"/api/v1/tickets/{foreign.pk}/merge", {"into": ticket.pk})
    assert r.status_code == 409 and "force" in err(r)["message"]
    r = send(c_se, "post", f"/api/v1/tickets/{ticket.pk}/merge", {"into": ticket.pk})
    assert r.status_code == 422
    r = send(c_se, "post", f"/api/v1/tickets/{ticket.pk}/merge", {"into": "abc"})
    assert r.status_code == 422
    r = send(c_se, "post", f"/api/v1/tickets/{ticket.pk}/merge", {"into": 999999})
    assert r.status_code == 422
    r = send(c_se, "post", "/api/v1/tickets/999999/merge", {"into": ticket.pk})
    assert r.status_code == 404
    r = send(api_client(sc), "post", f"/api/v1/tickets/{foreign.pk}/merge", {"into": ticket.pk})
    assert r.status_code == 403
    r = send(
        c_se, "post", f"/api/v1/tickets/{foreign.pk}/merge", {"into": ticket.pk, "force": True}
    )
    assert r.status_code == 200 and r.json()["merged_into"] == ticket.pk


# --- custom fields ----------------------------------------------------------------------


def test_custom_fields_crud(api_client, manager, c_se, c_cust, ticket):
    c_m = api_client(manager)
    r = send(
        c_m,
        "post",
        "/api/v1/custom-fields",
        {"key": "env", "label": "Environment", "type": "choice", "choices": ["prod", "dev"]},
    )
    assert r.status_code == 201, r.content
    cf = r.json()
    assert cf["choices"] == ["prod", "dev"] and cf["active"] is True
    assert AuditEvent.objects.filter(type="custom_field.changed", subject_id=cf["id"]).exists()
    r = c_se.get("/api/v1/custom-fields")
    assert r.status_code == 200 and [f["key"] for f in r.json()["results"]] == ["env"]
    assert c_se.get(f"/api/v1/custom-fields/{cf['id']}").json()["label"] == "Environment"
    r = send(c_m, "patch", f"/api/v1/custom-fields/{cf['id']}", {"required_on_solve": True})
    assert r.status_code == 200 and r.json()["required_on_solve"] is True
    # in use on a ticket
    r = send(c_se, "patch", f"/api/v1/tickets/{ticket.pk}", {"custom_fields": {"env": "qa"}})
    assert r.status_code == 422 and "custom_fields.env" in err(r)["fields"]
    r = send(c_se, "patch", f"/api/v1/tickets/{ticket.pk}", {"custom_fields": {"env": "prod"}})
    assert r.status_code == 200 and r.json()["custom_fields"] == {"env": "prod"}
    # validation and conflicts
    r = send(c_m, "post", "/api/v1/custom-fields", {"key": "env", "label": "E", "type": "text"})
    assert r.status_code == 409
    for bad in (
        {"key": "Bad Key", "label": "x", "type": "text"},
        {"key": "k", "label": "x", "type": "color"},
        {"key": "k", "label": "x", "type": "choice", "choices": []},
        {"key": "k", "label": "", "type": "text"},
    ):
        assert send(c_m, "post", "/api/v1/custom-fields", bad).status_code == 422, bad
    r = send(c_m, "patch", f"/api/v1/custom-fields/{cf['id']}", {"type": "text"})
    assert r.status_code == 422  # used by a ticket
    # permissions and not found
    r = send(c_se, "post", "/api/v1/custom-fields", {"key": "k", "label": "K", "type": "text"})
    assert r.status_code == 403
    r = send(c_se, "patch", f"/api/v1/custom-fields/{cf['id']}", {"label": "x"})
    assert r.status_code == 403
    assert c_cust.get("/api/v1/custom-fields").status_code == 403
    assert c_cust.get(f"/api/v1/custom-fields/{cf['id']}").status_code == 403
    assert c_se.get("/api/v1/custom-fields/999999").status_code == 404
    r = send(c_m, "patch", "/api/v1/custom-fields/999999", {"label": "x"})
    assert r.status_code == 404


def test_openapi_lists_ticket_endpoints(c_se):
    r = c_se.get("/api/v1/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    for p in (
        "/api/v1/tickets",
        "/api/v1/tickets/{ticket_id}",
        "/api/v1/tickets/{ticket_id}/timeline",
        "/api/v1/tickets/{ticket_id}/messages",
        "/api/v1/attachments/{attachment_id}",
        "/api/v1/tickets/{ticket_id}/merge",
        "/api/v1/custom-fields",
    ):
        assert p in paths, p


# --- the customer's view: nothing internal through any endpoint ------------------------

INTERNAL_KEYS = {
    "priority",
    "channel",
    "assignee",
    "team",
    "product_area",
    "tags",
    "custom_fields",
    "followers",
    "ccs",
    "links",
    "external_id",
    "merged_into",
}


def _no_internal(ticket_body):
    assert not INTERNAL_KEYS & set(ticket_body), sorted(INTERNAL_KEYS & set(ticket_body))
    assert isinstance(ticket_body["organization"], (str, type(None)))


def test_customer_view_through_every_ticket_endpoint(
    c_cust, c_se, se, ticket, note, public_reply, foreign, make_staff
):
    from caseline.tickets.models import CustomField
    from caseline.tickets.services import add_cc, add_follower, link_tickets, update_ticket

    CustomField.objects.create(key="env", label="Env", type="text")
    update_ticket(ticket, actor=se, tags=["vip-internal"], custom_fields={"env": "prod-secret"})
    add_follower(ticket, make_staff("support_engineer", email="hidden@caseline.test"), actor=se)
    extra = _contact(ticket.organization, "Cc", "cc@acme.test")
    add_cc(ticket, extra, actor=se)
    link_tickets(ticket, foreign, "related", actor=se)
    update_ticket(ticket, actor=se, assignee=se.pk, priority="urgent")
    secrets = ("INTERNAL", "internal.txt", "vip-internal", "prod-secret", "hidden@", "se@caseline")

    def clean(r):
        text = r.content.decode()
        for s in secrets:
            assert s not in text, (s, text[:500])

    # detail
    r = c_cust.get(f"/api/v1/tickets/{ticket.pk}")
    assert r.status_code == 200
    body = r.json()
    _no_internal(body)
    clean(r)
    assert body["organization"] == "Acme" and body["requester"]["email"] == "ada@acme.test"
    assert [m["body_text"] for m in body["messages"]] == ["E42", "Please send logs"]
    assert body["messages"][1]["author"] == {"role": "staff", "name": "Support"}
    assert set(body["messages"][1]["attachments"][0]) == {
        "id",
        "filename",
        "content_type",
        "size",
        "url",
    }
    # staff still get the full shape
    staff = c_se.get(f"/api/v1/tickets/{ticket.pk}").json()
    assert staff["tags"] == ["vip-internal"] and staff["custom_fields"] == {"env": "prod-secret"}
    assert staff["priority"] == "urgent" and staff["links"] and staff["assignee"]["id"] == se.pk
    # list
    r = c_cust.get("/api/v1/tickets")
    assert r.status_code == 200 and [t["id"] for t in r.json()["results"]] == [ticket.pk]
    _no_internal(r.json()["results"][0])
    assert "messages" not in r.json()["results"][0]
    clean(r)
    assert "tags" in c_se.get("/api/v1/tickets").json()["results"][0]
    # create
    r = send(c_cust, "post", "/api/v1/tickets", {"subject": "New one", "body_text": "hi"})
    assert r.status_code == 201
    _no_internal(r.json())
    assert [m["body_text"] for m in r.json()["messages"]] == ["hi"]
    # update (solve and rate)
    r = send(c_cust, "patch", f"/api/v1/tickets/{ticket.pk}", {"status": "solved"})
    assert r.status_code == 200 and r.json()["status"] == "solved"
    _no_internal(r.json())
    clean(r)
    r = send(c_cust, "patch", f"/api/v1/tickets/{ticket.pk}", {"satisfaction": "good"})
    assert r.status_code == 200 and r.json()["satisfaction"] == "good"
    clean(r)
    # messages: list and post
    r = c_cust.get(f"/api/v1/tickets/{ticket.pk}/messages")
    assert r.status_code == 200 and len(r.json()["results"]) == 2
    assert all(
        set(m)
        == {"id", "ticket_id", "author", "body_text", "body_html", "created_at", "attachments"}
        for m in r.json()["results"]
    )
    clean(r)
    r = send(c_cust, "post", f"/api/v1/tickets/{ticket.pk}/messages", {"body_text": "thanks"})
    assert r.status_code == 201 and r.json()["author"] == {"role": "customer", "name": "Ada"}
    clean(r)
    # the timeline is staff only
    assert c_cust.get(f"/api/v1/tickets/{ticket.pk}/timeline").status_code == 403
    # endpoints that would echo the staff shape refuse customers before answering
    for method, path, data in (
        ("post", f"/api/v1/tickets/{ticket.pk}/followers", {"user_id": se.pk}),
        ("post", f"/api/v1/tickets/{ticket.pk}/ccs", {"contact_id": extra.pk}),
        ("post", f"/api/v1/tickets/{ticket.pk}/merge", {"into": foreign.pk}),
    ):
        assert send(c_cust, method, path, data).status_code == 403


def test_openapi_documents_both_shapes(c_se):
    doc = Client().get("/api/v1/openapi.json").json()
    schemas = doc["components"]["schemas"]
    assert "CustomerTicketOut" in schemas and "TicketOut" in schemas
    assert "CustomerMessageOut" in schemas
