"""Outbound email of the channel: public replies and acknowledgements, written to the
outbox in the caller's transaction (delivered after commit with retries and back-off).

Every email we send has a Message-ID we generate from its outbox key
(``<cl-t{ticket}-m{message}@CASELINE_MAIL_DOMAIN>`` for replies, ``<cl-t{ticket}-ack@…>``
for acknowledgements). A reply's Message-ID is stored on its ``Message`` so that the
customer's answer (In-Reply-To/References) threads back into the ticket.
"""

from __future__ import annotations

import html as htmllib
import logging
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings

from caseline.accounts.models import ContactEmail
from caseline.notify.models import OutboxMessage
from caseline.notify.services import email_row, enqueue_email, message_id
from caseline.tickets.inline_reply import style_for_mail
from caseline.tickets.models import Message, Ticket

from . import cache
from .ingest import REPLY_MARKER
from .models import AckTemplate, FlaggedAddress, InboundMessage, Mailbox
from .parsing import ParsedMessage, ticket_token

log = logging.getLogger(__name__)

MAX_REFERENCES = 20
DEFAULT_ETA = "as soon as possible"

# Providers of the ETA placeholder of acknowledgements (the SLA/ETA apps register one):
# each gets the ticket and returns a human-readable ETA ("by Tue 14:00 UTC") or None.
ETA_PROVIDERS: list[Callable[[Ticket], str | None]] = []


def register_eta_provider(provider: Callable[[Ticket], str | None]) -> None:
    if provider not in ETA_PROVIDERS:
        ETA_PROVIDERS.append(provider)


def _eta(ticket: Ticket) -> str:
    for provider in ETA_PROVIDERS:
        try:
            value = provider(ticket)
        except Exception:  # an ETA is a courtesy; never fail the ingest for it
            value = None
        if value:
            return value
    return DEFAULT_ETA


def mailbox_for(ticket: Ticket) -> Mailbox | None:
    """The mailbox the ticket came in through, else one of its team, else the first."""
    first = (
        InboundMessage.objects.filter(ticket=ticket, mailbox__active=True)
        .select_related("mailbox")
        .order_by("id")
        .first()
    )
    if first is not None:
        return first.mailbox
    qs = Mailbox.objects.filter(active=True)
    if ticket.team_id:
        found = qs.filter(team_id=ticket.team_id).order_by("id").first()
        if found is not None:
            return found
    return qs.order_by("id").first()


def subject_with_token(ticket: Ticket, subject: str | None = None) -> str:
    subject = " ".join((subject or ticket.subject or "").split())
    if ticket_token(subject) == ticket.pk:
        return subject
    return f"[{ticket.reference}] {subject}".strip()


def _thread_ids(ticket: Ticket, before: Message | None = None) -> list[str]:
    qs = ticket.messages.exclude(email_message_id="").order_by("id")
    if before is not None:
        qs = qs.filter(id__lt=before.pk)
    ids = list(dict.fromkeys(qs.values_list("email_message_id", flat=True)))
    if len(ids) > MAX_REFERENCES:
        ids = ids[:1] + ids[-(MAX_REFERENCES - 1) :]
    return ids


def _flagged(addresses: list[str]) -> set[str]:
    if not addresses:
        return set()
    return set(
        FlaggedAddress.objects.filter(address__in=addresses).values_list("address", flat=True)
    )


def _clean(addresses: list[str], *, exclude: set[str]) -> list[str]:
    out: list[str] = []
    for a in addresses:
        a = (a or "").strip().lower()
        if a and "@" in a and a not in exclude and a not in out:
            out.append(a)
    return out


