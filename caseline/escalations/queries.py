"""Read paths of escalations: lists, one escalation with its records, the request queue,
SME suggestions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Prefetch, QuerySet

from caseline.accounts.models import ProductArea, SMERosterEntry, User
from caseline.errors import NotFound, ValidationFailed
from caseline.timesource import now

from .models import (
    Cadence,
    ChecklistStep,
    Commitment,
    Escalation,
    EscalationRequest,
    EscalationType,
    Stakeholder,
)

STATUSES = tuple(Escalation.Status.values)


def list_escalations(
    *,
    status: str | None = None,
    organization: int | None = None,
    owner: str | None = None,
    ticket: int | None = None,
) -> QuerySet[Escalation]:
    """Escalations matching the filters (``status`` may be ``live`` = open, active or
    monitoring, or a comma list; ``owner`` an id or ``none``)."""
    qs = Escalation.objects.select_related("organization", "owner", "acting_owner", "type")
    if status:
        wanted = ["open", "active", "monitoring"] if status == "live" else status.split(",")
        bad = [s for s in wanted if s not in STATUSES]
        if bad:
            raise ValidationFailed(
                "the request is not valid",
                fields={"status": f"live or a comma list of {', '.join(STATUSES)}"},
            )
        qs = qs.filter(status__in=wanted)
    if organization is not None:
        qs = qs.filter(organization_id=organization)
    if owner == "none":
        qs = qs.filter(owner__isnull=True)
    elif owner is not None:
        if not owner.isdigit():
            raise ValidationFailed(
                "the request is not valid", fields={"owner": "a staff user id or none"}
            )
        qs = qs.filter(owner_id=int(owner))
    if ticket is not None:
        qs = qs.filter(tickets__id=ticket)
    return qs


def get_escalation(escalation_id: int) -> Escalation:
    esc = (
        Escalation.objects.select_related(
            "organization", "owner", "acting_owner", "type", "opened_by"
        )
        .prefetch_related(
            "tickets",
            Prefetch("steps", queryset=ChecklistStep.objects.select_related("done_by")),
            Prefetch(
                "stakeholders",
                queryset=Stakeholder.objects.select_related(
                    "contact", "user", "approved_by"
                ).order_by("assumed_at", "id"),
            ),
            Prefetch("cadences", queryset=Cadence.objects.order_by("kind")),
            Prefetch(
                "commitments",
                queryset=Commitment.objects.select_related("owner").prefetch_related("slips"),
            ),
        )
        .filter(pk=escalation_id)
        .first()
    )
    if esc is None:
        raise NotFound(f"no escalation ESC-{escalation_id}")
    return esc


def timeline(escalation_id: int) -> QuerySet:
    """The escalation's audit events (audit_subject_idx), 404 for an unknown escalation."""
    from caseline.audit.models import AuditEvent

    if not Escalation.objects.filter(pk=escalation_id).exists():
        raise NotFound(f"no escalation ESC-{escalation_id}")
    return AuditEvent.objects.filter(
        subject_type="escalation", subject_id=escalation_id
    ).select_related("actor")


def get_commitment(commitment_id: int) -> Commitment:
    c = (
        Commitment.objects.select_related("owner")
        .prefetch_related("slips")
        .filter(pk=commitment_id)
        .first()
    )
    if c is None:
        raise NotFound(f"no commitment {commitment_id}")
    return c


def cadence_entries(cadence: Cadence, limit: int = 20) -> list:
    return list(cadence.entries.select_related("by").order_by("-id")[:limit])


def visible_requests(user: User, *, status: str | None = None) -> QuerySet[EscalationRequest]:
    """Escalation managers (``manage_escalations``) see the whole queue; anyone else their
    own requests (with the decision and its reason)."""
    qs = EscalationRequest.objects.select_related(
        "organization", "requested_by", "decided_by"
    ).prefetch_related("tickets")
    if not user.has_perm("accounts.manage_escalations"):
        qs = qs.filter(requested_by=user)
    if status:
        if status not in EscalationRequest.Status.values:
            raise ValidationFailed(
                "the request is not valid",
                fields={"status": f"one of {', '.join(EscalationRequest.Status.values)}"},
            )
        qs = qs.filter(status=status)
    return qs


def visible_request(user: User, request_id: int) -> EscalationRequest:
    req = visible_requests(user).filter(pk=request_id).first()
    if req is None:
        raise NotFound(f"no escalation request {request_id}")
    return req


def types(active_only: bool = False) -> QuerySet[EscalationType]:
    qs = EscalationType.objects.all()
    return qs.filter(active=True) if active_only else qs


