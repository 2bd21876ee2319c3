"""Broadcasts: one update about an incident, written once, reaching everyone
(docs/broadcasts.md).

``send_broadcast`` is ONE transaction that

1. puts a **public staff message** with the update on every linked ticket that is not
   closed, in bulk: one INSERT of the messages, one of the ``BroadcastTicket`` rows, one
   UPDATE of the tickets' ``updated_at`` and one INSERT of their ``ticket.message_added``
   audit rows. Each audit row's domain event is then published as ``record`` would
   publish it (same type, data, actor, time and audit id), so every subscriber sees an
   ordinary public staff reply: the SLA engine fulfils the ticket's next-reply and
   periodic-update clocks (and starts the next periodic cycle) exactly as for a reply
   typed on the ticket page, the ETA app meets a pending ETA, webhooks fan out, and the
   mail app writes the reply's email **in the ticket's thread** (our Message-ID,
   In-Reply-To/References, ``[CL-n]`` token, To the requester, Cc the CCs and SC, Bcc the
   staff followers) with its own outbound code. The clock rows are written per ticket by
   the SLA engine (its per-ticket ``apply`` under the clock-row lock), inside this one
   transaction: the messages are committed together with their clocks, so no breach
   timer can fire in between;
2. writes the **chat** posts (Slack-compatible JSON) and, for a public broadcast, the
   **status-page subscribers'** emails as outbox rows with one INSERT
   (``notify.services.enqueue_rows``: one doorbell for all of them);
3. records the broadcast for the **executive feed** (the ``Broadcast`` row), a timeline
   entry on the incident, the ``incident.broadcast_sent`` audit event, and re-arms the
   **update cadence** at the next update time the broadcast states.

A broadcast never changes a ticket's status (unlike a reply typed on a new ticket).
"""

from __future__ import annotations

import html as htmllib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Count, Q
from django.utils.dateparse import parse_datetime

from caseline.audit.models import AuditEvent
from caseline.audit.services import record
from caseline.errors import Conflict, NotFound, ValidationFailed
from caseline.events import DomainEvent, publish
from caseline.notify.models import OutboxMessage, Webhook
from caseline.notify.services import email_row, enqueue_email, enqueue_rows
from caseline.sla import timers
from caseline.sla.models import Timer
from caseline.tickets.models import Channel, Message, Status, Ticket
from caseline.timesource import now

from .models import Broadcast, BroadcastTicket, ChatWebhook, Incident, StatusSubscriber

log = logging.getLogger(__name__)

EMAIL = "email"  # a public message on every linked ticket, emailed in its thread
CHAT = "chat"  # every active chat webhook
CHANNELS = (EMAIL, CHAT)
MAX_BODY = 10_000
MAX_AHEAD = timedelta(days=7)
# The update cadence per severity when the incident sets none (SPEC: every hour for Sev-1).
DEFAULT_CADENCE_SECONDS = {1: 3600, 2: 4 * 3600}
MIN_CADENCE_SECONDS = 300
MAX_CADENCE_SECONDS = 7 * 86400
REMINDER_KIND = "incident.broadcast_reminder"
DUE_KIND = "incident.broadcast_due"
FINISHED = (Incident.Status.RESOLVED, Incident.Status.CLOSED)


def reminder_seconds() -> int:
    return int(getattr(settings, "INCIDENT_BROADCAST_REMINDER_SECONDS", 600))


# --- helpers ---------------------------------------------------------------------------------


def fmt_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%a %d %b %Y, %H:%M UTC")


def _lock(incident_id: int) -> Incident:
    # Lock the cadence timers first, then the incident: the clock loop holds a firing
    # timer's row and then takes the incident row, so the same order here never deadlocks.
    list(
        Timer.objects.select_for_update()
        .filter(
            subject_type="incident",
            subject_id=incident_id,
            kind__in=(REMINDER_KIND, DUE_KIND),
            fired_at__isnull=True,
            cancelled_at__isnull=True,
        )
        .values_list("pk", flat=True)
    )
    inc = Incident.objects.select_for_update().filter(pk=incident_id).first()
    if inc is None:
        raise NotFound(f"no incident INC-{incident_id}")
    return inc


