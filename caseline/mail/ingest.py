"""Inbound mail: one raw message in, one transaction, a ticket or a message (or a
quarantine / ignore record) out. Nothing lost, nothing doubled.

``ingest(raw, mailbox)``:

1. parse (pure, ``caseline.mail.parsing``); an unparseable message is quarantined;
2. dedupe on (mailbox, Message-ID), or (mailbox, sha256 of the raw bytes) without one:
   a re-delivery returns the first record and changes nothing;
3. the raw bytes go to Django storage (content-addressed, so a file left by a rolled
   back transaction is harmless and a retry reuses it);
4. in ONE transaction: loop/noise protection, bounces, the per-sender rate limit,
   threading, contact and organization, body and stripped reply, attachments and
   inline images, the ticket or message, the acknowledgement (an outbox row), and the
   ``InboundMessage`` row. The callers (IMAP poller, SMTP receiver) acknowledge the
   message to the server only after this returns, i.e. after the commit.

A transaction refused by a race (deadlock, unique index, locked database) is tried
again (``TRANSIENT_ATTEMPTS``); any other error inside step 4 rolls it back and
quarantines the message in a second transaction with the reason; only when even that
fails does ``ingest`` raise (the poller then leaves the message unseen, the SMTP
receiver answers 451).

``ingest_many([(raw, mailbox), ...])`` does the same for several messages in ONE
transaction (per-batch look-ups, one INSERT for the records and one for the
acknowledgements); if any of them fails the batch is rolled back and each message is
ingested again on its own.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Q
from django.db.models.functions import Lower

from caseline.accounts.models import Contact, ContactEmail, User
from caseline.accounts.services import normalize_email
from caseline.audit.services import record
from caseline.errors import Conflict, DomainError
from caseline.text import strip_reply
from caseline.tickets.models import Attachment, Channel, Message, Ticket, TicketLink
from caseline.timesource import now

from . import cache
from .models import FlaggedAddress, InboundMessage, Mailbox, SenderWindow
from .parsing import (
    Classification,
    ParsedMessage,
    UnparseableMessage,
    classify,
    parse_message,
    ticket_token,
)

log = logging.getLogger(__name__)

# Test hook for the crash test: CASELINE_MAIL_FAULT=crash-before-commit[:N] makes the
# process exit inside the N-th (default first) ingest transaction, after every write and
# before the commit; crash-after-commit[:N] exits right after the N-th commit, before the
# caller could acknowledge the message to its server. Never set in production.
FAULT_ENV = "CASELINE_MAIL_FAULT"
CRASH_EXIT_CODE = 71
# A transaction refused by a race (deadlock, unique index, locked database) is tried
# this many times before the message is quarantined (or, when even that fails, the
# error reaches the caller, which leaves the message with its server).
TRANSIENT_ATTEMPTS = 3
_fault_counter = {"n": 0}

REPLY_MARKER = "##- Please type your reply above this line -##"
_OUR_ID = None  # compiled lazily (depends on settings)


def max_message_bytes() -> int:
    return int(getattr(settings, "MAIL_MAX_MESSAGE_BYTES", 50 * 1024 * 1024))


def sender_limit() -> tuple[int, int]:
    """(messages, window seconds) allowed per sender address."""
    return (
        int(getattr(settings, "MAIL_SENDER_RATE_LIMIT", 30)),
        int(getattr(settings, "MAIL_SENDER_RATE_WINDOW_SECONDS", 3600)),
    )


@dataclass
class IngestResult:
    inbound: InboundMessage
    duplicate: bool = False

    @property
    def status(self) -> str:
        return self.inbound.status


@dataclass
class Timings:
    """Seconds spent per stage (the benchmark reads them)."""

    parse: float = 0.0
    strip: float = 0.0
    store: float = 0.0
    total: float = 0.0
    count: int = 0


# --- helpers -----------------------------------------------------------------------------


def _fault(point: str) -> None:
    spec = os.environ.get(FAULT_ENV, "")
    if not spec:
        return
    name, _, nth = spec.partition(":")
    if name != point:
        return
    _fault_counter["n"] += 1
    if _fault_counter["n"] == int(nth or 1):
        os._exit(CRASH_EXIT_CODE)


def dedupe_key(parsed: ParsedMessage | None, sha256: str) -> str:
    if parsed is not None and parsed.message_id:
        return parsed.message_id[:300]
    return f"sha256:{sha256}"


def store_raw(raw: bytes, sha256: str) -> str:
    name = f"mail/raw/{sha256[:2]}/{sha256}.eml"
    if default_storage.exists(name) and default_storage.size(name) == len(raw):
        return name
    return default_storage.save(name, ContentFile(raw))


def our_ticket_from_id(message_id: str) -> int | None:
    """The ticket number encoded in a Message-ID we generated (outbox keys), if any."""
    global _OUR_ID
    if _OUR_ID is None:
        domain = re.escape(settings.CASELINE_MAIL_DOMAIN)
        _OUR_ID = re.compile(rf"^<(?:cl-t|ticket-)(\d{{1,18}})-[^@>]*@{domain}>$", re.I)
    match = _OUR_ID.match(message_id or "")
    return int(match.group(1)) if match else None


def _surviving(ticket: Ticket | None) -> Ticket | None:
    seen = 0
    while ticket is not None and ticket.merged_into_id and seen < 20:
        ticket = Ticket.objects.filter(pk=ticket.merged_into_id).first()
        seen += 1
    return ticket


def _thread_ids(parsed: ParsedMessage) -> list[str]:
    return [i for i in (parsed.in_reply_to, *reversed(parsed.references)) if i][:100]


def find_thread(parsed: ParsedMessage, batch: _Batch | None = None) -> tuple[Ticket | None, str]:
    """(ticket, how): by our Message-ID in In-Reply-To/References, then the subject token."""
    ids = _thread_ids(parsed)
    if ids:
        if batch is not None:
            hits = [batch.threads[i] for i in ids if i in batch.threads]
            if hits:
                return _surviving(max(hits, key=lambda hit: hit[0])[1]), "message-id"
        else:
            found = (
                Message.objects.filter(email_message_id__in=ids)
                .select_related("ticket")
                .order_by("-id")
                .first()
            )
            if found is not None:
                return _surviving(found.ticket), "message-id"
        for mid in ids:
            number = our_ticket_from_id(mid)
            if number is not None:
                ticket = Ticket.objects.filter(pk=number).first()
                if ticket is not None:
                    return _surviving(ticket), "message-id"
    number = ticket_token(parsed.subject)
    if number is not None:
        ticket = Ticket.objects.filter(pk=number).first()
        if ticket is not None:
            return _surviving(ticket), "token"
    return None, ""


def staff_user(address: str) -> User | None:
    """The active staff user with this address (lowest id), or None.

    Most senders are customers: the per-process set of staff addresses answers them
    without a query; a hit is re-read (and re-checked) from the user table."""
    pk = cache.staff_addresses.get().get((address or "").lower())
    if pk is None:
        return None
    # The address too: the cache may be a few seconds older than an email change.
    return User.objects.filter(
        pk=pk, kind=User.Kind.STAFF, is_active=True, email__iexact=address
    ).first()


def is_participant(ticket: Ticket, contact: Contact | None, user: User | None) -> bool:
    """May this sender write into ``ticket``? Staff, the requester, CCs, earlier authors,
    and anyone of the ticket's organization."""
    if user is not None:
        return True
    if contact is None:
        return False
    if contact.pk == ticket.requester_id:
        return True
    if ticket.organization_id and contact.organization_id == ticket.organization_id:
        return True
    if ticket.ccs.filter(pk=contact.pk).exists():
        return True
    return ticket.messages.filter(author_contact=contact).exists()


