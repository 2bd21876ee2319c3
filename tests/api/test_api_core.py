"""The API's shared behaviour: auth, error envelope, rate limit, OpenAPI."""

import contextlib
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from django.test import Client, override_settings

from caseline.accounts.models import ApiToken
from caseline.accounts.tokens import create_token, revoke_token
from tests.conftest import free_port


@pytest.fixture
def agent(make_staff):
    return make_staff("support_engineer")


def test_openapi_document_lists_paths(db):
    resp = Client().get("/api/v1/openapi.json")
    assert resp.status_code == 200
    doc = resp.json()
    assert doc["info"]["title"] == "Caseline API"
    assert any(p.startswith("/api/v1/tickets") for p in doc["paths"])


def test_unauthenticated_is_401_envelope(db):
    resp = Client().get("/api/v1/tickets")
    assert resp.status_code == 401
    assert resp.json() == {
        "error": {
            "code": "unauthenticated",
            "message": "a valid API token or session is required",
            "fields": {},
        }
    }


@pytest.mark.parametrize("header", ["Bearer nope", "Basic abc", "Bearer ", "cl_x"])
def test_bad_tokens_are_401(db, header):
    resp = Client(HTTP_AUTHORIZATION=header).get("/api/v1/tickets")
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "unauthenticated"


def test_token_stored_as_sha256_digest_only(agent):
    token, secret = create_token(agent, "ci")
    assert secret.startswith("cl_") and len(secret) > 40
    row = ApiToken.objects.get(pk=token.pk)
    assert secret not in (row.digest, row.prefix) and len(row.digest) == 64
    import hashlib

    assert row.digest == hashlib.sha256(secret.encode()).hexdigest()


def test_token_auth_and_revocation(agent):
    token, secret = create_token(agent, "ci")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get("/api/v1/tickets").status_code == 200
    assert Client(HTTP_AUTHORIZATION=f"Token {secret}").get("/api/v1/tickets").status_code == 200
    revoke_token(token.prefix)
    assert client.get("/api/v1/tickets").status_code == 401


def test_deactivated_user_token_is_refused(agent):
    _, secret = create_token(agent)
    agent.is_active = False
    agent.save()
    assert Client(HTTP_AUTHORIZATION=f"Bearer {secret}").get("/api/v1/tickets").status_code == 401


def test_session_auth_needs_csrf_for_writes(agent):
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)
    assert client.get("/api/v1/tickets").status_code == 200
    resp = client.post("/api/v1/tickets", data="{}", content_type="application/json")
    assert resp.status_code in (401, 403)


def test_validation_error_envelope(agent, api_client):
    resp = api_client(agent).get("/api/v1/tickets?limit=0")
    assert resp.status_code == 422
    body = resp.json()["error"]
    assert body["code"] == "validation_error" and "limit" in json.dumps(body["fields"])


def test_bad_cursor_is_422(agent, api_client):
    resp = api_client(agent).get("/api/v1/tickets?cursor=%%%garbage")
    assert resp.status_code == 422
    assert resp.json()["error"]["fields"] == {"cursor": "not a cursor from this API"}


def test_malformed_json_is_4xx_envelope(agent, api_client):
    resp = api_client(agent).post(
        "/api/v1/tickets", data="{not json", content_type="application/json"
    )
    assert 400 <= resp.status_code < 500
    assert "error" in resp.json()


def test_rate_limit_with_retry_after(agent, api_client):
    client = api_client(agent)
    with override_settings(API_RATE_LIMIT=3):
        codes = [client.get("/api/v1/tickets").status_code for _ in range(5)]
        assert codes == [200, 200, 200, 429, 429]
        resp = client.get("/api/v1/tickets")
    assert resp.status_code == 429
    assert 1 <= int(resp["Retry-After"]) <= 60
    assert resp.json()["error"]["code"] == "rate_limited"


def test_rate_limit_headers_on_success(agent, api_client):
    resp = api_client(agent).get("/api/v1/tickets")
    assert resp.status_code == 200
    assert int(resp["X-RateLimit-Limit"]) >= int(resp["X-RateLimit-Remaining"]) >= 0