def recipients(
    ticket: Ticket,
    *,
    author_email: str = "",
    unflagged: Iterable[str] = (),
    no_ccs: bool = False,
    requester_email: str | None = None,
) -> dict[str, list[str]]:
    """to: the requester; cc: customer CCs and the organization's SC (SPEC §2);
    bcc: staff followers. Flagged (bounced) addresses, our mailboxes and the author are
    left out. What the caller knows is not looked up again: ``unflagged`` addresses carry
    no flag (the ingest has just cleared the sender's), ``no_ccs`` the ticket has no CCs
    (the ingest has just created it without any), ``requester_email`` is the requester's
    primary email (the ingest has just created the contact, or read its email row)."""
    from .ingest import _mailbox_addresses

    exclude = set(_mailbox_addresses()) | {author_email.lower()}
    # the requester's primary email (Contact.primary_email: the ordering puts it first)
    primary = requester_email
    if primary is None and ticket.requester_id:
        primary = (
            ContactEmail.objects.filter(contact_id=ticket.requester_id)
            .values_list("email", flat=True)
            .first()
        )
    to = _clean([primary or ""], exclude=exclude)
    cc_raw: list[str] = (
        [] if no_ccs else [c.primary_email for c in ticket.ccs.prefetch_related("emails")]
    )
    org = ticket.organization
    if org is not None and org.include_sc and org.sales_consultant_id:
        sc = org.sales_consultant
        if sc is not None and sc.is_active and sc.email:
            cc_raw.append(sc.email)
    cc = _clean(cc_raw, exclude=exclude | set(to))
    bcc = _clean(
        [u.email for u in ticket.followers.filter(is_active=True)],
        exclude=exclude | set(to) | set(cc),
    )
    known_good = {a.lower() for a in unflagged}
    flagged = _flagged([a for a in to + cc + bcc if a not in known_good])
    return {
        "to": [a for a in to if a not in flagged],
        "cc": [a for a in cc if a not in flagged],
        "bcc": [a for a in bcc if a not in flagged],
        "flagged": sorted(flagged),
    }


def _text_to_html(text: str) -> str:
    paragraphs = [p for p in text.split("\n\n")]
    return "".join(
        "<p>" + htmllib.escape(p).replace("\n", "<br>") + "</p>" for p in paragraphs if p.strip()
    )


def render_reply(ticket: Ticket, message: Message) -> tuple[str, str]:
    body_text = message.body_text or ""
    body_html = message.body_html or _text_to_html(body_text)
    # inline replies (ticket page): our answers in the "ours" colour, as inline CSS
    body_html = style_for_mail(body_html)
    footer = f"{ticket.reference}: {ticket.subject}"
    text = f"{REPLY_MARKER}\n\n{body_text}\n\n-- \n{footer}\n"
    html = (
        f'<div style="color:#888">{htmllib.escape(REPLY_MARKER)}</div><br>'
        f"<div>{body_html}</div>"
        f'<hr><div style="color:#888;font-size:small">{htmllib.escape(footer)}</div>'
    )
    return text, html


def reply_key(message: Message) -> str:
    return f"cl-t{message.ticket_id}-m{message.pk}"


def send_reply(message: Message) -> OutboxMessage | None:
    """Write the email of a staff public reply to the outbox (caller's transaction) and
    remember its Message-ID on the message. Returns None when nobody can receive it."""
    ticket = Ticket.objects.select_related("organization__sales_consultant").get(
        pk=message.ticket_id
    )
    author = message.author_user
    rcpt = recipients(ticket, author_email=getattr(author, "email", "") or "")
    if not (rcpt["to"] or rcpt["cc"]):
        return None
    mailbox = mailbox_for(ticket)
    from_address = mailbox.address if mailbox else settings.DEFAULT_FROM_EMAIL
    name = str(author) if author is not None else ""
    from_email = f'"{name} via Support" <{from_address}>' if name else from_address
    key = reply_key(message)
    refs = _thread_ids(ticket, before=message)
    headers: dict[str, str] = {"X-Caseline-Ticket": str(ticket.pk)}
    if refs:
        headers["In-Reply-To"] = refs[-1]
        headers["References"] = " ".join(refs)
    text, html = render_reply(ticket, message)
    attachments = [
        {"filename": a.filename, "content_type": a.content_type, "path": a.file.name}
        for a in message.attachments.all()
    ]
    row = enqueue_email(
        key=key,
        to=rcpt["to"] or rcpt["cc"][:1],
        cc=rcpt["cc"] if rcpt["to"] else rcpt["cc"][1:],
        bcc=rcpt["bcc"],
        subject=subject_with_token(ticket, f"Re: {ticket.subject}"),
        text=text,
        html=html,
        from_email=from_email,
        headers=headers,
        attachments=attachments,
        subject_type="message",
        subject_id=message.pk,
    )
    Message.objects.filter(pk=message.pk).update(email_message_id=message_id(key))
    return row