def _mailbox_addresses() -> frozenset[str]:
    """Addresses of all our mailboxes (cached a few seconds; cleared on mailbox saves)."""
    return cache.mailbox_addresses.get()


def forget_mailbox_addresses(**_: Any) -> None:
    cache.mailbox_addresses.clear()


def _count_in_window(address: str, current, window: int) -> int:
    """Count one message of ``address`` in its rate window and return the window's count.

    One statement (an upsert with RETURNING, SQLite >= 3.35 and PostgreSQL): a new
    sender gets a window starting now; a window at least ``window`` seconds old starts
    again at now with a count of 1; otherwise the count goes up by one. The row stays
    locked until the ingest transaction ends, as with SELECT ... FOR UPDATE."""
    q = connection.ops.quote_name
    table, addr, start, n = (
        q(SenderWindow._meta.db_table),
        q("address"),
        q("window_start"),
        q("count"),
    )
    at = connection.ops.adapt_datetimefield_value(current)
    cutoff = connection.ops.adapt_datetimefield_value(current - timedelta(seconds=window))
    sql = (
        f"INSERT INTO {table} ({addr}, {start}, {n}) VALUES (%s, %s, 1) "
        f"ON CONFLICT ({addr}) DO UPDATE SET "
        f"{n} = CASE WHEN {table}.{start} <= %s THEN 1 ELSE {table}.{n} + 1 END, "
        f"{start} = CASE WHEN {table}.{start} <= %s THEN %s ELSE {table}.{start} END "
        f"RETURNING {n}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [address, at, cutoff, cutoff, at])
        return int(cursor.fetchone()[0])


def _rate_limited(address: str) -> str | None:
    limit, window = sender_limit()
    if limit <= 0:
        return None
    count = _count_in_window(address, now(), window)
    if count > limit:
        return (
            f"rate limit: {count} messages from {address} within {window} s "
            f"(limit {limit}); release it to process"
        )
    return None


def cut_at_marker(text: str) -> str:
    """Everything above our "reply above this line" marker (and its attribution line)."""
    index = text.find(REPLY_MARKER)
    if index < 0:
        return text
    head = text[:index].rstrip()
    lines = head.split("\n")
    # drop the quote prefix and a trailing "On … wrote:" attribution above the marker
    while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith(">")):
        lines.pop()
    if lines and lines[-1].rstrip().endswith(":") and len(lines[-1]) < 300:
        lines.pop()
    return "\n".join(lines).rstrip()


