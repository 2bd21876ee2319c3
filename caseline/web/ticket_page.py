"""What the agent's ticket page (``ticket_views``) reads and the one write of its composer.

The page shows data of several apps (tickets, SLA clocks, ETAs, inbound mail, audit), so
this module sits on top of them like the API's URL list does: the lower apps never import
it. Reads only, except :func:`send`, which runs the composer's services (reply or note,
ETA promise, status afterwards) in ONE transaction -- a refused ETA or status takes the
reply back with it, as the API's message endpoint does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import BooleanField, Case, Value, When
from django.urls import reverse

from caseline.accounts.models import User
from caseline.errors import ValidationFailed
from caseline.eta import queries as eta_queries
from caseline.eta.models import ETA
from caseline.mail.models import InboundMessage
from caseline.mail.outbound import deliveries
from caseline.sla.services import clocks_of
from caseline.tickets import inline_reply, macros, presence, queries
from caseline.tickets.models import Channel, Message, Ticket
from caseline.tickets.replycheck import check_ticket_draft
from caseline.tickets.states import ALLOWED, Status

MESSAGES_SHOWN = 200
TIMELINE_SHOWN = 200


@dataclass
class PageData:
    ticket: Ticket
    messages: list[Message]
    earlier: int
    inbound: dict[int, dict[str, Any]]
    delivery: dict[int, dict[str, Any]]
    clocks: list[Any]
    etas: list[ETA]
    current_eta: ETA | None
    missed_etas: list[ETA]
    followers: list[User]
    links: list[dict[str, Any]]
    timeline: list[Any]
    macros: list[Any]
    viewers: list[presence.Viewer]
    staff: list[User]
    allowed_statuses: frozenset[str]
    inline_source: Message | None
    inline_paragraphs: list[str] = field(default_factory=list)
    can_note: bool = False


def inbound_for(message_ids: list[int]) -> dict[int, dict[str, Any]]:
    """{message id: {"id", "has_quoted"}} for messages that arrived by email (one query;
    the quoted text itself is loaded when the agent asks for it)."""
    if not message_ids:
        return {}
    rows = (
        InboundMessage.objects.filter(ticket_message_id__in=message_ids)
        .annotate(
            has_quoted=Case(
                When(quoted_text="", then=Value(False)),
                default=Value(True),
                output_field=BooleanField(),
            )
        )
        .values("id", "ticket_message_id", "has_quoted")
    )
    return {r["ticket_message_id"]: r for r in rows}


def quoted_text(user: Any, ticket_id: int, message_id: int) -> dict[str, str]:
    """The folded part of an email message (quoted text, signature, the full text) if
    ``user`` may read the message; NotFound otherwise."""
    ticket = queries.visible_ticket(user, ticket_id)
    message = queries.visible_messages(user, ticket).filter(pk=message_id).first()
    if message is None:
        from caseline.errors import NotFound

        raise NotFound(f"no message {message_id} on CL-{ticket_id}")
    row = (
        InboundMessage.objects.filter(ticket_message_id=message.pk)
        .values("id", "quoted_text", "signature", "full_text")
        .first()
    )
    return row or {"id": None, "quoted_text": "", "signature": "", "full_text": ""}


def last_customer_message(ticket: Ticket) -> Message | None:
    return (
        Message.objects.filter(
            ticket=ticket, kind=Message.Kind.PUBLIC, author_contact__isnull=False
        )
        .order_by("-id")
        .first()
    )


def staff_choices() -> list[User]:
    return list(
        User.objects.filter(kind=User.Kind.STAFF, is_active=True)
        .only("id", "email", "display_name", "username", "first_name", "last_name")
        .order_by("display_name", "email")[:500]
    )


def attachment_url(attachment_id: int) -> str:
    return reverse("api-v1:download_attachment", args=[attachment_id])


def _page_html(message: Message) -> str:
    """The stored (sanitised) HTML as the page shows it: inline-reply answers marked
    ``ours``, ``cid:`` images pointing at the attachment download."""
    if not message.body_html:
        return ""
    html = message.body_html
    if message.author_contact_id is None:
        # Only our own replies: a customer's HTML could carry the same marker and pass
        # their text off as our answer.
        html = inline_reply.mark_for_page(html)
    for a in message.attachments.all():
        if a.content_id:
            html = html.replace(f'src="cid:{a.content_id}"', f'src="{attachment_url(a.pk)}"')
    return html


def load(user: Any, ticket_id: int) -> PageData:
    """Everything the page shows (NotFound when ``user`` may not see the ticket)."""
    ticket = queries.get_ticket(user, ticket_id)
    msg_qs = queries.visible_messages(user, ticket)
    total = msg_qs.count()
    messages = list(msg_qs.order_by("-id")[:MESSAGES_SHOWN])[::-1]
    ids = [m.pk for m in messages]
    inbound = inbound_for(ids)
    delivery = deliveries([m.pk for m in messages if m.is_public])
    for m in messages:
        m.page_html = _page_html(m)
        m.inbound = inbound.get(m.pk)
        m.delivery = delivery.get(m.pk)
    etas = list(eta_queries.for_ticket(ticket.pk)[:20])
    source = last_customer_message(ticket)
    return PageData(
        ticket=ticket,
        messages=messages,
        earlier=max(0, total - len(messages)),
        inbound=inbound,
        delivery=delivery,
        clocks=clocks_of(ticket.pk),
        etas=etas,
        current_eta=next((e for e in etas if e.status == ETA.Status.PENDING), None),
        missed_etas=[e for e in etas if e.status == ETA.Status.MISSED],
        followers=list(queries.followers_of(ticket)),
        links=queries.linked_tickets(ticket),
        timeline=list(queries.timeline(ticket).order_by("-id")[:TIMELINE_SHOWN]),
        macros=list(macros.macros_for(user)),
        viewers=presence.others(ticket.pk, user),
        staff=staff_choices(),
        allowed_statuses=frozenset(ALLOWED[ticket.status]),
        inline_source=source,
        inline_paragraphs=inline_reply.paragraphs(source.body_text) if source else [],
        can_note=queries.can_read_internal(user),
    )


@dataclass(frozen=True)
class Draft:
    """The composer's input, parsed by the view."""

    kind: str = Message.Kind.PUBLIC
    body: str = ""
    inline: bool = False
    inline_source: int | None = None
    inline_answers: tuple[str, ...] = ()
    inline_intro: str = ""
    inline_outro: str = ""
    attachments: tuple[tuple[str, str, bytes], ...] = ()
    eta: datetime | None = None
    then_status: str = ""


