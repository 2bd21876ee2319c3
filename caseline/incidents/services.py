"""Incident use-cases: the only code that changes incident state (docs/incidents.md).

Each service is one transaction that appends its audit event (``caseline.audit.services
.record``, subject ``incident``; publishing the domain event), writes a timeline entry
(``TimelineEntry`` kind ``event``) and its side effects as outbox rows or timers in the same
transaction. Timers (``caseline.sla.timers``, fired by the clock loop, handlers below and
registered from ``IncidentsConfig.ready()``):

* ``incident.owner_due`` at the Sev-1 owner-assigned target (key
  ``inc-owner:<incident>:<cycle>``): no acknowledged case owner by then -> breach;
* ``incident.page_ack_due`` at a paging level's acknowledgement deadline (key
  ``inc-page:<incident>:<chain>:<level>``): nobody of that level acknowledged -> the next
  level is paged.

Timers are never cancelled by the services: a handler whose moment has passed (the owner
acknowledged, the page acknowledged, the incident resolved) finds nothing to do. So a
service never takes a timer row's lock, and the clock (timer row, then incident) and the
services (incident, then page) cannot deadlock; a timer firing twice changes nothing.
Lock order everywhere: the incident row first, then its pages / handoffs / roles.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import transaction

from caseline import validate
from caseline.accounts import roles as R
from caseline.accounts.models import Organization, ProductArea, Region, User
from caseline.audit.services import record
from caseline.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from caseline.sla import timers
from caseline.tickets.models import Ticket
from caseline.timesource import now
from caseline.validate import raise_if_any as _invalid
from caseline.validate import staff as _staff
from caseline.validate import text as _text

from .models import (
    Incident,
    IncidentRole,
    IncidentTask,
    OwnerHandoff,
    OwnerTarget,
    Page,
    PagingTarget,
    TimelineEntry,
)

S = Incident.Status
# Legal moves. Forward skips are allowed (a cause found and fixed at once goes straight
# to monitoring or resolved); going back is allowed while the incident is live (the
# suspected cause was wrong: identified -> investigating; the fix did not hold:
# monitoring -> investigating / identified); a resolved incident reopens to investigating
# (or monitoring); closed is final.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    S.INVESTIGATING: (S.IDENTIFIED, S.MONITORING, S.RESOLVED),
    S.IDENTIFIED: (S.INVESTIGATING, S.MONITORING, S.RESOLVED),
    S.MONITORING: (S.INVESTIGATING, S.IDENTIFIED, S.RESOLVED),
    S.RESOLVED: (S.INVESTIGATING, S.MONITORING, S.CLOSED),
    S.CLOSED: (),
}
ORDER = (S.INVESTIGATING, S.IDENTIFIED, S.MONITORING, S.RESOLVED, S.CLOSED)
LIVE_STATUSES = (S.INVESTIGATING, S.IDENTIFIED, S.MONITORING)
STATUS_TIMESTAMP = {
    S.IDENTIFIED: "identified_at",
    S.MONITORING: "monitoring_at",
    S.RESOLVED: "resolved_at",
    S.CLOSED: "closed_at",
}

OWNER_KIND = "incident.owner_due"
PAGE_KIND = "incident.page_ack_due"
DEFAULT_OWNER_SECONDS = 15 * 60  # when no SLA policy names a Sev-1 owner-assigned target
ACK_SALT = "caseline.incidents.page-ack"
ACK_MAX_AGE = 7 * 86400
MANAGE_PERM = "accounts.manage_incidents"

Role = IncidentRole.Role


def page_ack_minutes() -> int:
    """Minutes a paged person has to acknowledge (setting ``INCIDENT_PAGE_ACK_MINUTES``)."""
    return int(getattr(settings, "INCIDENT_PAGE_ACK_MINUTES", 5))


def page_rota_steps() -> int:
    """How many people of the rota are paged one after the other before the manager
    (setting ``INCIDENT_PAGE_ROTA_STEPS``, default 2: the on-duty person, then the next)."""
    return max(1, int(getattr(settings, "INCIDENT_PAGE_ROTA_STEPS", 2)))


# --- helpers -----------------------------------------------------------------------------


def _severity(value: Any, errors: dict[str, str]) -> int:
    return validate.severity(value, errors, default=1)


def _aware(value: Any, field: str, errors: dict[str, str]) -> datetime | None:
    return validate.aware(value, field, errors, optional=True)


def _ids(value: Any, field: str, errors: dict[str, str]) -> list[int]:
    ids = list(value or [])
    if any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
        errors[field] = "a list of ids"
        return []
    return list(dict.fromkeys(ids))


def _rows(model, value: Any, field: str, errors: dict[str, str], label: str) -> list:
    ids = _ids(value, field, errors)
    found = model.objects.in_bulk(ids)
    missing = [i for i in ids if i not in found]
    if missing:
        errors[field] = f"no such {label}: {', '.join(map(str, missing))}"
    return [found[i] for i in ids if i in found]


def can_manage(user: Any) -> bool:
    return bool(
        isinstance(user, User)
        and user.is_active
        and user.kind == User.Kind.STAFF
        and user.has_perm(MANAGE_PERM)
    )


def _manager(user_id: Any, field: str, errors: dict[str, str]) -> User | None:
    user = _staff(user_id, field, errors)
    if user is not None and not can_manage(user):
        errors[field] = "must hold a role that runs incidents (incident manager, support manager)"
        return None
    return user


def _lock(incident_id: int) -> Incident:
    inc = Incident.objects.select_for_update().filter(pk=incident_id).first()
    if inc is None:
        raise NotFound(f"no incident INC-{incident_id}")
    return inc


def _user(actor: Any) -> User | None:
    return actor if isinstance(actor, User) else None


def _rec(inc: Incident, event: str, actor: Any, **kw: Any) -> None:
    record(event, "incident", inc.pk, actor=actor, subject=inc, **kw)


def _entry(
    inc: Incident, event: str, text: str, actor: Any, at: datetime, *, pinned: bool = False
) -> TimelineEntry:
    return TimelineEntry.objects.create(
        incident=inc,
        kind=TimelineEntry.Kind.EVENT,
        event_type=event,
        text=text[:5000],
        author=_user(actor),
        at=at,
        pinned=pinned,
        pinned_at=at if pinned else None,
    )


def _touch(inc: Incident, at: datetime) -> None:
    inc.updated_at = at
    inc.save(update_fields=["updated_at"])


def _require_open(inc: Incident, *, live: bool = False) -> None:
    bad = inc.status not in LIVE_STATUSES if live else inc.status == S.CLOSED
    if bad:
        raise Conflict(
            f"{inc.reference} is {inc.status}",
            fields={"status": f"{inc.status}: " + ("reopen it first" if live else "final")},
            code="incident_not_live" if live else "incident_closed",
        )


def _who(user: User | None) -> str:
    return str(user) if user is not None else "Caseline"


def _refs(tickets: Iterable[Ticket]) -> str:
    return ", ".join(t.reference for t in tickets)


# --- declaring ---------------------------------------------------------------------------


def declare_incident(
    actor: Any,
    *,
    title: str,
    severity: int = 1,
    summary: str = "",
    ticket_ids: Iterable[int] = (),
    product_area_ids: Iterable[int] = (),
    organization_ids: Iterable[int] = (),
    incident_manager_id: int | None = None,
    source: str | None = None,
) -> Incident:
    """Declare an incident from one ticket, several tickets, or directly.

    The affected organizations and product areas are those of the tickets plus the given
    ones. The incident manager (the single point of contact) is ``incident_manager_id``,
    else the declaring user when they run incidents, else nobody yet. ``source`` defaults
    to ``ticket`` / ``tickets`` / ``direct`` by the number of tickets. A Sev-1 starts its
    owner-assigned target and pages the on-duty person."""
    errors: dict[str, str] = {}
    tickets = _rows(Ticket, ticket_ids, "ticket_ids", errors, "tickets")
    areas = _rows(ProductArea, product_area_ids, "product_area_ids", errors, "product areas")
    orgs = _rows(Organization, organization_ids, "organization_ids", errors, "organizations")
    title = _text(title, "title", errors, required=False, limit=300)
    if not title and tickets:
        title = tickets[0].subject[:300]
    if not title and "title" not in errors:
        errors["title"] = "required (or give a ticket)"
    summary = _text(summary, "summary", errors, required=False, limit=20000)
    sev = _severity(severity, errors)
    manager = None
    if incident_manager_id is not None:
        manager = _manager(incident_manager_id, "incident_manager_id", errors)
    elif can_manage(actor):
        manager = actor
    if source is None:
        source = (
            Incident.Source.DIRECT
            if not tickets
            else Incident.Source.TICKET
            if len(tickets) == 1
            else Incident.Source.TICKETS
        )
    elif source not in Incident.Source.values:
        errors["source"] = f"one of {', '.join(Incident.Source.values)}"
    _invalid(errors)
    at = now()
    with transaction.atomic():
        inc = Incident.objects.create(
            title=title,
            summary=summary,
            severity=sev,
            source=source,
            incident_manager=manager,
            declared_by=_user(actor),
            declared_at=at,
            updated_at=at,
        )
        if tickets:
            inc.tickets.add(*tickets)
        org_ids = list(dict.fromkeys([o.pk for o in orgs] + _ticket_orgs(tickets)))
        area_ids = list(dict.fromkeys([a.pk for a in areas] + _ticket_areas(tickets)))
        if org_ids:
            inc.organizations.add(*org_ids)
        if area_ids:
            inc.product_areas.add(*area_ids)
        if manager is not None:
            IncidentRole.objects.create(
                incident=inc,
                role=Role.INCIDENT_MANAGER,
                user=manager,
                assumed_at=at,
                assigned_by=_user(actor),
            )
        origin = f" from {_refs(tickets)}" if tickets else ""
        _entry(
            inc,
            "incident.declared",
            f"{_who(_user(actor))} declared a Sev-{sev} incident{origin}."
            + (f" Incident manager: {manager}." if manager else ""),
            actor,
            at,
        )
        _rec(
            inc,
            "incident.declared",
            actor,
            at=at,
            ticket_id=tickets[0].pk if tickets else None,
            data={
                "source": source,
                "severity": sev,
                "tickets": [t.pk for t in tickets],
                "organizations": org_ids,
                "product_areas": area_ids,
                "incident_manager": manager.pk if manager else None,
            },
        )
        if sev == 1:
            _start_owner_target(inc, at)
            _start_paging(inc, actor, at)
    return inc


def declare_from_ticket(ticket_id: int, actor: Any, **fields: Any) -> Incident:
    """One click on a ticket: an incident linked to the ticket (and ``ticket_ids`` more)."""
    ticket = Ticket.objects.filter(pk=ticket_id).first()
    if ticket is None:
        raise NotFound(f"no ticket CL-{ticket_id}")
    extra = [i for i in fields.pop("ticket_ids", None) or [] if i != ticket_id]
    fields.setdefault("title", "")
    if fields.get("severity") is None:
        fields["severity"] = 1
    return declare_incident(actor, ticket_ids=[ticket_id, *extra], **fields)


def _ticket_orgs(tickets: list[Ticket]) -> list[int]:
    return [t.organization_id for t in tickets if t.organization_id]


def _ticket_areas(tickets: list[Ticket]) -> list[int]:
    return [t.product_area_id for t in tickets if t.product_area_id]


def link_tickets(incident_id: int, actor: Any, ticket_ids: Iterable[int]) -> Incident:
    """Link tickets (their organizations and product areas join the incident's). Tickets
    already linked are left alone; a closed incident answers 409."""
    errors: dict[str, str] = {}
    tickets = _rows(Ticket, ticket_ids, "ticket_ids", errors, "tickets")
    if not tickets and "ticket_ids" not in errors:
        errors["ticket_ids"] = "at least one ticket"
    _invalid(errors)
    with transaction.atomic():
        inc = _lock(incident_id)
        _require_open(inc)
        have = set(inc.tickets.values_list("id", flat=True))
        new = [t for t in tickets if t.pk not in have]
        if new:
            at = now()
            inc.tickets.add(*new)
            orgs = _ticket_orgs(new)
            areas = _ticket_areas(new)
            if orgs:
                inc.organizations.add(*orgs)
            if areas:
                inc.product_areas.add(*areas)
            _touch(inc, at)
            _entry(inc, "incident.tickets_linked", f"Linked {_refs(new)}.", actor, at)
            _rec(
                inc,
                "incident.tickets_linked",
                actor,
                at=at,
                ticket_id=new[0].pk,
                data={"tickets": [t.pk for t in new], "organizations": orgs},
            )
    return inc


def unlink_ticket(incident_id: int, actor: Any, ticket_id: int) -> Incident:
    """Unlink a ticket. Its organization (product area) leaves the incident when no other
    linked ticket has it."""
    with transaction.atomic():
        inc = _lock(incident_id)
        _require_open(inc)
        ticket = inc.tickets.filter(pk=ticket_id).first()
        if ticket is None:
            raise NotFound(f"ticket CL-{ticket_id} is not linked to {inc.reference}")
        at = now()
        inc.tickets.remove(ticket)
        rest = inc.tickets.all()
        removed: dict[str, Any] = {}
        if (
            ticket.organization_id
            and not rest.filter(organization_id=ticket.organization_id).exists()
        ):
            inc.organizations.remove(ticket.organization_id)
            removed["organization"] = ticket.organization_id
        if (
            ticket.product_area_id
            and not rest.filter(product_area_id=ticket.product_area_id).exists()
        ):
            inc.product_areas.remove(ticket.product_area_id)
            removed["product_area"] = ticket.product_area_id
        _touch(inc, at)
        _entry(inc, "incident.ticket_unlinked", f"Unlinked {ticket.reference}.", actor, at)
        _rec(
            inc,
            "incident.ticket_unlinked",
            actor,
            at=at,
            ticket_id=ticket.pk,
            data={"ticket": ticket.pk, **removed},
        )
    return inc


def update_incident(incident_id: int, actor: Any, **changes: Any) -> Incident:
    """Change ``title``, ``summary``, ``severity``, ``organization_ids`` or
    ``product_area_ids`` (the last two replace the sets). Raising the severity to 1 on a
    live incident starts its owner target and pages; lowering it from 1 stops both."""
    errors: dict[str, str] = {}
    unknown = set(changes) - {
        "title",
        "summary",
        "severity",
        "organization_ids",
        "product_area_ids",
    }
    if unknown:
        errors.update({k: "not a field that can be changed" for k in sorted(unknown)})
    orgs = areas = None
    if "organization_ids" in changes:
        orgs = _rows(
            Organization, changes["organization_ids"], "organization_ids", errors, "organizations"
        )
    if "product_area_ids" in changes:
        areas = _rows(
            ProductArea, changes["product_area_ids"], "product_area_ids", errors, "product areas"
        )
    with transaction.atomic():
        inc = _lock(incident_id)
        _require_open(inc)
        before = {"title": inc.title, "summary": inc.summary, "severity": inc.severity}
        if "title" in changes:
            inc.title = _text(changes["title"], "title", errors, required=True, limit=300)
        if "summary" in changes:
            inc.summary = _text(changes["summary"], "summary", errors, required=False, limit=20000)
        if "severity" in changes:
            inc.severity = _severity(changes["severity"], errors)
        _invalid(errors)
        diff: dict[str, tuple[Any, Any]] = {
            k: (v, getattr(inc, k)) for k, v in before.items() if getattr(inc, k) != v
        }
        if orgs is not None:
            old = sorted(inc.organizations.values_list("id", flat=True))
            new = sorted(o.pk for o in orgs)
            if old != new:
                inc.organizations.set(new)
                diff["organizations"] = (old, new)
        if areas is not None:
            old = sorted(inc.product_areas.values_list("id", flat=True))
            new = sorted(a.pk for a in areas)
            if old != new:
                inc.product_areas.set(new)
                diff["product_areas"] = (old, new)
        if not diff:
            return inc
        at = now()
        inc.updated_at = at
        inc.save()
        text = "; ".join(
            f"{k} {v[0]!s:.80} → {v[1]!s:.80}" if k != "summary" else "summary changed"
            for k, v in diff.items()
        )
        _entry(inc, "incident.updated", f"Changed {text}.", actor, at)
        _rec(inc, "incident.updated", actor, at=at, changes=diff)
        if "severity" in diff and inc.status in LIVE_STATUSES:
            old_sev, new_sev = diff["severity"]
            if new_sev == 1:
                _start_owner_target(inc, at)
                if not inc.pages.filter(state=Page.State.SENT).exists():
                    _start_paging(inc, actor, at)
            elif old_sev == 1:
                _stop_owner_target(inc, at)
                _stop_paging(inc, at)
    return inc


def transition(incident_id: int, actor: Any, to: str, *, note: str = "") -> Incident:
    """Move the incident (``TRANSITIONS``; anything else 409 ``illegal_transition``).

    The status reached keeps its moment (``identified_at`` ...). Going back clears the
    moments of the later statuses (they will be reached again); skipped statuses keep no
    moment. Resolving or closing stops the owner target and the paging chain."""
    if to not in TRANSITIONS:
        raise ValidationFailed("unknown status", fields={"status": f"one of {', '.join(ORDER)}"})
    errors: dict[str, str] = {}
    note = _text(note, "note", errors, required=False, limit=2000)
    _invalid(errors)
    with transaction.atomic():
        inc = _lock(incident_id)
        old = inc.status
        allowed = TRANSITIONS[old]
        if to not in allowed:
            raise Conflict(
                f"an incident cannot move from {old} to {to}",
                fields={
                    "status": f"from {old}: "
                    + (", ".join(allowed) if allowed else "no further moves (closed)")
                },
                code="illegal_transition",
            )
        at = now()
        inc.status = to
        if to in STATUS_TIMESTAMP:
            setattr(inc, STATUS_TIMESTAMP[to], at)
        for later in ORDER[ORDER.index(to) + 1 :]:
            if later in STATUS_TIMESTAMP:
                setattr(inc, STATUS_TIMESTAMP[later], None)
        inc.updated_at = at
        inc.save()
        if to in (S.RESOLVED, S.CLOSED):
            _stop_owner_target(inc, at)
            _stop_paging(inc, at)
        elif old == S.RESOLVED and inc.severity == 1 and inc.case_owner_id is None:
            _start_owner_target(inc, at)
        _entry(
            inc,
            "incident.status_changed",
            f"Status {old} → {to}." + (f" {note}" if note else ""),
            actor,
            at,
        )
        _rec(
            inc,
            "incident.status_changed",
            actor,
            at=at,
            changes={"status": (old, to)},
            data={"note": note},
        )
    return inc


def legal_moves(status: str) -> tuple[str, ...]:
    return TRANSITIONS.get(status, ())


# --- roles ---------------------------------------------------------------------------------


def _current(inc: Incident, role: str) -> IncidentRole | None:
    return (
        IncidentRole.objects.select_for_update()
        .filter(incident=inc, role=role, renounced_at__isnull=True)
        .order_by("id")
        .first()
    )


def _renounce_row(inc: Incident, row: IncidentRole, at: datetime) -> None:
    row.renounced_at = at
    row.save(update_fields=["renounced_at"])
    if row.role == Role.INCIDENT_MANAGER and inc.incident_manager_id == row.user_id:
        inc.incident_manager = None
    if row.role == Role.CASE_OWNER and inc.case_owner_id == row.user_id:
        inc.case_owner = None


def assign_role(
    incident_id: int, actor: Any, *, role: str, user_id: int, note: str = ""
) -> IncidentRole:
    """Give ``role`` to a person. A single-holder role (incident manager, communications
    lead) passes from its current holder (their row is renounced); an SME is added (409
    ``role_held`` when that person already is one). The case owner changes only through
    the acknowledged handoff (``assign_owner``)."""
    errors: dict[str, str] = {}
    if role == Role.CASE_OWNER:
        errors["role"] = "the case owner is handed over with assign_owner (needs their ack)"
    elif role not in Role.values:
        errors["role"] = f"one of {', '.join(r for r in Role.values if r != Role.CASE_OWNER)}"
    if role == Role.INCIDENT_MANAGER:
        user = _manager(user_id, "user_id", errors)
    else:
        user = _staff(user_id, "user_id", errors)
    note = _text(note, "note", errors, required=False, limit=300)
    _invalid(errors)
    assert user is not None
    with transaction.atomic():
        inc = _lock(incident_id)
        _require_open(inc)
        at = now()
        previous = None
        if role in IncidentRole.SINGLE_HOLDER:
            current = _current(inc, role)
            if current is not None and current.user_id == user.pk:
                raise Conflict(
                    f"{user} already is the {Role(role).label.lower()}",
                    fields={"user_id": "holds this role already"},
                    code="role_held",
                )
            if current is not None:
                previous = current.user_id
                _renounce_row(inc, current, at)
        elif IncidentRole.objects.filter(
            incident=inc, role=role, user=user, renounced_at__isnull=True
        ).exists():
            raise Conflict(
                f"{user} already is an SME here",
                fields={"user_id": "holds this role already"},
                code="role_held",
            )
        row = IncidentRole.objects.create(
            incident=inc, role=role, user=user, assumed_at=at, assigned_by=_user(actor), note=note
        )
        if role == Role.INCIDENT_MANAGER:
            inc.incident_manager = user
        inc.updated_at = at
        inc.save()
        label = Role(role).label
        _entry(
            inc,
            "incident.role_assigned",
            f"{user} is now {label.lower()}" + (f" (was user {previous})." if previous else "."),
            actor,
            at,
        )
        _rec(
            inc,
            "incident.role_assigned",
            actor,
            at=at,
            data={"role": role, "user": user.pk, "row": row.pk, "previous": previous},
        )
    return row


def renounce_role(incident_id: int, actor: Any, role_id: int) -> IncidentRole:
    """End a role row (history kept). Renouncing the case owner of a live Sev-1 starts a
    new owner-assigned target cycle."""
    with transaction.atomic():
        inc = _lock(incident_id)
        row = (
            IncidentRole.objects.select_for_update()
            .filter(pk=role_id, incident=inc)
            .select_related("user")
            .first()
        )
        if row is None:
            raise NotFound(f"no role {role_id} on {inc.reference}")
        if row.renounced_at is not None:
            raise Conflict(
                "the role was already renounced",
                fields={"role_id": f"renounced at {row.renounced_at:%Y-%m-%d %H:%M} UTC"},
                code="already_renounced",
            )
        at = now()
        _renounce_row(inc, row, at)
        inc.updated_at = at
        inc.save()
        if (
            row.role == Role.CASE_OWNER
            and inc.severity == 1
            and inc.status in LIVE_STATUSES
            and inc.case_owner_id is None
        ):
            _start_owner_target(inc, at, restart=True)
        _entry(
            inc,
            "incident.role_renounced",
            f"{row.user} is no longer {row.get_role_display().lower()}.",
            actor,
            at,
        )
        _rec(
            inc,
            "incident.role_renounced",
            actor,
            at=at,
            data={"role": row.role, "user": row.user_id, "row": row.pk},
        )
    return row


# --- Sev-1 ownership ----------------------------------------------------------------------


def owner_target_definition() -> tuple[int, str]:
    """(seconds, calendar name) of the Sev-1 owner-assigned target: the SLA engine's
    support-engineer ``owner_assigned`` target for a severity-1 ticket (the seeded "Sev-1
    around the clock" policy: 15 minutes, 24x7), else 15 minutes of calendar time."""
    from caseline.sla import clockstate as cs
    from caseline.sla import policies
    from caseline.sla.calendars import ALWAYS_OPEN

    for t in policies.matcher(cs.Facts(severity=1)):
        if t.role == cs.SE and t.kind == cs.OWNER:
            return int(t.seconds), t.calendar_name or ALWAYS_OPEN
    return DEFAULT_OWNER_SECONDS, ALWAYS_OPEN


def _due(start: datetime, seconds: int, calendar: str) -> datetime:
    from caseline.sla.calendars import ALWAYS_OPEN, get_calendar

    if calendar == ALWAYS_OPEN:
        return start + timedelta(seconds=seconds)
    return get_calendar(calendar).add(start, seconds)


def _start_owner_target(inc: Incident, at: datetime, *, restart: bool = False) -> None:
    """Start (or, ``restart``, begin a new cycle of) the owner-assigned target unless an
    acknowledged case owner exists or a cycle is already running."""
    if inc.case_owner_id is not None:
        return
    target = OwnerTarget.objects.select_for_update().filter(incident=inc).first()
    seconds, calendar = owner_target_definition()
    if target is None:
        target = OwnerTarget(incident=inc, cycle=1)
    elif target.state == "active":
        return
    else:
        target.cycle += 1
    target.seconds = seconds
    target.calendar = calendar
    target.started_at = at
    target.due_at = _due(at, seconds, calendar)
    target.fulfilled_at = target.breached_at = target.stopped_at = None
    target.save()
    timers.schedule(
        OWNER_KIND,
        "incident",
        inc.pk,
        target.due_at,
        key=f"inc-owner:{inc.pk}:{target.cycle}",
        payload={"cycle": target.cycle},
    )


def _stop_owner_target(inc: Incident, at: datetime) -> None:
    OwnerTarget.objects.filter(
        incident=inc, fulfilled_at__isnull=True, breached_at__isnull=True, stopped_at__isnull=True
    ).update(stopped_at=at)


def assign_owner(incident_id: int, actor: Any, *, user_id: int, note: str = "") -> OwnerHandoff:
    """Hand the case owner role to someone: the handoff waits for their acknowledgement
    (``acknowledge_ownership``); until then the current owner (if any) stays owner and the
    owner-assigned target keeps running. A newer handoff cancels a pending one. The
    receiver is emailed (outbox)."""
    errors: dict[str, str] = {}
    user = _staff(user_id, "user_id", errors)
    note = _text(note, "note", errors, required=False, limit=500)
    _invalid(errors)
    assert user is not None
    with transaction.atomic():
        inc = _lock(incident_id)
        _require_open(inc, live=True)
        if inc.case_owner_id == user.pk:
            raise Conflict(
                f"{user} already owns {inc.reference}",
                fields={"user_id": "is the case owner already"},
                code="role_held",
            )
        at = now()
        pending = OwnerHandoff.objects.select_for_update().filter(
            incident=inc, state=OwnerHandoff.State.PENDING
        )
        cancelled = [h.to_user_id for h in pending]
        pending.update(state=OwnerHandoff.State.CANCELLED, cancelled_at=at)
        handoff = OwnerHandoff.objects.create(
            incident=inc,
            to_user=user,
            from_user=inc.case_owner,
            requested_by=_user(actor),
            note=note,
            requested_at=at,
        )
        if user.email:
            from caseline.notify.services import enqueue_email

            enqueue_email(
                key=f"inc-handoff-{handoff.pk}",
                to=[user.email],
                subject=f"[{inc.reference}] You are asked to own: {inc.title}",
                text=(
                    f"{_who(_user(actor))} hands you the case owner role of {inc.reference} "
                    f"(Sev-{inc.severity}, {inc.status}).\n"
                    + (f"Note: {note}\n" if note else "")
                    + "\nAcknowledge it in the incident room to take ownership.\n"
                ),
                subject_type="incident",
                subject_id=inc.pk,
            )
        _touch(inc, at)
        _entry(
            inc,
            "incident.owner_assigned",
            f"Case owner handed to {user}; waiting for their acknowledgement.",
            actor,
            at,
        )
        _rec(
            inc,
            "incident.owner_assigned",
            actor,
            at=at,
            data={
                "handoff": handoff.pk,
                "to": user.pk,
                "from": inc.case_owner_id,
                "cancelled_pending": cancelled,
            },
        )
    return handoff


def acknowledge_ownership(incident_id: int, actor: Any) -> OwnerHandoff:
    """The receiver of the pending handoff takes the case owner role (403 for anyone
    else, 409 ``no_pending_handoff`` without one). Fulfils the owner-assigned target
    (a breach already published stands)."""
    with transaction.atomic():
        inc = _lock(incident_id)
        handoff = (
            OwnerHandoff.objects.select_for_update()
            .filter(incident=inc, state=OwnerHandoff.State.PENDING)
            .first()
        )
        if handoff is None:
            raise Conflict(
                f"no handoff of {inc.reference} waits for acknowledgement",
                code="no_pending_handoff",
            )
        user = _user(actor)
        if user is None or user.pk != handoff.to_user_id:
            raise PermissionDenied("only the person the case is handed to can acknowledge it")
        at = now()
        current = _current(inc, Role.CASE_OWNER)
        if current is not None:
            _renounce_row(inc, current, at)
        IncidentRole.objects.create(
            incident=inc,
            role=Role.CASE_OWNER,
            user=user,
            assumed_at=at,
            assigned_by=handoff.requested_by,
            note="acknowledged handoff",
        )
        handoff.state = OwnerHandoff.State.ACKNOWLEDGED
        handoff.acknowledged_at = at
        handoff.save(update_fields=["state", "acknowledged_at"])
        inc.case_owner = user
        inc.updated_at = at
        inc.save()
        target = OwnerTarget.objects.select_for_update().filter(incident=inc).first()
        on_time = None
        if target is not None and target.fulfilled_at is None and target.stopped_at is None:
            target.fulfilled_at = at
            target.save(update_fields=["fulfilled_at"])
            on_time = target.breached_at is None and at < target.due_at
        _entry(
            inc,
            "incident.owner_acknowledged",
            f"{user} acknowledged and owns the case"
            + (
                " (owner target met)."
                if on_time
                else " (after the owner target)."
                if on_time is False
                else "."
            ),
            actor,
            at,
        )
        _rec(
            inc,
            "incident.owner_acknowledged",
            actor,
            at=at,
            data={"handoff": handoff.pk, "owner": user.pk, "on_time": on_time},
        )
    return handoff


def _incident_recipients(inc: Incident) -> list[User]:
    """Incident managers (this incident's first) and support managers, active staff."""
    people: list[User] = []
    if inc.incident_manager_id and inc.incident_manager.is_active:
        people.append(inc.incident_manager)
    qs = (
        User.objects.filter(
            groups__name__in=[R.INCIDENT_MANAGER, R.SUPPORT_MANAGER],
            is_active=True,
            kind=User.Kind.STAFF,
        )
        .distinct()
        .order_by("id")
    )
    for u in qs:
        if u not in people:
            people.append(u)
    return people


def owner_due(timer: Any) -> None:
    """Timer ``incident.owner_due``: no acknowledged case owner at the target -> breach
    (once per cycle): audit ``incident.owner_breached``, a pinned timeline entry, email to
    the incident managers and support managers (outbox)."""
    inc = Incident.objects.select_for_update().filter(pk=timer.subject_id).first()
    if inc is None:
        return
    target = OwnerTarget.objects.select_for_update().filter(incident=inc).first()
    cycle = (timer.payload or {}).get("cycle")
    if (
        target is None
        or target.cycle != cycle
        or target.state != "active"
        or inc.status not in LIVE_STATUSES
        or inc.case_owner_id is not None
    ):
        return
    at = now()
    target.breached_at = at
    target.save(update_fields=["breached_at"])
    pending = (
        inc.handoffs.filter(state=OwnerHandoff.State.PENDING).select_related("to_user").first()
    )
    people = _incident_recipients(inc)
    emails = list(dict.fromkeys(u.email for u in people if u.email))
    if emails:
        from caseline.notify.services import enqueue_email

        enqueue_email(
            key=f"inc-owner-breach-{inc.pk}-{target.cycle}",
            to=emails,
            subject=f"[{inc.reference}] Sev-1 without a case owner: {inc.title}",
            text=(
                f"{inc.reference} has had no acknowledged case owner since "
                f"{target.started_at:%Y-%m-%d %H:%M} UTC; the owner-assigned target was "
                f"{target.seconds // 60} min ({target.calendar}), due "
                f"{target.due_at:%Y-%m-%d %H:%M} UTC.\n"
                + (
                    f"A handoff to {pending.to_user} waits for acknowledgement.\n"
                    if pending
                    else "Nobody has been asked to own it.\n"
                )
                + f"Incident manager: {inc.incident_manager or 'none'}.\n"
            ),
            subject_type="incident",
            subject_id=inc.pk,
        )
    _entry(
        inc,
        "incident.owner_breached",
        f"Owner-assigned target breached: no acknowledged case owner within "
        f"{target.seconds // 60} min.",
        None,
        at,
        pinned=True,
    )
    _rec(
        inc,
        "incident.owner_breached",
        None,
        at=at,
        data={
            "cycle": target.cycle,
            "due_at": target.due_at,
            "notified": emails,
            "pending_handoff_to": pending.to_user_id if pending else None,
        },
    )


# --- tasks --------------------------------------------------------------------------------


def add_task(
    incident_id: int,
    actor: Any,
    *,
    title: str,
    assignee_id: int | None = None,
    due_at: Any = None,
) -> IncidentTask:
    errors: dict[str, str] = {}
    title = _text(title, "title", errors, required=True, limit=300)
    assignee = _staff(assignee_id, "assignee_id", errors) if assignee_id is not None else None
    due = _aware(due_at, "due_at", errors)
    _invalid(errors)
    with transaction.atomic():
        inc = _lock(incident_id)
        _require_open(inc)
        at = now()
        task = IncidentTask.objects.create(
            incident=inc,
            title=title,
            assignee=assignee,
            due_at=due,
            created_by=_user(actor),
            created_at=at,
        )
        _touch(inc, at)
        _entry(
            inc,
            "incident.task_changed",
            f"Task added: {title}" + (f" ({assignee})" if assignee else "") + ".",
            actor,
            at,
        )
        _rec(
            inc,
            "incident.task_changed",
            actor,
            at=at,
            data={"action": "added", "task": task.pk, "title": title, "assignee": assignee_id},
        )
    return task


def update_task(task_id: int, actor: Any, **changes: Any) -> IncidentTask:
    """Change ``title``, ``assignee_id`` (None clears), ``due_at`` (None clears), ``done``."""
    errors: dict[str, str] = {}
    unknown = set(changes) - {"title", "assignee_id", "due_at", "done"}
    errors.update({k: "not a field that can be changed" for k in sorted(unknown)})
    row = IncidentTask.objects.filter(pk=task_id).values_list("incident_id", flat=True).first()
    if row is None:
        raise NotFound(f"no incident task {task_id}")
    with transaction.atomic():
        inc = _lock(row)
        _require_open(inc)
        task = IncidentTask.objects.select_for_update().get(pk=task_id)
        before = {
            "title": task.title,
            "assignee": task.assignee_id,
            "due_at": task.due_at,
            "done": task.done,
        }
        if "title" in changes:
            task.title = _text(changes["title"], "title", errors, required=True, limit=300)
        if "assignee_id" in changes:
            a = changes["assignee_id"]
            task.assignee = _staff(a, "assignee_id", errors) if a is not None else None
        if "due_at" in changes:
            task.due_at = _aware(changes["due_at"], "due_at", errors)
        if "done" in changes:
            if not isinstance(changes["done"], bool):
                errors["done"] = "true or false"
            else:
                task.done = changes["done"]
        _invalid(errors)
        after = {
            "title": task.title,
            "assignee": task.assignee_id,
            "due_at": task.due_at,
            "done": task.done,
        }
        diff = {k: (before[k], after[k]) for k in before if before[k] != after[k]}
        if not diff:
            return task
        at = now()
        if "done" in diff:
            task.done_at = at if task.done else None
            task.done_by = _user(actor) if task.done else None
        task.save()
        _touch(inc, at)
        if list(diff) == ["done"]:
            text = f"Task {'done' if task.done else 'reopened'}: {task.title}."
        else:
            text = f"Task changed: {task.title} ({', '.join(diff)})."
        _entry(inc, "incident.task_changed", text, actor, at)
        _rec(
            inc,
            "incident.task_changed",
            actor,
            at=at,
            changes=diff,
            data={"action": "changed", "task": task.pk},
        )
    return task


# --- timeline -----------------------------------------------------------------------------


def add_note(incident_id: int, actor: Any, *, text: str, pinned: bool = False) -> TimelineEntry:
    errors: dict[str, str] = {}
    body = _text(text, "text", errors, required=True, limit=20000)
    if not isinstance(pinned, bool):
        errors["pinned"] = "true or false"
    _invalid(errors)
    with transaction.atomic():
        inc = _lock(incident_id)
        at = now()
        entry = TimelineEntry.objects.create(
            incident=inc,
            kind=TimelineEntry.Kind.NOTE,
            text=body,
            author=_user(actor),
            at=at,
            pinned=pinned,
            pinned_at=at if pinned else None,
            pinned_by=_user(actor) if pinned else None,
        )
        _touch(inc, at)
        _rec(
            inc,
            "incident.note_added",
            actor,
            at=at,
            data={"entry": entry.pk, "pinned": pinned, "length": len(body)},
        )
    return entry


def pin_entry(entry_id: int, actor: Any, *, pinned: bool = True) -> TimelineEntry:
    """Pin (or unpin) any timeline entry; pinned entries are shown first."""
    if not isinstance(pinned, bool):
        raise ValidationFailed("the request is not valid", fields={"pinned": "true or false"})
    incident_id = (
        TimelineEntry.objects.filter(pk=entry_id).values_list("incident_id", flat=True).first()
    )
    if incident_id is None:
        raise NotFound(f"no timeline entry {entry_id}")
    with transaction.atomic():
        inc = _lock(incident_id)
        entry = TimelineEntry.objects.select_for_update().get(pk=entry_id)
        if entry.pinned == pinned:
            return entry
        at = now()
        entry.pinned = pinned
        entry.pinned_at = at if pinned else None
        entry.pinned_by = _user(actor) if pinned else None
        entry.save(update_fields=["pinned", "pinned_at", "pinned_by"])
        _rec(
            inc,
            "incident.entry_pinned",
            actor,
            at=at,
            changes={"pinned": (not pinned, pinned)},
            data={"entry": entry.pk},
        )
    return entry


# --- paging -------------------------------------------------------------------------------


def paging_region(inc: Incident) -> Region | None:
    """Whose rota is paged first: the region of the first linked ticket's organization,
    else of the first affected organization, else of the declaring user."""
    t = inc.tickets.filter(organization__region__isnull=False).order_by("id").first()
    if t is not None:
        return t.organization.region
    org = inc.organizations.filter(region__isnull=False).order_by("id").first()
    if org is not None:
        return org.region
    if inc.declared_by_id and inc.declared_by.region_id:
        return inc.declared_by.region
    return None


def rota_candidates(inc: Incident, at: datetime) -> list[User]:
    """The people on duty, in paging order: the paging region's rotas (every active
    schedule of the region, in name order: primary before secondary), then the other
    regions in follow-the-sun order after it (``handoff_order``, wrapping)."""
    from caseline.oncall import queries as oncall

    regions = list(Region.objects.order_by("handoff_order", "code"))
    first = paging_region(inc)
    if first is not None and first in regions:
        i = regions.index(first)
        regions = regions[i:] + regions[:i]
    out: list[User] = []
    for region in regions:
        for u in oncall.on_duty(region, at):
            if u.is_active and u.kind == User.Kind.STAFF and u not in out:
                out.append(u)
    return out


def _managers(inc: Incident) -> list[User]:
    if inc.incident_manager_id and inc.incident_manager.is_active:
        return [inc.incident_manager]
    return list(
        User.objects.filter(
            groups__name=R.SUPPORT_MANAGER, is_active=True, kind=User.Kind.STAFF
        ).order_by("id")
    )


def _next_level(inc: Incident, chain: int, at: datetime) -> tuple[str, list[User]] | None:
    """Who the next level of ``chain`` pages: the next rota person not paged yet (up to
    ``page_rota_steps()`` of them), then the manager (the incident manager, else the
    support managers); None when nobody is left."""
    pages = list(inc.pages.filter(chain=chain))
    paged = {p.recipient_id for p in pages}
    if any(p.reason == Page.Reason.MANAGER for p in pages):
        return None
    rota_pages = sum(1 for p in pages if p.reason != Page.Reason.MANAGER)
    if rota_pages < page_rota_steps():
        for u in rota_candidates(inc, at):
            if u.pk not in paged:
                reason = Page.Reason.ON_DUTY if rota_pages == 0 else Page.Reason.NEXT_ON_ROTA
                return reason, [u]
    managers = [u for u in _managers(inc) if u.pk not in paged]
    if managers:
        return Page.Reason.MANAGER, managers
    return None


def ack_token(page: Page) -> str:
    """A signed token naming the page and its recipient (Django's signing with the secret
    key; stable for a page, so the email and the gateway carry the same link)."""
    return signing.Signer(salt=ACK_SALT).sign_object({"p": page.pk, "u": page.recipient_id})


def page_from_token(token: str) -> Page:
    """The page of a signed token; 404 for a bad signature or a page older than 7 days."""
    try:
        data = signing.Signer(salt=ACK_SALT).unsign_object(token)
    except (signing.BadSignature, ValueError) as exc:
        raise NotFound("this acknowledgement link is not valid (or expired)") from exc
    page = None
    if isinstance(data, dict):
        page = Page.objects.filter(pk=data.get("p"), recipient_id=data.get("u")).first()
    if page is None or (now() - page.sent_at).total_seconds() > ACK_MAX_AGE:
        raise NotFound("this acknowledgement link is not valid (or expired)")
    return page


def ack_url(page: Page) -> str:
    from django.urls import reverse

    base = getattr(settings, "INCIDENT_BASE_URL", "") or getattr(settings, "PORTAL_BASE_URL", "")
    return f"{base.rstrip('/')}{reverse('incident_page_ack', kwargs={'token': ack_token(page)})}"


def _send_page(inc: Incident, page: Page, targets: list[PagingTarget]) -> None:
    """The page's side effects: a signed JSON POST to every active paging gateway and an
    email to the person, both outbox rows (keys name the page)."""
    from caseline.events import DomainEvent
    from caseline.notify.services import enqueue_email, enqueue_webhook

    user = page.recipient
    link = ack_url(page)
    data = {
        "page_id": page.pk,
        "incident": {
            "id": inc.pk,
            "reference": inc.reference,
            "title": inc.title,
            "severity": inc.severity,
            "status": inc.status,
        },
        "recipient": {"id": user.pk, "name": str(user), "email": user.email},
        "chain": page.chain,
        "level": page.level,
        "reason": page.reason,
        "ack_due_at": page.ack_due_at,
        "ack_url": link,
        "text": f"{inc.reference} Sev-{inc.severity}: {inc.title} — acknowledge: {link}",
    }
    for target in targets:
        event = DomainEvent(
            type="incident.paged",
            subject_type="incident",
            subject_id=inc.pk,
            at=page.sent_at,
            data=_json(data),
        )
        enqueue_webhook(target.webhook, event, key=f"inc-page-{page.pk}-gw-{target.pk}")
    if user.email:
        enqueue_email(
            key=f"inc-page-{page.pk}-email",
            to=[user.email],
            subject=f"[PAGE] {inc.reference} Sev-{inc.severity}: {inc.title}",
            text=(
                f"You are paged for {inc.reference} ({page.get_reason_display().lower()}).\n\n"
                f"{inc.title}\nSeverity: Sev-{inc.severity}   Status: {inc.status}\n"
                f"Incident manager: {inc.incident_manager or 'none yet'}\n\n"
                f"Acknowledge by {page.ack_due_at:%H:%M} UTC or the next person is paged:\n"
                f"{link}\n"
            ),
            subject_type="incident",
            subject_id=inc.pk,
        )


def _json(data: dict) -> dict:
    from caseline.audit.services import _jsonable

    return _jsonable(data)


def _page_level(
    inc: Incident, actor: Any, chain: int, at: datetime, *, escalated_from: int | None = None
) -> list[Page]:
    step = _next_level(inc, chain, at)
    if step is None:
        return []
    reason, people = step
    level = max(inc.pages.filter(chain=chain).values_list("level", flat=True), default=0) + 1
    due = at + timedelta(minutes=page_ack_minutes())
    targets = list(PagingTarget.objects.filter(active=True).select_related("webhook"))
    pages = []
    for user in people:
        page = Page.objects.create(
            incident=inc,
            chain=chain,
            level=level,
            reason=reason,
            recipient=user,
            sent_at=at,
            ack_due_at=due,
        )
        _send_page(inc, page, targets)
        pages.append(page)
    timers.schedule(
        PAGE_KIND,
        "incident",
        inc.pk,
        due,
        key=f"inc-page:{inc.pk}:{chain}:{level}",
        payload={"chain": chain, "level": level},
    )
    names = ", ".join(str(p.recipient) for p in pages)
    _entry(
        inc,
        "incident.paged",
        f"Paged {names} ({Page.Reason(reason).label.lower()}, level {level}); "
        f"acknowledgement due {due:%H:%M} UTC.",
        actor,
        at,
    )
    _rec(
        inc,
        "incident.paged",
        actor,
        at=at,
        data={
            "chain": chain,
            "level": level,
            "reason": reason,
            "pages": [p.pk for p in pages],
            "recipients": [p.recipient_id for p in pages],
            "gateways": [t.pk for t in targets],
            "ack_due_at": due,
            "escalated_from_level": escalated_from,
        },
    )
    return pages


def _start_paging(inc: Incident, actor: Any, at: datetime) -> list[Page]:
    chain = max(inc.pages.values_list("chain", flat=True), default=0) + 1
    pages = _page_level(inc, actor, chain, at)
    if not pages:
        _exhausted(inc, chain, at, "nobody is on duty and there is no manager to page")
    return pages


def _stop_paging(inc: Incident, at: datetime) -> None:
    inc.pages.filter(state=Page.State.SENT).update(state=Page.State.CANCELLED, cancelled_at=at)


def _exhausted(inc: Incident, chain: int, at: datetime, why: str) -> None:
    _entry(inc, "incident.paging_exhausted", f"Paging stopped: {why}.", None, at, pinned=True)
    _rec(inc, "incident.paging_exhausted", None, at=at, data={"chain": chain, "reason": why})


def page_now(incident_id: int, actor: Any) -> list[Page]:
    """Start a new paging chain by hand (any severity; the previous chain's waiting pages
    are cancelled)."""
    with transaction.atomic():
        inc = _lock(incident_id)
        _require_open(inc, live=True)
        at = now()
        _stop_paging(inc, at)
        pages = _start_paging(inc, actor, at)
        _touch(inc, at)
    return pages


def page_ack_due(timer: Any) -> None:
    """Timer ``incident.page_ack_due``: if nobody of the level acknowledged and the chain
    still runs, its pages become ``escalated`` and the next level is paged; with nobody
    left, ``incident.paging_exhausted`` (pages stay waiting for a late acknowledgement).
    A second firing, a stopped chain, an acknowledged page: nothing happens."""
    inc = Incident.objects.select_for_update().filter(pk=timer.subject_id).first()
    if inc is None or inc.status not in LIVE_STATUSES:
        return
    payload = timer.payload or {}
    chain, level = payload.get("chain"), payload.get("level")
    pages = list(
        Page.objects.select_for_update().filter(incident=inc, chain=chain).order_by("level", "id")
    )
    if any(p.state == Page.State.ACKNOWLEDGED for p in pages):
        return
    waiting = [p for p in pages if p.level == level and p.state == Page.State.SENT]
    if not waiting or any(p.level > level for p in pages):
        return
    at = now()
    nxt = _next_level(inc, chain, at)
    if nxt is None:
        _exhausted(inc, chain, at, f"nobody acknowledged level {level} and nobody is left")
        return
    Page.objects.filter(pk__in=[p.pk for p in waiting]).update(
        state=Page.State.ESCALATED, escalated_at=at
    )
    _entry(
        inc,
        "incident.page_escalated",
        f"No acknowledgement from {', '.join(str(p.recipient) for p in waiting)} "
        f"within {page_ack_minutes()} min.",
        None,
        at,
    )
    _rec(
        inc,
        "incident.page_escalated",
        None,
        at=at,
        data={"chain": chain, "level": level, "pages": [p.pk for p in waiting]},
    )
    _page_level(inc, None, chain, at, escalated_from=level)


def acknowledge_page(page_id: int, actor: Any, *, via: str = "api") -> Page:
    """Acknowledge a page (its recipient, or someone who runs incidents): the chain stops
    (its other waiting pages are cancelled; their timers find nothing to do). Acknowledging
    twice answers the same page unchanged."""
    incident_id = Page.objects.filter(pk=page_id).values_list("incident_id", flat=True).first()
    if incident_id is None:
        raise NotFound(f"no page {page_id}")
    with transaction.atomic():
        inc = _lock(incident_id)
        page = Page.objects.select_for_update().select_related("recipient").get(pk=page_id)
        user = _user(actor)
        if user is None or (user.pk != page.recipient_id and not can_manage(user)):
            raise PermissionDenied("only the paged person or an incident manager can acknowledge")
        if page.state == Page.State.ACKNOWLEDGED:
            return page
        if page.state == Page.State.CANCELLED:
            raise Conflict("the paging chain was stopped already", code="page_not_waiting")
        at = now()
        page.state = Page.State.ACKNOWLEDGED
        page.acknowledged_at = at
        page.acknowledged_by = user
        page.save(update_fields=["state", "acknowledged_at", "acknowledged_by"])
        stopped = list(
            inc.pages.filter(chain=page.chain, state=Page.State.SENT).values_list("pk", flat=True)
        )
        inc.pages.filter(pk__in=stopped).update(state=Page.State.CANCELLED, cancelled_at=at)
        _touch(inc, at)
        by = "" if user.pk == page.recipient_id else f" for {page.recipient}"
        _entry(
            inc,
            "incident.page_acknowledged",
            f"{user} acknowledged the page{by} ({via}); paging stopped.",
            actor,
            at,
        )
        _rec(
            inc,
            "incident.page_acknowledged",
            actor,
            at=at,
            data={
                "page": page.pk,
                "chain": page.chain,
                "level": page.level,
                "via": via,
                "cancelled": stopped,
                "seconds": int((at - page.sent_at).total_seconds()),
            },
        )
    return page


def add_paging_target(
    actor: Any, *, name: str, url: str, secret: str | None = None
) -> PagingTarget:
    """Add a paging / SMS gateway: pages are POSTed to ``url`` as signed JSON (the same
    signature and delivery as webhooks; the URL passes the same address guard)."""
    from caseline.notify import signing as hook_signing
    from caseline.notify.models import Webhook
    from caseline.notify.services import clean_webhook_fields

    data: dict[str, Any] = {"name": name, "url": url}
    if secret is not None:
        data["secret"] = secret
    clean = clean_webhook_fields(data, creating=False)
    if not clean.get("name"):
        raise ValidationFailed("the request is not valid", fields={"name": "required"})
    if not clean.get("url"):
        raise ValidationFailed("the request is not valid", fields={"url": "required"})
    if PagingTarget.objects.filter(name=clean["name"]).exists():
        raise Conflict("a paging gateway with this name exists", code="name_taken")
    with transaction.atomic():
        hook = Webhook.objects.create(
            name=f"Paging: {clean['name']}"[:100],
            url=clean["url"],
            secret=clean.get("secret") or hook_signing.generate_secret(),
            event_types=[],
            created_by=_user(actor),
            created_at=now(),
        )
        target = PagingTarget.objects.create(name=clean["name"], webhook=hook, created_at=now())
        record(
            "incident.paging_target_changed",
            "paging_target",
            target.pk,
            actor=actor,
            data={"action": "created", "name": target.name, "url": hook.url},
        )
    return target


def set_paging_target_active(target_id: int, actor: Any, *, active: bool) -> PagingTarget:
    with transaction.atomic():
        target = PagingTarget.objects.select_for_update().filter(pk=target_id).first()
        if target is None:
            raise NotFound(f"no paging gateway {target_id}")
        if target.active != active:
            target.active = active
            target.save(update_fields=["active"])
            record(
                "incident.paging_target_changed",
                "paging_target",
                target.pk,
                actor=actor,
                changes={"active": (not active, active)},
                data={"action": "updated"},
            )
    return target


def live_incidents_of_ticket(ticket_id: int):
    return Incident.objects.filter(tickets__id=ticket_id).order_by("-id")
