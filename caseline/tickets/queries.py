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
from django.db.models import F, OuterRef, Prefetch, Q, QuerySet, Subquery

from caseline import sqlcache
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


def check_limit(limit: int, most: int) -> None:
    if not 1 <= limit <= most:
        raise ValidationFailed(
            f"limit must be between 1 and {most}", fields={"limit": "out of range"}
        )


def keyset(
    qs: QuerySet[Ticket], order: ListOrder | None, after: dict[str, Any] | None
) -> QuerySet[Ticket]:
    """``qs`` ordered for a keyset page and, with a decoded cursor ``after``
    (``caseline.api.core.decode_cursor``), cut to the rows after it. Without ``order``:
    newest first on id (the queryset keeps its own index-friendly order). With ``order``:
    ascending on (key, id), rows lacking the key last; ``order.key`` must be annotated.
    The one keyset rule of every ticket list (API, queues)."""
    if order is not None:
        qs = qs.order_by(F(order.key).asc(nulls_last=True), "id")
    if not after:
        return qs
    if order is None:
        return qs.filter(id__lt=after["id"])
    if after.get("k") is None:
        return qs.filter(**{f"{order.key}__isnull": True, "id__gt": after["id"]})
    key = datetime.fromisoformat(str(after["k"]))
    return qs.filter(
        Q(**{f"{order.key}__gt": key})
        | Q(**{order.key: key, "id__gt": after["id"]})
        | Q(**{f"{order.key}__isnull": True})
    )


def keyset_position(row: dict[str, Any], order: ListOrder | None) -> dict[str, Any]:
    """The cursor position after ``row`` (the last row of a page) for :func:`keyset`."""
    position: dict[str, Any] = {"id": row["id"]}
    if order is not None:
        k = row.get(order.key)
        position["k"] = k.isoformat() if k is not None else None
    return position


LIST_FILTERS: dict[str, ListFilter] = {}
LIST_ORDERS: dict[str, ListOrder] = {}
# Extra values of a staff list row: output name -> annotation function (one column each).
LIST_COLUMNS: dict[str, Callable[[QuerySet[Ticket]], QuerySet[Ticket]]] = {}


_registry_version = 0  # bumped by every registration: compiled list SQL is rebuilt


def _registered() -> None:
    global _registry_version
    _registry_version += 1


def register_list_filter(name: str, apply, *, staff_only: bool = True) -> None:
    LIST_FILTERS[name] = ListFilter(apply, staff_only)
    _registered()


def register_list_order(name: str, key: str, annotate) -> None:
    LIST_ORDERS[name] = ListOrder(key, annotate)
    _registered()


def register_list_column(name: str, annotate) -> None:
    LIST_COLUMNS[name] = annotate
    _registered()


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
    """{ticket id: sorted tag names} for ``ticket_ids``: one query (plain SQL: the ORM's
    compilation of it cost more than running it)."""
    by_ticket: dict[int, list[str]] = {pk: [] for pk in ticket_ids}
    if by_ticket:
        through = Ticket.tags.through
        connection = connections[through.objects.db]
        qn = connection.ops.quote_name
        tag_model = through._meta.get_field("tag").related_model
        sql = (
            f"SELECT t.{qn('ticket_id')}, g.{qn('name')} FROM {qn(through._meta.db_table)} t "
            f"JOIN {qn(tag_model._meta.db_table)} g ON g.{qn('id')} = t.{qn('tag_id')} "
            f"WHERE t.{qn('ticket_id')} IN ({', '.join(['%s'] * len(by_ticket))})"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, list(by_ticket))
            rows = cursor.fetchall()
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
    shape, values = parse_list_filters(user, filters)
    return build_list(shape, values)


@dataclass(frozen=True)
class ListShape:
    """What a ticket-list query looks like, without its values (see
    :func:`parse_list_filters`): two requests of one shape differ only in the values
    of the placeholders, so their SQL is the same (``list_page``)."""

    visibility: str  # all | organization | requester | none
    statuses: int  # 0: no status filter, 1: one status (an equality), n: status IN (n)
    eq: tuple[tuple[str, bool], ...]  # equality columns, (column, value is NULL)
    unassigned: bool
    severity: bool
    tag: bool
    updated_since: bool
    vendor: str