def draft_text(ticket: Ticket, draft: Draft) -> tuple[str, str]:
    """(text, html) the draft will send: the plain body, or the composed inline reply."""
    if not draft.inline:
        return draft.body, ""
    source = None
    if draft.inline_source is not None:
        source = Message.objects.filter(
            pk=draft.inline_source, ticket=ticket, author_contact__isnull=False
        ).first()
    if source is None:
        raise ValidationFailed(
            "the message to answer inline is not part of this ticket",
            fields={"inline_source": "not a customer message of this ticket"},
        )
    paras = inline_reply.paragraphs(source.body_text)
    answers = list(draft.inline_answers) + [""] * max(0, len(paras) - len(draft.inline_answers))
    return inline_reply.compose(
        list(zip(paras, answers, strict=False)),
        intro=draft.inline_intro,
        outro=draft.inline_outro,
    )


def send(ticket: Ticket, draft: Draft, *, actor: User) -> Message:
    """Add the reply or note; promise the ETA (public replies); set the status after. One
    transaction: any refusal changes nothing."""
    from caseline.eta.services import reply

    text, html = draft_text(ticket, draft)
    return reply(
        ticket,
        actor=actor,
        eta=draft.eta,
        then_status=draft.then_status,
        kind=draft.kind,
        body_text=text,
        body_html=html,
        attachments=list(draft.attachments),
        channel=Channel.WEB,
    )


# --- the reply checker (caseline/text/replycheck.py, pure; the API's read path) -------------

STAYS_OPEN = frozenset({Status.NEW, Status.OPEN, Status.ON_HOLD})


def check_draft(ticket: Ticket, draft: Draft) -> dict[str, Any]:
    """The reply checker's answer for a public draft, exactly as
    ``POST /api/v1/tickets/{id}/reply-check`` gives it (same query, same team style, same
    pure checker): the customer's messages since our last public reply against the draft
    (for an inline reply: our answers only, not the quoted paragraphs). The ticket stays
    open unless the composer's "then" status says otherwise. Advice only."""
    text = draft.body
    if draft.inline:
        text = "\n\n".join(
            a for a in (draft.inline_intro, *draft.inline_answers, draft.inline_outro) if a
        )
    final_status = draft.then_status or (
        Status.OPEN if ticket.status == Status.NEW else ticket.status
    )
    return check_ticket_draft(ticket, text, eta=draft.eta, keep_open=final_status in STAYS_OPEN)
