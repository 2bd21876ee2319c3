"""Read paths of the tickets app: visibility, the ticket list with its filters, messages,
the timeline, custom field definitions. Every query loads what the serializers read in a
fixed number of queries (select_related + prefetch), never one per row.

Indexes used by the list (see Ticket.Meta): (status, id), (team, status, id),
(assignee, status, id), (organization, id), (requester, id); pages are keyset on id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connections
from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from caseline.accounts.models import ContactEmail, User
from caseline.audit.models import AuditEvent
from caseline.errors import NotFound, ValidationFailed

from .models import (
    Attachment,
    CustomField,
    CustomFieldValue,
    Message,
    Ticket,
    TicketLink,
)
from .states import Status


def can_see_all(user: Any) -> bool:
    return (
        user is not None
        and getattr(user, "kind", None) == User.Kind.STAFF
        and user.has_perm("accounts.view_all_tickets")
    )


def can_read_internal(user: Any) -> bool:
    return (
        user is not None
        and getattr(user, "kind", None) == User.Kind.STAFF
        and user.has_perm("accounts.add_internal_note")
    )


def visible_tickets(user: Any) -> QuerySet[Ticket]:
    """Tickets ``user`` may see: staff with view_all_tickets all of them; a customer
    their organization's tickets (their own requests when they have no organization);
    anyone else none."""
    if can_see_all(user):
        return Ticket.objects.all()
    if getattr(user, "kind", None) == User.Kind.CUSTOMER and user.contact_id:
        contact = user.contact
        if contact.organization_id:
            return Ticket.objects.filter(organization_id=contact.organization_id)
        return Ticket.objects.filter(requester_id=contact.pk)
    return Ticket.objects.none()


def with_details(qs: QuerySet[Ticket]) -> QuerySet[Ticket]:
    """Everything the ticket serializer reads, in a fixed number of queries."""
    return qs.select_related(
        "requester", "organization", "assignee", "team", "product_area"
    ).prefetch_related(
        "tags",
        Prefetch("requester__emails", queryset=ContactEmail.objects.order_by("-is_primary", "id")),
        Prefetch(
            "field_values",
            queryset=CustomFieldValue.objects.select_related("field").order_by("field__key"),
        ),
        Prefetch("followers", queryset=User.objects.only("id").order_by("id")),
        Prefetch("ccs", queryset=ccs_queryset()),
        Prefetch("links_out", queryset=TicketLink.objects.order_by("id")),
        Prefetch("links_in", queryset=TicketLink.objects.order_by("id")),
    )


LIST_RELATED = ("requester", "organization", "assignee", "team", "product_area")


def requester_email_subquery() -> Subquery:
    """The requester's primary email (else their first), for ``annotate``."""
    return Subquery(
        ContactEmail.objects.filter(contact_id=OuterRef("requester_id"))
        .order_by("-is_primary", "id")
        .values("email")[:1]
    )


def for_list(qs: QuerySet[Ticket]) -> QuerySet[Ticket]:
    """What a list row reads, in the page's one query: the references through
    ``select_related`` and the requester's email as an annotation (no prefetches: Django
    builds a manager and a cloned queryset per row and relation for those)."""
    return qs.select_related(*LIST_RELATED).annotate(requester_email=requester_email_subquery())


# The columns a list row reads (``.values()``: no model instances for the page).
LIST_VALUES = (
    "id",
    "subject",
    "status",
    "severity",
    "priority",
    "channel",
    "satisfaction",
    "satisfaction_comment",
    "merged_into_id",
    "external_id",
    "created_at",
    "updated_at",
    "solved_at",
    "closed_at",
    "requester_id",
    "requester__name",
    "requester_email",
    "organization_id",
    "organization__name",
    "assignee_id",
    "assignee__email",
    "assignee__display_name",
    "assignee__username",
    "team_id",
    "team__name",
    "product_area_id",
    "product_area__name",
)


# --- list extensions of higher apps ---------------------------------------------------------
# The tickets app sits below the SLA engine and must not import it; the SLA engine (and later
# apps) register extra list filters, row columns and orders here in their AppConfig.ready().


@dataclass(frozen=True)
class ListFilter:
    """``apply(queryset, raw value) -> queryset``; raises ValueError(message) on a bad
    value. ``staff_only`` filters are refused for customers."""

    apply: Callable[[QuerySet[Ticket], str], QuerySet[Ticket]]
    staff_only: bool = True


@dataclass(frozen=True)
class ListOrder:
    """An ascending order by an annotated column ``key`` (None sorts last), then id.
    ``annotate(queryset)`` adds the column."""

    key: str
    annotate: Callable[[QuerySet[Ticket]], QuerySet[Ticket]]