def _split_attachments(parsed: ParsedMessage) -> tuple[list[Any], list[str]]:
    """(kept attachments, human-readable notes on the ones refused for their size)."""
    limit = int(settings.ATTACHMENT_MAX_BYTES)
    total_limit = max_message_bytes()
    kept: list[Any] = []
    refused: list[str] = []
    total = 0
    for att in parsed.attachments:
        size = len(att.content)
        if size > limit:
            refused.append(f"{att.filename} ({size:,} bytes; the limit is {limit:,} bytes)")
            continue
        if total + size > total_limit:
            refused.append(
                f"{att.filename} ({size:,} bytes; the message exceeds {total_limit:,} bytes)"
            )
            continue
        total += size
        kept.append(att)
    return kept, refused


def _link_inline(message: Message, attachments: Iterable[Any]) -> None:
    """Copy each inline part's Content-ID onto its stored attachment row."""
    for att in attachments:
        if not att.content_id:
            continue
        digest = hashlib.sha256(att.content).hexdigest()
        row = (
            Attachment.objects.filter(message=message, sha256=digest, content_id="")
            .order_by("id")
            .first()
        )
        if row is not None:
            row.content_id = att.content_id[:200]
            row.save(update_fields=["content_id"])


def _quarantine_row(mailbox, key, parsed, sha, raw_name, size, source, reason) -> InboundMessage:
    row = InboundMessage.objects.create(
        mailbox=mailbox,
        dedupe_key=key,
        message_id=(parsed.message_id or "")[:300] if parsed else "",
        sha256=sha,
        size=size,
        raw=raw_name,
        source=source,
        status=InboundMessage.Status.QUARANTINED,
        reason=reason[:4000],
        from_address=(parsed.from_.address if parsed and parsed.from_ else "")[:320],
        subject=(parsed.subject if parsed else "")[:300],
        received_at=now(),
    )
    record(
        "mail.quarantined",
        "inbound_message",
        row.pk,
        data={"mailbox_id": mailbox.pk, "reason": reason[:500], "from": row.from_address},
    )
    return row


# --- the service ---------------------------------------------------------------------------


@dataclass
class _Item:
    """One raw message on its way in: parsed (outside any transaction) and keyed."""

    raw: bytes
    mailbox: Mailbox
    parsed: ParsedMessage | None
    parse_error: str | None
    sha: str
    key: str
    raw_name: str = ""


class _Batch:
    """What the messages of one ``ingest_many`` transaction share, read with one query
    each when the transaction begins and kept up to date by its own writes:

    - ``flagged``: the senders carrying a bounce flag (plus what a bounce of the batch
      flagged), so that only those pay the DELETE that clears a flag;
    - ``contacts``: sender address -> (contact, its primary email if known), the known
      senders read at once, the new ones added as the batch creates them;
    - ``threads``: Message-ID -> (message id, ticket) for every In-Reply-To/References
      id of the batch that names a stored message, plus the messages the batch stores;
    - ``inbound`` and ``outbox``: rows written with one INSERT each at the end
      (``flush``), still inside the transaction.
    """

    def __init__(self, items: list[_Item]) -> None:
        senders = sorted({_sender(i) for i in items if _sender(i)})
        self.flagged: set[str] = set()
        self.contacts: dict[str, tuple[Contact, str | None]] = {}
        self.threads: dict[str, tuple[int, Ticket]] = {}
        self.inbound: list[InboundMessage] = []
        self.outbox: list[Any] = []
        if senders:
            self.flagged = set(
                FlaggedAddress.objects.filter(address__in=senders).values_list("address", flat=True)
            )
            from caseline.accounts.services import resolve_merged

            rows = (
                ContactEmail.objects.annotate(lower=Lower("email"))
                .filter(lower__in=senders)
                .select_related("contact__organization")
            )
            for row in rows:
                contact = resolve_merged(row.contact)
                primary = row.email if row.is_primary and contact.pk == row.contact_id else None
                self.contacts[row.lower] = (contact, primary)
        ids = sorted({mid for i in items if i.parsed for mid in _thread_ids(i.parsed)})
        if ids:
            found = (
                Message.objects.filter(email_message_id__in=ids)
                .select_related("ticket")
                .order_by("id")
            )
            for message in found:  # ascending ids: the newest message of an id wins
                self.threads[message.email_message_id] = (message.pk, message.ticket)

    def remember(self, message: Message | None, ticket: Ticket | None) -> None:
        if message is not None and ticket is not None and message.email_message_id:
            self.threads[message.email_message_id] = (message.pk, ticket)

    def flush(self) -> None:
        if self.inbound:
            InboundMessage.objects.bulk_create(self.inbound)
        from caseline.notify.services import enqueue_rows

        enqueue_rows(self.outbox)


