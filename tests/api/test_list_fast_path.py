"""The list request's fast path: the compiled list SQL (caseline.sqlcache), the compiled
token lookup and the batched rate limit keep the answers and the guarantees of the ORM
path: the same page bodies, a revoked token or a deactivated user refused at the next
request, a role change seen at the next request, one limit across processes."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from django.test import RequestFactory, override_settings

from caseline.accounts.models import ApiToken, Contact, ContactEmail, Organization, Team, User
from caseline.accounts.services import update_staff
from caseline.accounts.tokens import create_token
from caseline.api import ratelimit
from caseline.tickets import api as tickets_api
from caseline.tickets import queries
from caseline.tickets.models import Ticket
from caseline.tickets.services import create_ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def se(make_staff):
    return make_staff("support_engineer", email="se@caseline.test")


@pytest.fixture
def world(se, make_staff):
    acme = Organization.objects.create(name="Acme")
    other = Organization.objects.create(name="Other")
    ada = Contact.objects.create(name="Ada", organization=acme)
    ContactEmail.objects.create(contact=ada, email="ada@acme.test", is_primary=True)
    bob = Contact.objects.create(name="Bob", organization=other)
    team = Team.objects.create(name="L2")
    team.members.add(se)
    tickets = []
    for i in range(14):
        tickets.append(
            create_ticket(
                actor=se,
                requester=ada if i % 3 else bob,
                subject=f"S{i}",
                channel="api",
                team=team if i % 2 else None,
                tags=[f"t{i % 3}", "all"],
                severity=1 + i % 4,
            )
        )
    Ticket.objects.filter(pk__in=[t.pk for t in tickets[::3]]).update(status="open")
    Ticket.objects.filter(pk=tickets[4].pk).update(assignee=None)
    customer = User.objects.create_user(
        username="cara@acme.test", email="cara@acme.test", kind=User.Kind.CUSTOMER, contact=ada
    )
    return {"team": team, "acme": acme, "ada": ada, "customer": customer, "tickets": tickets}


FILTER_SETS = [
    {},
    {"status": "open"},
    {"status": "new,open"},
    {"status": "open,open"},
    {"team": "{team}", "status": "new"},
    {"team": "{team}"},
    {"assignee": "me", "status": "new"},
    {"assignee": "none"},
    {"assignee": "{se}"},
    {"organization": "{acme}", "severity": "2"},
    {"requester": "{ada}", "tag": "T1"},
    {"product_area": "999999"},
    {"updated_since": "2000-01-01T00:00:00+00:00"},
]


def _fill(filters, world, se):
    names = {
        "team": world["team"].pk,
        "se": se.pk,
        "acme": world["acme"].pk,
        "ada": world["ada"].pk,
    }
    return {k: v.format(**names) for k, v in filters.items()}


def _orm_body(request, user, filters, limit, cursor):
    qs = queries.list_tickets(user, filters)
    return tickets_api._ticket_page(request, qs, user.is_customer, limit, cursor)


@pytest.mark.parametrize("who", ["staff", "customer"])
def test_fast_page_equals_the_orm_page(world, se, who):
    from caseline.api.core import prime_permissions

    user = se if who == "staff" else world["customer"]
    prime_permissions(user)
    factory = RequestFactory()
    prepared = 0
    for raw in FILTER_SETS:
        filters = _fill(raw, world, se)
        cursor = None
        pages = 0
        while True:
            query = "&".join(f"{k}={v}" for k, v in filters.items())
            request = factory.get(f"/api/v1/tickets?{query}")
            fast = tickets_api._fast_page(request, user, filters, 4, cursor)
            orm = _orm_body(request, user, filters, 4, cursor)
            assert fast == orm, (filters, cursor)
            # the same JSON too (orjson on the fast path, ninja's renderer otherwise)
            fast_json = json.loads(tickets_api._render_list(fast).content)
            assert fast_json == json.loads(tickets_api._render(request, orm).content)
            pages += 1
            cursor = fast["meta"]["next_cursor"]
            if not cursor:
                break
        assert pages >= 1
    prepared = sum(1 for v in queries._page_sql.values() if v is not None)
    assert prepared >= 5  # the shapes above were compiled once and reused, not the ORM
    # the customer never sees another organization's ticket on the fast path
    if who == "customer":
        request = factory.get("/api/v1/tickets")
        body = tickets_api._fast_page(request, user, {}, 100, None)
        orgs = {r["organization"] for r in body["results"]}
        assert orgs == {"Acme"}


def test_datetime_placeholder_shapes_use_the_orm(world, se):
    shape, _ = queries.parse_list_filters(se, {"updated_since": "2000-01-01T00:00:00+00:00"})
    queries.list_page(shape, _, customer=False, after=None, limit=5)
    compiled = [v for k, v in queries._page_sql.items() if k[0] == shape]
    assert compiled and all(v is None for v in compiled)


def test_registering_a_column_drops_the_compiled_sql(world, se, api_client):
    from django.db.models import Value

    client = api_client(se)
    assert "probe" not in client.get("/api/v1/tickets").json()["results"][0]
    queries.register_list_column("probe", lambda qs: qs.annotate(probe=Value(7)))
    try:
        row = client.get("/api/v1/tickets").json()["results"][0]
        assert row["probe"] == 7
    finally:
        queries.LIST_COLUMNS.pop("probe")
        queries._registered()


def test_bad_filters_still_answer_422_before_limit_and_cursor(api_client, se, world):
    client = api_client(se)
    r = client.get("/api/v1/tickets?status=nope&limit=0&cursor=x")
    assert r.status_code == 422 and "status" in r.json()["error"]["fields"]
    r = client.get("/api/v1/tickets?limit=0")
    assert r.status_code == 422 and "limit" in r.json()["error"]["fields"]
    r = client.get("/api/v1/tickets?cursor=notacursor")
    assert r.status_code == 422 and "cursor" in r.json()["error"]["fields"]


# --- the compiled token lookup ----------------------------------------------------------


def _get(secret):
    from django.test import Client

    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}").get("/api/v1/tickets")


def test_revoked_token_is_refused_at_the_next_request(se, world):
    token, secret = create_token(se, "t")
    assert _get(secret).status_code == 200
    assert _get(secret).status_code == 200  # the compiled lookup is in use now
    # revoked behind this process's back (another process, the CLI): no signal here
    ApiToken.objects.filter(pk=token.pk).update(revoked_at=datetime.now(UTC))
    assert _get(secret).status_code == 401


def test_deactivated_user_is_refused_and_a_role_change_is_seen(se, world):
    _, secret = create_token(se, "t")
    assert _get(secret).status_code == 200
    update_staff(se, actor=None, roles=["executive"])
    body = _get(secret).json()
    assert body["results"]  # executives see all tickets too
    update_staff(se, actor=None, roles=[])  # no role: sees no ticket
    r = _get(secret)
    assert r.status_code == 200 and r.json()["results"] == []
    update_staff(se, actor=None, roles=["support_engineer"])
    assert _get(secret).json()["results"]
    User.objects.filter(pk=se.pk).update(is_active=False)  # no audit event, no signal
    assert _get(secret).status_code == 401


# --- the batched rate limit -------------------------------------------------------------


def test_batched_limit_is_exact_near_the_limit(se, world):
    with override_settings(API_RATE_LIMIT=40):
        verdicts = [ratelimit.check("probe-key") for _ in range(45)]
    assert [v.allowed for v in verdicts] == [True] * 40 + [False] * 5
    assert verdicts[-1].retry_after >= 1


def test_two_processes_share_one_limit(tmp_path):
    """Two processes counting one key: together they get at least the limit and at most
    the documented overshoot (each process at most SYNC_EVERY - 1 unwritten hits)."""
    time_file = tmp_path / "time.json"
    time_file.write_text(json.dumps({"frozen": "2026-03-02T10:00:30+00:00"}))
    child = (
        "import sys\n"
        "from django.conf import settings\n"
        f"settings.configure(RATELIMIT_URL='sqlite:///{tmp_path / 'rl.sqlite3'}', "
        "API_RATE_LIMIT=500, USE_TZ=True)\n"
        "from caseline.api import ratelimit\n"
        "sys.stdin.readline()\n"
        "print(sum(ratelimit.check('shared').allowed for _ in range(400)))\n"
    )
    env = {"CASELINE_TIME_FILE": str(time_file), "PATH": "/usr/bin:/bin"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", child],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=str(__import__("pathlib").Path(__file__).resolve().parents[2]),
        )
        for _ in range(2)
    ]
    for p in procs:  # start counting at about the same time
        p.stdin.write("go\n")
        p.stdin.flush()
    allowed = [int(p.communicate(timeout=60)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert 500 <= sum(allowed) <= 500 + 2 * (ratelimit.SYNC_EVERY - 1), allowed