def sme_suggestions(
    escalation: Escalation, product_area_id: int | None = None, at: datetime | None = None
) -> dict[str, Any]:
    """SMEs for the escalation: the product area's roster (``product_area_id``, else the
    product areas of the linked tickets) in backup order, skipping people who are inactive,
    away or off shift (the availability filters of auto-assignment: rota, shift calendar),
    and people already holding the SME role here."""
    from caseline.tickets.assignment import on_shift

    at = at or now()
    if product_area_id is not None:
        if not ProductArea.objects.filter(pk=product_area_id).exists():
            raise NotFound(f"no product area {product_area_id}")
        area_ids = [product_area_id]
    else:
        area_ids = list(
            escalation.tickets.exclude(product_area__isnull=True)
            .order_by("id")
            .values_list("product_area_id", flat=True)
            .distinct()
        )
    holding = set(
        Stakeholder.objects.filter(
            escalation=escalation, role="sme", renounced_at__isnull=True, user__isnull=False
        ).values_list("user_id", flat=True)
    )
    suggestions: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for area_id in dict.fromkeys(area_ids):
        entries = list(
            SMERosterEntry.objects.filter(product_area_id=area_id)
            .select_related("user__region", "product_area")
            .order_by("position")
        )
        candidates = []
        for e in entries:
            u = e.user
            why = (
                "inactive"
                if not u.is_active
                else "away"
                if u.is_away
                else "already SME here"
                if u.pk in holding
                else None
            )
            if why:
                skipped.append({"user_id": u.pk, "product_area_id": area_id, "why": why})
            else:
                candidates.append(e)
        available = {u.pk for u in on_shift([e.user for e in candidates], at)}
        for e in candidates:
            row = {
                "user_id": e.user.pk,
                "name": str(e.user),
                "email": e.user.email,
                "product_area_id": area_id,
                "product_area": e.product_area.name,
                "position": e.position,
            }
            if e.user.pk in available:
                suggestions.append(row)
            else:
                skipped.append(
                    {"user_id": e.user.pk, "product_area_id": area_id, "why": "off shift"}
                )
    return {"at": at, "suggestions": suggestions, "skipped": skipped}


# --- the web pages (escalation list, room, intake, ticket panel) ----------------------------


LIST_PAGE_SIZE = 50
SOURCES = tuple(Escalation.Source.values)


def list_rows(
    *,
    status: str | None = None,
    organization: int | None = None,
    owner: str | None = None,
    severity: int | None = None,
    source: str | None = None,
    after: int | None = None,
    limit: int = LIST_PAGE_SIZE,
) -> tuple[list[Escalation], int | None]:
    """One page of the escalation list (newest first, keyset on id: ``after`` is the last
    id of the previous page) with, per row, the next cadence due time, the missed-update
    count and the open commitments (``next_due``, ``missed``, ``open_commitments``
    annotations: subqueries, so a page is one query). Returns (rows, next ``after``)."""
    from django.db.models import Count, IntegerField, Min, OuterRef, Subquery, Sum
    from django.db.models.functions import Coalesce

    errors: dict[str, str] = {}
    if severity is not None and not 1 <= severity <= 4:
        errors["severity"] = "1 (critical) to 4 (low)"
    if source and source not in SOURCES:
        errors["source"] = f"one of {', '.join(SOURCES)}"
    if errors:
        raise ValidationFailed("the request is not valid", fields=errors)
    qs = list_escalations(status=status, organization=organization, owner=owner)
    if severity is not None:
        qs = qs.filter(severity=severity)
    if source:
        qs = qs.filter(source=source)
    if after is not None:
        qs = qs.filter(pk__lt=after)
    live_cad = Cadence.objects.filter(escalation=OuterRef("pk"), active=True)
    qs = qs.annotate(
        next_due=Subquery(
            live_cad.filter(next_due_at__isnull=False)
            .values("escalation")
            .annotate(m=Min("next_due_at"))
            .values("m")[:1]
        ),
        missed=Coalesce(
            Subquery(
                Cadence.objects.filter(escalation=OuterRef("pk"))
                .values("escalation")
                .annotate(s=Sum("missed_count"))
                .values("s")[:1],
                output_field=IntegerField(),
            ),
            0,
        ),
        open_commitments=Coalesce(
            Subquery(
                Commitment.objects.filter(escalation=OuterRef("pk"), status="open")
                .values("escalation")
                .annotate(c=Count("id"))
                .values("c")[:1],
                output_field=IntegerField(),
            ),
            0,
        ),
    ).order_by("-id")
    rows = list(qs[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].pk if more and rows else None)


