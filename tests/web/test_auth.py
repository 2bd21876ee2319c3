"""Sign-in, sign-out, password reset by email, lockout after repeated failures, the
session-security settings."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client

from caseline.audit.models import AuditEvent

from .conftest import PASSWORD

pytestmark = pytest.mark.django_db


def sign_in(client, username, password, ip="10.0.0.1", url="/login/"):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_sign_in_and_out(ws, client):
    page = client.get("/login/")
    assert page.status_code == 200 and b'name="csrfmiddlewaretoken"' in page.content
    resp = sign_in(client, "alice@caseline.test", PASSWORD)
    assert resp.status_code == 302 and resp["Location"] == "/"
    assert client.get("/queues/mine/").status_code == 200
    assert client.get("/logout/").status_code == 405  # sign-out is a POST (CSRF-protected)
    resp = client.post("/logout/")
    assert resp.status_code == 302 and resp["Location"] == "/login/"
    assert client.get("/queues/mine/").status_code == 302


def test_wrong_password_says_so(ws, client):
    resp = sign_in(client, "alice@caseline.test", "nope")
    assert resp.status_code == 200
    assert b"Please enter a correct" in resp.content


def test_lockout_after_five_failures_per_username_and_address(ws, client, frozen):
    for _ in range(4):
        assert b"Please enter a correct" in sign_in(client, "alice@caseline.test", "bad").content
    fifth = sign_in(client, "alice@caseline.test", "bad")
    assert b"Too many failed sign-ins" in fifth.content
    # locked: even the right password is refused from this address ...
    resp = sign_in(client, "alice@caseline.test", PASSWORD)
    assert resp.status_code == 200 and b"Too many failed sign-ins" in resp.content
    assert "_auth_user_id" not in client.session
    # ... the username is matched case-insensitively ...
    assert b"Too many" in sign_in(client, "ALICE@caseline.test", PASSWORD).content
    # ... another address and another user are not locked
    assert sign_in(Client(), "alice@caseline.test", PASSWORD, ip="10.0.0.2").status_code == 302
    assert sign_in(Client(), "bob@caseline.test", PASSWORD).status_code == 302
    event = AuditEvent.objects.get(type="auth.locked_out")
    assert event.data["username"] == "alice@caseline.test" and event.data["ip"] == "10.0.0.1"
    # the lock ends after 15 minutes
    frozen.advance(16 * 60)
    assert sign_in(client, "alice@caseline.test", PASSWORD).status_code == 302


def test_success_resets_the_count(ws, frozen):
    c = Client()
    for _ in range(4):
        sign_in(c, "alice@caseline.test", "bad")
    assert sign_in(c, "alice@caseline.test", PASSWORD).status_code == 302
    c.post("/logout/")
    for _ in range(4):
        sign_in(c, "alice@caseline.test", "bad")
    assert sign_in(c, "alice@caseline.test", PASSWORD).status_code == 302


def test_failures_outside_the_window_do_not_add_up(ws, frozen):
    c = Client()
    for _ in range(4):
        sign_in(c, "alice@caseline.test", "bad")
    frozen.advance(16 * 60)
    for _ in range(4):
        sign_in(c, "alice@caseline.test", "bad")
    assert sign_in(c, "alice@caseline.test", PASSWORD).status_code == 302


def test_admin_login_locks_out_too(ws, make_staff):
    from caseline.accounts import roles

    admin = make_staff(roles.ADMIN, email="root@caseline.test", is_staff=True)
    c = Client()
    for _ in range(5):
        sign_in(c, admin.email, "bad", url="/admin/login/")
    resp = sign_in(c, admin.email, PASSWORD, url="/admin/login/")
    assert resp.status_code == 200 and b"Too many failed sign-ins" in resp.content


def test_password_reset_by_email(ws, client):
    resp = client.post("/password-reset/", {"email": "alice@caseline.test"})
    assert resp.status_code == 302 and resp["Location"] == "/password-reset/sent/"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@caseline.test"]
    assert message.subject == "Reset your Caseline password"
    link = re.search(r"http://testserver(/password-reset/\S+/)", message.body).group(1)
    form = client.get(link, follow=True)
    assert b"Choose a new password" in form.content and b"new_password1" in form.content
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a-New-passw0rd!", "new_password2": "a-New-passw0rd!"},
    )
    assert done.status_code == 302 and done["Location"] == "/password-reset/done/"
    assert sign_in(Client(), "alice@caseline.test", "a-New-passw0rd!").status_code == 302
    # the link works once
    again = client.get(link, follow=True)
    assert b"invalid or has already been used" in again.content


def test_password_reset_for_unknown_address_sends_nothing_and_says_the_same(ws, client):
    resp = client.post("/password-reset/", {"email": "nobody@nowhere.test"})
    assert resp.status_code == 302 and resp["Location"] == "/password-reset/sent/"
    assert mail.outbox == []


def test_static_assets_are_served_with_pinned_versions(client):
    import hashlib
    from pathlib import Path

    vendor = Path(__file__).resolve().parents[2] / "caseline/web/static/vendor"
    table = (vendor / "VERSIONS.md").read_text()
    for name in ("htmx.min.js", "chart.umd.min.js"):
        digest = hashlib.sha256((vendor / name).read_bytes()).hexdigest()
        assert digest in table, name
    assert "| 2.0.11 |" in table  # htmx stays on 2.0.x
    page = client.get("/login/").content.decode()
    assert "/static/vendor/htmx.min.js" in page and "X-CSRFToken" in page


def _settings_in(env: dict[str, str], tmp_path) -> dict[str, str]:
    code = (
        "import django, json; from django.conf import settings; django.setup(); "
        "print(json.dumps({k: getattr(settings, k) for k in ("
        "'SESSION_COOKIE_SECURE','CSRF_COOKIE_SECURE','SESSION_COOKIE_HTTPONLY',"
        "'CSRF_COOKIE_HTTPONLY','SECURE_HSTS_SECONDS','SESSION_COOKIE_SAMESITE','LOGIN_URL')}))"
    )
    full = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_SETTINGS"))}
    full.update(DJANGO_SETTINGS_MODULE="caseline.settings", CASELINE_DATA_DIR=str(tmp_path))
    full.update(env)
    out = subprocess.run(
        [sys.executable, "-c", code], env=full, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    import json

    return json.loads(out.stdout)


@pytest.mark.django_db(False)
def test_production_has_secure_cookies_and_hsts(tmp_path):
    prod = _settings_in({"CASELINE_ENV": "production", "SECRET_KEY": "k" * 50}, tmp_path)
    assert prod["SESSION_COOKIE_SECURE"] and prod["CSRF_COOKIE_SECURE"]
    assert prod["SESSION_COOKIE_HTTPONLY"] and prod["CSRF_COOKIE_HTTPONLY"]
    assert prod["SECURE_HSTS_SECONDS"] == 31536000
    assert prod["SESSION_COOKIE_SAMESITE"] == "Lax" and prod["LOGIN_URL"] == "/login/"
    dev = _settings_in({"CASELINE_ENV": "development", "DEBUG": "1"}, tmp_path)
    assert not dev["SESSION_COOKIE_SECURE"] and dev["SECURE_HSTS_SECONDS"] == 0
    nodebug = _settings_in({"CASELINE_ENV": "development", "DEBUG": "0"}, tmp_path)
    assert nodebug["SESSION_COOKIE_SECURE"] and nodebug["SECURE_HSTS_SECONDS"] == 31536000


def test_lockout_uses_the_shared_clock(ws, frozen):
    from caseline.web import services

    for _ in range(5):
        services.record_login_failure("x@y.test", "1.2.3.4")
    until = services.locked_until("x@y.test", "1.2.3.4")
    assert until == frozen.now() + timedelta(minutes=15)
    services.clear_login_failures("x@y.test", "1.2.3.4")
    assert services.locked_until("x@y.test", "1.2.3.4") is None
