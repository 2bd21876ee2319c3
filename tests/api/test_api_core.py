"""The API's shared behaviour: auth, error envelope, rate limit, OpenAPI."""

import json
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