@pytest.mark.subprocess
def test_rate_limit_shared_by_all_server_processes(subprocess_env, make_staff):
    """Two granian worker processes count against one per-token budget."""
    agent = make_staff("support_engineer")
    _, secret = create_token(agent, "shared")
    port = free_port()
    env = dict(subprocess_env, API_RATE_LIMIT="6")
    proc = subprocess.Popen(
        [sys.executable, "-m", "caseline", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise AssertionError(
                        proc.stderr.read().decode()
                        if proc.poll() is not None
                        else "server did not start"
                    )
                time.sleep(0.2)
        codes = []
        for _ in range(12):
            req = urllib.request.Request(
                base + "/api/v1/tickets", headers={"Authorization": f"Bearer {secret}"}
            )
            try:
                with urllib.request.urlopen(req, timeout=5) as r:
                    codes.append(r.status)
            except urllib.error.HTTPError as e:
                codes.append(e.code)
                if e.code == 429:
                    assert int(e.headers["Retry-After"]) >= 1
        assert codes.count(200) == 6, codes
        assert codes.count(429) == 6, codes
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


# --- generic input guards, JSON for every answer ----------------------------------------

HUGE = "99999999999999999999"  # > 2**64
J = "application/json"


@pytest.fixture
def admin(make_staff):
    return make_staff("admin")


def _routes():
    """(method, path template, parameters) of every operation in the OpenAPI document."""
    from caseline.api.urls import api

    schema = api.get_openapi_schema()
    for path, ops in sorted(schema["paths"].items()):
        for method, op in sorted(ops.items()):
            yield method, path, op.get("parameters", [])


def _envelope(resp, status, code):
    assert resp.status_code == status, (resp.status_code, resp.content[:300])
    assert resp["Content-Type"].startswith("application/json")
    err = resp.json()["error"]
    assert err["code"] == code and err["message"], err
    return err


def test_huge_ids_in_every_path_are_404(admin, api_client):
    client = api_client(admin)
    checked = 0
    for method, path, _params in _routes():
        if "{" not in path:
            continue
        url = re.sub(r"\{[^}]+\}", HUGE, path)
        if method == "get":
            _envelope(client.get(url), 404, "not_found")
        else:  # a required body may be refused first; never a 500
            resp = getattr(client, method)(url, data="{}", content_type=J)
            assert resp.status_code in (404, 422), (method, url, resp.content[:300])
            assert "error" in resp.json()
        checked += 1
    assert checked > 20
    _envelope(client.get("/api/v1/tickets/-" + HUGE), 404, "not_found")


def test_huge_integer_query_filters_are_422_naming_the_field(admin, api_client):
    client = api_client(admin)
    checked = 0
    for method, path, params in _routes():
        if method != "get" or "{" in path:
            continue
        for p in params:
            if p["in"] != "query" or p["name"] in ("q", "cursor", "limit"):
                continue
            resp = client.get(f"{path}?{p['name']}={HUGE}")
            if resp.status_code == 200:  # a text filter that matches nothing
                assert "integer" not in json.dumps(p["schema"]), (path, p)
                continue
            err = _envelope(resp, 422, "validation_error")
            assert p["name"] in err["fields"], (path, p["name"], err)
            checked += 1
    assert checked >= 8
    err = _envelope(client.get(f"/api/v1/tickets?team={HUGE}"), 422, "validation_error")
    assert "team" in err["fields"]
    # a long number is a fine search text
    assert client.get(f"/api/v1/organizations?q={HUGE}").status_code == 200


def test_huge_cursor_id_is_422(admin, api_client):
    from caseline.api.core import encode_cursor

    cursor = encode_cursor({"id": int(HUGE)})
    err = _envelope(
        api_client(admin).get(f"/api/v1/organizations?cursor={cursor}"), 422, "validation_error"
    )
    assert "cursor" in err["fields"]


def test_huge_integers_in_json_bodies_are_422_naming_the_field(admin, api_client):
    from caseline.accounts.models import Contact, Organization

    client = api_client(admin)
    a = Contact.objects.create(name="A")
    resp = client.post(
        f"/api/v1/contacts/{a.pk}/merge",
        data='{"into": ' + HUGE + "}",
        content_type="application/json",
    )
    assert _envelope(resp, 422, "validation_error")["fields"] == {
        "into": "number out of range (64-bit integer)"
    }
    resp = client.post(
        "/api/v1/organizations",
        data=json.dumps({"name": "Big", "owners": [{"product_area_id": 1, "user_id": -(2**70)}]}),
        content_type="application/json",
    )
    assert "owners.0.user_id" in _envelope(resp, 422, "validation_error")["fields"]
    assert not Organization.objects.filter(name="Big").exists()


def test_nul_characters_are_422_naming_the_field(admin, api_client):
    from caseline.accounts.models import Organization

    client = api_client(admin)
    resp = client.post(
        "/api/v1/organizations",
        data=json.dumps({"name": "Evil\u0000Corp"}),
        content_type="application/json",
    )
    assert "name" in _envelope(resp, 422, "validation_error")["fields"]
    resp = client.post(
        "/api/v1/organizations",
        data=json.dumps({"name": "Fine", "domains": ["ok.com", "e\u0000vil.com"]}),
        content_type="application/json",
    )
    assert "domains.1" in _envelope(resp, 422, "validation_error")["fields"]
    assert not Organization.objects.exists()
    err = _envelope(client.get("/api/v1/organizations?q=a%00b"), 422, "validation_error")
    assert err["fields"] == {"q": "must not contain NUL characters"}
    err = _envelope(client.get("/api/v1/tickets?tag=x%00"), 422, "validation_error")
    assert "tag" in err["fields"]
    _envelope(client.delete("/api/v1/tokens/cl_%00abc"), 404, "not_found")
    # the same text without NUL is accepted (the test can fail)
    resp = client.post(
        "/api/v1/organizations", data=json.dumps({"name": "EvilCorp"}), content_type=J
    )
    assert resp.status_code == 201, resp.content


@pytest.mark.parametrize(
    "path", ["/api/v1/nope", "/api/v1/", "/api/v1/tickets/1/nope", "/api/v1/organizations/"]
)
def test_unknown_routes_are_json_404(admin, api_client, path):
    err = _envelope(api_client(admin).get(path), 404, "not_found")
    assert path in err["message"]
    _envelope(Client().post(path), 404, "not_found")


def test_wrong_method_is_json_405_with_allow(admin, api_client):
    client = api_client(admin)
    resp = client.delete("/api/v1/organizations")
    _envelope(resp, 405, "method_not_allowed")
    assert set(resp["Allow"].split(", ")) == {"GET", "POST"}
    resp = client.put("/api/v1/tickets/1", data="{}", content_type=J)
    _envelope(resp, 405, "method_not_allowed")
    assert "PATCH" in resp["Allow"] and "GET" in resp["Allow"]


def test_csrf_failure_is_json_403_and_the_token_passes(agent):
    client = Client(enforce_csrf_checks=True)
    client.force_login(agent)
    resp = client.post("/api/v1/contacts", data=json.dumps({"name": "Via session"}), content_type=J)
    err = _envelope(resp, 403, "csrf_failed")
    assert "X-CSRFToken" in err["fields"]
    # With the CSRF token (as the web app sends it) the same call succeeds.
    client.get("/admin/login/")  # any page that sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    resp = client.post(
        "/api/v1/contacts",
        data=json.dumps({"name": "Via session"}),
        content_type=J,
        HTTP_X_CSRFTOKEN=token,
    )
    assert resp.status_code == 201, resp.content
    # No session at all: 401, not a CSRF complaint
    resp = Client(enforce_csrf_checks=True).post("/api/v1/contacts", data="{}", content_type=J)
    _envelope(resp, 401, "unauthenticated")


def test_unexpected_error_is_logged_json_500(admin, api_client, monkeypatch, caplog):
    from caseline.accounts import queries

    def broken(*args, **kwargs):
        raise RuntimeError("kaboom-7731")

    monkeypatch.setattr(queries, "organizations", broken)
    with caplog.at_level("ERROR", logger="caseline.api"):
        resp = api_client(admin).get("/api/v1/organizations")
    err = _envelope(resp, 500, "internal_error")
    assert "kaboom" not in resp.content.decode()  # no internals leak to the caller
    assert any("kaboom-7731" in (r.exc_text or "") for r in caplog.records), caplog.text
    assert err["fields"] == {}


def test_integrity_error_is_409_conflict(admin, api_client, monkeypatch):
    """A uniqueness race lost at the database (here: the services' own check skipped)."""
    from caseline.accounts import services
    from caseline.accounts.models import Team

    Team.objects.create(name="Storage")
    original = services.clean_team

    def without_name_check(data, team):
        data = dict(data)
        name = data.pop("name", None)
        out = original(data, team)
        if name is not None:
            out["name"] = name
        return out

    monkeypatch.setattr(services, "clean_team", without_name_check)
    monkeypatch.setattr(services, "_unique_guard", contextlib.nullcontext)
    resp = api_client(admin).post(
        "/api/v1/teams", data=json.dumps({"name": "Storage"}), content_type=J
    )
    _envelope(resp, 409, "conflict")
    assert Team.objects.filter(name="Storage").count() == 1


@pytest.mark.pure
def test_api_core_is_a_leaf_module():
    """Routers of every app import caseline.api.core; it imports no domain app, so
    ``accounts.api -> api.core`` is no import cycle (authentication lives in api.auth)."""
    code = (
        "import sys, caseline.api.core; "
        "apps = {'accounts', 'tickets', 'notify', 'audit', 'sla', 'mail', 'web'}; "
        "bad = sorted(m for m in sys.modules if m.split('.')[:1] == ['caseline'] "
        "and m.split('.')[1:2] and m.split('.')[1] in apps); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