LIST_FILTERS: dict[str, ListFilter] = {}
LIST_ORDERS: dict[str, ListOrder] = {}
# Extra values of a staff list row: output name -> annotation function (one column each).
LIST_COLUMNS: dict[str, Callable[[QuerySet[Ticket]], QuerySet[Ticket]]] = {}


def register_list_filter(name: str, apply, *, staff_only: bool = True) -> None:
    LIST_FILTERS[name] = ListFilter(apply, staff_only)


def register_list_order(name: str, key: str, annotate) -> None:
    LIST_ORDERS[name] = ListOrder(key, annotate)


def register_list_column(name: str, annotate) -> None:
    LIST_COLUMNS[name] = annotate


def apply_list_extensions(
    qs: QuerySet[Ticket], user: Any, filters: dict[str, Any]
) -> QuerySet[Ticket]:
    """Apply the registered filters named in ``filters`` (422 naming each bad one)."""
    errors: dict[str, str] = {}
    customer = bool(getattr(user, "is_customer", False))
    for name, raw in filters.items():
        ext = LIST_FILTERS.get(name)
        if ext is None or raw in (None, ""):
            continue
        if customer and ext.staff_only:
            errors[name] = "not available to customers"
            continue
        try:
            qs = ext.apply(qs, str(raw))
        except ValueError as exc:
            errors[name] = str(exc)
    if errors:
        raise ValidationFailed("invalid filter", fields=errors)
    return qs


def tag_names(ticket_ids: list[int]) -> dict[int, list[str]]:
    """{ticket id: sorted tag names} for ``ticket_ids``: one query."""
    by_ticket: dict[int, list[str]] = {pk: [] for pk in ticket_ids}
    if by_ticket:
        through = Ticket.tags.through
        rows = through.objects.filter(ticket_id__in=list(by_ticket)).values_list(
            "ticket_id", "tag__name"
        )
        for ticket_id, name in rows:
            by_ticket[ticket_id].append(name)
    for names in by_ticket.values():
        names.sort()
    return by_ticket


def attach_tags(tickets: list[Ticket]) -> list[Ticket]:
    """Set ``tag_names`` (sorted) on each ticket: one query for the whole page."""
    by_ticket = tag_names([t.pk for t in tickets])
    for t in tickets:
        t.tag_names = by_ticket[t.pk]
    return tickets


def follower_ids(ticket: Ticket) -> list[int]:
    """Ids of the ticket's staff followers, ascending (one query)."""
    through = Ticket.followers.through
    return sorted(through.objects.filter(ticket_id=ticket.pk).values_list("user_id", flat=True))


def ccs_queryset():
    from caseline.accounts.models import Contact

    return Contact.objects.only("id").order_by("id")


def get_ticket(user: Any, ticket_id: int) -> Ticket:
    """The ticket with its details, or NotFound when it does not exist or is not visible
    to ``user`` (customers learn nothing about other organizations' tickets)."""
    ticket = with_details(visible_tickets(user)).filter(pk=ticket_id).first()
    if ticket is None:
        raise NotFound(f"no ticket CL-{ticket_id}")
    return ticket


def visible_ticket(user: Any, ticket_id: int) -> Ticket:
    """The bare ticket row (no details) if visible to ``user``; NotFound otherwise."""
    ticket = visible_tickets(user).filter(pk=ticket_id).first()
    if ticket is None:
        raise NotFound(f"no ticket CL-{ticket_id}")
    return ticket


def _int(value: Any, field: str, errors: dict[str, str]) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        errors[field] = "must be an id"
        return None