def _prepare(raw: bytes, mailbox: Mailbox, timings: Timings | None) -> _Item:
    started = time.perf_counter()
    raw = bytes(raw)
    parse_error: str | None = None
    parsed: ParsedMessage | None
    try:
        parsed = parse_message(raw)
    except UnparseableMessage as exc:
        parsed, parse_error = None, exc.reason
    except Exception as exc:  # a parser bug: quarantine it rather than block the mailbox
        log.exception("parsing an inbound message of %s failed", mailbox)
        parsed, parse_error = None, f"parser failed: {exc.__class__.__name__}: {exc}"
    sha = parsed.sha256 if parsed is not None else hashlib.sha256(raw).hexdigest()
    if timings is not None:
        timings.parse += time.perf_counter() - started
    return _Item(raw, mailbox, parsed, parse_error, sha, dedupe_key(parsed, sha))


def _sender(item: _Item) -> str:
    return item.parsed.from_.address if item.parsed and item.parsed.from_ else ""


def _write(
    item: _Item,
    *,
    source: str,
    timings: Timings | None,
    bypass_rate_limit: bool,
    batch: _Batch | None,
) -> InboundMessage:
    """The writes of one message (inside the caller's transaction)."""
    if item.parse_error is not None:
        return _quarantine_row(
            item.mailbox,
            item.key,
            None,
            item.sha,
            item.raw_name,
            len(item.raw),
            source,
            f"unparseable: {item.parse_error}",
        )
    assert item.parsed is not None
    return _process(
        item.parsed,
        item.mailbox,
        key=item.key,
        raw_name=item.raw_name,
        source=source,
        timings=timings,
        bypass_rate_limit=bypass_rate_limit,
        batch=batch,
    )


def _existing(mailbox: Mailbox, key: str) -> InboundMessage | None:
    return InboundMessage.objects.filter(mailbox=mailbox, dedupe_key=key).first()


def ingest(
    raw: bytes,
    mailbox: Mailbox,
    *,
    source: str = "api",
    timings: Timings | None = None,
    bypass_rate_limit: bool = False,
) -> IngestResult:
    """Turn one raw message into a ticket, a message, or a quarantine/ignore record."""
    started = time.perf_counter()
    item = _prepare(raw, mailbox, timings)
    result = _ingest_one(item, source=source, timings=timings, bypass_rate_limit=bypass_rate_limit)
    if timings is not None and not result.duplicate:
        timings.total += time.perf_counter() - started
        timings.count += 1
    return result


def _ingest_one(
    item: _Item, *, source: str, timings: Timings | None, bypass_rate_limit: bool = False
) -> IngestResult:
    mailbox, key = item.mailbox, item.key
    item.raw_name = item.raw_name or ""
    failure: Exception | None = None
    for attempt in range(1, TRANSIENT_ATTEMPTS + 1):
        existing = _existing(mailbox, key)
        if existing is not None:
            return IngestResult(existing, duplicate=True)
        item.raw_name = item.raw_name or store_raw(item.raw, item.sha)
        try:
            with transaction.atomic():
                row = _write(
                    item,
                    source=source,
                    timings=timings,
                    bypass_rate_limit=bypass_rate_limit,
                    batch=None,
                )
                _fault("crash-before-commit")
            _fault("crash-after-commit")
            return IngestResult(row)
        except (IntegrityError, OperationalError) as exc:
            # A concurrent delivery of the same message won the unique (mailbox,
            # dedupe_key) -- the loop's look-up returns it -- or another race (a
            # deadlock, a contact created meanwhile, a locked SQLite database): again.
            failure = exc
            log.warning(
                "inbound message %s of %s: %s (attempt %d of %d)",
                key,
                mailbox,
                exc.__class__.__name__,
                attempt,
                TRANSIENT_ATTEMPTS,
            )
            time.sleep(0.05 * attempt)
        except Exception as exc:
            failure = exc
            log.exception("inbound message %s of %s failed; quarantining it", key, mailbox)
            break
    else:
        existing = _existing(mailbox, key)
        if existing is not None:
            return IngestResult(existing, duplicate=True)
    assert failure is not None
    reason = f"processing failed: {failure.__class__.__name__}: {failure}"
    try:
        with transaction.atomic():
            row = _quarantine_row(
                mailbox,
                key,
                item.parsed,
                item.sha,
                item.raw_name,
                len(item.raw),
                source,
                reason,
            )
    except IntegrityError:
        # ... or it won while ours was failing: that delivery stands.
        existing = _existing(mailbox, key)
        if existing is None:
            raise
        return IngestResult(existing, duplicate=True)
    return IngestResult(row)