def _timeline(inc: Incident, event_type: str, text: str, actor: Any, at: datetime) -> None:
    """An event entry on the incident's timeline (the core's TimelineEntry)."""
    from .models import TimelineEntry

    TimelineEntry.objects.create(
        incident=inc,
        kind="event",
        event_type=event_type,
        text=text[:2000],
        author=actor if getattr(actor, "pk", None) else None,
        at=at,
    )


def _parse_when(raw: Any) -> datetime | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, datetime):
        value = raw
    else:
        try:
            value = parse_datetime(str(raw).strip())
        except ValueError:
            value = None
        if value is None:
            raise ValueError("not a date-time")
    if value.tzinfo is None:
        raise ValueError("give a time zone (e.g. 2026-03-02T10:00:00Z)")
    return value.astimezone(UTC)


def cadence_seconds(inc: Incident) -> int:
    if inc.update_every_seconds is not None:
        return int(inc.update_every_seconds)
    return DEFAULT_CADENCE_SECONDS.get(int(inc.severity), 0)


# --- composing -------------------------------------------------------------------------------


def title_of(inc: Incident, *, public: bool = False) -> str:
    if public:
        return inc.public_title or inc.title
    return inc.title


def compose_text(inc: Incident, body: str, next_update_at: datetime) -> str:
    """The text every channel carries: the update and, always, the next update time."""
    return (
        f"Update on {inc.reference} ({inc.get_status_display()}): {title_of(inc, public=True)}"
        f"\n\n{body.strip()}\n\nNext update: by {fmt_time(next_update_at)}."
    )


def chat_payload(inc: Incident, broadcast: Broadcast) -> dict[str, Any]:
    """Slack-compatible incoming-webhook JSON: ``text`` (the fallback) and ``blocks``."""
    nxt = fmt_time(broadcast.next_update_at)
    head = f"{inc.reference} Sev-{inc.severity} · {inc.get_status_display()}: {inc.title}"
    return {
        "text": f"{head}\n{broadcast.body}\nNext update: by {nxt}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": head[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": broadcast.body[:3000]}},
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"Next update: by *{nxt}* · "
                        f"{broadcast.ticket_count} linked tickets updated",
                    }
                ],
            },
        ],
    }


def _subscriber_row(broadcast: Broadcast, inc: Incident, sub: StatusSubscriber) -> OutboxMessage:
    from . import statuspage

    link = statuspage.unsubscribe_url(sub.token)
    body = compose_text(inc, broadcast.body, broadcast.next_update_at)
    text = f"{body}\n\nStatus page: {statuspage.page_url()}\nUnsubscribe: {link}\n"
    html = (
        "".join(f"<p>{htmllib.escape(p).replace(chr(10), '<br>')}</p>" for p in body.split("\n\n"))
        + f'<p><a href="{htmllib.escape(statuspage.page_url())}">Status page</a> · '
        f'<a href="{htmllib.escape(link)}">Unsubscribe</a></p>'
    )
    return email_row(
        key=f"bc-{broadcast.pk}-sub-{sub.pk}",
        to=[sub.email],
        subject=f"[{inc.reference}] {title_of(inc, public=True)}",
        text=text,
        html=html,
        headers={
            "List-Unsubscribe": f"<{link}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
        },
        subject_type="broadcast",
        subject_id=broadcast.pk,
    )


# --- sending ---------------------------------------------------------------------------------


def _clean_send(
    inc: Incident, body: Any, next_update_at: Any, public: Any, channels: Any, at: datetime
) -> tuple[str, datetime, bool, list[str]]:
    fields: dict[str, str] = {}
    text = body.strip() if isinstance(body, str) else ""
    if not text:
        fields["body"] = "write the update"
    elif len(text) > MAX_BODY:
        fields["body"] = f"at most {MAX_BODY} characters"
    elif "\x00" in text:
        fields["body"] = "must not contain NUL characters"
    try:
        when = _parse_when(next_update_at)
    except ValueError as exc:
        fields["next_update_at"] = str(exc)
        when = None
    if when is None and "next_update_at" not in fields:
        when = at + timedelta(seconds=cadence_seconds(inc) or 3600)
    elif when is not None and when <= at:
        fields["next_update_at"] = "must be in the future"
    elif when is not None and when > at + MAX_AHEAD:
        fields["next_update_at"] = "at most 7 days ahead"
    if not isinstance(public, bool):
        fields["public"] = "true or false"
    elif public and not inc.public:
        fields["public"] = "the incident is not on the status page: make it public first"
    if channels is None:
        chosen = list(CHANNELS)
    elif not isinstance(channels, list) or any(c not in CHANNELS for c in channels):
        fields["channels"] = f"a list of {', '.join(CHANNELS)}"
        chosen = []
    else:
        chosen = [c for c in CHANNELS if c in channels]
    if fields:
        detail = "; ".join(f"{k}: {v}" for k, v in fields.items())
        raise ValidationFailed(f"the broadcast is not valid: {detail}", fields=fields)
    assert when is not None
    return text, when, bool(public), chosen