def list_tickets(user: Any, filters: dict[str, Any] | None = None) -> QuerySet[Ticket]:
    """Visible tickets matching ``filters``, newest first, loaded for the list
    (:func:`for_list`; call :func:`attach_tags` on the page).

    The order is always by id descending. When the filters fix the leading columns of a
    composite index (team and one status, assignee and one status, one status) those
    constant columns lead the ORDER BY too -- the same order, but one the planner can
    only deliver by walking that index backwards. Otherwise PostgreSQL may prefer a
    backward scan of the primary key that filters out thousands of rows (the planner
    assumes status and team are independent of id, and the newest tickets are all new).

    Filters: status ("open,pending"), team (id), assignee ("me", "none" or id),
    organization (id), requester (contact id), severity (1-4), product_area (id),
    tag (name), updated_since (ISO 8601 datetime).
    """
    filters = {k: v for k, v in (filters or {}).items() if v not in (None, "")}
    errors: dict[str, str] = {}
    qs = visible_tickets(user)
    eq: dict[str, Any] = {}  # column -> the value an equality filter holds it at
    if "status" in filters:
        statuses = [s.strip() for s in str(filters["status"]).split(",") if s.strip()]
        bad = [s for s in statuses if s not in Status.values]
        if bad or not statuses:
            errors["status"] = f"unknown status {', '.join(bad)}; use {', '.join(Status.values)}"
        elif len(set(statuses)) == 1:
            eq["status"] = statuses[0]
        else:
            qs = qs.filter(status__in=statuses)
    for name in ("team", "organization", "requester", "product_area"):
        if name in filters:
            value = _int(filters[name], name, errors)
            if value is not None:
                eq[f"{name}_id"] = value
    if "assignee" in filters:
        raw = str(filters["assignee"]).strip().lower()
        if raw == "me":
            eq["assignee_id"] = getattr(user, "pk", None)
        elif raw == "none":
            qs = qs.filter(assignee__isnull=True)
        else:
            value = _int(raw, "assignee", errors)
            if value is not None:
                eq["assignee_id"] = value
    if "severity" in filters:
        value = _int(filters["severity"], "severity", errors)
        if value is not None and value not in (1, 2, 3, 4):
            errors["severity"] = "must be between 1 and 4"
        elif value is not None:
            qs = qs.filter(severity=value)
    if "tag" in filters:
        qs = qs.filter(tags__name=str(filters["tag"]).strip().lower())
    if "updated_since" in filters:
        raw = filters["updated_since"]
        try:
            since = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))
            if since.tzinfo is None:
                raise ValueError
            qs = qs.filter(updated_at__gte=since)
        except ValueError:
            errors["updated_since"] = "must be an ISO 8601 datetime with a time zone"
    if errors:
        raise ValidationFailed("invalid filter", fields=errors)
    order = list_order(set(eq))
    leading = {c.lstrip("-") for c in order[:-1]}
    # PostgreSQL drops ORDER BY columns that an equality filter makes constant, and then
    # plans the backward primary-key scan again; a closed range (col >= v AND col <= v)
    # selects the same rows, keeps the columns in the ORDER BY, and leaves the composite
    # index as the only presorted path (EXPLAIN ANALYZE in docs/performance.md). SQLite
    # plans the equality form well.
    as_range = connections[qs.db].vendor == "postgresql"
    for column, value in eq.items():
        if as_range and column in leading and value is not None:
            qs = qs.filter(**{f"{column}__gte": value, f"{column}__lte": value})
        else:
            qs = qs.filter(**{column: value})
    return for_list(qs).order_by(*order)


def list_order(fixed: set[str]) -> tuple[str, ...]:
    """Newest first, led by the constant columns of the index that matches the equality
    filters on ``fixed`` columns (see :func:`list_tickets`): ticket_team_status_idx,
    ticket_assignee_status_idx, ticket_status_idx."""
    if "status" in fixed:
        if "team_id" in fixed:
            return ("-team_id", "-status", "-id")
        if "assignee_id" in fixed:
            return ("-assignee_id", "-status", "-id")
        return ("-status", "-id")
    return ("-id",)


def visible_messages(user: Any, ticket: Ticket) -> QuerySet[Message]:
    """Messages of ``ticket`` that ``user`` may read: customers (and staff without the
    internal-note permission) only public ones."""
    qs = Message.objects.filter(ticket=ticket)
    if not can_read_internal(user):
        qs = qs.filter(kind=Message.Kind.PUBLIC)
    return qs.select_related("author_user", "author_contact").prefetch_related(
        Prefetch("attachments", queryset=Attachment.objects.order_by("id")),
        Prefetch(
            "author_contact__emails",
            queryset=ContactEmail.objects.order_by("-is_primary", "id"),
        ),
    )


def visible_attachment(user: Any, attachment_id: int) -> Attachment:
    """An attachment whose ticket and message ``user`` may see; NotFound otherwise
    (an internal note's file is never revealed to a customer)."""
    qs = Attachment.objects.select_related("message").filter(
        pk=attachment_id, message__ticket__in=visible_tickets(user)
    )
    if not can_read_internal(user):
        qs = qs.filter(message__kind=Message.Kind.PUBLIC)
    attachment = qs.first()
    if attachment is None:
        raise NotFound(f"no attachment {attachment_id}")
    return attachment


def timeline(ticket: Ticket) -> QuerySet[AuditEvent]:
    """The ticket's audit events (oldest first when paged ascending)."""
    return AuditEvent.objects.filter(ticket_id=ticket.pk).select_related("actor")


def custom_fields(*, active: bool | None = None) -> QuerySet[CustomField]:
    qs = CustomField.objects.all()
    if active is not None:
        qs = qs.filter(active=active)
    return qs


def get_custom_field(field_id: int) -> CustomField:
    cf = CustomField.objects.filter(pk=field_id).first()
    if cf is None:
        raise NotFound(f"no custom field {field_id}")
    return cf
