"""Fixtures of the email channel tests: mailboxes, message builders, a real IMAP server
(Debian's dovecot, a private instance on a loopback port) and a real SMTP listener
(aiosmtpd) capturing what the outbox sends."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest

_seq = itertools.count(1)


def make_mail(
    *,
    sender: str = "ann@acme.test",
    name: str = "Ann Customer",
    to: str = "support@caseline.test",
    cc: str = "",
    subject: str = "Printer on fire",
    body: str = "Hello,\n\nthe printer is on fire.\n\nAnn",
    message_id: str | None = "auto",
    in_reply_to: str = "",
    references: str = "",
    headers: dict[str, str] | None = None,
    html: str = "",
) -> bytes:
    """A small RFC 5322 message (CRLF line ends)."""
    if message_id == "auto":
        message_id = f"<m{next(_seq)}.{os.getpid()}.{time.time_ns()}@acme.test>"
    lines = [
        f"From: {name} <{sender}>",
        f"To: {to}",
        f"Subject: {subject}",
        f"Date: {format_datetime(datetime(2025, 3, 3, 10, 0, tzinfo=UTC))}",
        "MIME-Version: 1.0",
    ]
    if cc:
        lines.append(f"Cc: {cc}")
    if message_id:
        lines.append(f"Message-ID: {message_id}")
    if in_reply_to:
        lines.append(f"In-Reply-To: {in_reply_to}")
    if references:
        lines.append(f"References: {references}")
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    if html:
        boundary = "b0undary"
        lines.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
        parts = [
            "",
            f"--{boundary}",
            "Content-Type: text/plain; charset=utf-8",
            "",
            body,
            f"--{boundary}",
            "Content-Type: text/html; charset=utf-8",
            "",
            html,
            f"--{boundary}--",
            "",
        ]
        return ("\r\n".join(lines + parts)).encode()
    lines.append("Content-Type: text/plain; charset=utf-8")
    return ("\r\n".join(lines) + "\r\n\r\n" + body.replace("\n", "\r\n") + "\r\n").encode()


@pytest.fixture(autouse=True)
def _fresh_mail_caches():
    """The ingest path's per-process caches must not carry rows of an earlier test
    (its transaction was rolled back without any post_save/post_delete)."""
    from caseline.mail import cache

    cache.clear_all()
    yield
    cache.clear_all()


@pytest.fixture
def mail():
    return make_mail


@pytest.fixture
def mailbox(db):
    from caseline.accounts.models import Team
    from caseline.mail.models import Mailbox

    team = Team.objects.create(name="Mail team")
    return Mailbox.objects.create(
        name="Support", address="support@caseline.test", kind="smtp", team=team
    )


@pytest.fixture
def acme(db):
    from caseline.accounts.models import Organization, OrganizationDomain

    org = Organization.objects.create(name="Acme")
    OrganizationDomain.objects.create(organization=org, domain="acme.test")
    return org


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- a real IMAP server -------------------------------------------------------------------

DOVECOT_CONF = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = {ssl}
{ssl_files}
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = dovenull
default_internal_user = dovecot
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {ssl_port}
    {imaps_ssl}
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""


class Dovecot:
    user = "support@caseline.test"
    password = "imap-secret"

    def __init__(self, root: Path, port: int, ssl_port: int, cert: Path | None):
        self.root, self.port, self.ssl_port, self.cert = root, port, ssl_port, cert

    def client(self):
        from imapclient import IMAPClient

        c = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10)
        c.login(self.user, self.password)
        return c

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        c = self.client()
        try:
            if folder != "INBOX" and not c.folder_exists(folder):
                c.create_folder(folder)
            c.append(folder, raw)
        finally:
            c.logout()

    def unseen(self, folder: str = "INBOX") -> list[int]:
        c = self.client()
        try:
            c.select_folder(folder)
            return list(c.search(["UNSEEN"]))
        finally:
            c.logout()

    def count(self, folder: str = "INBOX") -> int:
        c = self.client()
        try:
            return int(c.select_folder(folder)[b"EXISTS"])
        finally:
            c.logout()


def _self_signed(root: Path) -> Path | None:
    if shutil.which("openssl") is None:
        return None
    cert = root / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(root / "key.pem"),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    os.chmod(root / "key.pem", 0o644)
    return cert


@pytest.fixture(scope="session")
def dovecot_server():
    binary = shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None
    )
    if binary is None:
        pytest.fail("dovecot is not installed (apt-get install dovecot-imapd; .ci/run does)")
    root = Path(tempfile.mkdtemp(prefix="h-mail-dovecot-"))
    os.chmod(root, 0o755)
    for sub in ("run", "state", "mail"):
        (root / sub).mkdir()
    shutil.chown(root / "mail", "nobody", "nogroup")
    cert = _self_signed(root)
    (root / "passwd").write_text(f"{Dovecot.user}:{{PLAIN}}{Dovecot.password}::::::\n")
    port, ssl_port = free_port(), free_port()
    conf = root / "dovecot.conf"
    conf.write_text(
        DOVECOT_CONF.format(
            root=root,
            port=port,
            ssl_port=ssl_port if cert else 0,
            ssl="yes" if cert else "no",
            ssl_files=f"ssl_cert = <{cert}\nssl_key = <{root / 'key.pem'}" if cert else "",
            imaps_ssl="ssl = yes" if cert else "",
        )
    )
    proc = subprocess.Popen(
        [binary, "-F", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None:
                log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
                pytest.fail(f"dovecot exited with {proc.returncode}: {log}")
            time.sleep(0.1)
    server = Dovecot(root, port, ssl_port if cert else 0, cert)
    yield server
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def imap(dovecot_server):
    """The session's dovecot with an empty INBOX for this test."""
    c = dovecot_server.client()
    try:
        for folder in c.list_folders():
            name = folder[2]
            c.select_folder(name)
            ids = c.search(["ALL"])
            if ids:
                c.delete_messages(ids)
                c.expunge()
    finally:
        c.logout()
    return dovecot_server


# --- a real SMTP listener (outbound capture) -----------------------------------------------


class Captured:
    def __init__(self):
        self.messages: list[dict] = []

    def wait(self, n: int, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.messages


@pytest.fixture
def smtp_sink(settings):
    """aiosmtpd on a loopback port; Django's SMTP backend is pointed at it."""
    from aiosmtpd.controller import Controller

    captured = Captured()

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            captured.messages.append(
                {
                    "from": envelope.mail_from,
                    "rcpt": list(envelope.rcpt_tos),
                    "data": envelope.content,
                }
            )
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    captured.port = port
    captured.controller = controller
    yield captured
    controller.stop()