def send_broadcast(
    incident_id: int,
    actor: Any,
    *,
    body: Any,
    next_update_at: Any = None,
    public: Any = False,
    channels: Any = None,
) -> Broadcast:
    """Send one update to every linked ticket, the feed, chat and (public) the status page.

    ``next_update_at`` defaults to now + the incident's cadence (1 h for Sev-1);
    ``channels`` is a list of ``email`` (the linked tickets' threads) and ``chat``
    (default both); the executive feed always shows it, the status page when ``public``.
    Bad input (422) and a closed incident (409) change nothing."""
    actor = actor if getattr(actor, "pk", None) else None
    with transaction.atomic():
        inc = _lock(incident_id)
        at = now()
        text, when, public, chosen = _clean_send(inc, body, next_update_at, public, channels, at)
        if inc.status == Incident.Status.CLOSED:
            raise Conflict(f"{inc.reference} is closed", fields={"status": "closed"})
        b = Broadcast.objects.create(
            incident=inc,
            body=text,
            next_update_at=when,
            public=public,
            channels=chosen,
            incident_status=inc.status,
            author=actor,
            created_at=at,
        )
        if EMAIL in chosen:
            b.ticket_count = _post_to_tickets(inc, b, actor, at)
        rows: list[OutboxMessage] = []
        if CHAT in chosen:
            payload = chat_payload(inc, b)
            for hook in ChatWebhook.objects.filter(active=True, webhook__isnull=False):
                rows.append(
                    OutboxMessage(
                        kind=OutboxMessage.Kind.WEBHOOK,
                        webhook_id=hook.webhook_id,
                        idempotency_key=f"bc-{b.pk}-chat-{hook.pk}",
                        payload=payload,
                        event_type="incident.broadcast_sent",
                        subject_type="broadcast",
                        subject_id=b.pk,
                        enqueued_at=at,
                    )
                )
        if public:
            subs = StatusSubscriber.objects.filter(
                confirmed_at__isnull=False, unsubscribed_at__isnull=True
            ).order_by("id")
            rows.extend(_subscriber_row(b, inc, s) for s in subs.iterator())
        enqueue_rows(rows)
        b.save(update_fields=["ticket_count"])
        if inc.status not in FINISHED:
            _arm(inc, when)
        else:
            inc.next_update_at = None
            inc.save(update_fields=["next_update_at"])
        _timeline(
            inc,
            "incident.broadcast_sent",
            f"Broadcast to {b.ticket_count} tickets"
            + (" and the status page" if public else "")
            + f"; next update by {fmt_time(when)}: {text[:300]}",
            actor,
            at,
        )
        record(
            "incident.broadcast_sent",
            "incident",
            inc.pk,
            actor=actor,
            at=at,
            subject=inc,
            data={
                "broadcast_id": b.pk,
                "tickets": b.ticket_count,
                "public": public,
                "channels": chosen,
                "next_update_at": when.isoformat(),
            },
        )
        if public:
            from . import statuspage

            statuspage.invalidate()
    return b