def _ingest_batch(
    items: list[_Item],
    todo: list[int],
    rows: dict[int, InboundMessage],
    *,
    source: str,
    timings: Timings | None,
) -> None:
    """The one transaction of ``ingest_many`` (its rows land in ``rows``)."""
    with transaction.atomic():
        batch = _Batch([items[i] for i in todo])
        for i in todo:
            rows[i] = _write(
                items[i], source=source, timings=timings, bypass_rate_limit=False, batch=batch
            )
        batch.flush()
        _fault("crash-before-commit")
    _fault("crash-after-commit")


def ingest_many(
    messages: Iterable[tuple[bytes, Mailbox]],
    *,
    source: str = "api",
    timings: Timings | None = None,
) -> list[IngestResult]:
    """Several raw messages in ONE transaction (one result per message, in order).

    The IMAP poller passes each fetched batch, the SMTP receiver the copies of one DATA
    for its mailboxes, the benchmark batches of 20. Each message gets exactly what
    ``ingest`` would give it: re-deliveries are recognised with one query for the whole
    batch, a message repeated inside the batch counts once, and a message that ends in
    quarantine (unparseable, rate limit, no sender) is simply one more row of the batch.

    An unexpected error in any message rolls the whole batch back, and then every
    message of it is ingested again on its own (``ingest``: its own transaction, the
    failing one quarantined with the reason): none is lost, none doubled. As with
    ``ingest``, the caller acknowledges the messages only after this returns.
    """
    started = time.perf_counter()
    items = [_prepare(raw, mailbox, timings) for raw, mailbox in messages]
    if not items:
        return []
    results: list[IngestResult | None] = [None] * len(items)
    known: dict[tuple[int, str], InboundMessage] = {}
    by_box: dict[int, list[str]] = {}
    for item in items:
        by_box.setdefault(item.mailbox.pk, []).append(item.key)
    for box_id, keys in by_box.items():
        for row in InboundMessage.objects.filter(mailbox_id=box_id, dedupe_key__in=set(keys)):
            known[(box_id, row.dedupe_key)] = row
    todo: list[int] = []
    first_of: dict[tuple[int, str], int] = {}
    repeats: list[tuple[int, int]] = []  # (index, index of its first occurrence)
    for i, item in enumerate(items):
        ident = (item.mailbox.pk, item.key)
        if ident in known:
            results[i] = IngestResult(known[ident], duplicate=True)
        elif ident in first_of:
            repeats.append((i, first_of[ident]))
        else:
            first_of[ident] = i
            todo.append(i)
    for i in todo:
        items[i].raw_name = store_raw(items[i].raw, items[i].sha)
    rows: dict[int, InboundMessage] = {}
    try:
        if todo:  # (nothing new: no transaction)
            _ingest_batch(items, todo, rows, source=source, timings=timings)
    except Exception:
        log.warning(
            "a batch of %d inbound messages failed; ingesting them one by one",
            len(todo),
            exc_info=True,
        )
        for i in todo:
            results[i] = _ingest_one(items[i], source=source, timings=timings)
    else:
        for i, row in rows.items():
            results[i] = IngestResult(row)
    for i, first in repeats:
        first_result = results[first]
        assert first_result is not None
        results[i] = IngestResult(first_result.inbound, duplicate=True)
    if timings is not None:
        timings.total += time.perf_counter() - started
        timings.count += len(todo)
    return [r for r in results if r is not None]


