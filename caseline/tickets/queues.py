"""Read side of the agent queues: the built-in views, resolving a view's filters for a
user, and one keyset page of rows. Every filter and order goes through the ticket list's
query layer (``queries.list_tickets``, ``LIST_FILTERS``, ``LIST_ORDERS``, ``LIST_COLUMNS``);
nothing here re-implements a filter.

A page reads plain rows (``queries.LIST_VALUES`` + the registered columns, e.g. the SLA
``next_deadline``), the page's tags in one query, and whatever the registered row extras
add (e.g. the pending ETA, registered by the web app): a fixed number of queries per page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet

from caseline.accounts.models import Team
from caseline.api.core import decode_cursor, encode_cursor
from caseline.errors import ValidationFailed

from . import queries
from .models import Ticket
from .states import Status

# The ticket list's own filters (queries.list_tickets); LIST_FILTERS adds the registered ones.
CORE_FILTERS: tuple[str, ...] = (
    "status",
    "team",
    "assignee",
    "organization",
    "requester",
    "severity",
    "product_area",
    "tag",
    "updated_since",
)
UNSOLVED = ",".join(s for s in Status.values if s not in (Status.SOLVED, Status.CLOSED))
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@dataclass(frozen=True)
class Queue:
    key: str
    label: str
    filters: dict[str, str]
    sort: str = "newest"
    description: str = ""


def builtin_queues(breaching_minutes: int = 120) -> list[Queue]:
    return [
        Queue(
            "mine",
            "My open",
            {"assignee": "me", "status": UNSOLVED},
            "deadline",
            "Unsolved tickets assigned to you, next SLA deadline first.",
        ),
        Queue(
            "unassigned",
            "Unassigned in my teams",
            {"assignee": "none", "teams": "mine", "status": UNSOLVED},
            "deadline",
            "Unsolved tickets of your teams that nobody owns yet.",
        ),
        Queue(
            "breaching",
            "Breaching soon",
            {"due_within": str(breaching_minutes), "status": UNSOLVED},
            "deadline",
            f"A running SLA clock falls due within {breaching_minutes} minutes.",
        ),
        Queue(
            "breached",
            "Breached",
            {"breached": "true", "status": UNSOLVED},
            "deadline",
            "A running SLA clock is past due.",
        ),
        Queue(
            "pending",
            "Pending customer",
            {"status": Status.PENDING},
            "newest",
            "Waiting for the customer.",
        ),
        Queue(
            "sev1",
            "Sev-1",
            {"severity": "1", "status": UNSOLVED},
            "deadline",
            "Unsolved Sev-1 tickets.",
        ),
    ]


def known_filters() -> list[str]:
    return [*CORE_FILTERS, *[k for k in queries.LIST_FILTERS if k not in CORE_FILTERS]]


def known_sorts() -> list[str]:
    return ["newest", *queries.LIST_ORDERS]


# --- the "teams" filter (a comma list of team ids, or "mine" resolved per user) -----------


def _teams_filter(qs: QuerySet[Ticket], raw: str) -> QuerySet[Ticket]:
    ids = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit():
            raise ValueError('a comma list of team ids, or "mine"')
        ids.append(int(part))
    if not ids:
        return qs.none()
    return qs.filter(team_id__in=ids)


def register_list_extensions() -> None:
    """Register the ``teams`` list filter (called from TicketsConfig.ready())."""
    queries.register_list_filter("teams", _teams_filter)


def resolve(user: Any, filters: dict[str, Any]) -> dict[str, str]:
    """Per-user values: ``teams=mine`` becomes the user's team ids."""
    out = {k: str(v) for k, v in filters.items() if v not in (None, "")}
    if out.get("teams", "").strip().lower() == "mine":
        ids = Team.objects.filter(members=user).values_list("id", flat=True)
        # no team: "0" matches nothing (an empty value would drop the filter)
        out["teams"] = ",".join(str(i) for i in sorted(ids)) or "0"
    return out


