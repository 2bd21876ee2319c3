"""Event subscribers (a later public staff reply or solving meets the pending ETA) and
the timer kinds ``eta.reminder`` and ``eta.due``."""

from __future__ import annotations

from caseline.audit.services import record
from caseline.events import DomainEvent
from caseline.sla import timers
from caseline.sla.models import Timer
from caseline.timesource import now

from . import services
from .models import ETA


def on_message_added(event: DomainEvent) -> None:
    data = event.data
    if data.get("kind") != "public" or data.get("author_role") != "staff":
        return
    services.meet(
        event.subject_id,
        at=event.at,
        reason="reply",
        message_id=data.get("message_id"),
        actor=None,
    )


def on_ticket_solved(event: DomainEvent) -> None:
    services.meet(event.subject_id, at=event.at, reason="solved", actor=None)


def on_assigned(event: DomainEvent) -> None:
    """The pending ETA follows the ticket: reassigned, its reminder goes to the new
    assignee (unassigning keeps the previous owner)."""
    change = (event.data.get("changes") or {}).get("assignee")
    if not change or change[1] is None:
        return
    held = event.subject
    if held is not None and held.pk == event.subject_id and getattr(held, "in_creation", False):
        return  # assigned while being created: it has no ETA yet
    ETA.objects.filter(ticket_id=event.subject_id, status=ETA.Status.PENDING).exclude(
        owner_id=change[1]
    ).update(owner_id=change[1])


def _pending(timer: Timer) -> ETA | None:
    return (
        ETA.objects.select_for_update(of=("self",))
        .select_related("ticket", "owner")
        .filter(pk=timer.subject_id, status=ETA.Status.PENDING)
        .first()
    )


@timers.handler(services.REMINDER)
def remind(timer: Timer) -> None:
    eta = _pending(timer)
    if eta is None or eta.reminded_at is not None:
        return
    at = now()
    ETA.objects.filter(pk=eta.pk).update(reminded_at=at)
    ticket = eta.ticket
    owner = eta.owner
    sent_to = None
    if owner is not None and owner.is_active and owner.email:
        from caseline.notify.services import enqueue_email

        minutes = max(0, int((eta.due_at - at).total_seconds() // 60))
        enqueue_email(
            key=f"eta-{eta.pk}-reminder",
            to=[owner.email],
            subject=f"[{ticket.reference}] ETA in {minutes} min: {ticket.subject}",
            text=(
                f"You promised the next step on {ticket.reference} by "
                f"{eta.due_at:%Y-%m-%d %H:%M} UTC ({minutes} minutes from now).\n\n"
                f"Subject: {ticket.subject}\n\n"
                "Reply to the customer before then (a public reply meets the ETA), "
                "or give a new ETA.\n"
            ),
            subject_type="ticket",
            subject_id=ticket.pk,
        )
        sent_to = owner.email
    record(
        "eta.reminded",
        "ticket",
        ticket.pk,
        at=at,
        ticket_id=ticket.pk,
        data={
            "eta_id": eta.pk,
            "due_at": eta.due_at.isoformat(),
            "owner": eta.owner_id,
            "email": sent_to,
        },
    )


@timers.handler(services.DUE)
def missed(timer: Timer) -> None:
    eta = _pending(timer)
    if eta is None:
        return
    at = now()
    ETA.objects.filter(pk=eta.pk).update(status=ETA.Status.MISSED, missed_at=at)
    record(
        "eta.missed",
        "ticket",
        eta.ticket_id,
        at=at,
        ticket_id=eta.ticket_id,
        changes={"eta_status": (ETA.Status.PENDING, ETA.Status.MISSED)},
        data={"eta_id": eta.pk, "due_at": eta.due_at.isoformat(), "owner": eta.owner_id},
    )