def _process(
    parsed: ParsedMessage,
    mailbox: Mailbox,
    *,
    key: str,
    raw_name: str,
    source: str,
    timings: Timings | None,
    bypass_rate_limit: bool,
    batch: _Batch | None = None,
) -> InboundMessage:
    sender = parsed.from_.address if parsed.from_ else ""
    row = InboundMessage(
        mailbox=mailbox,
        dedupe_key=key,
        message_id=(parsed.message_id or "")[:300],
        sha256=parsed.sha256,
        size=parsed.size,
        raw=raw_name,
        source=source,
        from_address=sender[:320],
        subject=parsed.subject[:300],
        received_at=now(),
    )
    verdict = classify(parsed)
    row.flags = list(verdict.reasons)

    def finish(status: str, reason: str = "", *, write_now: bool = False) -> InboundMessage:
        row.status = status
        row.reason = reason[:4000]
        if batch is not None and not write_now and status != InboundMessage.Status.QUARANTINED:
            batch.inbound.append(row)  # inserted with the batch's other rows (flush)
        else:
            row.save()
        if status == InboundMessage.Status.QUARANTINED:
            record(
                "mail.quarantined",
                "inbound_message",
                row.pk,
                data={"mailbox_id": mailbox.pk, "reason": reason[:500], "from": sender},
            )
        return row

    if not sender or "@" not in sender:
        return finish(InboundMessage.Status.QUARANTINED, "no sender address (From/Sender)")
    if sender in _mailbox_addresses():
        return finish(InboundMessage.Status.IGNORED, "sent by one of our own mailboxes (loop)")
    if verdict.bounce:
        return _bounce(parsed, verdict, row, finish, batch)

    ticket, how = find_thread(parsed, batch)
    if verdict.autoreply or verdict.bulk:
        reason = "; ".join(verdict.reasons)
        if (
            ticket is not None
            and verdict.autoreply
            and ticket.status != "closed"
            # a stranger's "auto-reply" naming a guessed ticket adds nothing to it
            and _may_note(ticket, sender, batch)
        ):
            note = _add_note(
                ticket,
                f"Automatic reply from {sender} (not sent back, ticket unchanged):\n\n"
                + (parsed.text or "").strip()[:4000],
            )
            row.ticket, row.ticket_message, row.threaded_by = ticket, note, how
        return finish(InboundMessage.Status.IGNORED, f"automated: {reason}")
    if not bypass_rate_limit:
        limited = _rate_limited(sender)
        if limited:
            return finish(InboundMessage.Status.QUARANTINED, limited)
    # it writes: it is alive (a batch knows which of its senders carry a flag)
    if batch is None:
        FlaggedAddress.objects.filter(address=sender).delete()
    elif sender in batch.flagged:
        FlaggedAddress.objects.filter(address=sender).delete()
        batch.flagged.discard(sender)

    # who
    user = staff_user(sender)
    contact, requester_email = (
        (None, None)
        if user is not None
        else _contact(sender, parsed.from_.name if parsed.from_ else "", batch)
    )

    # what
    t0 = time.perf_counter()
    visible_source = cut_at_marker(parsed.text or "")
    html = parsed.html if REPLY_MARKER not in (parsed.text or "") else ""
    stripped = strip_reply(visible_source, html or None)
    if timings is not None:
        timings.strip += time.perf_counter() - t0
    full_text = (parsed.text or "").strip()
    row.full_text = full_text
    row.quoted_text = stripped.quoted_text
    row.signature = stripped.signature
    kept, refused = _split_attachments(parsed)
    files = [(a.filename, a.content_type, a.content) for a in kept]

    t1 = time.perf_counter()
    linked_from: Ticket | None = None
    if ticket is not None and not is_participant(ticket, contact, user):
        linked_from, ticket, how = ticket, None, "new-linked"
    message: Message | None = None
    if ticket is not None:
        if ticket.status == "closed":
            linked_from, ticket, how = ticket, None, "follow-up"
        else:
            message = _reply(ticket, parsed, stripped, contact, user, files)
            if message is not None and contact is not None:
                _add_new_ccs(ticket, parsed, sender, batch)
    if message is None:
        ticket, message = _new_ticket(
            parsed, stripped, mailbox, contact, user, files, sender, batch
        )
        how = how or "new"
        if linked_from is not None:
            from caseline.tickets.services import _link

            _link(ticket, linked_from, TicketLink.Kind.RELATED, actor=None, at=now())
        if mailbox.send_acknowledgement and not verdict.automated and user is None:
            from .outbound import send_acknowledgement

            # the sender's flag (if any) was cleared above, in this transaction
            send_acknowledgement(
                ticket,
                mailbox,
                parsed,
                unflagged=(sender,),
                no_ccs=not getattr(ticket, "known_details", {}).get("ccs", True),
                requester_email=requester_email,
                defer=batch.outbox if batch is not None else None,
            )
    if batch is not None:
        batch.remember(message, ticket)
    _link_inline(message, kept)
    if refused:
        _add_note(
            ticket,
            "Attachments of the email from "
            f"{sender} were not stored because of their size (no bounce was sent):\n- "
            + "\n- ".join(refused),
        )
    if timings is not None:
        timings.store += time.perf_counter() - t1
    row.ticket, row.ticket_message, row.threaded_by = ticket, message, how
    return finish(InboundMessage.Status.PROCESSED)


def _body(parsed: ParsedMessage, stripped) -> tuple[str, str]:
    """(text, html) for the ticket message: the stripped reply; the HTML only when
    nothing was stripped (the full text stays on the InboundMessage)."""
    text = stripped.new_text or (parsed.text or "").strip()
    html = parsed.html if (not stripped.quoted_text and not stripped.signature) else ""
    return text, html


def _reply(ticket, parsed, stripped, contact, user, files) -> Message | None:
    from caseline.tickets.services import add_message

    text, html = _body(parsed, stripped)
    if not text and not html and not files:
        text = "(empty message)"
    try:
        return add_message(
            ticket.pk,  # an id: add_message locks the row and does not refresh ours
            actor=user,
            author_contact=contact,
            kind=Message.Kind.PUBLIC,
            body_text=text,
            body_html=html,
            attachments=files,
            channel=Channel.EMAIL,
            email_message_id=parsed.message_id or "",
        )
    except Conflict:  # closed meanwhile: a follow-up ticket instead
        return None


