"""The IMAP poller against a real IMAP server (dovecot on a loopback port)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from caseline.mail import imap as imap_mod
from caseline.mail.models import InboundMessage, Mailbox
from caseline.tickets.models import Ticket

from .conftest import make_mail


def _mailbox(server, **fields) -> Mailbox:
    defaults = dict(
        name=f"IMAP {server.port}",
        address=server.user,
        kind="imap",
        imap_host="127.0.0.1",
        imap_port=server.port,
        imap_security="none",
        imap_user=server.user,
        imap_password=server.password,
    )
    defaults.update(fields)
    return Mailbox.objects.create(**defaults)


@pytest.mark.django_db
def test_poll_ingests_unseen_and_marks_seen_after_commit(imap):
    box = _mailbox(imap)
    for i in range(3):
        imap.append(make_mail(subject=f"imap {i}"))
    assert len(imap.unseen()) == 3
    totals = imap_mod.poll_all_once()
    assert totals == {"fetched": 3, "new": 3, "duplicate": 0, "errors": 0}
    assert imap.unseen() == []
    assert sorted(Ticket.objects.values_list("subject", flat=True)) == [
        "imap 0",
        "imap 1",
        "imap 2",
    ]
    assert set(InboundMessage.objects.values_list("source", flat=True)) == {"imap"}
    box.refresh_from_db()
    assert box.last_error == "" and box.last_polled_at is not None
    # nothing new: nothing happens
    assert imap_mod.poll_all_once()["fetched"] == 0


@pytest.mark.django_db
def test_failed_ingest_leaves_message_unseen(imap, monkeypatch):
    _mailbox(imap)
    imap.append(make_mail(subject="will fail"))

    def db_down(*a, **k):
        raise RuntimeError("database unavailable")

    monkeypatch.setattr(imap_mod, "ingest_many", db_down)
    assert imap_mod.poll_all_once()["errors"] == 1
    assert len(imap.unseen()) == 1  # not lost: still unseen on the server
    monkeypatch.undo()
    assert imap_mod.poll_all_once()["new"] == 1
    assert imap.unseen() == []


@pytest.mark.django_db
def test_folder_and_delete_after_import(imap):
    _mailbox(imap, imap_folder="Support", delete_after_import=True)
    imap.append(make_mail(subject="in a folder"), folder="Support")
    imap.append(make_mail(subject="stays in inbox"))
    assert imap_mod.poll_all_once()["new"] == 1
    assert imap.count("Support") == 0
    assert imap.count("INBOX") == 1
    assert Ticket.objects.get().subject == "in a folder"


@pytest.mark.django_db
def test_ssl_and_starttls(imap, settings):
    if not imap.cert:
        pytest.fail("openssl is needed to make the test certificate")
    settings.MAIL_IMAP_CAFILE = str(imap.cert)
    _mailbox(imap, name="ssl", imap_port=imap.ssl_port, imap_security="ssl")
    imap.append(make_mail(subject="over ssl"))
    assert imap_mod.poll_all_once()["new"] == 1
    Mailbox.objects.update(imap_port=imap.port, imap_security="starttls")
    imap.append(make_mail(subject="over starttls"))
    assert imap_mod.poll_all_once()["new"] == 1
    # a certificate we do not trust is refused, and recorded on the mailbox
    settings.MAIL_IMAP_CAFILE = ""
    imap.append(make_mail(subject="untrusted"))
    assert imap_mod.poll_all_once()["errors"] == 1
    assert "CERTIFICATE" in Mailbox.objects.get().last_error.upper()
    assert len(imap.unseen()) == 1


@pytest.mark.django_db
def test_wrong_password_is_recorded(imap):
    _mailbox(imap, imap_password="wrong")
    assert imap_mod.poll_all_once()["errors"] == 1
    assert Mailbox.objects.get().last_error


@pytest.mark.django_db(transaction=True)
def test_idle_poller_picks_up_new_mail(imap):
    box = _mailbox(imap)
    stop = threading.Event()
    cycles = []
    poller = imap_mod.Poller(box.pk, stop=stop, on_cycle=cycles.append)
    thread = threading.Thread(target=poller.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not cycles and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cycles, "the poller did not start"
        imap.append(make_mail(subject="pushed by IDLE"))
        deadline = time.monotonic() + 15
        while not Ticket.objects.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert Ticket.objects.get().subject == "pushed by IDLE"
    finally:
        stop.set()
        thread.join(15)
    assert not thread.is_alive()


def _run_poller(env, fault: str | None, batch: int = 20) -> subprocess.CompletedProcess:
    env = dict(env)
    env.pop("CASELINE_MAIL_FAULT", None)
    if fault:
        env["CASELINE_MAIL_FAULT"] = fault
    env["MAIL_INGEST_BATCH"] = str(batch)
    return subprocess.run(
        [sys.executable, "-m", "caseline", "mailpoll", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=os.getcwd(),
    )


@pytest.mark.subprocess
@pytest.mark.parametrize(
    "batch,fault,committed,seen",
    [
        # one message per transaction: killed inside / right after the 3rd one
        (1, "crash-before-commit:3", 2, 2),
        (1, "crash-after-commit:3", 3, 2),
        # two per transaction: killed inside the 2nd batch (its 2 messages are lost with
        # it and fetched again), or after its commit but before both were flagged \\Seen
        (2, "crash-before-commit:2", 2, 2),
        (2, "crash-after-commit:2", 4, 2),
    ],
)
def test_crash_between_parse_and_commit_loses_and_doubles_nothing(
    imap, subprocess_env, batch, fault, committed, seen
):
    """Kill the poller inside a transaction (or right after its commit, before the
    \\Seen flag), restart it: every message arrives exactly once."""
    from caseline.mail.ingest import CRASH_EXIT_CODE

    _mailbox(imap)
    subjects = [f"crash {i}" for i in range(6)]
    for s in subjects:
        imap.append(make_mail(subject=s))
    crashed = _run_poller(subprocess_env, fault, batch)
    assert crashed.returncode == CRASH_EXIT_CODE, crashed.stderr[-2000:]
    assert InboundMessage.objects.count() == committed
    assert len(imap.unseen()) == 6 - seen  # only what committed *and* was flagged is seen
    again = _run_poller(subprocess_env, None, batch)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"duplicate {committed - seen}" in again.stdout
    assert imap.unseen() == []
    assert sorted(Ticket.objects.values_list("subject", flat=True)) == subjects
    assert InboundMessage.objects.count() == 6