def parse_list_filters(
    user: Any, filters: dict[str, Any] | None
) -> tuple[ListShape, dict[str, Any]]:
    """Validate the core filters (ValidationFailed naming each bad one) and split them
    into a :class:`ListShape` and the values of its placeholders."""
    filters = {k: v for k, v in (filters or {}).items() if v not in (None, "")}
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    visibility = "none"
    if can_see_all(user):
        visibility = "all"
    elif getattr(user, "kind", None) == User.Kind.CUSTOMER and user.contact_id:
        contact = user.contact
        if contact.organization_id:
            visibility, values["vis"] = "organization", contact.organization_id
        else:
            visibility, values["vis"] = "requester", contact.pk
    eq: dict[str, Any] = {}  # column -> the value an equality filter holds it at
    statuses: list[str] = []
    if "status" in filters:
        statuses = [s.strip() for s in str(filters["status"]).split(",") if s.strip()]
        bad = [s for s in statuses if s not in Status.values]
        if bad or not statuses:
            errors["status"] = f"unknown status {', '.join(bad)}; use {', '.join(Status.values)}"
        elif len(set(statuses)) == 1:
            statuses = statuses[:1]
            eq["status"] = statuses[0]
    for name in ("team", "organization", "requester", "product_area"):
        if name in filters:
            value = _int(filters[name], name, errors)
            if value is not None:
                eq[f"{name}_id"] = value
    unassigned = False
    if "assignee" in filters:
        raw = str(filters["assignee"]).strip().lower()
        if raw == "me":
            eq["assignee_id"] = getattr(user, "pk", None)
        elif raw == "none":
            unassigned = True
        else:
            value = _int(raw, "assignee", errors)
            if value is not None:
                eq["assignee_id"] = value
    severity = False
    if "severity" in filters:
        value = _int(filters["severity"], "severity", errors)
        if value is not None and value not in (1, 2, 3, 4):
            errors["severity"] = "must be between 1 and 4"
        elif value is not None:
            severity, values["severity"] = True, value
    tag = False
    if "tag" in filters:
        tag, values["tag"] = True, str(filters["tag"]).strip().lower()
    since = False
    if "updated_since" in filters:
        raw = filters["updated_since"]
        try:
            value = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw))
            if value.tzinfo is None:
                raise ValueError
            since, values["updated_since"] = True, value
        except ValueError:
            errors["updated_since"] = "must be an ISO 8601 datetime with a time zone"
    if errors:
        raise ValidationFailed("invalid filter", fields=errors)
    if len(statuses) > 1:
        for i, status in enumerate(statuses):
            values[f"s{i}"] = status
    for column, value in eq.items():
        values[column] = value
    shape = ListShape(
        visibility=visibility,
        statuses=len(statuses),
        eq=tuple((c, v is None) for c, v in eq.items()),
        unassigned=unassigned,
        severity=severity,
        tag=tag,
        updated_since=since,
        vendor=connections[Ticket.objects.db].vendor,
    )
    return shape, values


def build_list(shape: ListShape, values: dict[str, Any], *, rows: bool = True) -> QuerySet[Ticket]:
    """The list queryset of ``shape`` with ``values`` (see :func:`list_tickets`);
    ``rows=False``: without what a row reads from other tables (for the page's ids)."""
    if shape.visibility == "all":
        qs = Ticket.objects.all()
    elif shape.visibility == "organization":
        qs = Ticket.objects.filter(organization_id=values["vis"])
    elif shape.visibility == "requester":
        qs = Ticket.objects.filter(requester_id=values["vis"])
    else:
        qs = Ticket.objects.none()
    if shape.statuses > 1:
        qs = qs.filter(status__in=[values[f"s{i}"] for i in range(shape.statuses)])
    if shape.unassigned:
        qs = qs.filter(assignee__isnull=True)
    if shape.severity:
        qs = qs.filter(severity=values["severity"])
    if shape.tag:
        qs = qs.filter(tags__name=values["tag"])
    if shape.updated_since:
        qs = qs.filter(updated_at__gte=values["updated_since"])
    order = list_order({c for c, _ in shape.eq})
    leading = {c.lstrip("-") for c in order[:-1]}
    # PostgreSQL drops ORDER BY columns that an equality filter makes constant, and then
    # plans the backward primary-key scan again; a closed range (col >= v AND col <= v)
    # selects the same rows, keeps the columns in the ORDER BY, and leaves the composite
    # index as the only presorted path (EXPLAIN ANALYZE in docs/performance.md). SQLite
    # plans the equality form well.
    as_range = shape.vendor == "postgresql"
    for column, is_null in shape.eq:
        value = None if is_null else values[column]
        if as_range and column in leading and not is_null:
            qs = qs.filter(**{f"{column}__gte": value, f"{column}__lte": value})
        else:
            qs = qs.filter(**{column: value})
    return (for_list(qs) if rows else qs).order_by(*order)