def _contact(sender: str, name: str, batch: _Batch | None) -> tuple[Contact, str | None]:
    """(the sender's contact, its primary email when known without a query).

    Alone: ``find_or_create_contact``. In a batch: the contacts read when the batch
    began (and those it created since); an address unknown then is created at once
    (the look-up was that read); should another transaction have created it meanwhile,
    the unique index refuses ours and the contact is looked up as usual."""
    from caseline.accounts.services import create_contact, find_or_create_contact

    if batch is None:
        return find_or_create_contact(sender, name), None
    hit = batch.contacts.get(sender)
    if hit is not None:
        return hit
    try:
        address = normalize_email(sender)
    except ValueError:
        address = ""
    if address != sender:  # not in normal form: the service decides (and refuses)
        return find_or_create_contact(sender, name), None
    try:
        contact = create_contact(
            name=(name or "").strip()[:200] or address, emails=[address], _emails_checked=True
        )
        found: tuple[Contact, str | None] = (contact, address)
    except Conflict:
        found = (find_or_create_contact(sender, name), None)
    batch.contacts[sender] = found
    return found


def _may_note(ticket: Ticket, sender: str, batch: _Batch | None) -> bool:
    """May an automatic reply of ``sender`` be noted on ``ticket``? As for a reply
    (``is_participant``), without creating a contact: a colleague who has none yet
    counts through the organization owning the address's domain."""
    if is_participant(ticket, _known_contact(sender, batch), staff_user(sender)):
        return True
    if not ticket.organization_id:
        return False
    from caseline.accounts.services import organization_for_email

    org = organization_for_email(sender)
    return org is not None and org.pk == ticket.organization_id


MAX_CCS = 50


def _cc_candidates(parsed: ParsedMessage, sender: str) -> list[Any]:
    """To/Cc addresses that may become CCs: not the sender, not our mailboxes, not staff."""
    ours = _mailbox_addresses()
    out: list[Any] = []
    seen: set[str] = set()
    for addr in (*parsed.to, *parsed.cc):
        a = addr.address
        if not a or a in seen or a == sender or a in ours or "@" not in a or staff_user(a):
            continue
        seen.add(a)
        out.append(addr)
    return out


def _add_new_ccs(ticket: Ticket, parsed: ParsedMessage, sender: str, batch: _Batch | None):
    """A customer's reply copying people the ticket does not know yet makes them CCs
    (SPEC §2), contacts found or created by address; a reply without To/Cc beyond our
    mailbox and the ticket's people costs no statement more than one read."""
    candidates = _cc_candidates(parsed, sender)
    if not candidates:
        return
    from caseline.accounts.services import find_or_create_contact
    from caseline.tickets.services import add_cc

    known = {
        e.lower()
        for e in ContactEmail.objects.filter(
            Q(contact__cc_tickets=ticket.pk) | Q(contact_id=ticket.requester_id)
        ).values_list("email", flat=True)
    }
    new = [addr for addr in candidates if addr.address not in known]
    if not new:
        return
    room = MAX_CCS - ticket.ccs.count()
    for addr in new[: max(room, 0)]:
        hit = batch.contacts.get(addr.address) if batch is not None else None
        try:
            cc = hit[0] if hit is not None else find_or_create_contact(addr.address, addr.name)
        except DomainError:
            continue
        if batch is not None and hit is None:
            batch.contacts[addr.address] = (cc, None)
        add_cc(ticket.pk, cc, actor=None)


def _known_contact(sender: str, batch: _Batch | None) -> Contact | None:
    """The sender's existing contact, if any (nothing is created)."""
    if batch is not None and sender in batch.contacts:
        return batch.contacts[sender][0]
    from caseline.accounts.services import contact_by_email

    return contact_by_email(sender)