def check(user: Any, filters: dict[str, Any], sort: str) -> dict[str, str]:
    """Validate filter names and values and the sort against the registries; the cleaned
    filters. Raises ValidationFailed naming every bad field (no ticket is read)."""
    if not isinstance(filters, dict):
        raise ValidationFailed("filters must be an object", fields={"filters": "not an object"})
    allowed = known_filters()
    errors = {
        str(k): f"unknown filter; use one of {', '.join(allowed)}"
        for k in filters
        if k not in allowed
    }
    if sort not in known_sorts():
        errors["sort"] = f"unknown sort; use one of {', '.join(known_sorts())}"
    cleaned = {
        str(k): str(v).strip() for k, v in filters.items() if v not in (None, "") and k in allowed
    }
    # Build (never run) the queries: each stage names its bad values.
    values = resolve(user, cleaned)
    core = {k: v for k, v in values.items() if k in CORE_FILTERS}
    extra = {k: v for k, v in values.items() if k not in CORE_FILTERS}
    try:
        queries.list_tickets(user, core)
    except ValidationFailed as exc:
        errors.update(exc.fields)
    try:
        queries.apply_list_extensions(Ticket.objects.none(), user, extra)
    except ValidationFailed as exc:
        errors.update(exc.fields)
    if errors:
        raise ValidationFailed("invalid view", fields=errors)
    return cleaned


def tickets(user: Any, filters: dict[str, Any]) -> QuerySet[Ticket]:
    """The visible tickets matching ``filters`` (core + registered), list-loaded."""
    values = resolve(user, filters)
    unknown = [k for k in values if k not in CORE_FILTERS and k not in queries.LIST_FILTERS]
    if unknown:
        raise ValidationFailed(
            "invalid filter", fields={k: "unknown filter" for k in sorted(unknown)}
        )
    core = {k: v for k, v in values.items() if k in CORE_FILTERS}
    extra = {k: v for k, v in values.items() if k not in CORE_FILTERS}
    qs = queries.list_tickets(user, core)
    return queries.apply_list_extensions(qs, user, extra)


# --- row extras: higher apps add values to a page's rows (one query per page) -------------

RowExtra = Callable[[list[int]], dict[int, dict[str, Any]]]
ROW_EXTRAS: dict[str, RowExtra] = {}


def register_row_extra(name: str, fn: RowExtra) -> None:
    ROW_EXTRAS[name] = fn


# --- keyset pages -------------------------------------------------------------------------


@dataclass
class Page:
    rows: list[dict[str, Any]]
    next_cursor: str | None
    sort: str
    extra_columns: tuple[str, ...] = field(default_factory=tuple)


def page(
    qs: QuerySet[Ticket], sort: str = "newest", cursor: str | None = None, limit: int = 50
) -> Page:
    """One page of rows, keyset-paged (``queries.keyset``): newest first on id, or a
    registered order ascending on (key, id) with rows lacking the key last (like the
    API's list)."""
    queries.check_limit(limit, MAX_LIMIT)
    order = queries.LIST_ORDERS.get(sort) if sort != "newest" else None
    if sort != "newest" and order is None:
        raise ValidationFailed("invalid sort", fields={"sort": "unknown sort"})
    after = decode_cursor(cursor, source="this view") if cursor else None
    for annotate in queries.LIST_COLUMNS.values():
        qs = annotate(qs)
    extra = tuple(queries.LIST_COLUMNS)
    if order is not None and order.key not in extra:
        qs = order.annotate(qs)
    qs = queries.keyset(qs, order, after)
    values = queries.LIST_VALUES + extra
    if order is not None and order.key not in values:
        values += (order.key,)
    # Two steps: the page's ids in order (only the sort key is read per candidate row),
    # then the rows of those ids. Sorting a large match (an agent with thousands of open
    # tickets, by deadline) otherwise computes every row's joined columns and the
    # requester-email subquery before the sort keeps 50 of them.
    keys = ("id", order.key) if order is not None else ("id",)
    picked = list(qs.values_list(*keys)[: limit + 1])
    has_more = len(picked) > limit
    ids = [p[0] for p in picked[:limit]]
    full = Ticket.objects.filter(pk__in=ids) if ids else Ticket.objects.none()
    for annotate in queries.LIST_COLUMNS.values():
        full = annotate(full)
    if order is not None and order.key not in extra:
        full = order.annotate(full)
    by_id = {r["id"]: r for r in queries.for_list(full).values(*values)}
    rows = [by_id[i] for i in ids if i in by_id]
    tags = queries.tag_names(ids)
    extras = {name: fn(ids) if ids else {} for name, fn in ROW_EXTRAS.items()}
    for r in rows:
        r["tags"] = tags.get(r["id"], [])
        for found in extras.values():
            r.update(found.get(r["id"], {}))
    next_cursor = None
    if has_more and rows:
        next_cursor = encode_cursor(queries.keyset_position(rows[-1], order))
    return Page(rows, next_cursor, sort, extra)