def _post_to_tickets(inc: Incident, b: Broadcast, actor: Any, at: datetime) -> int:
    """The public message on each linked ticket, in bulk; see the module docstring."""
    tickets = list(
        Ticket.objects.select_for_update(of=("self",))
        .select_related("organization")
        .filter(incidents=inc)
        .exclude(status=Status.CLOSED)
        .order_by("id")
    )
    if not tickets:
        return 0
    text = compose_text(inc, b.body, b.next_update_at)
    messages = [
        Message(
            ticket=t,
            kind=Message.Kind.PUBLIC,
            author_user=actor,
            channel=Channel.WEB,
            body_text=text,
            created_at=at,
        )
        for t in tickets
    ]
    Message.objects.bulk_create(messages)
    BroadcastTicket.objects.bulk_create(
        [
            BroadcastTicket(broadcast=b, ticket=t, message=m)
            for t, m in zip(tickets, messages, strict=True)
        ]
    )
    ids = [t.pk for t in tickets]
    Ticket.objects.filter(pk__in=ids).update(updated_at=at)
    label = getattr(actor, "email", "") or ("system" if actor is None else str(actor))
    datas = [
        {
            "message_id": m.pk,
            "kind": Message.Kind.PUBLIC.value,
            "author_role": "staff",
            "channel": Channel.WEB.value,
            "attachments": [],
            "broadcast_id": b.pk,
            "incident_id": inc.pk,
        }
        for m in messages
    ]
    audits = [
        AuditEvent(
            subject_type="ticket",
            subject_id=t.pk,
            ticket_id=t.pk,
            type="ticket.message_added",
            actor_id=getattr(actor, "pk", None),
            actor_label=label,
            at=at,
            data=data,
        )
        for t, data in zip(tickets, datas, strict=True)
    ]
    AuditEvent.objects.bulk_create(audits)
    for t, audit, data in zip(tickets, audits, datas, strict=True):
        t.updated_at = at
        publish(
            DomainEvent(
                type="ticket.message_added",
                subject_type="ticket",
                subject_id=t.pk,
                at=at,
                actor_id=getattr(actor, "pk", None),
                data=dict(data),
                audit_id=audit.pk,
                subject=t,
            )
        )
    return len(tickets)


# --- the update cadence (timers) -------------------------------------------------------------


def _keys(incident_id: int, cycle: int) -> tuple[str, str]:
    base = f"inc-bcast:{incident_id}:{cycle}"
    return f"{base}:reminder", f"{base}:due"


def _cancel(inc: Incident) -> None:
    for key in _keys(inc.pk, inc.update_cycle):
        timers.cancel(key)


def _arm(inc: Incident, due_at: datetime) -> None:
    """Start the next cadence cycle: the next update is due at ``due_at`` (a reminder
    ``INCIDENT_BROADCAST_REMINDER_SECONDS`` before it, when that is still ahead)."""
    _cancel(inc)
    inc.update_cycle += 1
    inc.next_update_at = due_at
    inc.save(update_fields=["update_cycle", "next_update_at"])
    reminder_key, due_key = _keys(inc.pk, inc.update_cycle)
    payload = {"cycle": inc.update_cycle, "incident": inc.pk}
    remind_at = due_at - timedelta(seconds=reminder_seconds())
    if reminder_seconds() and remind_at > now():
        timers.schedule(REMINDER_KIND, "incident", inc.pk, remind_at, reminder_key, payload)
    timers.schedule(DUE_KIND, "incident", inc.pk, due_at, due_key, payload)


def _stop(inc: Incident) -> None:
    _cancel(inc)
    if inc.next_update_at is not None:
        inc.next_update_at = None
        inc.save(update_fields=["next_update_at"])


def set_cadence(incident_id: int, actor: Any, *, every_seconds: Any) -> Incident:
    """Set the incident's update cadence (seconds; 0 stops it; ``None`` goes back to the
    severity's default). The next update falls due ``every_seconds`` from now."""
    if every_seconds is not None and (
        isinstance(every_seconds, bool)
        or not isinstance(every_seconds, int)
        or (every_seconds != 0 and not MIN_CADENCE_SECONDS <= every_seconds <= MAX_CADENCE_SECONDS)
    ):
        raise ValidationFailed(
            "invalid cadence",
            fields={
                "every_seconds": f"0 (off), null (the severity's default) or "
                f"{MIN_CADENCE_SECONDS}-{MAX_CADENCE_SECONDS} seconds"
            },
        )
    with transaction.atomic():
        inc = _lock(incident_id)
        old = inc.update_every_seconds
        inc.update_every_seconds = every_seconds
        inc.save(update_fields=["update_every_seconds"])
        seconds = cadence_seconds(inc)
        if seconds and inc.status not in FINISHED:
            _arm(inc, now() + timedelta(seconds=seconds))
        else:
            _stop(inc)
        record(
            "incident.broadcast_cadence_set",
            "incident",
            inc.pk,
            actor=actor,
            subject=inc,
            changes={"update_every_seconds": (old, every_seconds)},
            data={"next_update_at": inc.next_update_at},
        )
    return inc


