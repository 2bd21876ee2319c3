"""Escalation use-cases: the only code that changes escalation state.

Each service is one transaction that appends its audit event (``caseline.audit.services
.record``, subject ``escalation``; publishing the domain event) and writes its side effects
as outbox rows or timers in the same transaction. Timers (``caseline.sla.timers``, fired by
the clock loop, handlers in ``handlers.py``):

* ``escalation.cadence_reminder`` at ``next_due_at - reminder_seconds`` (skipped when that
  moment has passed) and ``escalation.cadence_due`` at ``next_due_at``, keys naming the
  cadence and its cycle (``esc-cadence:<id>:<cycle>:due``): recording an update cancels them
  and schedules the next cycle's;
* ``escalation.commitment_due`` at a commitment's due time (key names the due time).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction

from caseline.accounts import roles as R
from caseline.accounts.models import Contact, Organization, User
from caseline.audit.services import record
from caseline.errors import Conflict, NotFound, ValidationFailed
from caseline.sla import timers
from caseline.tickets.models import Ticket
from caseline.timesource import now
from caseline.validate import aware as _aware
from caseline.validate import raise_if_any as _invalid
from caseline.validate import severity as _severity
from caseline.validate import staff as _staff
from caseline.validate import text as _text

from .models import (
    Cadence,
    CadenceEntry,
    ChecklistStep,
    Commitment,
    CommitmentSlip,
    Escalation,
    EscalationRequest,
    EscalationType,
    Stakeholder,
)

S = Escalation.Status
TRANSITIONS: dict[str, tuple[str, ...]] = {
    S.OPEN: (S.ACTIVE, S.MONITORING, S.RESOLVED),
    S.ACTIVE: (S.MONITORING, S.RESOLVED),
    S.MONITORING: (S.ACTIVE, S.RESOLVED),
    S.RESOLVED: (S.ACTIVE, S.CLOSED),  # resolved -> active reopens
    S.CLOSED: (),
}
LIVE_STATUSES = (S.OPEN, S.ACTIVE, S.MONITORING)
STATUS_TIMESTAMP = {
    S.ACTIVE: "active_at",
    S.MONITORING: "monitoring_at",
    S.RESOLVED: "resolved_at",
    S.CLOSED: "closed_at",
}
DEFAULT_TYPE = "Standard"
MIN_CADENCE_SECONDS = 300
MAX_CADENCE_SECONDS = 30 * 86400
MAX_AHEAD = timedelta(days=3 * 365)

REMINDER_KIND = "escalation.cadence_reminder"
DUE_KIND = "escalation.cadence_due"
COMMITMENT_KIND = "escalation.commitment_due"
CADENCE_KINDS = (REMINDER_KIND, DUE_KIND)


# --- helpers -----------------------------------------------------------------------------


def is_escalation_manager(user: User | None) -> bool:
    return bool(
        user is not None
        and user.is_active
        and user.kind == User.Kind.STAFF
        and user.groups.filter(name=R.ESCALATION_MANAGER).exists()
    )


def _owner(owner_id: Any, errors: dict[str, str]) -> User | None:
    if owner_id is None:
        return None
    user = User.objects.filter(pk=owner_id).first() if isinstance(owner_id, int) else None
    if user is None:
        errors["owner_id"] = "no such staff user"
    elif not is_escalation_manager(user):
        errors["owner_id"] = "must be an active staff user holding the escalation manager role"
    return user


def _tickets(ticket_ids: Iterable[Any], errors: dict[str, str]) -> list[Ticket]:
    ids = list(ticket_ids or [])
    if any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
        errors["ticket_ids"] = "a list of ticket ids"
        return []
    found = {t.pk: t for t in Ticket.objects.filter(pk__in=ids)}
    missing = [i for i in ids if i not in found]
    if missing:
        errors["ticket_ids"] = f"no such tickets: {', '.join(map(str, missing))}"
    return [found[i] for i in dict.fromkeys(ids) if i in found]


def _org_of(
    organization_id: Any, tickets: list[Ticket], errors: dict[str, str]
) -> Organization | None:
    org = None
    if organization_id is not None:
        org = (
            Organization.objects.filter(pk=organization_id).first()
            if isinstance(organization_id, int)
            else None
        )
        if org is None:
            errors["organization_id"] = "no such organization"
            return None
    orgs = {t.organization_id for t in tickets}
    if org is None:
        if len(orgs) == 1 and None not in orgs:
            org = Organization.objects.get(pk=orgs.pop())
        elif not tickets:
            errors["organization_id"] = "required (or give tickets of one organization)"
        else:
            errors["organization_id"] = "the tickets belong to several or no organizations"
        return org
    foreign = [t.pk for t in tickets if t.organization_id != org.pk]
    if foreign:
        errors["ticket_ids"] = f"not tickets of {org.name}: {', '.join(map(str, foreign))}"
    return org


def _lock(escalation_id: int) -> Escalation:
    esc = Escalation.objects.select_for_update().filter(pk=escalation_id).first()
    if esc is None:
        raise NotFound(f"no escalation ESC-{escalation_id}")
    return esc


def _rec(esc: Escalation, event: str, actor: Any, **kw: Any) -> None:
    record(event, "escalation", esc.pk, actor=actor, subject=esc, **kw)


def _touch(esc: Escalation, at: datetime) -> None:
    esc.updated_at = at
    esc.save(update_fields=["updated_at"])


def _require_live(esc: Escalation) -> None:
    if esc.status not in LIVE_STATUSES:
        raise Conflict(
            f"{esc.reference} is {esc.status}",
            fields={"status": f"{esc.status}: reopen it first"},
            code="escalation_not_live",
        )


# --- escalation types (procedures) -------------------------------------------------------


def _checklist(value: Any, errors: dict[str, str]) -> list[str]:
    if not isinstance(value, list) or len(value) > 100:
        errors["checklist"] = "a list of at most 100 step titles"
        return []
    out = []
    for i, step in enumerate(value):
        if not isinstance(step, str) or not step.strip() or len(step) > 300:
            errors[f"checklist.{i}"] = "a step title of 1-300 characters"
        else:
            out.append(step.strip())
    return out


def create_type(
    actor: Any, *, name: str, description: str = "", checklist: list | None = None
) -> EscalationType:
    errors: dict[str, str] = {}
    name = _text(name, "name", errors, required=True, limit=100)
    description = _text(description, "description", errors, required=False, limit=5000)
    steps = _checklist(checklist or [], errors)
    if name and EscalationType.objects.filter(name__iexact=name).exists():
        errors["name"] = "an escalation type with this name exists"
    _invalid(errors)
    with transaction.atomic():
        t = EscalationType.objects.create(name=name, description=description, checklist=steps)
        record(
            "escalation_type.changed",
            "escalation_type",
            t.pk,
            actor=actor,
            data={"action": "created", "name": name, "steps": len(steps)},
        )
    return t


def update_type(type_id: int, actor: Any, **changes: Any) -> EscalationType:
    errors: dict[str, str] = {}
    with transaction.atomic():
        t = EscalationType.objects.select_for_update().filter(pk=type_id).first()
        if t is None:
            raise NotFound(f"no escalation type {type_id}")
        before = {"name": t.name, "description": t.description, "checklist": t.checklist}
        if "name" in changes:
            t.name = _text(changes["name"], "name", errors, required=True, limit=100)
            if EscalationType.objects.filter(name__iexact=t.name).exclude(pk=t.pk).exists():
                errors["name"] = "an escalation type with this name exists"
        if "description" in changes:
            t.description = _text(
                changes["description"], "description", errors, required=False, limit=5000
            )
        if "checklist" in changes:
            t.checklist = _checklist(changes["checklist"], errors)
        if "active" in changes:
            t.active = bool(changes["active"])
        _invalid(errors)
        t.save()
        diff = {k: (v, getattr(t, k)) for k, v in before.items() if getattr(t, k) != v}
        record(
            "escalation_type.changed",
            "escalation_type",
            t.pk,
            actor=actor,
            changes=diff or None,
            data={"action": "updated"},
        )
    return t


# --- opening ------------------------------------------------------------------------------


def open_escalation(
    actor: Any,
    *,
    ticket_ids: Iterable[int] = (),
    organization_id: int | None = None,
    title: str = "",
    severity: int | None = None,
    business_impact: str = "",
    owner_id: int | None = None,
    type_id: int | None = None,
    source: str = Escalation.Source.DIRECT,
    data: dict[str, Any] | None = None,
) -> Escalation:
    """Open an escalation on tickets of one organization (or directly on an organization).

    The owner must hold the escalation manager role; without ``owner_id`` an escalation
    manager opening it owns it. Only an SLA breach action may open one without an owner
    (it then waits in the escalation managers' list). The type's checklist is copied."""
    errors: dict[str, str] = {}
    tickets = _tickets(ticket_ids, errors)
    org = _org_of(organization_id, tickets, errors)
    title = _text(title, "title", errors, required=False, limit=300)
    impact = _text(business_impact, "business_impact", errors, required=False, limit=10000)
    sev = _severity(
        severity if severity is not None else min((t.severity for t in tickets), default=2),
        errors,
    )
    owner = _owner(owner_id, errors)
    if owner_id is None and is_escalation_manager(actor):
        owner = actor
    if owner is None and "owner_id" not in errors and source != Escalation.Source.SLA_BREACH:
        errors["owner_id"] = "required: an escalation manager owns the escalation"
    etype = None
    if type_id is not None:
        etype = EscalationType.objects.filter(pk=type_id, active=True).first()
        if etype is None:
            errors["type_id"] = "no such active escalation type"
    else:
        etype = EscalationType.objects.filter(name=DEFAULT_TYPE, active=True).first()
    _invalid(errors)
    assert org is not None
    at = now()
    with transaction.atomic():
        _claim_tickets(tickets)
        esc = Escalation.objects.create(
            title=title or (tickets[0].subject if tickets else f"Escalation for {org.name}"),
            organization=org,
            type=etype,
            severity=sev,
            business_impact=impact,
            source=source,
            owner=owner,
            opened_by=actor if isinstance(actor, User) else None,
            opened_at=at,
            updated_at=at,
        )
        if tickets:
            esc.tickets.add(*tickets)
        if etype is not None:
            ChecklistStep.objects.bulk_create(
                ChecklistStep(escalation=esc, position=i, title=step)
                for i, step in enumerate(etype.checklist, start=1)
            )
        _rec(
            esc,
            "escalation.opened",
            actor,
            at=at,
            ticket_id=tickets[0].pk if tickets else None,
            data={
                "source": source,
                "organization": org.pk,
                "tickets": [t.pk for t in tickets],
                "severity": sev,
                "owner": owner.pk if owner else None,
                "type": etype.pk if etype else None,
                **(data or {}),
            },
        )
    return esc


def live_escalation_of_ticket(ticket_id: int) -> Escalation | None:
    return (
        Escalation.objects.filter(tickets__id=ticket_id, status__in=LIVE_STATUSES)
        .order_by("id")
        .first()
    )


def _claim_tickets(tickets: list[Ticket], *, joining: Escalation | None = None) -> None:
    """Inside the caller's transaction: lock the tickets (in id order) and refuse with 409
    ``already_escalated`` when one of them is in another live escalation. Every path
    that puts a ticket into an escalation goes through here, so two clicks, a request
    accepted beside a direct open, or a link cannot give a ticket two live escalations."""
    ids = sorted(t.pk for t in tickets)
    if not ids:
        return
    list(Ticket.objects.select_for_update(of=("self",)).filter(pk__in=ids).order_by("pk"))
    clash = (
        Escalation.objects.filter(tickets__id__in=ids, status__in=LIVE_STATUSES)
        .exclude(pk=joining.pk if joining else None)
        .order_by("id")
        .first()
    )
    if clash is not None:
        busy = sorted(set(clash.tickets.filter(pk__in=ids).values_list("id", flat=True)))
        raise Conflict(
            f"ticket CL-{busy[0]} is already part of {clash.reference}",
            fields={"escalation_id": clash.pk, "ticket_ids": busy},
            code="already_escalated",
        )


def open_from_ticket(ticket_id: int, actor: Any, **fields: Any) -> Escalation:
    """One click on a ticket: 409 when the ticket already has a live escalation."""
    if not Ticket.objects.filter(pk=ticket_id).exists():
        raise NotFound(f"no ticket CL-{ticket_id}")
    extra = [i for i in fields.pop("ticket_ids", None) or [] if i != ticket_id]
    return open_escalation(
        actor, ticket_ids=[ticket_id, *extra], source=Escalation.Source.TICKET, **fields
    )


def open_from_breach(ticket: Ticket, *, target: str, at: datetime, params: dict) -> dict:
    """The SLA engine's ``open_escalation`` action (inside its transaction): open an
    escalation on the ticket unless it already has a live one. The owner is an escalation
    manager of the ticket's region (else any), or nobody when there is none."""
    existing = live_escalation_of_ticket(ticket.pk)
    if existing is not None:
        return {"outcome": "unchanged", "escalation": existing.pk}
    if ticket.organization_id is None:
        return {"outcome": "no_candidate", "reason": "the ticket has no organization"}
    from caseline.sla import actions

    managers = actions.recipients(ticket, ["escalation_manager"])["escalation_manager"]
    severity = params.get("severity")
    if not (isinstance(severity, int) and 1 <= severity <= 4):
        severity = min(ticket.severity, 4)
    esc = open_escalation(
        None,
        ticket_ids=[ticket.pk],
        severity=severity,
        business_impact=f"SLA {target} target breached at {at:%Y-%m-%d %H:%M} UTC.",
        owner_id=managers[0].pk if managers else None,
        source=Escalation.Source.SLA_BREACH,
        data={"sla_target": target, "threshold_at": at.isoformat()},
    )
    return {"outcome": "done", "escalation": esc.pk, "owner": esc.owner_id}


def update_escalation(escalation_id: int, actor: Any, **changes: Any) -> Escalation:
    errors: dict[str, str] = {}
    with transaction.atomic():
        esc = _lock(escalation_id)
        before = {
            "title": esc.title,
            "severity": esc.severity,
            "business_impact": esc.business_impact,
            "owner": esc.owner_id,
        }
        if "title" in changes:
            esc.title = _text(changes["title"], "title", errors, required=True, limit=300)
        if "severity" in changes:
            esc.severity = _severity(changes["severity"], errors)
        if "business_impact" in changes:
            esc.business_impact = _text(
                changes["business_impact"], "business_impact", errors, required=False, limit=10000
            )
        if "owner_id" in changes:
            owner = _owner(changes["owner_id"], errors)
            if changes["owner_id"] is None:
                errors["owner_id"] = "an escalation keeps an owner"
            esc.owner = owner
        _invalid(errors)
        after = {
            "title": esc.title,
            "severity": esc.severity,
            "business_impact": esc.business_impact,
            "owner": esc.owner_id,
        }
        diff = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
        if diff:
            esc.updated_at = now()
            esc.save()
            _rec(esc, "escalation.updated", actor, changes=diff)
    return esc


def transition(
    escalation_id: int, actor: Any, status: str, *, root_cause: str | None = None, note: str = ""
) -> Escalation:
    """Move the escalation (``TRANSITIONS``; anything else 409 ``illegal_transition``).
    Resolving needs a root-cause summary (422 without one). Resolving or closing stops
    the cadences (their timers cancelled); reopening (resolved -> active) restarts them."""
    if status not in TRANSITIONS:
        raise ValidationFailed(
            "unknown status", fields={"status": f"one of {', '.join(TRANSITIONS)}"}
        )
    with transaction.atomic():
        esc = _lock(escalation_id)
        old = esc.status
        allowed = TRANSITIONS[old]
        if status not in allowed:
            raise Conflict(
                f"an escalation cannot move from {old} to {status}",
                fields={
                    "status": f"from {old}: "
                    + (", ".join(allowed) if allowed else "no further moves (closed)")
                },
                code="illegal_transition",
            )
        at = now()
        if status == S.RESOLVED:
            errors: dict[str, str] = {}
            cause = _text(root_cause, "root_cause", errors, required=False, limit=20000)
            if not cause:
                errors.setdefault("root_cause", "a root-cause summary is required to resolve")
            _invalid(errors)
            esc.root_cause = cause
        esc.status = status
        setattr(esc, STATUS_TIMESTAMP[status], at)
        if old == S.RESOLVED and status == S.ACTIVE:
            esc.resolved_at = None
        esc.updated_at = at
        esc.save()
        if status in (S.RESOLVED, S.CLOSED):
            _stop_cadences(esc)
        elif old == S.RESOLVED:
            for cad in esc.cadences.filter(active=True):
                _arm(cad, at)
        _rec(
            esc,
            "escalation.status_changed",
            actor,
            at=at,
            changes={"status": (old, status)},
            data={"note": note[:2000], **({"root_cause": esc.root_cause} if root_cause else {})},
        )
    return esc


def link_tickets(escalation_id: int, actor: Any, ticket_ids: list[int]) -> Escalation:
    errors: dict[str, str] = {}
    tickets = _tickets(ticket_ids, errors)
    if not ticket_ids:
        errors["ticket_ids"] = "at least one ticket"
    _invalid(errors)
    with transaction.atomic():
        esc = _lock(escalation_id)
        foreign = [t.pk for t in tickets if t.organization_id != esc.organization_id]
        if foreign:
            raise ValidationFailed(
                "the request is not valid",
                fields={"ticket_ids": f"not tickets of the escalation's organization: {foreign}"},
            )
        have = set(esc.tickets.values_list("id", flat=True))
        new = [t for t in tickets if t.pk not in have]
        _claim_tickets(new, joining=esc)
        if new:
            esc.tickets.add(*new)
            _touch(esc, now())
            _rec(
                esc,
                "escalation.tickets_linked",
                actor,
                ticket_id=new[0].pk,
                data={"tickets": [t.pk for t in new]},
            )
    return esc


# --- intake --------------------------------------------------------------------------------


def request_escalation(
    actor: User,
    *,
    organization_id: int | None,
    ticket_ids: list[int] | None = None,
    severity: int = 2,
    business_impact: str = "",
    reason: str = "",
) -> EscalationRequest:
    """Any staff member asks for an escalation; it waits for an escalation manager."""
    errors: dict[str, str] = {}
    tickets = _tickets(ticket_ids or [], errors)
    org = _org_of(organization_id, tickets, errors)
    sev = _severity(severity, errors)
    impact = _text(business_impact, "business_impact", errors, required=True, limit=10000)
    why = _text(reason, "reason", errors, required=True, limit=10000)
    _invalid(errors)
    with transaction.atomic():
        req = EscalationRequest.objects.create(
            organization=org,
            severity=sev,
            business_impact=impact,
            reason=why,
            requested_by=actor,
            requested_at=now(),
        )
        if tickets:
            req.tickets.add(*tickets)
        record(
            "escalation.requested",
            "escalation_request",
            req.pk,
            actor=actor,
            ticket_id=tickets[0].pk if tickets else None,
            data={"organization": org.pk if org else None, "tickets": [t.pk for t in tickets]},
        )
    return req


def _pending_request(request_id: int) -> EscalationRequest:
    req = EscalationRequest.objects.select_for_update().filter(pk=request_id).first()
    if req is None:
        raise NotFound(f"no escalation request {request_id}")
    if req.status != EscalationRequest.Status.PENDING:
        raise Conflict(
            f"the request was already {req.status}",
            fields={"status": req.status},
            code="already_decided",
        )
    return req


def accept_request(
    request_id: int,
    actor: User,
    *,
    owner_id: int | None = None,
    type_id: int | None = None,
    title: str = "",
) -> Escalation:
    with transaction.atomic():
        req = _pending_request(request_id)
        esc = open_escalation(
            actor,
            ticket_ids=list(req.tickets.order_by("id").values_list("id", flat=True)),
            organization_id=req.organization_id,
            title=title,
            severity=req.severity,
            business_impact=req.business_impact,
            owner_id=owner_id,
            type_id=type_id,
            source=Escalation.Source.REQUEST,
            data={"request": req.pk, "requested_by": req.requested_by_id},
        )
        req.status = EscalationRequest.Status.ACCEPTED
        req.decided_by = actor
        req.decided_at = now()
        req.escalation = esc
        req.save()
        record(
            "escalation.request_accepted",
            "escalation_request",
            req.pk,
            actor=actor,
            data={"escalation": esc.pk},
        )
    return esc


def decline_request(request_id: int, actor: User, *, reason: str) -> EscalationRequest:
    """Decline with a reason the requester sees (on the request and by email)."""
    errors: dict[str, str] = {}
    why = _text(reason, "reason", errors, required=True, limit=5000)
    _invalid(errors)
    with transaction.atomic():
        req = _pending_request(request_id)
        req.status = EscalationRequest.Status.DECLINED
        req.decided_by = actor
        req.decided_at = now()
        req.decline_reason = why
        req.save()
        requester = req.requested_by
        if requester.email:
            from caseline.notify.services import enqueue_email

            enqueue_email(
                key=f"escalation-request-{req.pk}-declined",
                to=[requester.email],
                subject=f"Escalation request for {req.organization.name} declined",
                text=(
                    f"{actor} declined your escalation request #{req.pk} for "
                    f"{req.organization.name}.\n\nReason: {why}\n"
                ),
                subject_type="escalation_request",
                subject_id=req.pk,
            )
        record(
            "escalation.request_declined",
            "escalation_request",
            req.pk,
            actor=actor,
            data={"reason": why, "requested_by": req.requested_by_id},
        )
    return req


# --- procedure checklist ---------------------------------------------------------------------


def tick_step(escalation_id: int, step_id: int, actor: Any, *, done: bool = True) -> ChecklistStep:
    with transaction.atomic():
        esc = _lock(escalation_id)
        step = ChecklistStep.objects.filter(pk=step_id, escalation=esc).first()
        if step is None:
            raise NotFound(f"no step {step_id} on {esc.reference}")
        if (step.done_at is not None) == done:
            return step
        at = now()
        step.done_at = at if done else None
        step.done_by = actor if done and isinstance(actor, User) else None
        step.save(update_fields=["done_at", "done_by"])
        _touch(esc, at)
        _rec(
            esc,
            "escalation.step_changed",
            actor,
            at=at,
            changes={"step_done": (not done, done)},
            data={"step": step.pk, "position": step.position, "title": step.title},
        )
    return step


# --- stakeholder map -------------------------------------------------------------------------


def add_stakeholder(
    escalation_id: int,
    actor: Any,
    *,
    role: str,
    contact_id: int | None = None,
    user_id: int | None = None,
    involvement: str = "",
    approved_by_id: int | None = None,
) -> Stakeholder:
    """A customer contact (``contact_id``) or an internal participant (``user_id``) assumes
    ``role``. Internal participants carry their committed involvement and its approver."""
    errors: dict[str, str] = {}
    if (contact_id is None) == (user_id is None):
        errors["contact_id"] = "give exactly one of contact_id (customer) and user_id (internal)"
    involvement = _text(involvement, "involvement", errors, required=False, limit=300)
    contact = user = approver = None
    if contact_id is not None and user_id is None:
        if role not in Stakeholder.CUSTOMER_ROLES:
            errors["role"] = f"a customer role: {', '.join(Stakeholder.CUSTOMER_ROLES)}"
        contact = Contact.objects.filter(pk=contact_id).first()
        if contact is None:
            errors["contact_id"] = "no such contact"
    if user_id is not None and contact_id is None:
        if role not in Stakeholder.INTERNAL_ROLES:
            errors["role"] = f"an internal role: {', '.join(Stakeholder.INTERNAL_ROLES)}"
        user = _staff(user_id, "user_id", errors)
    if approved_by_id is not None:
        approver = _staff(approved_by_id, "approved_by_id", errors)
    _invalid(errors)
    with transaction.atomic():
        esc = _lock(escalation_id)
        _require_live(esc)
        if contact is not None and contact.organization_id != esc.organization_id:
            raise ValidationFailed(
                "the request is not valid",
                fields={"contact_id": "not a contact of the escalation's organization"},
            )
        held = Stakeholder.objects.filter(
            escalation=esc, contact=contact, user=user, role=role, renounced_at__isnull=True
        ).first()
        if held is not None:
            raise Conflict(
                "this person already holds this role",
                fields={"role": f"held since {held.assumed_at.isoformat()}"},
                code="role_held",
            )
        at = now()
        row = Stakeholder.objects.create(
            escalation=esc,
            contact=contact,
            user=user,
            role=role,
            involvement=involvement,
            approved_by=approver,
            assumed_at=at,
            added_by=actor if isinstance(actor, User) else None,
        )
        _touch(esc, at)
        _rec(
            esc,
            "escalation.stakeholder_added",
            actor,
            at=at,
            data={
                "stakeholder": row.pk,
                "side": row.side,
                "contact": contact.pk if contact else None,
                "user": user.pk if user else None,
                "role": role,
                "involvement": involvement,
                "approved_by": approver.pk if approver else None,
            },
        )
    return row


def renounce_stakeholder(escalation_id: int, stakeholder_id: int, actor: Any) -> Stakeholder:
    """End a role (kept in the history with ``renounced_at``)."""
    with transaction.atomic():
        esc = _lock(escalation_id)
        row = Stakeholder.objects.filter(pk=stakeholder_id, escalation=esc).first()
        if row is None:
            raise NotFound(f"no stakeholder {stakeholder_id} on {esc.reference}")
        if row.renounced_at is not None:
            raise Conflict(
                "the role was already renounced",
                fields={"renounced_at": row.renounced_at.isoformat()},
                code="already_renounced",
            )
        at = now()
        row.renounced_at = at
        row.save(update_fields=["renounced_at"])
        _touch(esc, at)
        _rec(
            esc,
            "escalation.stakeholder_renounced",
            actor,
            at=at,
            data={"stakeholder": row.pk, "role": row.role, "side": row.side},
        )
    return row


# --- cadence ---------------------------------------------------------------------------------


def cadence_due(cad: Cadence, start: datetime) -> datetime:
    """``start`` + the cadence's interval, on its calendar when it counts business time."""
    if cad.business:
        from caseline.sla.calendars import get_calendar

        return get_calendar(cad.calendar).add(start, cad.every_seconds)
    return start + timedelta(seconds=cad.every_seconds)


def _keys(cad: Cadence) -> tuple[str, str]:
    base = f"esc-cadence:{cad.pk}:{cad.cycle}"
    return f"{base}:reminder", f"{base}:due"


def _cancel(cad: Cadence) -> None:
    for key in _keys(cad):
        timers.cancel(key)


def _arm(cad: Cadence, start: datetime, *, cancel_previous: bool = True) -> None:
    """Start the cadence's next cycle at ``start``: store the next due time and schedule its
    reminder and due timers (the previous cycle's pending timers are cancelled, except from
    the previous cycle's own firing due timer)."""
    if cancel_previous:
        _cancel(cad)
    cad.cycle += 1
    cad.next_due_at = cadence_due(cad, start)
    cad.save(update_fields=["cycle", "next_due_at"])
    reminder_key, due_key = _keys(cad)
    payload = {"cycle": cad.cycle, "escalation": cad.escalation_id, "kind": cad.kind}
    remind_at = cad.next_due_at - timedelta(seconds=cad.reminder_seconds)
    if cad.reminder_seconds and remind_at > now():
        timers.schedule(REMINDER_KIND, "cadence", cad.pk, remind_at, reminder_key, payload)
    timers.schedule(DUE_KIND, "cadence", cad.pk, cad.next_due_at, due_key, payload)


def _lock_cycle_timers(esc: Escalation, kind: str) -> None:
    """Lock the current cycle's timer rows before the cadence row: the clock loop holds a
    firing timer's row and then takes the cadence row, so taking them in the same order
    here means a service waits for a firing reminder or miss instead of deadlocking with
    it (PostgreSQL; SQLite's one write lock serialises anyway)."""
    from caseline.sla.models import Timer

    cad = Cadence.objects.filter(escalation=esc, kind=kind).first()
    if cad is not None:
        list(Timer.objects.select_for_update().filter(key__in=_keys(cad)).values_list("pk"))


def _stop_cadences(esc: Escalation) -> None:
    for cad in esc.cadences.all():
        _cancel(cad)
        if cad.next_due_at is not None:
            cad.next_due_at = None
            cad.save(update_fields=["next_due_at"])


def set_cadence(
    escalation_id: int,
    actor: Any,
    *,
    kind: str,
    every_seconds: int,
    business: bool = False,
    calendar: str = "24x7",
    reminder_seconds: int = 1800,
    active: bool = True,
) -> Cadence:
    """Set (or stop, ``active=False``) the customer-update or internal-sync cadence; the
    next update is due one interval from now."""
    errors: dict[str, str] = {}
    if kind not in Cadence.Kind.values:
        errors["kind"] = f"one of {', '.join(Cadence.Kind.values)}"
    if (
        isinstance(every_seconds, bool)
        or not isinstance(every_seconds, int)
        or not MIN_CADENCE_SECONDS <= every_seconds <= MAX_CADENCE_SECONDS
    ):
        errors["every_seconds"] = f"{MIN_CADENCE_SECONDS} to {MAX_CADENCE_SECONDS} seconds"
    elif (
        isinstance(reminder_seconds, bool)
        or not isinstance(reminder_seconds, int)
        or not 0 <= reminder_seconds < every_seconds
    ):
        errors["reminder_seconds"] = "0 or more seconds, less than every_seconds"
    if business:
        from caseline.sla.calendars import get_calendar

        try:
            get_calendar(calendar)
        except NotFound:
            errors["calendar"] = f"no calendar named {calendar!r}"
    else:
        calendar = "24x7"
    _invalid(errors)
    with transaction.atomic():
        esc = _lock(escalation_id)
        _require_live(esc)
        _lock_cycle_timers(esc, kind)
        cad = Cadence.objects.select_for_update().filter(escalation=esc, kind=kind).first()
        before = None
        if cad is None:
            cad = Cadence(escalation=esc, kind=kind)
        else:
            before = {
                "every_seconds": cad.every_seconds,
                "business": cad.business,
                "calendar": cad.calendar,
                "active": cad.active,
            }
        cad.every_seconds = every_seconds
        cad.business = bool(business)
        cad.calendar = calendar
        cad.reminder_seconds = reminder_seconds
        cad.active = bool(active)
        cad.save()
        at = now()
        if cad.active:
            _arm(cad, at)
        else:
            _cancel(cad)
            cad.next_due_at = None
            cad.save(update_fields=["next_due_at"])
        _touch(esc, at)
        _rec(
            esc,
            "escalation.cadence_set",
            actor,
            at=at,
            data={
                "kind": kind,
                "every_seconds": every_seconds,
                "business": cad.business,
                "calendar": calendar,
                "active": cad.active,
                "next_due_at": cad.next_due_at,
                "before": before,
            },
        )
    return cad


def _customer_emails(esc: Escalation) -> list[str]:
    out: list[str] = []
    for row in esc.stakeholders.filter(
        contact__isnull=False, renounced_at__isnull=True
    ).select_related("contact"):
        email = row.contact.primary_email
        if email and email not in out:
            out.append(email)
    return out


def internal_emails(esc: Escalation) -> list[str]:
    out: list[str] = []
    users = [esc.owner] if esc.owner_id else []
    users += [
        r.user
        for r in esc.stakeholders.filter(user__isnull=False, renounced_at__isnull=True)
        .select_related("user")
        .order_by("id")
    ]
    for u in users:
        if u is not None and u.is_active and u.email and u.email not in out:
            out.append(u.email)
    return out


UPDATE_VIA = ("stakeholders", "tickets")


def _next_update_line(cad: Cadence) -> str:
    return f"Next update by {cad.next_due_at:%Y-%m-%d %H:%M} UTC."


def _reply_on_tickets(esc: Escalation, actor: Any, text: str) -> dict[str, Any]:
    """A customer update as a staff public reply on each linked ticket that takes one
    (closed tickets are skipped), through the ticket services: the mail app sends it in the
    ticket's thread (outbox) and the SLA engine counts it as our public reply."""
    from caseline.tickets.models import Message
    from caseline.tickets.services import add_message
    from caseline.tickets.states import Status as TicketStatus

    author = actor if isinstance(actor, User) and actor.kind == User.Kind.STAFF else None
    messages: list[dict[str, int]] = []
    skipped: list[dict[str, Any]] = []
    for ticket in esc.tickets.order_by("id"):
        if ticket.status == TicketStatus.CLOSED:
            skipped.append({"ticket": ticket.pk, "reason": "closed"})
            continue
        msg = add_message(ticket.pk, actor=author, kind=Message.Kind.PUBLIC, body_text=text)
        messages.append({"ticket": ticket.pk, "message": msg.pk})
    if not messages:
        raise ValidationFailed(
            "the request is not valid",
            fields={"via": "the escalation has no linked ticket that takes a reply"},
        )
    return {"via": "tickets", "messages": messages, "skipped": skipped}


def record_update(
    escalation_id: int,
    actor: Any,
    *,
    kind: str,
    text: str = "",
    send: bool = False,
    via: str = "stakeholders",
) -> CadenceEntry:
    """Record a customer update / internal sync: the cadence starts its next cycle from now
    and states the next due time. ``send`` (customer updates) sends the text with the next
    update time: ``via="stakeholders"`` emails the customer stakeholders through the outbox;
    ``via="tickets"`` posts it as a public reply on each linked ticket (the ticket's email
    thread; it counts on the tickets' SLA clocks). Where it went is kept on the entry
    (``delivery``)."""
    errors: dict[str, str] = {}
    if kind not in Cadence.Kind.values:
        errors["kind"] = f"one of {', '.join(Cadence.Kind.values)}"
    if via not in UPDATE_VIA:
        errors["via"] = f"one of {', '.join(UPDATE_VIA)}"
    body = _text(text, "text", errors, required=bool(send), limit=50000)
    _invalid(errors)
    with transaction.atomic():
        esc = _lock(escalation_id)
        _require_live(esc)
        _lock_cycle_timers(esc, kind)
        cad = Cadence.objects.select_for_update().filter(escalation=esc, kind=kind).first()
        if cad is None or not cad.active:
            raise ValidationFailed(
                "the request is not valid",
                fields={"kind": f"no active {kind} cadence on {esc.reference}: set one first"},
            )
        at = now()
        due = cad.next_due_at
        cycle = cad.cycle
        _arm(cad, at)
        cad.last_done_at = at
        cad.save(update_fields=["last_done_at"])
        entry = CadenceEntry.objects.create(
            cadence=cad,
            kind=CadenceEntry.Kind.DONE,
            cycle=cycle,
            due_at=due,
            at=at,
            by=actor if isinstance(actor, User) else None,
            text=body,
            next_due_at=cad.next_due_at,
        )
        emailed: list[str] = []
        if send and kind == Cadence.Kind.CUSTOMER_UPDATE and via == "tickets":
            entry.delivery = _reply_on_tickets(esc, actor, f"{body}\n\n{_next_update_line(cad)}")
            entry.save(update_fields=["delivery"])
        elif send and kind == Cadence.Kind.CUSTOMER_UPDATE:
            emailed = _customer_emails(esc)
            if not emailed:
                raise ValidationFailed(
                    "the request is not valid",
                    fields={"send": "the escalation has no customer stakeholder with an email"},
                )
            from caseline.notify.services import enqueue_email

            enqueue_email(
                key=f"esc-update-{entry.pk}",
                to=emailed,
                subject=f"[{esc.reference}] Update: {esc.title}",
                text=f"{body}\n\n{_next_update_line(cad)}\n",
                subject_type="escalation",
                subject_id=esc.pk,
            )
            entry.delivery = {"via": "stakeholders", "to": emailed}
            entry.save(update_fields=["delivery"])
        _touch(esc, at)
        _rec(
            esc,
            "escalation.update_recorded",
            actor,
            at=at,
            data={
                "kind": kind,
                "entry": entry.pk,
                "was_due_at": due,
                "late": bool(due and at > due),
                "next_due_at": cad.next_due_at,
                "emailed": emailed,
                "delivery": entry.delivery,
            },
        )
    return entry


# --- commitments -----------------------------------------------------------------------------


def _due_in_range(due: datetime | None, errors: dict[str, str], field: str = "due_at") -> None:
    if due is not None and not (now() < due <= now() + MAX_AHEAD):
        errors[field] = "in the future, at most three years ahead"


def _arm_commitment(c: Commitment) -> None:
    """A timer at the due time. An earlier timer of the commitment is not cancelled: its
    key names its own due time and ``handlers.commitment_overdue`` ignores it once the
    date moved or the commitment is done (no cancel churn, and no timer-then-commitment
    lock order against the clock loop's commitment-after-timer order)."""
    if c.status == Commitment.Status.OPEN:
        timers.schedule(
            COMMITMENT_KIND,
            "commitment",
            c.pk,
            c.due_at,
            key=f"esc-commitment:{c.pk}:{c.due_at.isoformat()}",
        )


def add_commitment(
    escalation_id: int,
    actor: Any,
    *,
    what: str,
    to_whom: str,
    owner_id: int,
    due_at: Any,
) -> Commitment:
    errors: dict[str, str] = {}
    what = _text(what, "what", errors, required=True, limit=500)
    to_whom = _text(to_whom, "to_whom", errors, required=True, limit=300)
    owner = _staff(owner_id, "owner_id", errors)
    due = _aware(due_at, "due_at", errors)
    _due_in_range(due, errors)
    _invalid(errors)
    assert owner is not None and due is not None
    with transaction.atomic():
        esc = _lock(escalation_id)
        _require_live(esc)
        at = now()
        c = Commitment.objects.create(
            escalation=esc, what=what, to_whom=to_whom, owner=owner, due_at=due, created_at=at
        )
        _arm_commitment(c)
        _touch(esc, at)
        _rec(
            esc,
            "escalation.commitment_added",
            actor,
            at=at,
            data={
                "commitment": c.pk,
                "what": what,
                "to_whom": to_whom,
                "owner": owner.pk,
                "due_at": due,
            },
        )
    return c


def draft_slip_notice(c: Commitment, old: datetime, new: datetime, reason: str) -> str:
    return (
        f"Dear {c.to_whom},\n\n"
        f"We committed to: {c.what}, by {old:%A %d %B %Y %H:%M} UTC. We will not make that "
        f"date. Reason: {reason}\n\n"
        f"Our new date is {new:%A %d %B %Y %H:%M} UTC. We will keep you updated on "
        f"progress until then.\n\n"
        f"{c.escalation.owner or 'Your escalation manager'}\n"
    )


def update_commitment(
    commitment_id: int,
    actor: Any,
    *,
    due_at: Any = None,
    reason: str | None = None,
    status: str | None = None,
    what: str | None = None,
) -> Commitment:
    """Change a commitment. Moving ``due_at`` needs a ``reason``: the slip is kept in the
    history with a drafted customer notice, which goes (for review) with the slip to the
    internal stakeholders through the outbox."""
    errors: dict[str, str] = {}
    new_due = _aware(due_at, "due_at", errors) if due_at is not None else None
    _due_in_range(new_due, errors)
    if status is not None and status not in Commitment.Status.values:
        errors["status"] = f"one of {', '.join(Commitment.Status.values)}"
    if what is not None:
        what = _text(what, "what", errors, required=True, limit=500)
    _invalid(errors)
    with transaction.atomic():
        c = Commitment.objects.select_for_update().filter(pk=commitment_id).first()
        if c is None:
            raise NotFound(f"no commitment {commitment_id}")
        esc = _lock(c.escalation_id)
        c.escalation = esc
        at = now()
        changes: dict[str, tuple[Any, Any]] = {}
        if new_due is not None and new_due != c.due_at:
            why = _text(reason, "reason", errors, required=True, limit=5000)
            if c.status != Commitment.Status.OPEN:
                errors["due_at"] = f"the commitment is {c.status}"
            _invalid(errors)
            old_due = c.due_at
            c.due_at = new_due
            c.overdue_at = None
            notice = draft_slip_notice(c, old_due, new_due, why)
            slip = CommitmentSlip.objects.create(
                commitment=c,
                old_due_at=old_due,
                new_due_at=new_due,
                reason=why,
                by=actor if isinstance(actor, User) else None,
                at=at,
                draft_notice=notice,
            )
            to = internal_emails(esc)
            if to:
                from caseline.notify.services import enqueue_email

                enqueue_email(
                    key=f"esc-slip-{slip.pk}",
                    to=to,
                    subject=f"[{esc.reference}] Commitment slipped: {c.what}",
                    text=(
                        f'{actor or "Caseline"} moved the commitment "{c.what}" (to '
                        f"{c.to_whom}) from {old_due:%Y-%m-%d %H:%M} to "
                        f"{new_due:%Y-%m-%d %H:%M} UTC.\nReason: {why}\n\n"
                        f"Draft notice to the customer, for review before sending:\n\n"
                        f"{notice}"
                    ),
                    subject_type="escalation",
                    subject_id=esc.pk,
                )
            _rec(
                esc,
                "escalation.commitment_slipped",
                actor,
                at=at,
                changes={"due_at": (old_due, new_due)},
                data={"commitment": c.pk, "slip": slip.pk, "reason": why, "notified": to},
            )
        if what is not None and what != c.what:
            changes["what"] = (c.what, what)
            c.what = what
        if status is not None and status != c.status:
            changes["status"] = (c.status, status)
            c.status = status
            c.done_at = at if status == Commitment.Status.DONE else None
        c.save()
        _arm_commitment(c)
        if changes:
            _rec(
                esc,
                "escalation.commitment_changed",
                actor,
                at=at,
                changes=changes,
                data={"commitment": c.pk},
            )
        _touch(esc, at)
    return c
