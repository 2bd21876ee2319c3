"""IMAP polling (``caseline mailpoll``): fetch unseen messages of each active IMAP mailbox,
ingest them (one transaction per fetched batch), and only after the commit mark them \\Seen
(or delete them).

Messages are fetched with ``BODY.PEEK[]`` so fetching alone never sets \\Seen: a poller
killed at any point leaves every uncommitted message unseen, and the next run picks it up
again; one killed after the commit but before the flag is set re-fetches a message whose
(mailbox, Message-ID) is already recorded, which is a no-op, and then flags it.

Where the server offers IDLE the poller waits in IDLE (re-issued every few minutes, as
RFC 2177 asks) and fetches when the server reports new mail; otherwise it polls every
``interval`` seconds. Connection errors are recorded on the mailbox (``last_error``) and
retried with back-off.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable

from django.db import close_old_connections, connection

from caseline.timesource import now

from .ingest import ingest_many
from .models import Mailbox

log = logging.getLogger(__name__)


def fetch_batch() -> int:
    """Messages fetched and ingested per transaction (``MAIL_INGEST_BATCH``, default 20)."""
    from django.conf import settings

    return max(1, int(getattr(settings, "MAIL_INGEST_BATCH", 20)))


IDLE_SECONDS = 240  # re-issue IDLE before typical 29-minute server timeouts, and NATs


def ssl_context() -> ssl.SSLContext:
    """The TLS context for IMAP; ``MAIL_IMAP_CAFILE`` adds a private CA (tests)."""
    from django.conf import settings

    context = ssl.create_default_context()
    cafile = getattr(settings, "MAIL_IMAP_CAFILE", "")
    if cafile:
        context.load_verify_locations(cafile)
    return context


def connect(mailbox: Mailbox, *, timeout: float = 30.0):
    """A logged-in IMAPClient on the mailbox's folder (SSL, STARTTLS or plain)."""
    from imapclient import IMAPClient

    security = mailbox.imap_security
    if security == Mailbox.Security.SSL:
        client = IMAPClient(
            mailbox.imap_host,
            port=mailbox.imap_port or 993,
            ssl=True,
            ssl_context=ssl_context(),
            timeout=timeout,
        )
    else:
        client = IMAPClient(
            mailbox.imap_host, port=mailbox.imap_port or 143, ssl=False, timeout=timeout
        )
        if security == Mailbox.Security.STARTTLS:
            client.starttls(ssl_context())
    client.login(mailbox.imap_user, mailbox.imap_password)
    client.select_folder(mailbox.imap_folder or "INBOX")
    return client


def poll_once(mailbox: Mailbox, client) -> dict[str, int]:
    """Ingest every unseen message of the selected folder; returns counts.

    Each fetched batch is ingested in one transaction (``ingest_many``) and flagged
    \\Seen (or deleted) with one command after its commit."""
    counts = {"fetched": 0, "new": 0, "duplicate": 0}
    uids = sorted(client.search(["UNSEEN", "NOT", "DELETED"]))
    size = fetch_batch()
    for start in range(0, len(uids), size):
        batch = uids[start : start + size]
        data = client.fetch(batch, ["BODY.PEEK[]"])
        got: list[int] = []
        raws: list[bytes] = []
        for uid in batch:
            item = data.get(uid)
            if item is None:  # expunged meanwhile by another client
                continue
            got.append(uid)
            raws.append(item.get(b"BODY[]") or b"")
        if not got:
            continue
        counts["fetched"] += len(got)
        # committed when it returns
        results = ingest_many([(raw, mailbox) for raw in raws], source="imap")
        for result in results:
            counts["duplicate" if result.duplicate else "new"] += 1
        if mailbox.delete_after_import:
            client.delete_messages(got)
            client.expunge()
        else:
            client.add_flags(got, [b"\\Seen"])
    return counts


def _record(mailbox: Mailbox, error: str) -> None:
    Mailbox.objects.filter(pk=mailbox.pk).update(last_polled_at=now(), last_error=error[:2000])


