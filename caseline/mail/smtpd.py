"""The SMTP receiver (``caseline smtpd``): an aiosmtpd server behind the MTA.

RCPT TO must name an active mailbox (550 otherwise). DATA ingests the message once per
addressed mailbox, each in its own committed transaction, and only then answers
``250``; any failure answers ``451 4.3.0`` so the MTA keeps the message and retries (a
retry of a message that did commit is a deduplicated no-op).
"""

from __future__ import annotations

import asyncio
import logging

from django.db import close_old_connections

from . import cache
from .ingest import ingest, max_message_bytes
from .models import Mailbox

log = logging.getLogger(__name__)


def _mailbox_for(address: str) -> Mailbox | None:
    """The active mailbox of ``address``, from the per-process mailbox cache (a mailbox
    added or deactivated in another process counts within ``cache.CACHE_SECONDS``)."""
    close_old_connections()
    return cache.mailbox_by_address(address)


def _ingest_all(raw: bytes, mailbox_ids: list[int]) -> list[str]:
    close_old_connections()
    try:
        statuses = []
        for mailbox in cache.mailboxes_by_id(mailbox_ids):
            statuses.append(ingest(raw, mailbox, source="smtp").status)
        return statuses
    finally:
        close_old_connections()


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
