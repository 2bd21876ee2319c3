"""The SMTP receiver (``caseline smtpd``): an aiosmtpd server behind the MTA.

RCPT TO must name an active mailbox (550 otherwise). DATA ingests the message once per
addressed mailbox, all copies in one committed transaction (shared with the DATA
commands of other sessions arriving meanwhile: ``GroupCommit``), and only then answers
``250``; any failure answers ``451 4.3.0`` so the MTA keeps the message and retries (a
retry of a message that did commit is a deduplicated no-op).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Future

from django.db import close_old_connections

from . import cache
from .ingest import ingest_many, max_message_bytes
from .models import Mailbox

log = logging.getLogger(__name__)


def _mailbox_for(address: str) -> Mailbox | None:
    """The active mailbox of ``address``, from the per-process mailbox cache (a mailbox
    added or deactivated in another process counts within ``cache.CACHE_SECONDS``)."""
    close_old_connections()
    return cache.mailbox_by_address(address)


def _ingest_group(group: list[tuple[bytes, list[int]]]) -> list[list[str]]:
    """Ingest the messages of several DATA commands (each for its mailboxes) in one
    transaction; one list of statuses per DATA."""
    items: list[tuple[bytes, Mailbox]] = []
    owners: list[int] = []
    for k, (raw, mailbox_ids) in enumerate(group):
        for box in cache.mailboxes_by_id(mailbox_ids):
            items.append((raw, box))
            owners.append(k)
    out: list[list[str]] = [[] for _ in group]
    for k, result in zip(owners, ingest_many(items, source="smtp"), strict=True):
        out[k].append(result.status)
    return out


class GroupCommit:
    """Group commit for concurrent DATA commands (an MTA delivers over several
    connections at once): a thread arriving while no group is being ingested ingests
    everything waiting (up to ``max_group`` DATA commands) in one transaction
    (``ingest_many``); the threads arriving meanwhile wait, and when that group is done
    one of those still waiting ingests the next. A thread gets its statuses (and its
    session its ``250``) only after the transaction holding its message committed; if
    that fails, every DATA of the group gets the error (``451``; the MTA retries, and a
    message that did commit is then a re-delivery)."""

    def __init__(self, max_group: int = 20) -> None:
        self.max_group = max_group
        self._cond = threading.Condition()
        self._waiting: list[tuple[bytes, list[int], Future]] = []
        self._draining = False

    def submit(self, raw: bytes, mailbox_ids: list[int]) -> list[str]:
        future: Future = Future()
        with self._cond:
            self._waiting.append((raw, mailbox_ids, future))
        while True:
            with self._cond:
                while self._draining and not future.done():
                    self._cond.wait()
                if future.done():
                    break
                self._draining = True
                group = self._waiting[: self.max_group]
                del self._waiting[: self.max_group]
            try:
                self._ingest(group)
            finally:
                with self._cond:
                    self._draining = False
                    self._cond.notify_all()
        return future.result()

    @staticmethod
    def _ingest(group: list[tuple[bytes, list[int], Future]]) -> None:
        close_old_connections()
        try:
            statuses = _ingest_group([(raw, ids) for raw, ids, _ in group])
        except BaseException as exc:
            for _, _, future in group:
                future.set_exception(exc)
        else:
            for (_, _, future), result in zip(group, statuses, strict=True):
                future.set_result(result)
        finally:
            close_old_connections()


_group = GroupCommit()


def _ingest_all(raw: bytes, mailbox_ids: list[int]) -> list[str]:
    return _group.submit(raw, mailbox_ids)


class CaselineHandler:
    """aiosmtpd handler; the ORM work runs in a worker thread (it is synchronous)."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        loop = asyncio.get_running_loop()
        try:
            mailbox = await loop.run_in_executor(None, _mailbox_for, address)
        except Exception:
            log.exception("looking up mailbox %s failed", address)
            return "451 4.3.0 Temporary failure, please retry"
        if mailbox is None:
            return "550 5.1.1 No such mailbox here"
        ids = getattr(envelope, "caseline_mailboxes", [])
        if mailbox.pk not in ids:
            ids.append(mailbox.pk)
        envelope.caseline_mailboxes = ids
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        ids = list(getattr(envelope, "caseline_mailboxes", []))
        if not ids:
            return "554 5.5.1 No valid recipients"
        loop = asyncio.get_running_loop()
        try:
            statuses = await loop.run_in_executor(None, _ingest_all, raw, ids)
        except Exception:
            log.exception("ingesting a message from %s failed", envelope.mail_from)
            return "451 4.3.0 Temporary failure, please retry"
        return f"250 OK ({', '.join(statuses)})"


def controller(host: str = "127.0.0.1", port: int = 2525):
    """An aiosmtpd Controller (thread) serving Caseline's handler; call ``start()``."""
    from aiosmtpd.controller import Controller

    return Controller(
        CaselineHandler(),
        hostname=host,
        port=port,
        data_size_limit=max_message_bytes() + 10 * 1024 * 1024,
        decode_data=False,
        ident="Caseline smtpd",
    )