class _Safe(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def ack_template(ticket: Ticket) -> AckTemplate:
    """The team's active template, else the default one (team empty), else the built-in
    text; read from the per-process cache of active templates."""
    templates = cache.ack_templates.get()
    found = templates.get(ticket.team_id) if ticket.team_id else None
    if found is None:
        found = templates.get(None)
    return found or AckTemplate()


def render_ack(ticket: Ticket) -> tuple[str, str]:
    template = ack_template(ticket)
    values = _Safe(
        ticket_ref=ticket.reference,
        subject=ticket.subject,
        requester_name=ticket.requester.name,
        team=str(ticket.team) if ticket.team_id else "our support team",
        eta=_eta(ticket),
    )
    try:
        subject = template.subject.format_map(values)
        body = template.body.format_map(values)
    except (ValueError, IndexError, AttributeError, KeyError):  # a broken template
        default = AckTemplate()
        subject, body = default.subject.format_map(values), default.body.format_map(values)
    return subject_with_token(ticket, subject), body


def send_acknowledgement(
    ticket: Ticket,
    mailbox: Mailbox,
    parsed: ParsedMessage | None = None,
    *,
    unflagged: Iterable[str] = (),
    no_ccs: bool = False,
    requester_email: str | None = None,
    defer: list[OutboxMessage] | None = None,
) -> OutboxMessage | None:
    """The acknowledgement of a new email ticket to its requester (never to an
    automated sender: the caller checks; flagged addresses are skipped). ``unflagged``,
    ``no_ccs`` and ``requester_email``: see :func:`recipients`.

    With ``defer`` (a batch of the ingest) the outbox row is not written here but
    appended, unsaved, to that list: the batch inserts all its rows with one statement
    and rings their doorbells after its commit (``notify.services.enqueue_rows``). The ticket was
    created in the same transaction, so its acknowledgement key cannot exist yet; if it
    did, the batch's INSERT fails and the ingest redoes every message on its own, which
    goes through ``enqueue_email`` (idempotent)."""
    rcpt = recipients(ticket, unflagged=unflagged, no_ccs=no_ccs, requester_email=requester_email)
    if not rcpt["to"]:
        return None
    subject, body = render_ack(ticket)
    headers = {"Auto-Submitted": "auto-replied", "X-Caseline-Ticket": str(ticket.pk)}
    if parsed is not None and parsed.message_id:
        headers["In-Reply-To"] = parsed.message_id
        headers["References"] = " ".join([*parsed.references[-10:], parsed.message_id])
    text = f"{REPLY_MARKER}\n\n{body}"
    html = f'<div style="color:#888">{htmllib.escape(REPLY_MARKER)}</div>' + _text_to_html(body)
    key = f"cl-t{ticket.pk}-ack"
    fields = {
        "key": key,
        "to": rcpt["to"],
        "subject": subject,
        "text": text,
        "html": html,
        "from_email": mailbox.address,
        "headers": headers,
        "subject_type": "ticket",
        "subject_id": ticket.pk,
    }
    if defer is not None:
        row = email_row(**fields)
        defer.append(row)
        return row
    return enqueue_email(**fields)


def deliveries(message_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Delivery state of the emails of these messages (for showing on each message)."""
    rows = OutboxMessage.objects.filter(subject_type="message", subject_id__in=message_ids)
    return {
        int(r.subject_id): {
            "status": r.status,
            "attempts": r.attempts,
            "last_error": r.last_error,
            "next_attempt_at": r.next_attempt_at,
            "sent_at": r.sent_at,
            "outbox_id": r.pk,
        }
        for r in rows
    }
