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
    qs = Escalation.objects.select_related("organization", "owner", "type")
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
        Escalation.objects.select_related("organization", "owner", "type", "opened_by")
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