# --- the prepared list page -------------------------------------------------------------
# A page of a list without registered filters or orders is read with SQL compiled once per
# (shape, columns, cursor or not, limit) and process (caseline.sqlcache): building and
# compiling the queryset was most of a list request. The registered columns of higher
# apps (LIST_COLUMNS) are part of that SQL; registering anything drops the compiled SQL.

_page_sql: dict[tuple, Any] = {}
# Placeholder values of the two test builds (ids in every integer column's range).
_PLACEHOLDER_NAMES = ("vis", "severity", "tag", "updated_since", "after") + tuple(
    f"{c}_id" for c in ("team", "organization", "requester", "product_area", "assignee")
)


def _placeholders(seed: int, shape: ListShape) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, name in enumerate(_PLACEHOLDER_NAMES):
        out[name] = 1_000_003 * seed + i if name != "severity" else 30_000 + seed
    out["status"] = f"\x00status{seed}"
    out["tag"] = f"\x00tag{seed}"
    for i in range(shape.statuses if shape.statuses > 1 else 0):
        out[f"s{i}"] = f"\x00s{i}.{seed}"
    return out


def page_query(
    qs: QuerySet[Ticket], *, customer: bool, after: Any, limit: int
) -> tuple[QuerySet, tuple[str, ...]]:
    """The page's ``.values()`` query of a list queryset (keyset on id, descending) and
    the registered columns it reads."""
    extra: tuple[str, ...] = ()
    if not customer:
        for annotate in LIST_COLUMNS.values():
            qs = annotate(qs)
        extra = tuple(LIST_COLUMNS)
    if after is not None:
        qs = qs.filter(id__lt=after)
    return qs.values(*LIST_VALUES, *extra)[: limit + 1], extra


def list_page(
    shape: ListShape, values: dict[str, Any], *, customer: bool, after: int | None, limit: int
) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """Up to ``limit + 1`` list rows (``LIST_VALUES`` + the registered columns) of the
    tickets of a parsed list (:func:`parse_list_filters`), newest first, after the id
    ``after``."""
    extra = () if customer else tuple(LIST_COLUMNS)
    if shape.visibility == "none":
        return [], extra
    key = (shape, customer, after is not None, limit, _registry_version)
    prepared = _page_sql.get(key, False)
    if prepared is False:
        if shape.updated_since:  # a datetime is adapted while compiling: not a placeholder
            prepared = None
        else:
            with_after = after is not None

            def build(v: dict[str, Any]) -> QuerySet:
                return page_query(
                    build_list(shape, v),
                    customer=customer,
                    after=v["after"] if with_after else None,
                    limit=limit,
                )[0]

            if shape.vendor == "postgresql":
                prepared = _prepare_two_step(shape, customer, with_after, limit)
            else:
                prepared = sqlcache.prepare(
                    build, (_placeholders(1, shape), _placeholders(2, shape)), strict=True
                )
        if len(_page_sql) > 500:
            _page_sql.clear()
        _page_sql[key] = prepared
    if prepared is None:
        qs, extra = page_query(
            build_list(shape, values), customer=customer, after=after, limit=limit
        )
        return list(qs), extra
    if isinstance(prepared, tuple):
        return _two_step_page(prepared, {**values, "after": after}), extra
    return prepared.dicts({**values, "after": after}), extra


# PostgreSQL plans the one-step page query (the ticket row, six joins for the references,
# the requester-email subquery) anew at every request: 6-18 ms of planning for 0.5-1 ms of
# execution at 100k tickets. A server-side prepared statement would skip the planning, but
# its generic plan cannot see that the range form's bounds are equal and scans every team.
# So the page is read in two steps: the ids from the ticket table alone (planned per
# request, cheap for one table, range bounds visible), then the rows of those ids with
# their joins as a server-side prepared statement (``id = ANY($1)``: primary-key look-ups
# whatever the plan), put back in the ids' order.