def list_filter_options() -> dict[str, Any]:
    """Choices for the list's filter form: organizations with escalations, owners."""
    from caseline.accounts.models import Organization

    org_ids = Escalation.objects.values("organization_id").distinct()
    owner_ids = Escalation.objects.exclude(owner__isnull=True).values("owner_id").distinct()
    return {
        "organizations": list(Organization.objects.filter(pk__in=org_ids).order_by("name")),
        "owners": list(User.objects.filter(pk__in=owner_ids).order_by("display_name", "email")),
        "statuses": Escalation.Status.choices,
        "sources": Escalation.Source.choices,
    }


def staff_choices(limit: int = 500) -> list[User]:
    return list(
        User.objects.filter(kind=User.Kind.STAFF, is_active=True).order_by("display_name", "email")[
            :limit
        ]
    )


def escalation_managers() -> list[User]:
    from caseline.accounts import roles as R

    return list(
        User.objects.filter(kind=User.Kind.STAFF, is_active=True, groups__name=R.ESCALATION_MANAGER)
        .distinct()
        .order_by("display_name", "email")
    )


def _in_unit(seconds: int) -> tuple[int, str]:
    """The largest of days / hours / minutes that divides ``seconds`` (for the forms)."""
    for unit, size in (("days", 86400), ("hours", 3600)):
        if seconds and seconds % size == 0:
            return seconds // size, unit
    return seconds // 60, "minutes"


def room(escalation_id: int, *, timeline_limit: int = 200) -> dict[str, Any]:
    """Everything the escalation room shows: the escalation with its records, the legal
    moves, the clocks (next cadence due, missed updates, overdue commitments), the cadence
    logs, the customer contacts and staff to pick from, SME suggestions, the timeline."""
    from caseline.accounts.models import Contact

    from .services import LIVE_STATUSES, TRANSITIONS

    esc = get_escalation(escalation_id)
    at = now()
    cadences = list(esc.cadences.all())
    for cad in cadences:
        cad.recent = cadence_entries(cad, limit=10)
        cad.every_value, cad.every_unit = _in_unit(cad.every_seconds)
    commitments = list(esc.commitments.all())
    for c in commitments:
        c.is_overdue = c.status == Commitment.Status.OPEN and c.due_at <= at
        c.slip_list = list(c.slips.all())
    stakeholders = list(esc.stakeholders.all())
    live = esc.status in LIVE_STATUSES
    dues = [c.next_due_at for c in cadences if c.active and c.next_due_at]
    events = list(timeline(escalation_id).order_by("-id")[:timeline_limit])
    return {
        "esc": esc,
        "now": at,
        "live": live,
        "allowed": list(TRANSITIONS[esc.status]),
        "tickets": list(esc.tickets.all()),
        "steps": list(esc.steps.all()),
        "customer_stakeholders": [s for s in stakeholders if s.contact_id],
        "internal_stakeholders": [s for s in stakeholders if s.user_id],
        "cadences": cadences,
        "cadence_by_kind": {c.kind: c for c in cadences},
        "next_due": min(dues) if dues else None,
        "missed": sum(c.missed_count for c in cadences),
        "commitments": commitments,
        "overdue_commitments": [c for c in commitments if c.is_overdue],
        "contacts": list(
            Contact.objects.filter(organization_id=esc.organization_id).order_by("name")[:500]
        ),
        "staff": staff_choices(),
        "suggestions": sme_suggestions(esc, at=at) if live else None,
        "timeline": events,
        "requests": list(esc.requests.select_related("requested_by")),
    }


def live_escalation_for_ticket(ticket_id: int) -> Escalation | None:
    """The ticket's live (open, active, monitoring) escalation, if any."""
    return (
        Escalation.objects.select_related("owner")
        .filter(tickets__id=ticket_id, status__in=["open", "active", "monitoring"])
        .order_by("id")
        .first()
    )


def my_requests(user: User, limit: int = 50) -> list[EscalationRequest]:
    """The requests ``user`` filed, newest first, with their decision."""
    return list(
        EscalationRequest.objects.select_related("organization", "decided_by", "escalation")
        .prefetch_related("tickets")
        .filter(requested_by=user)
        .order_by("-id")[:limit]
    )


def request_form_options() -> dict[str, Any]:
    from caseline.accounts.models import Organization

    return {"organizations": list(Organization.objects.order_by("name")[:1000])}


def ticket_panel(ticket_id: int) -> dict[str, Any]:
    """The ticket page's escalation panel: the ticket and its live escalation (or None)."""
    from caseline.tickets.models import Ticket

    ticket = Ticket.objects.filter(pk=ticket_id).only("id", "subject", "organization_id").first()
    if ticket is None:
        raise NotFound(f"no ticket CL-{ticket_id}")
    return {"ticket": ticket, "live": live_escalation_for_ticket(ticket_id)}
