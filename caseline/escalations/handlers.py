"""Timer kinds of escalations (fired by the clock loop, inside its claiming transaction)
and the SLA engine's ``open_escalation`` breach action."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from caseline.sla import timers
from caseline.sla.models import Timer
from caseline.timesource import now

from . import services
from .models import Cadence, CadenceEntry, Commitment, Escalation

# Rule parameters a policy may give ``open_escalation`` (checked when the policy is saved).
ACTION_PARAMS: tuple[str, ...] = ("severity",)


def check_action_params(params: dict[str, Any]) -> dict[str, str]:
    """``open_escalation`` rule parameters, checked when the SLA policy is saved."""
    sev = params.get("severity")
    if "severity" in params and (isinstance(sev, bool) or sev not in (1, 2, 3, 4)):
        return {"severity": "1-4 (the escalation's severity; leave out for the ticket's)"}
    return {}


def open_escalation_action(
    ticket: Any, *, target: str, params: dict, at: datetime, key: str
) -> dict[str, Any]:
    """``open_escalation``: an SLA escalation rule opens an escalation on the ticket."""
    return services.open_from_breach(ticket, target=target, at=at, params=params)


def _cadence(timer: Timer) -> Cadence | None:
    """The cadence of the timer's cycle, if that cycle is still the live one."""
    cad = (
        Cadence.objects.select_for_update(of=("self",))
        .select_related("escalation__owner")
        .filter(pk=timer.subject_id, active=True)
        .first()
    )
    if cad is None or cad.cycle != timer.payload.get("cycle"):
        return None
    if cad.escalation.status not in services.LIVE_STATUSES or cad.next_due_at is None:
        return None
    return cad


LABEL = {"customer_update": "customer update", "internal_sync": "internal sync"}


@timers.handler(services.REMINDER_KIND)
def remind(timer: Timer) -> None:
    cad = _cadence(timer)
    if cad is None:
        return
    esc: Escalation = cad.escalation
    at = now()
    CadenceEntry.objects.create(
        cadence=cad, kind=CadenceEntry.Kind.REMINDED, cycle=cad.cycle, due_at=cad.next_due_at, at=at
    )
    owner = esc.owner
    sent_to = None
    if owner is not None and owner.is_active and owner.email:
        from caseline.notify.services import enqueue_email

        minutes = max(0, int((cad.next_due_at - at).total_seconds() // 60))
        enqueue_email(
            key=f"{timer.key}:email",
            to=[owner.email],
            subject=f"[{esc.reference}] {LABEL[cad.kind]} due in {minutes} min",
            text=(
                f"The next {LABEL[cad.kind]} of {esc.reference} ({esc.title}) is due at "
                f"{cad.next_due_at:%Y-%m-%d %H:%M} UTC ({minutes} minutes from now).\n"
                "Record it in Caseline to reset the cadence.\n"
            ),
            subject_type="escalation",
            subject_id=esc.pk,
        )
        sent_to = owner.email
    services._rec(
        esc,
        "escalation.update_reminded",
        None,
        at=at,
        data={"kind": cad.kind, "due_at": cad.next_due_at, "cycle": cad.cycle, "email": sent_to},
    )


@timers.handler(services.DUE_KIND)
def missed(timer: Timer) -> None:
    """The cycle's update was not recorded in time: a miss is recorded (and shown), and the
    next cycle starts from now (so a long silence is one miss per interval, never a burst)."""
    cad = _cadence(timer)
    if cad is None:
        return
    esc: Escalation = cad.escalation
    at = now()
    due = cad.next_due_at
    cycle = cad.cycle
    cad.missed_count += 1
    cad.save(update_fields=["missed_count"])
    services._arm(cad, max(at, due), cancel_previous=False)
    CadenceEntry.objects.create(
        cadence=cad,
        kind=CadenceEntry.Kind.MISSED,
        cycle=cycle,
        due_at=due,
        at=at,
        next_due_at=cad.next_due_at,
    )
    services._rec(
        esc,
        "escalation.update_missed",
        None,
        at=at,
        data={
            "kind": cad.kind,
            "due_at": due,
            "cycle": cycle,
            "missed_count": cad.missed_count,
            "next_due_at": cad.next_due_at,
        },
    )


@timers.handler(services.COMMITMENT_KIND)
def commitment_overdue(timer: Timer) -> None:
    c = (
        Commitment.objects.select_for_update(of=("self",))
        .select_related("escalation", "owner")
        .filter(pk=timer.subject_id, status=Commitment.Status.OPEN, overdue_at__isnull=True)
        .first()
    )
    if c is None or c.due_at > now():
        return
    at = now()
    Commitment.objects.filter(pk=c.pk).update(overdue_at=at)
    esc = c.escalation
    if c.owner.is_active and c.owner.email:
        from caseline.notify.services import enqueue_email

        enqueue_email(
            key=f"{timer.key}:email",
            to=[c.owner.email],
            subject=f"[{esc.reference}] Commitment overdue: {c.what}",
            text=(
                f'The commitment "{c.what}" to {c.to_whom} was due at '
                f"{c.due_at:%Y-%m-%d %H:%M} UTC and is still open.\n"
                "Deliver it, or move the date with a reason (the customer notice is drafted).\n"
            ),
            subject_type="escalation",
            subject_id=esc.pk,
        )
    services._rec(
        esc,
        "escalation.commitment_overdue",
        None,
        at=at,
        data={"commitment": c.pk, "due_at": c.due_at, "owner": c.owner_id},
    )
