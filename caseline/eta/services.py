"""ETA commitments: promise, supersede, meet, remind, miss.

``promise(ticket, message=, due_at=, actor=)`` runs inside the caller's transaction (the
message-create endpoint calls it right after ``add_message``), so a refused ETA (422)
rolls the reply back too. Timers (``caseline.sla.timers``): ``eta.reminder`` at
``due_at - ETA_REMINDER_LEAD_MINUTES`` (default 30; skipped when that moment has passed)
and ``eta.due`` at ``due_at``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction

from caseline.accounts.models import User
from caseline.audit.services import record
from caseline.errors import ValidationFailed
from caseline.sla import timers
from caseline.tickets.models import Message, Ticket
from caseline.tickets.states import OPEN_STATUSES
from caseline.timesource import now

from .models import ETA

DEFAULT_REMINDER_LEAD_MINUTES = 30
MAX_AHEAD = timedelta(days=365)
REMINDER = "eta.reminder"
DUE = "eta.due"
KINDS = (REMINDER, DUE)


def reminder_lead() -> timedelta:
    minutes = getattr(settings, "ETA_REMINDER_LEAD_MINUTES", DEFAULT_REMINDER_LEAD_MINUTES)
    return timedelta(minutes=float(minutes))


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed("the ETA is not valid", fields={"eta": message})


def _due(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _refuse("an ISO 8601 date-time with a UTC offset")
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise _refuse("an ISO 8601 date-time with a UTC offset")
    return value.astimezone(UTC)


def _schedule_timers(eta: ETA) -> None:
    remind_at = eta.due_at - reminder_lead()
    if remind_at > now():
        timers.schedule(REMINDER, "eta", eta.pk, remind_at, key=f"eta:{eta.pk}:reminder")
    timers.schedule(DUE, "eta", eta.pk, eta.due_at, key=f"eta:{eta.pk}:due")


def _close(eta: ETA, **fields: Any) -> None:
    for k, v in fields.items():
        setattr(eta, k, v)
    eta.save(update_fields=list(fields))
    timers.cancel_for("eta", eta.pk, kinds=KINDS)


def reply(
    ticket: Ticket,
    *,
    actor: User,
    eta: Any = None,
    then_status: str = "",
    **message_fields: Any,
) -> Message:
    """The composer's use-case (API and ticket page): add a reply or note
    (``tickets.services.add_message`` with ``message_fields``), promise ``eta`` with it
    (public replies only) and then set ``then_status``. One transaction: a refused ETA or
    status takes the reply back with it."""
    from caseline.tickets import services as ticket_services

    if eta is not None and message_fields.get("kind", Message.Kind.PUBLIC) != Message.Kind.PUBLIC:
        raise _refuse("only on public replies")
    with transaction.atomic():
        message = ticket_services.add_message(ticket, actor=actor, **message_fields)
        if eta is not None:
            promise(ticket, message=message, due_at=eta, actor=actor)
        if then_status:
            ticket_services.update_ticket(ticket, actor=actor, status=then_status)
    return message


def promise(
    ticket: Ticket | int, *, message: Message | int, due_at: Any, actor: User | None
) -> ETA:
    """Record that ``message`` (a public staff reply on an open ticket) promises the next
    step by ``due_at``. The pending ETA of the ticket, if any, is superseded. 422 when the
    ETA is not in the future, the message is not a public staff reply of this ticket, or
    the ticket is solved or closed."""
    due = _due(due_at)
    current = now()
    if due <= current:
        raise _refuse("must be in the future")
    if due - current > MAX_AHEAD:
        raise _refuse("at most a year ahead")
    if actor is not None and getattr(actor, "is_customer", False):
        raise _refuse("only staff promise an ETA")
    with transaction.atomic():
        ticket_id = ticket.pk if isinstance(ticket, Ticket) else int(ticket)
        t = Ticket.objects.select_for_update().filter(pk=ticket_id).first()
        if t is None:
            raise _refuse("no such ticket")
        msg_id = message.pk if isinstance(message, Message) else int(message)
        msg = Message.objects.filter(pk=msg_id, ticket_id=t.pk).first()
        if msg is None:
            raise _refuse("the message is not part of this ticket")
        if msg.kind != Message.Kind.PUBLIC or msg.author_contact_id is not None:
            raise _refuse("only a public staff reply carries an ETA")
        if t.status not in OPEN_STATUSES:
            raise _refuse(f"only on open tickets (this one is {t.status})")
        owner = actor if isinstance(actor, User) else (t.assignee if t.assignee_id else None)
        # The pending ETA, and one that this very reply just met (the "later public staff
        # reply" rule ran first): the new ETA supersedes both.
        replaced = list(
            ETA.objects.select_for_update().filter(ticket=t, status=ETA.Status.PENDING)
        ) + list(
            ETA.objects.select_for_update().filter(
                ticket=t, status=ETA.Status.MET, met_message_id=msg.pk
            )
        )
        for old in replaced:
            _close(
                old,
                status=ETA.Status.SUPERSEDED,
                superseded_at=current,
                met_at=None,
                met_message=None,
            )
        eta = ETA.objects.create(
            ticket=t,
            message=msg,
            owner=owner,
            due_at=due,
            status=ETA.Status.PENDING,
            created_at=current,
        )
        for old in replaced:
            ETA.objects.filter(pk=old.pk).update(superseded_by=eta)
            record(
                "eta.superseded",
                "ticket",
                t.pk,
                actor=actor,
                at=current,
                ticket_id=t.pk,
                changes={"eta": (old.due_at.isoformat(), due.isoformat())},
                data={"eta_id": old.pk, "superseded_by": eta.pk},
            )
        record(
            "eta.promised",
            "ticket",
            t.pk,
            actor=actor,
            at=current,
            ticket_id=t.pk,
            data={
                "eta_id": eta.pk,
                "due_at": due.isoformat(),
                "owner": owner.pk if owner else None,
                "message_id": msg.pk,
            },
        )
        _schedule_timers(eta)
    return eta


def meet(
    ticket_id: int, *, at: datetime, reason: str, message_id: int | None = None, actor=None
) -> ETA | None:
    """Mark the pending ETA of the ticket met (a later public staff reply, or solved)."""
    eta = (
        ETA.objects.select_for_update()
        .filter(ticket_id=ticket_id, status=ETA.Status.PENDING)
        .first()
    )
    if eta is None or (message_id is not None and eta.message_id == message_id):
        return None
    _close(
        eta,
        status=ETA.Status.MET,
        met_at=at,
        met_message_id=message_id,
    )
    record(
        "eta.met",
        "ticket",
        ticket_id,
        actor=actor,
        at=at,
        ticket_id=ticket_id,
        data={
            "eta_id": eta.pk,
            "due_at": eta.due_at.isoformat(),
            "reason": reason,
            "message_id": message_id,
            "early_by_seconds": int((eta.due_at - at).total_seconds()),
        },
    )
    return eta