def _event_incident(event: DomainEvent) -> Incident | None:
    """The publisher's incident row (so its instance carries the cadence fields we set),
    else read."""
    held = event.subject
    if isinstance(held, Incident) and held.pk == event.subject_id:
        return held
    return Incident.objects.filter(pk=event.subject_id).first()


def on_incident_declared(event: DomainEvent) -> None:
    """A declared incident starts its cadence (Sev-1: the first update within the hour)."""
    inc = _event_incident(event)
    if inc is None or inc.status in FINISHED:
        return
    seconds = cadence_seconds(inc)
    if seconds and inc.next_update_at is None:
        _arm(inc, event.at + timedelta(seconds=seconds))


def on_incident_status_changed(event: DomainEvent) -> None:
    """Resolving or closing stops the cadence; reopening restarts it."""
    inc = _event_incident(event)
    if inc is None:
        return
    if inc.status in FINISHED:
        _stop(inc)
    elif inc.next_update_at is None and cadence_seconds(inc):
        _arm(inc, event.at + timedelta(seconds=cadence_seconds(inc)))


def _current(timer: Timer) -> Incident | None:
    inc = Incident.objects.select_for_update().filter(pk=timer.subject_id).first()
    if inc is None or inc.status in FINISHED:
        return None
    if (timer.payload or {}).get("cycle") != inc.update_cycle:
        return None  # a broadcast or a cadence change started another cycle
    return inc


def communications_contacts(inc: Incident) -> list[Any]:
    """Who is reminded: the communications lead, else the incident manager, else the
    case owner (active users with an email)."""
    from .models import IncidentRole

    people = []
    for role in ("communications_lead", "incident_manager", "case_owner"):
        held = (
            IncidentRole.objects.filter(incident=inc, role=role, renounced_at__isnull=True)
            .select_related("user")
            .first()
        )
        if held is not None:
            people.append(held.user)
    people += [inc.incident_manager, inc.case_owner]
    for user in people:
        if user is not None and user.is_active and user.email:
            return [user]
    return []