def _new_ticket(parsed, stripped, mailbox, contact, user, files, sender, batch=None):
    from caseline.tickets.services import create_ticket

    text, html = _body(parsed, stripped)
    if not text and not html and not files:
        text = "(empty message)"
    subject = " ".join((parsed.subject or "").split())[:300] or "(no subject)"
    ours = _mailbox_addresses()
    ccs = []
    if contact is not None:
        from caseline.accounts.services import find_or_create_contact

        for addr in (*parsed.to, *parsed.cc):
            a = addr.address
            if not a or a == sender or a in ours or "@" not in a or staff_user(a):
                continue
            hit = batch.contacts.get(a) if batch is not None else None
            if hit is not None:
                ccs.append(hit[0])
                continue
            try:
                cc_contact = find_or_create_contact(a, addr.name)
            except DomainError:
                continue
            ccs.append(cc_contact)
            if batch is not None:
                batch.contacts[a] = (cc_contact, None)
    requester = contact
    if requester is None:  # a staff member opened it by email: they are the requester
        from caseline.accounts.services import find_or_create_contact

        requester = find_or_create_contact(sender, str(user))
    ticket = create_ticket(
        actor=None,
        requester=requester,
        subject=subject,
        body_text=text,
        body_html=html,
        channel=Channel.EMAIL,
        # instances from the per-process cache (no look-up per message); the id when the
        # row is gone, so that create_ticket refuses it as before
        team=(cache.teams.get(mailbox.team_id) or mailbox.team_id) if mailbox.team_id else None,
        product_area=(
            (cache.product_areas.get(mailbox.product_area_id) or mailbox.product_area_id)
            if mailbox.product_area_id
            else None
        ),
        ccs=ccs[:50],
        attachments=files,
        email_message_id=parsed.message_id or "",
        savepoint=False,  # ingest's own transaction: any failure rolls back all of it
    )
    message = getattr(ticket, "first_message", None) or ticket.messages.order_by("id").first()
    return ticket, message


def _add_note(ticket: Ticket, text: str) -> Message:
    from caseline.tickets.services import add_message

    return add_message(
        ticket,
        actor=None,
        kind=Message.Kind.INTERNAL,
        body_text=text,
        channel=Channel.EMAIL,
        _system=True,
    )


def _bounce(
    parsed: ParsedMessage,
    verdict: Classification,
    row: InboundMessage,
    finish,
    batch: _Batch | None = None,
):
    """Attach a bounce to the ticket of the bounced message and flag the failed addresses."""
    ticket: Ticket | None = None
    bounced = verdict.bounced_message_id
    if bounced:
        found = Message.objects.filter(email_message_id=bounced).select_related("ticket").first()
        if found is not None:
            ticket = found.ticket
        else:
            number = our_ticket_from_id(bounced)
            ticket = Ticket.objects.filter(pk=number).first() if number else None
        if ticket is None:
            from caseline.notify.models import OutboxMessage

            local = bounced.strip("<>").split("@", 1)[0]
            out = OutboxMessage.objects.filter(idempotency_key=local).first()
            if out is not None and out.subject_type == "ticket" and out.subject_id:
                ticket = Ticket.objects.filter(pk=out.subject_id).first()
    ticket = _surviving(ticket)
    for address in verdict.failed_recipients:
        flag, _ = FlaggedAddress.objects.get_or_create(
            address=address[:320], defaults={"flagged_at": now()}
        )
        flag.bounces += 1
        flag.reason = f"bounce {parsed.message_id or row.dedupe_key}: {parsed.subject}"[:2000]
        flag.ticket = ticket or flag.ticket
        flag.flagged_at = now()
        flag.save()
        if batch is not None:
            batch.flagged.add(flag.address)
    note = None
    if ticket is not None and ticket.status != "closed":
        failed = ", ".join(verdict.failed_recipients) or "(no failed recipient reported)"
        note = _add_note(
            ticket,
            f"Delivery problem reported by {parsed.from_.address if parsed.from_ else '?'}: "
            f"{parsed.subject}\nFailed recipients: {failed}\n\n"
            + (parsed.text or "").strip()[:3000],
        )
    row.ticket, row.ticket_message, row.threaded_by = ticket, note, "bounce" if ticket else ""
    result = finish(
        InboundMessage.Status.PROCESSED if ticket else InboundMessage.Status.IGNORED,
        "bounce"
        + (f" of {bounced}" if bounced else "")
        + (
            f"; flagged {', '.join(verdict.failed_recipients)}" if verdict.failed_recipients else ""
        ),
        write_now=True,  # its id goes into the audit event below
    )
    record(
        "mail.bounced",
        "inbound_message",
        result.pk,
        ticket_id=ticket.pk if ticket else None,
        data={
            "failed_recipients": list(verdict.failed_recipients),
            "bounced_message_id": bounced,
            "ticket_id": ticket.pk if ticket else None,
        },
    )
    return result


def release(inbound: InboundMessage | int, *, actor: Any = None) -> IngestResult:
    """Process a quarantined message again (rate limit bypassed); the record is replaced."""
    with transaction.atomic():
        row = InboundMessage.objects.select_for_update().get(
            pk=inbound.pk if isinstance(inbound, InboundMessage) else inbound
        )
        if row.status != InboundMessage.Status.QUARANTINED:
            raise Conflict("only quarantined messages can be released")
        with row.raw.open("rb") as fh:
            raw = fh.read()
        mailbox = row.mailbox
        old_pk = row.pk
        row.delete()
        result = ingest(raw, mailbox, source=row.source, bypass_rate_limit=True)
        record(
            "mail.quarantined",
            "inbound_message",
            result.inbound.pk,
            actor=actor,
            changes={"status": ("quarantined", result.inbound.status)},
            data={"released": True, "previous_id": old_pk},
        )
    return result
