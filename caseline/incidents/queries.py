"""Read paths of incidents: the list with filters, one incident with everything the room
and the API show, the timeline (pinned first), pages."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from caseline.errors import NotFound, ValidationFailed
from caseline.timesource import now

from .models import Incident, IncidentRole, OwnerHandoff, Page, TimelineEntry

STATUSES = [s for s, _ in Incident.Status.choices]
LIVE = ["investigating", "identified", "monitoring"]


def list_incidents(
    *,
    status: str | None = None,
    severity: int | None = None,
    organization: int | None = None,
    product_area: int | None = None,
    ticket: int | None = None,
    manager: str | None = None,
    q: str | None = None,
) -> QuerySet[Incident]:
    """Incidents matching the filters, newest first. ``status``: ``live`` (investigating,
    identified, monitoring) or a comma list; ``manager``: a user id or ``none``."""
    qs = Incident.objects.select_related("incident_manager", "case_owner")
    if status:
        wanted = LIVE if status == "live" else status.split(",")
        if any(s not in STATUSES for s in wanted):
            raise ValidationFailed(
                "the request is not valid",
                fields={"status": f"live or a comma list of {', '.join(STATUSES)}"},
            )
        qs = qs.filter(status__in=wanted)
    if severity is not None:
        if not 1 <= severity <= 4:
            raise ValidationFailed("the request is not valid", fields={"severity": "1 to 4"})
        qs = qs.filter(severity=severity)
    if organization is not None:
        qs = qs.filter(organizations__id=organization)
    if product_area is not None:
        qs = qs.filter(product_areas__id=product_area)
    if ticket is not None:
        qs = qs.filter(tickets__id=ticket)
    if manager == "none":
        qs = qs.filter(incident_manager__isnull=True)
    elif manager:
        if not manager.isdigit():
            raise ValidationFailed(
                "the request is not valid", fields={"manager": "a staff user id or none"}
            )
        qs = qs.filter(incident_manager_id=int(manager))
    if q:
        qs = qs.filter(Q(title__icontains=q) | Q(summary__icontains=q))
    if organization is not None or product_area is not None or ticket is not None:
        qs = qs.distinct()
    return qs.order_by("-id")


def get_incident(incident_id: int) -> Incident:
    inc = (
        Incident.objects.select_related("incident_manager", "case_owner", "declared_by")
        .prefetch_related(
            "tickets__organization",
            "organizations",
            "product_areas",
            Prefetch(
                "roles",
                queryset=IncidentRole.objects.select_related("user", "assigned_by").order_by(
                    "assumed_at", "id"
                ),
            ),
            Prefetch(
                "handoffs",
                queryset=OwnerHandoff.objects.select_related("to_user", "from_user").order_by("id"),
            ),
            "tasks__assignee",
            Prefetch("pages", queryset=Page.objects.select_related("recipient").order_by("id")),
        )
        .filter(pk=incident_id)
        .first()
    )
    if inc is None:
        raise NotFound(f"no incident INC-{incident_id}")
    return inc


def timeline(incident_id: int, *, pinned_first: bool = True) -> QuerySet[TimelineEntry]:
    qs = TimelineEntry.objects.filter(incident_id=incident_id).select_related("author")
    if pinned_first:
        return qs.order_by("-pinned", "at", "id")
    return qs.order_by("at", "id")


def pages(incident_id: int) -> QuerySet[Page]:
    if not Incident.objects.filter(pk=incident_id).exists():
        raise NotFound(f"no incident INC-{incident_id}")
    return Page.objects.filter(incident_id=incident_id).select_related(
        "recipient", "acknowledged_by"
    )


def pending_handoff(inc: Incident) -> OwnerHandoff | None:
    for h in inc.handoffs.all():
        if h.state == OwnerHandoff.State.PENDING:
            return h
    return None


def owner_target(inc: Incident) -> dict[str, Any] | None:
    from .models import OwnerTarget

    t = OwnerTarget.objects.filter(incident=inc).first()
    if t is None:
        return None
    return {
        "state": t.state,
        "seconds": t.seconds,
        "calendar": t.calendar,
        "cycle": t.cycle,
        "started_at": t.started_at,
        "due_at": t.due_at,
        "remaining_seconds": int((t.due_at - now()).total_seconds())
        if t.state == "active"
        else None,
        "fulfilled_at": t.fulfilled_at,
        "breached_at": t.breached_at,
    }


def incidents_of_ticket(ticket_id: int) -> QuerySet[Incident]:
    return (
        Incident.objects.filter(tickets__id=ticket_id)
        .select_related("incident_manager")
        .order_by("-id")
    )