@timers.handler(REMINDER_KIND)
def remind(timer: Timer) -> None:
    inc = _current(timer)
    if inc is None or inc.next_update_at is None:
        return
    sent_to = []
    minutes = max(0, int((inc.next_update_at - now()).total_seconds() // 60))
    for user in communications_contacts(inc):
        enqueue_email(
            key=f"inc-bcast-{inc.pk}-{inc.update_cycle}-reminder-{user.pk}",
            to=[user.email],
            subject=f"[{inc.reference}] Broadcast due in {minutes} min: {inc.title}",
            text=(
                f"The next update on {inc.reference} is due by {fmt_time(inc.next_update_at)} "
                f"({minutes} minutes from now).\n\nSend a broadcast from the incident room "
                "(it reaches every linked ticket, the executive feed and chat).\n"
            ),
            subject_type="incident",
            subject_id=inc.pk,
        )
        sent_to.append(user.pk)
    record(
        "incident.broadcast_reminded",
        "incident",
        inc.pk,
        subject=inc,
        data={"due_at": inc.next_update_at, "cycle": inc.update_cycle, "to": sent_to},
    )


@timers.handler(DUE_KIND)
def missed(timer: Timer) -> None:
    inc = _current(timer)
    if inc is None:
        return
    at = now()
    due = timer.due_at
    _timeline(
        inc, "incident.broadcast_missed", f"Update due by {fmt_time(due)} was missed", None, at
    )
    record(
        "incident.broadcast_missed",
        "incident",
        inc.pk,
        subject=inc,
        data={"due_at": due, "cycle": inc.update_cycle},
    )
    seconds = cadence_seconds(inc)
    if seconds:
        nxt = due + timedelta(seconds=seconds)
        while nxt <= at:
            nxt += timedelta(seconds=seconds)
        _arm(inc, nxt)
    else:
        inc.next_update_at = None
        inc.save(update_fields=["next_update_at"])


# --- delivery state --------------------------------------------------------------------------


def _outbox_rows(b: Broadcast):
    message_ids = BroadcastTicket.objects.filter(broadcast=b).values("message_id")
    return OutboxMessage.objects.filter(
        Q(subject_type="message", subject_id__in=message_ids)
        | Q(subject_type="broadcast", subject_id=b.pk)
    )


def delivery_summary(b: Broadcast) -> dict[str, int]:
    """Outbox rows of the broadcast by status (pending, sent, failed) and their total."""
    counts = {"pending": 0, "sent": 0, "failed": 0}
    for row in _outbox_rows(b).values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    counts["total"] = sum(counts.values())
    return counts


def deliveries(b: Broadcast, *, limit: int = 5000) -> list[dict[str, Any]]:
    """Delivery state per recipient and channel: each email of a ticket's thread names its
    To/Cc/Bcc recipients, each chat post its webhook, each subscriber mail its address.
    A linked ticket whose message had nobody to email shows ``no_recipient``."""
    out: list[dict[str, Any]] = []
    links = {
        bt["message_id"]: bt["ticket_id"]
        for bt in BroadcastTicket.objects.filter(broadcast=b).values("message_id", "ticket_id")
    }
    hooks = {h.webhook_id: h for h in ChatWebhook.objects.filter(webhook__isnull=False)}
    emailed: set[int] = set()
    for row in _outbox_rows(b).order_by("id")[:limit]:
        state = {
            "status": row.status,
            "attempts": row.attempts,
            "last_error": row.last_error,
            "sent_at": row.sent_at,
            "outbox_id": row.pk,
        }
        if row.kind == OutboxMessage.Kind.WEBHOOK:
            hook = hooks.get(row.webhook_id)
            out.append(
                {
                    "channel": "chat",
                    "recipient": hook.name if hook else "(deleted chat webhook)",
                    "ticket_id": None,
                    **state,
                }
            )
            continue
        p = row.payload or {}
        ticket_id = links.get(row.subject_id) if row.subject_type == "message" else None
        if ticket_id is not None:
            emailed.add(ticket_id)
        channel = "email" if row.subject_type == "message" else "subscriber"
        for addr in [*p.get("to", []), *p.get("cc", []), *p.get("bcc", [])]:
            out.append({"channel": channel, "recipient": addr, "ticket_id": ticket_id, **state})
    for ticket_id in sorted(set(links.values()) - emailed):
        out.append(
            {
                "channel": "email",
                "recipient": "",
                "ticket_id": ticket_id,
                "status": "no_recipient",
                "attempts": 0,
                "last_error": "",
                "sent_at": None,
                "outbox_id": None,
            }
        )
    return out


def feed(*, limit: int = 50, before_id: int | None = None):
    """The executive feed: broadcasts of every incident, newest first."""
    qs = Broadcast.objects.select_related("incident", "author").order_by("-created_at", "-id")
    if before_id is not None:
        qs = qs.filter(id__lt=before_id)
    return qs[:limit]


def get_broadcast(incident_id: int, broadcast_id: int) -> Broadcast:
    b = (
        Broadcast.objects.select_related("incident", "author")
        .filter(pk=broadcast_id, incident_id=incident_id)
        .first()
    )
    if b is None:
        raise NotFound(f"no broadcast {broadcast_id} on INC-{incident_id}")
    return b


def get_incident(incident_id: int) -> Incident:
    inc = Incident.objects.filter(pk=incident_id).first()
    if inc is None:
        raise NotFound(f"no incident INC-{incident_id}")
    return inc


# --- chat webhooks ---------------------------------------------------------------------------

_url_validator = URLValidator(schemes=["http", "https"])


def _clean_chat(data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    from caseline.notify.services import clean_name_and_url

    out, fields = clean_name_and_url(data, creating=creating, what="chat webhooks")
    if "active" in data and data["active"] is not None:
        if not isinstance(data["active"], bool):
            fields["active"] = "true or false"
        out["active"] = data["active"]
    if fields:
        detail = "; ".join(f"{k}: {v}" for k, v in fields.items())
        raise ValidationFailed(f"invalid chat webhook: {detail}", fields=fields)
    return out


def _chat_public(hook: ChatWebhook) -> dict[str, Any]:
    return {"name": hook.name, "url": hook.url, "active": hook.active}


def create_chat_webhook(actor: Any, **data: Any) -> ChatWebhook:
    """A chat channel for broadcasts. Its backing notify webhook subscribes to no event
    (only broadcasts post to it), and carries the URL through the outbox's SSRF guard."""
    from caseline.notify import signing

    clean = _clean_chat(data, creating=True)
    with transaction.atomic():
        backing = Webhook.objects.create(
            name=f"chat: {clean['name']}"[:100],
            url=clean["url"],
            secret=signing.generate_secret(),
            event_types=[],
            active=clean.get("active", True),
            created_at=now(),
        )
        hook = ChatWebhook.objects.create(
            webhook=backing,
            created_by=actor if getattr(actor, "pk", None) else None,
            created_at=now(),
            **clean,
        )
        record(
            "chat_webhook.changed",
            "chat_webhook",
            hook.pk,
            actor=actor,
            data={"action": "created", **_chat_public(hook)},
        )
    return hook


def get_chat_webhook(hook_id: int) -> ChatWebhook:
    hook = ChatWebhook.objects.filter(pk=hook_id).first()
    if hook is None:
        raise NotFound(f"chat webhook {hook_id} not found")
    return hook


def update_chat_webhook(hook_id: int, actor: Any, **data: Any) -> ChatWebhook:
    clean = _clean_chat(data, creating=False)
    with transaction.atomic():
        hook = ChatWebhook.objects.select_for_update().filter(pk=hook_id).first()
        if hook is None:
            raise NotFound(f"chat webhook {hook_id} not found")
        changes = {}
        for field, value in clean.items():
            if getattr(hook, field) != value:
                changes[field] = (getattr(hook, field), value)
                setattr(hook, field, value)
        if changes:
            hook.save(update_fields=list(changes))
            if hook.webhook_id:
                Webhook.objects.filter(pk=hook.webhook_id).update(
                    url=hook.url, active=hook.active, name=f"chat: {hook.name}"[:100]
                )
            record(
                "chat_webhook.changed",
                "chat_webhook",
                hook.pk,
                actor=actor,
                changes=changes,
                data={"action": "updated"},
            )
    return hook


def delete_chat_webhook(hook_id: int, actor: Any) -> None:
    """Delete a chat webhook; its pending posts fail (kept for the record)."""
    with transaction.atomic():
        hook = ChatWebhook.objects.select_for_update().filter(pk=hook_id).first()
        if hook is None:
            raise NotFound(f"chat webhook {hook_id} not found")
        snapshot = _chat_public(hook)
        backing = hook.webhook_id
        hook.delete()
        if backing:
            OutboxMessage.objects.filter(
                webhook_id=backing, status=OutboxMessage.Status.PENDING
            ).update(status=OutboxMessage.Status.FAILED, last_error="the chat webhook was deleted")
            Webhook.objects.filter(pk=backing).delete()
        record(
            "chat_webhook.changed",
            "chat_webhook",
            hook_id,
            actor=actor,
            data={"action": "deleted", **snapshot},
        )


# --- wiring (called from IncidentsConfig.ready) -------------------------------------------


def connect() -> None:
    """Event subscriptions and the incident room's panel (the timer kinds registered at
    import, above)."""
    from caseline.events import subscribe
    from caseline.web import panels

    from . import broadcasts_admin, statuspage

    broadcasts_admin.register()
    subscribe("incident.declared", on_incident_declared)
    subscribe("incident.status_changed", on_incident_status_changed)
    subscribe("incident.status_changed", statuspage.on_incident_changed)
    subscribe("incident.updated", statuspage.on_incident_changed)
    panels.register(
        "incident",
        panels.Panel(
            "broadcasts",
            "Broadcasts",
            "incident_broadcasts_panel",
            order=30,
            permission="accounts.view_all_tickets",
        ),
    )
