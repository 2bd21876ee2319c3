"""Collision detection across server processes: two `caseline serve` processes on one
database; an agent on server A is seen viewing and typing by an agent on server B."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

from caseline.accounts import roles
from caseline.accounts.models import Contact, Organization
from caseline.tickets import services as tickets
from tests.conftest import free_port

pytestmark = [pytest.mark.subprocess]


def _start(env) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "caseline", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return proc, f"http://127.0.0.1:{port}"


def _wait(proc, base: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=2)
            return
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read().decode()[-3000:]) from None
            if time.monotonic() > deadline:
                raise AssertionError("server did not start") from None
            time.sleep(0.2)


class Session:
    """A signed-in browser session against one server (cookies by hand, CSRF from the page)."""

    def __init__(self, base: str, sessionid: str):
        self.base = base
        self.cookies = {"sessionid": sessionid}
        self.csrf = ""

    def _open(self, req):
        req.add_header("Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        with urllib.request.urlopen(req, timeout=60) as resp:
            for header in resp.headers.get_all("Set-Cookie") or []:
                name, _, rest = header.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
            return resp.status, resp.read().decode()

    def get(self, path: str) -> str:
        status, body = self._open(urllib.request.Request(self.base + path))
        assert status == 200
        found = re.search(r'"X-CSRFToken": "([^"]+)"', body)
        if found:
            self.csrf = found.group(1)
        return body

    def post(self, path: str, data: dict[str, str]) -> str:
        req = urllib.request.Request(
            self.base + path, data=urllib.parse.urlencode(data).encode(), method="POST"
        )
        req.add_header("X-CSRFToken", self.csrf)
        req.add_header("HX-Request", "true")
        status, body = self._open(req)
        assert status == 200
        return body


def test_two_server_processes_share_presence(subprocess_env, make_staff):
    from django.test import Client

    alice = make_staff(roles.SE, email="alice@caseline.test", display_name="Alice Agent")
    bob = make_staff(roles.SE, email="bob@caseline.test", display_name="Bob Builder")
    org = Organization.objects.create(name="Acme Corp")
    contact = Contact.objects.create(name="Ann", organization=org)
    t = tickets.create_ticket(actor=alice, requester=contact, subject="Disk full", channel="web")
    sessions = []
    for user in (alice, bob):
        c = Client()
        c.force_login(user)  # a database session row: every process reads it
        sessions.append(c.cookies["sessionid"].value)

    (pa, base_a), (pb, base_b) = _start(subprocess_env), _start(subprocess_env)
    try:
        _wait(pa, base_a)
        _wait(pb, base_b)
        a, b = Session(base_a, sessions[0]), Session(base_b, sessions[1])
        a.get(f"/t/{t.pk}")  # Alice opens the ticket on server A
        page_b = b.get(f"/t/{t.pk}")  # Bob on server B sees her at once
        assert "Alice Agent is viewing this ticket" in page_b
        a.post(f"/t/{t.pk}/presence", {"state": "typing"})
        assert "Alice Agent is typing a reply" in b.post(
            f"/t/{t.pk}/presence", {"state": "viewing"}
        )
        assert "Bob Builder is viewing" in a.post(f"/t/{t.pk}/presence", {"state": "typing"})
        a.post(f"/t/{t.pk}/presence", {"state": "viewing"})
        assert "Alice Agent is viewing" in b.post(f"/t/{t.pk}/presence", {"state": "viewing"})
    finally:
        for proc in (pa, pb):
            proc.terminate()
        for proc in (pa, pb):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