class Poller:
    """Polls one mailbox until ``stop`` is set."""

    def __init__(
        self,
        mailbox_id: int,
        *,
        stop: threading.Event,
        interval: float = 60.0,
        use_idle: bool = True,
        on_cycle: Callable[[dict[str, int]], None] | None = None,
    ):
        self.mailbox_id = mailbox_id
        self.stop = stop
        self.interval = interval
        self.use_idle = use_idle
        self.on_cycle = on_cycle

    def _mailbox(self) -> Mailbox | None:
        return Mailbox.objects.filter(pk=self.mailbox_id, active=True, kind="imap").first()

    def run(self) -> None:
        backoff = 1.0
        try:
            while not self.stop.is_set():
                close_old_connections()
                mailbox = self._mailbox()
                if mailbox is None:
                    return
                client = None
                try:
                    client = connect(mailbox)
                    backoff = 1.0
                    self._session(mailbox, client)
                except Exception as exc:  # connection trouble: record, wait, reconnect
                    log.warning("mailbox %s: %s", mailbox.address, exc)
                    try:
                        _record(mailbox, f"{exc.__class__.__name__}: {exc}")
                    except Exception:
                        log.exception("could not record the error of mailbox %s", mailbox.pk)
                    self.stop.wait(backoff)
                    backoff = min(backoff * 2, 300.0)
                finally:
                    if client is not None:
                        try:
                            client.logout()
                        except Exception:
                            pass
        finally:
            connection.close()

    def _session(self, mailbox: Mailbox, client) -> None:
        idle = self.use_idle and b"IDLE" in client.capabilities()
        while not self.stop.is_set():
            counts = poll_once(mailbox, client)
            _record(mailbox, "")
            if self.on_cycle is not None:
                self.on_cycle(counts)
            close_old_connections()
            if self._mailbox() is None:
                return
            if idle:
                client.idle()
                try:
                    deadline = time.monotonic() + IDLE_SECONDS
                    while not self.stop.is_set() and time.monotonic() < deadline:
                        if client.idle_check(timeout=1):
                            break
                finally:
                    client.idle_done()
            else:
                self.stop.wait(self.interval)


def poll_all_once() -> dict[str, int]:
    """One pass over every active IMAP mailbox (``caseline mailpoll --once``)."""
    totals = {"fetched": 0, "new": 0, "duplicate": 0, "errors": 0}
    for mailbox in Mailbox.objects.filter(active=True, kind=Mailbox.Kind.IMAP).order_by("id"):
        client = None
        try:
            client = connect(mailbox)
            counts = poll_once(mailbox, client)
            _record(mailbox, "")
            for k, v in counts.items():
                totals[k] += v
        except Exception as exc:
            log.warning("mailbox %s: %s", mailbox.address, exc)
            _record(mailbox, f"{exc.__class__.__name__}: {exc}")
            totals["errors"] += 1
        finally:
            if client is not None:
                try:
                    client.logout()
                except Exception:
                    pass
    return totals


def run_forever(stop: threading.Event, *, interval: float = 60.0, rescan: float = 30.0) -> None:
    """One thread per active IMAP mailbox; new or reactivated mailboxes are picked up."""
    threads: dict[int, threading.Thread] = {}
    while not stop.is_set():
        close_old_connections()
        ids = list(
            Mailbox.objects.filter(active=True, kind=Mailbox.Kind.IMAP).values_list("id", flat=True)
        )
        for mailbox_id in ids:
            thread = threads.get(mailbox_id)
            if thread is None or not thread.is_alive():
                poller = Poller(mailbox_id, stop=stop, interval=interval)
                thread = threading.Thread(
                    target=poller.run, name=f"mailpoll-{mailbox_id}", daemon=True
                )
                thread.start()
                threads[mailbox_id] = thread
        stop.wait(rescan)
    for thread in threads.values():
        thread.join(timeout=10)
