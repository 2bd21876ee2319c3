"""The authorization matrix of docs/permissions.md, checked cell by cell.

The table people read is the table enforced: every row of the document must have a
request here (and every request a row), and every cell is one real API call.
"""

from __future__ import annotations

import base64
import itertools
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Group

from caseline.accounts import roles
from caseline.accounts.models import Contact, ContactEmail, Organization, ProductArea, Team, User
from caseline.tickets.models import Message, Ticket

DOC = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"
COLUMNS = {
    "SE": roles.SE,
    "SC": roles.SC,
    "CSM": roles.CSM,
    "Lead": roles.LEAD,
    "SM": roles.SUPPORT_MANAGER,
    "EM": roles.ESCALATION_MANAGER,
    "IM": roles.INCIDENT_MANAGER,
    "Exec": roles.EXECUTIVE,
    "Admin": roles.ADMIN,
    "Cust": "customer",
}


def parse_matrix() -> tuple[list[str], dict[str, dict[str, str]]]:
    text = DOC.read_text()
    block = text.split("<!-- matrix:start -->")[1].split("<!-- matrix:end -->")[0]
    lines = [ln.strip() for ln in block.strip().splitlines() if ln.strip().startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[0] == "endpoint" and header[1:] == list(COLUMNS), header
    table: dict[str, dict[str, str]] = {}
    for ln in lines[2:]:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        assert all(c in {"yes", "no", "own"} for c in cells[1:]), ln
        table[cells[0]] = dict(zip(header[1:], cells[1:], strict=True))
    return header[1:], table


ROLE_COLUMNS, MATRIX = parse_matrix()
_seq = itertools.count(1)


def uniq(prefix: str) -> str:
    return f"{prefix}{next(_seq)}"


class World:
    """Two customer organizations, a customer of the first, staff of every role, a ticket each."""

    def __init__(self, make_staff, api_client):
        self.api_client = api_client
        self.org_a = Organization.objects.create(name="Acme Matrix")
        self.org_b = Organization.objects.create(name="Globex Matrix")
        self.contact_a = Contact.objects.create(name="Ann Customer", organization=self.org_a)
        ContactEmail.objects.create(
            contact=self.contact_a, email="ann@acme-matrix.test", is_primary=True
        )
        self.contact_b = Contact.objects.create(name="Bob Other", organization=self.org_b)
        ContactEmail.objects.create(
            contact=self.contact_b, email="bob@globex-matrix.test", is_primary=True
        )
        self.customer = User.objects.create_user(
            username="ann@acme-matrix.test",
            email="ann@acme-matrix.test",
            kind=User.Kind.CUSTOMER,
            contact=self.contact_a,
        )
        self.users = {col: make_staff(role) for col, role in COLUMNS.items() if col != "Cust"}
        self.users["Cust"] = self.customer
        self.team = Team.objects.create(name="Matrix team")
        self.area = ProductArea.objects.create(name="Matrix area", slug="matrix-area")
        self.ticket_a = self.ticket(self.org_a, self.contact_a)
        self.ticket_b = self.ticket(self.org_b, self.contact_b)
        self.cc_contact = Contact.objects.create(name="Carl Colleague", organization=self.org_a)
        from caseline.notify.models import Webhook
        from caseline.tickets.models import CustomField, TriageRule

        self.custom_field = CustomField.objects.create(key="matrix_env", label="Env", type="text")
        self.rule = TriageRule.objects.create(name="Matrix rule", keywords="outage", set_severity=1)
        self.webhook = Webhook.objects.create(
            name="Matrix hook",
            url="https://hooks.example.com/m",
            secret="s" * 32,
            event_types=["*"],
        )

    def ticket(self, org, contact) -> Ticket:
        t = Ticket.objects.create(
            subject=uniq("Matrix ticket "), requester=contact, organization=org
        )
        Message.objects.create(
            ticket=t, kind="public", author_contact=contact, body_text="Help please"
        )
        return t

    def client(self, col):
        return self.api_client(self.users[col])


def _ticket_id(world: World, col: str, foreign: bool) -> int:
    return (world.ticket_b if foreign else world.ticket_a).id


# Each builder returns (method, path, json body or None) for one call by `col`.
# `foreign=True` asks for the same request on another organization's object (for "own").
def b_list_tickets(w, col, foreign):
    return "get", "/api/v1/tickets" + (f"?organization={w.org_b.id}" if foreign else ""), None


def b_create_ticket(w, col, foreign):
    contact = w.contact_b if foreign else w.contact_a
    return (
        "post",
        "/api/v1/tickets",
        {
            "subject": uniq("Created in matrix "),
            "body_text": "Our nightly replication job failed with error 500.",
            "requester_id": contact.id,
        },
    )


def b_get_ticket(w, col, foreign):
    return "get", f"/api/v1/tickets/{_ticket_id(w, col, foreign)}", None


def b_reply_check(w, col, foreign):
    return (
        "post",
        f"/api/v1/tickets/{_ticket_id(w, col, foreign)}/reply-check",
        {"draft": "Hello, we are looking into it."},
    )


def b_patch_ticket(w, col, foreign):
    return "patch", f"/api/v1/tickets/{_ticket_id(w, col, foreign)}", {"priority": "high"}


def b_timeline(w, col, foreign):
    return "get", f"/api/v1/tickets/{_ticket_id(w, col, foreign)}/timeline", None


def b_messages(w, col, foreign):
    return "get", f"/api/v1/tickets/{_ticket_id(w, col, foreign)}/messages", None


def b_public_reply(w, col, foreign):
    return (
        "post",
        f"/api/v1/tickets/{_ticket_id(w, col, foreign)}/messages",
        {
            "kind": "public",
            "body_text": "Thanks, looking into it.",
        },
    )


def b_internal_note(w, col, foreign):
    return (
        "post",
        f"/api/v1/tickets/{_ticket_id(w, col, foreign)}/messages",
        {
            "kind": "internal",
            "body_text": "Checked the logs: disk full on the replica.",
            "attachments": [
                {
                    "filename": "log.txt",
                    "content_type": "text/plain",
                    "content_base64": base64.b64encode(b"disk full").decode(),
                }
            ],
        },
    )


def b_followers(w, col, foreign):
    return (
        "post",
        f"/api/v1/tickets/{_ticket_id(w, col, foreign)}/followers",
        {"user_id": w.users["SE"].id},
    )


def b_links(w, col, foreign):
    other = w.ticket(w.org_a, w.contact_a)
    return (
        "post",
        f"/api/v1/tickets/{_ticket_id(w, col, foreign)}/links",
        {
            "target": other.id,
            "kind": "related",
        },
    )


def b_merge(w, col, foreign):
    source = w.ticket(w.org_a, w.contact_a)
    return "post", f"/api/v1/tickets/{source.id}/merge", {"into": w.ticket_a.id}


def b_list_custom_fields(w, col, foreign):
    return "get", "/api/v1/custom-fields", None


def b_create_custom_field(w, col, foreign):
    return "post", "/api/v1/custom-fields", {"key": uniq("field_"), "label": "Env", "type": "text"}


def b_list_orgs(w, col, foreign):
    return "get", "/api/v1/organizations", None


def b_create_org(w, col, foreign):
    return "post", "/api/v1/organizations", {"name": uniq("Org "), "tier": "premium"}


def b_patch_org(w, col, foreign):
    return "patch", f"/api/v1/organizations/{w.org_b.id}", {"notes": uniq("note ")}


def b_list_contacts(w, col, foreign):
    return "get", "/api/v1/contacts", None


def b_create_contact(w, col, foreign):
    return (
        "post",
        "/api/v1/contacts",
        {"name": "New Person", "emails": [uniq("p") + "@matrix.test"]},
    )


def b_merge_contact(w, col, foreign):
    src = Contact.objects.create(name="Dup", organization=w.org_b)
    dst = Contact.objects.create(name="Keep", organization=w.org_b)
    return "post", f"/api/v1/contacts/{src.id}/merge", {"into": dst.id}


def b_list_staff(w, col, foreign):
    return "get", "/api/v1/staff", None


def b_create_staff(w, col, foreign):
    return (
        "post",
        "/api/v1/staff",
        {
            "email": uniq("hire") + "@caseline.test",
            "display_name": "New Hire",
            "roles": [roles.SE],
        },
    )


def _fresh_staff(*role_names: str) -> User:
    email = uniq("target") + "@caseline.test"
    user = User.objects.create_user(username=email, email=email)
    user.groups.set(Group.objects.filter(name__in=role_names))
    return user


def b_create_admin(w, col, foreign):
    return (
        "post",
        "/api/v1/staff",
        {"email": uniq("boss") + "@caseline.test", "roles": [roles.SE, roles.ADMIN]},
    )


def b_grant_admin(w, col, foreign):
    target = _fresh_staff(roles.SE)
    return "patch", f"/api/v1/staff/{target.id}", {"roles": [roles.SE, roles.ADMIN]}


def b_patch_admin_user(w, col, foreign):
    target = _fresh_staff(roles.ADMIN)
    return (
        "patch",
        f"/api/v1/staff/{target.id}",
        {"display_name": uniq("Root "), "password": "a-New-passphrase-4711"},
    )


def b_list_teams(w, col, foreign):
    return "get", "/api/v1/teams", None


def b_create_team(w, col, foreign):
    return "post", "/api/v1/teams", {"name": uniq("Team ")}


def b_list_areas(w, col, foreign):
    return "get", "/api/v1/product-areas", None


def b_roster(w, col, foreign):
    return (
        "put",
        f"/api/v1/product-areas/{w.area.id}/roster",
        {"user_ids": [w.users["SE"].id, w.users["Lead"].id]},
    )


def b_list_rules(w, col, foreign):
    return "get", "/api/v1/triage-rules", None


def b_create_rule(w, col, foreign):
    return (
        "post",
        "/api/v1/triage-rules",
        {
            "name": uniq("Rule "),
            "keywords": "outage",
            "set_severity": 1,
        },
    )


def b_list_webhooks(w, col, foreign):
    return "get", "/api/v1/webhooks", None


def b_create_webhook(w, col, foreign):
    return (
        "post",
        "/api/v1/webhooks",
        {
            "name": uniq("Hook "),
            "url": "https://hooks.example.com/caseline",
            "event_types": ["ticket.created"],
        },
    )


def b_me(w, col, foreign):
    return "get", "/api/v1/me", None


def b_patch_me(w, col, foreign):
    return "patch", "/api/v1/me", {"is_away": True}


def _own_public_attachment(w, foreign):
    from caseline.tickets.services import add_message

    ticket = w.ticket_b if foreign else w.ticket_a
    contact = w.contact_b if foreign else w.contact_a
    msg = add_message(
        ticket,
        author_contact=contact,
        kind="public",
        body_text="Screenshot attached",
        attachments=[("screen.png", "image/png", b"\x89PNG fake")],
    )
    return msg.attachments.get()


def b_attachment(w, col, foreign):
    return "get", f"/api/v1/attachments/{_own_public_attachment(w, foreign).id}", None


def b_customer_rating(w, col, foreign):
    org, contact = (w.org_b, w.contact_b) if foreign else (w.org_a, w.contact_a)
    t = w.ticket(org, contact)
    Ticket.objects.filter(pk=t.pk).update(status="solved", assignee=w.users["SE"])
    return "patch", f"/api/v1/tickets/{t.id}", {"satisfaction": "good"}


def b_remove_follower_body(w, col, foreign):
    w.ticket_a.followers.add(w.users["SE"])
    return "delete", f"/api/v1/tickets/{w.ticket_a.id}/followers", {"user_id": w.users["SE"].id}


def b_remove_follower_path(w, col, foreign):
    w.ticket_a.followers.add(w.users["SE"])
    return "delete", f"/api/v1/tickets/{w.ticket_a.id}/followers/{w.users['SE'].id}", None


def b_add_cc(w, col, foreign):
    return "post", f"/api/v1/tickets/{w.ticket_a.id}/ccs", {"contact_id": w.cc_contact.id}


def b_remove_cc_body(w, col, foreign):
    w.ticket_a.ccs.add(w.cc_contact)
    return "delete", f"/api/v1/tickets/{w.ticket_a.id}/ccs", {"contact_id": w.cc_contact.id}


def b_remove_cc_path(w, col, foreign):
    w.ticket_a.ccs.add(w.cc_contact)
    return "delete", f"/api/v1/tickets/{w.ticket_a.id}/ccs/{w.cc_contact.id}", None


def b_get_custom_field(w, col, foreign):
    return "get", f"/api/v1/custom-fields/{w.custom_field.id}", None


def b_patch_custom_field(w, col, foreign):
    return "patch", f"/api/v1/custom-fields/{w.custom_field.id}", {"label": uniq("Label ")}


def b_get_org(w, col, foreign):
    return "get", f"/api/v1/organizations/{w.org_b.id}", None


def b_get_contact(w, col, foreign):
    return "get", f"/api/v1/contacts/{w.contact_b.id}", None


def b_patch_contact(w, col, foreign):
    return "patch", f"/api/v1/contacts/{w.contact_b.id}", {"title": uniq("CTO ")}


def b_get_staff(w, col, foreign):
    return "get", f"/api/v1/staff/{w.users['SE'].id}", None


def b_patch_staff(w, col, foreign):
    return "patch", f"/api/v1/staff/{w.users['SE'].id}", {"display_name": uniq("Sam ")}


def b_get_team(w, col, foreign):
    return "get", f"/api/v1/teams/{w.team.id}", None


def b_patch_team(w, col, foreign):
    return "patch", f"/api/v1/teams/{w.team.id}", {"email": uniq("team") + "@caseline.test"}


def b_create_area(w, col, foreign):
    return "post", "/api/v1/product-areas", {"name": uniq("Area ")}


def b_get_area(w, col, foreign):
    return "get", f"/api/v1/product-areas/{w.area.id}", None


def b_patch_area(w, col, foreign):
    return "patch", f"/api/v1/product-areas/{w.area.id}", {"keywords": [uniq("kw")]}


def b_list_tokens(w, col, foreign):
    return "get", "/api/v1/tokens", None


def b_create_token(w, col, foreign):
    return "post", "/api/v1/tokens", {"name": uniq("script ")}


def b_revoke_token(w, col, foreign):
    from caseline.accounts.tokens import create_token

    token, _ = create_token(w.users[col], "to revoke")
    return "delete", f"/api/v1/tokens/{token.prefix}", None


def b_dry_run(w, col, foreign):
    return "post", "/api/v1/triage-rules/dry-run", {"subject": "Outage", "text": "all down"}


def b_get_rule(w, col, foreign):
    return "get", f"/api/v1/triage-rules/{w.rule.id}", None


def b_patch_rule(w, col, foreign):
    return "patch", f"/api/v1/triage-rules/{w.rule.id}", {"name": uniq("Rule ")}


def b_delete_rule(w, col, foreign):
    from caseline.tickets.models import TriageRule

    rule = TriageRule.objects.create(name=uniq("Doomed "), keywords="x", set_severity=2)
    return "delete", f"/api/v1/triage-rules/{rule.id}", None


def b_get_webhook(w, col, foreign):
    return "get", f"/api/v1/webhooks/{w.webhook.id}", None


def b_patch_webhook(w, col, foreign):
    return "patch", f"/api/v1/webhooks/{w.webhook.id}", {"name": uniq("Hook ")}


def b_delete_webhook(w, col, foreign):
    from caseline.notify.models import Webhook

    hook = Webhook.objects.create(
        name=uniq("Doomed "), url="https://hooks.example.com/x", secret="s" * 32, event_types=["*"]
    )
    return "delete", f"/api/v1/webhooks/{hook.id}", None


def b_deliveries(w, col, foreign):
    return "get", f"/api/v1/webhooks/{w.webhook.id}/deliveries", None


def b_test_webhook(w, col, foreign):
    return "post", f"/api/v1/webhooks/{w.webhook.id}/test", None


def b_outbox(w, col, foreign):
    return "get", "/api/v1/outbox", None


def b_retry_outbox(w, col, foreign):
    from caseline.notify.models import OutboxMessage

    row = OutboxMessage.objects.create(
        kind="email", status="failed", idempotency_key=uniq("matrix-"), payload={"to": ["x@y.z"]}
    )
    return "post", f"/api/v1/outbox/{row.id}/retry", None


BUILDERS = {
    "GET /tickets": b_list_tickets,
    "POST /tickets": b_create_ticket,
    "GET /tickets/{id}": b_get_ticket,
    "PATCH /tickets/{id}": b_patch_ticket,
    "GET /tickets/{id}/timeline": b_timeline,
    "GET /tickets/{id}/messages": b_messages,
    "POST /tickets/{id}/messages (public)": b_public_reply,
    "POST /tickets/{id}/messages (internal)": b_internal_note,
    "POST /tickets/{id}/followers": b_followers,
    "POST /tickets/{id}/links": b_links,
    "POST /tickets/{id}/merge": b_merge,
    "GET /custom-fields": b_list_custom_fields,
    "POST /custom-fields": b_create_custom_field,
    "GET /organizations": b_list_orgs,
    "POST /organizations": b_create_org,
    "PATCH /organizations/{id}": b_patch_org,
    "GET /contacts": b_list_contacts,
    "POST /contacts": b_create_contact,
    "POST /contacts/{id}/merge": b_merge_contact,
    "GET /staff": b_list_staff,
    "POST /staff": b_create_staff,
    "POST /staff (admin role)": b_create_admin,
    "PATCH /staff/{id} (grant admin role)": b_grant_admin,
    "PATCH /staff/{id} (admin user: roles, password, deactivate)": b_patch_admin_user,
    "GET /teams": b_list_teams,
    "POST /teams": b_create_team,
    "GET /product-areas": b_list_areas,
    "PUT /product-areas/{id}/roster": b_roster,
    "GET /triage-rules": b_list_rules,
    "POST /triage-rules": b_create_rule,
    "GET /webhooks": b_list_webhooks,
    "POST /webhooks": b_create_webhook,
    "GET /me": b_me,
    "PATCH /me": b_patch_me,
    "GET /attachments/{id}": b_attachment,
    "PATCH /tickets/{id} (customer: solve, rating)": b_customer_rating,
    "DELETE /tickets/{id}/followers": b_remove_follower_body,
    "DELETE /tickets/{id}/followers/{id}": b_remove_follower_path,
    "POST /tickets/{id}/ccs": b_add_cc,
    "DELETE /tickets/{id}/ccs": b_remove_cc_body,
    "DELETE /tickets/{id}/ccs/{id}": b_remove_cc_path,
    "GET /custom-fields/{id}": b_get_custom_field,
    "PATCH /custom-fields/{id}": b_patch_custom_field,
    "GET /organizations/{id}": b_get_org,
    "GET /contacts/{id}": b_get_contact,
    "PATCH /contacts/{id}": b_patch_contact,
    "GET /staff/{id}": b_get_staff,
    "PATCH /staff/{id}": b_patch_staff,
    "GET /teams/{id}": b_get_team,
    "PATCH /teams/{id}": b_patch_team,
    "POST /product-areas": b_create_area,
    "GET /product-areas/{id}": b_get_area,
    "PATCH /product-areas/{id}": b_patch_area,
    "GET /tokens": b_list_tokens,
    "POST /tokens": b_create_token,
    "DELETE /tokens/{id}": b_revoke_token,
    "POST /triage-rules/dry-run": b_dry_run,
    "GET /triage-rules/{id}": b_get_rule,
    "PATCH /triage-rules/{id}": b_patch_rule,
    "DELETE /triage-rules/{id}": b_delete_rule,
    "GET /webhooks/{id}": b_get_webhook,
    "PATCH /webhooks/{id}": b_patch_webhook,
    "DELETE /webhooks/{id}": b_delete_webhook,
    "GET /webhooks/{id}/deliveries": b_deliveries,
    "POST /webhooks/{id}/test": b_test_webhook,
    "GET /outbox": b_outbox,
    "POST /outbox/{id}/retry": b_retry_outbox,
    "POST /tickets/{id}/reply-check": b_reply_check,
}

# Rows of other apps, kept next to their own tests.
from tests.escalations.handoffs_matrix import BUILDERS as _HANDOFF_BUILDERS  # noqa: E402
from tests.escalations.matrix import BUILDERS as _ESCALATION_BUILDERS  # noqa: E402
from tests.eta.matrix import BUILDERS as _ETA_BUILDERS  # noqa: E402
from tests.incidents.broadcasts_matrix import BUILDERS as _BROADCAST_BUILDERS  # noqa: E402
from tests.incidents.detection_matrix import BUILDERS as _DETECTION_BUILDERS  # noqa: E402
from tests.incidents.matrix import BUILDERS as _INCIDENT_BUILDERS  # noqa: E402
from tests.learning.matrix import BUILDERS as _LEARNING_BUILDERS  # noqa: E402
from tests.mail.matrix import BUILDERS as _MAIL_BUILDERS  # noqa: E402
from tests.oncall.matrix import BUILDERS as _ONCALL_BUILDERS  # noqa: E402
from tests.search.matrix import BUILDERS as _SEARCH_BUILDERS  # noqa: E402
from tests.sla.matrix import BUILDERS as _SLA_BUILDERS  # noqa: E402

BUILDERS.update(_ONCALL_BUILDERS)
BUILDERS.update(_ETA_BUILDERS)
BUILDERS.update(_ESCALATION_BUILDERS)
BUILDERS.update(_INCIDENT_BUILDERS)
BUILDERS.update(_BROADCAST_BUILDERS)
BUILDERS.update(_LEARNING_BUILDERS)
BUILDERS.update(_HANDOFF_BUILDERS)
BUILDERS.update(_SLA_BUILDERS)
BUILDERS.update(_MAIL_BUILDERS)
BUILDERS.update(_SEARCH_BUILDERS)
BUILDERS.update(_DETECTION_BUILDERS)


def test_every_documented_endpoint_has_a_request_and_vice_versa():
    assert set(MATRIX) == set(BUILDERS)


def _route_key(row: str) -> str:
    return re.sub(r"\s*\(.*\)$", "", row)


@pytest.mark.django_db
def test_every_api_endpoint_is_in_the_table():
    """A new endpoint without a row in docs/permissions.md fails here."""
    from caseline.api.urls import api

    schema = api.get_openapi_schema()
    routes = set()
    for path, ops in schema["paths"].items():
        norm = re.sub(r"\{[^}]+\}", "{id}", path.removeprefix("/api/v1"))
        for method in ops:
            routes.add(f"{method.upper()} {norm}")
    documented = {_route_key(row) for row in MATRIX}
    assert routes - documented == set(), "endpoints missing from docs/permissions.md"
    assert documented - routes == set(), "rows of docs/permissions.md that are no endpoint"


def test_every_staff_role_is_denied_something():
    for col in ROLE_COLUMNS:
        if col in {"Admin", "Cust"}:
            continue
        assert any(row[col] == "no" for row in MATRIX.values()), col


def test_document_matches_role_permissions_in_code():
    """Roles are groups whose default permissions come from roles.ROLE_PERMISSIONS."""
    for col, role in COLUMNS.items():
        if col == "Cust":
            continue
        assert role in roles.ROLE_PERMISSIONS


def _call(client, method, path, body):
    if body is None:
        return getattr(client, method)(path, content_type="application/json")
    return getattr(client, method)(path, data=body, content_type="application/json")


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", sorted(MATRIX))
def test_matrix_row(endpoint, make_staff, api_client):
    world = World(make_staff, api_client)
    assert Group.objects.filter(name=roles.SE).exists()
    failures = []
    for col in ROLE_COLUMNS:
        expected = MATRIX[endpoint][col]
        client = world.client(col)
        method, path, body = BUILDERS[endpoint](world, col, False)
        resp = _call(client, method, path, body)
        if expected in {"yes", "own"}:
            if not 200 <= resp.status_code < 300:
                failures.append(
                    f"{col}: expected success, got {resp.status_code} {resp.content[:200]!r}"
                )
            if expected == "own":
                method, path, body = BUILDERS[endpoint](world, col, True)
                resp = _call(client, method, path, body)
                if method == "get" and path.startswith("/api/v1/tickets?"):
                    ids = {r["id"] for r in resp.json()["results"]}
                    if world.ticket_b.id in ids:
                        failures.append(f"{col}: sees another organization's ticket in the list")
                elif resp.status_code not in (403, 404, 422):
                    failures.append(f"{col}: other organization's object gave {resp.status_code}")
        else:
            if resp.status_code != 403:
                failures.append(
                    f"{col}: expected 403, got {resp.status_code} {resp.content[:200]!r}"
                )
            else:
                assert resp.json()["error"]["code"] == "permission_denied"
    assert not failures, f"{endpoint}:\n" + "\n".join(failures)


@pytest.mark.django_db
def test_internal_notes_never_reach_customers(make_staff, api_client):
    """No path shows a customer an internal note or its attachment."""
    world = World(make_staff, api_client)
    agent = world.client("SE")
    resp = agent.post(
        f"/api/v1/tickets/{world.ticket_a.id}/messages",
        data={
            "kind": "internal",
            "body_text": "SECRET-NOTE-7731 do not share",
            "attachments": [
                {
                    "filename": "secret.txt",
                    "content_type": "text/plain",
                    "content_base64": base64.b64encode(b"SECRET-FILE").decode(),
                }
            ],
        },
        content_type="application/json",
    )
    assert resp.status_code in (200, 201), resp.content
    note = Message.objects.get(body_text__contains="SECRET-NOTE-7731")
    attachment = note.attachments.get()
    customer = world.client("Cust")
    paths = [
        "/api/v1/tickets",
        f"/api/v1/tickets/{world.ticket_a.id}",
        f"/api/v1/tickets/{world.ticket_a.id}/messages",
        f"/api/v1/tickets/{world.ticket_a.id}/timeline",
        f"/api/v1/attachments/{attachment.id}",
    ]
    for path in paths:
        r = customer.get(path)
        content = r.content.decode(errors="replace")
        assert "SECRET-NOTE-7731" not in content, path
        assert "SECRET-FILE" not in content, path
        assert "secret.txt" not in content, path
    assert customer.get(f"/api/v1/attachments/{attachment.id}").status_code == 404
    # the agent does see it, so the test could fail
    staff_view = agent.get(f"/api/v1/tickets/{world.ticket_a.id}/messages").content.decode()
    assert "SECRET-NOTE-7731" in staff_view
    assert re.search(r"secret\.txt", staff_view)