def _ids_build(shape: ListShape, with_after: bool, limit: int):
    def build(v: dict[str, Any]) -> QuerySet:
        qs = build_list(shape, v, rows=False)
        if with_after:
            qs = qs.filter(id__lt=v["after"])
        return qs.values("id")[: limit + 1]

    return build


def _rows_build(customer: bool):
    def build(v: dict[str, Any]) -> QuerySet:
        qs = for_list(Ticket.objects.all()).extra(
            where=[f'"{Ticket._meta.db_table}"."id" = ANY(%s::bigint[])'], params=[v["ids"]]
        )
        extra: tuple[str, ...] = ()
        if not customer:
            for annotate in LIST_COLUMNS.values():
                qs = annotate(qs)
            extra = tuple(LIST_COLUMNS)
        return qs.order_by().values(*LIST_VALUES, *extra)

    return build


def _prepare_two_step(shape: ListShape, customer: bool, with_after: bool, limit: int):
    ids = sqlcache.prepare(
        _ids_build(shape, with_after, limit),
        (_placeholders(1, shape), _placeholders(2, shape)),
        strict=True,
    )
    rows = _rows_sql.get((customer, _registry_version), False)
    if rows is False:
        rows = sqlcache.prepare(
            _rows_build(customer), ({"ids": 1_000_003}, {"ids": 2_000_006}), strict=True
        )
        _rows_sql[(customer, _registry_version)] = rows
    if ids is None or rows is None:
        return None
    return ids, rows


_rows_sql: dict[tuple, Any] = {}


def _two_step_page(prepared: tuple, values: dict[str, Any]) -> list[dict[str, Any]]:
    ids_sql, rows_sql = prepared
    ids = [row[0] for row in ids_sql.rows(values)]
    if not ids:
        return []
    rows = rows_sql.dicts({"ids": ids}, server_prepared=True)
    position = {pk: i for i, pk in enumerate(ids)}
    rows.sort(key=lambda row: position[row["id"]])
    return rows


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


# --- ticket page (caseline/web/ticket_views.py; owner: tkt) -----------------------------


def followers_of(ticket: Ticket) -> QuerySet[User]:
    """The ticket's staff followers with their names (one query), by name."""
    return User.objects.filter(followed_tickets=ticket).order_by("display_name", "email")


def linked_tickets(ticket: Ticket) -> list[dict[str, Any]]:
    """Links from and to ``ticket`` with the other ticket's id, subject and status (two
    queries): [{"kind", "label", "direction": "out"|"in", "ticket": Ticket}]."""
    out: list[dict[str, Any]] = []
    for link in TicketLink.objects.filter(source=ticket).select_related("target").order_by("id"):
        label = TicketLink.Kind(link.kind).label
        out.append({"kind": link.kind, "label": label, "direction": "out", "ticket": link.target})
    for link in TicketLink.objects.filter(target=ticket).select_related("source").order_by("id"):
        label = {
            TicketLink.Kind.DUPLICATE_OF: "Has duplicate",
            TicketLink.Kind.INCIDENT_OF: "Problem of incident",
        }.get(link.kind, TicketLink.Kind(link.kind).label)
        out.append({"kind": link.kind, "label": label, "direction": "in", "ticket": link.source})
    return out


def customer_messages_since_last_reply(ticket: Ticket, limit: int = 20) -> list[tuple[int, str]]:
    """(message id, plain text) of the customer's public messages after our last public
    staff reply, oldest first (at most the last ``limit``): what the reply checker reads
    (the ids let the reply-check API point at the message an ask came from)."""
    last_ours = (
        Message.objects.filter(ticket=ticket, kind=Message.Kind.PUBLIC, author_contact__isnull=True)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    qs = Message.objects.filter(
        ticket=ticket, kind=Message.Kind.PUBLIC, author_contact__isnull=False
    )
    if last_ours is not None:
        qs = qs.filter(id__gt=last_ours)
    rows = list(qs.order_by("-id").values_list("id", "body_text")[:limit])
    return rows[::-1]


def attachment_response(attachment):
    """The download of a visible attachment, the same for the API and the portal: always
    as a file (never rendered inline), with no content sniffing and a sandboxing CSP."""
    from django.http import FileResponse

    response = FileResponse(
        attachment.file.open("rb"),
        as_attachment=True,
        filename=attachment.filename,
        content_type=attachment.content_type or "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
