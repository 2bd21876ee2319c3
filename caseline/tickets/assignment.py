"""Auto-assignment: round-robin or least open load among the team's available members.

A member is a candidate when they are an active staff user of the ticket's team, not
marked away, below their ``open_ticket_cap`` of open tickets, and -- when the ticket has a
product area -- hold that product area as a skill (:func:`available_members`), and on
shift now (:func:`on_shift`: the on-duty rota and the region's shift calendar, registered
by caseline.oncall).

Concurrency: the team row is locked (``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite
the IMMEDIATE write transaction already serialises writers), so two tickets created at the
same moment never read the same round-robin cursor or the same loads. The lock is held to
the end of the creating transaction, so concurrent creates for one team queue on it: the
shift filter (rota and calendars) runs before it is taken, and what follows it until
commit is kept to a few statements (the create's SLA clocks are inserted in bulk).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.db import connection, transaction
from django.db.models import F, IntegerField, QuerySet
from django.db.models.expressions import RawSQL

from caseline.accounts.models import ProductArea, Team, User
from caseline.audit.services import record
from caseline.timesource import now

from .models import Ticket
from .states import OPEN_STATUSES


def open_load_subquery() -> RawSQL:
    """Number of open tickets assigned to the outer user, counted no further than the
    user's cap (for ``annotate`` on a User queryset; the comparison with the cap is all
    the filter needs, and least-load only compares members under their cap).

    The count reads at most ``cap`` entries of ticket_assignee_status_idx per status, so
    its cost does not grow with a member's backlog (an unbounded COUNT(*) did: ~28 ms per
    create with members holding thousands of open tickets). PostgreSQL takes the user's
    own cap as the LIMIT; SQLite does not allow an outer column there, so it limits to
    the largest cap of any staff user (evaluated once per query).
    """
    ticket = Ticket._meta.db_table
    user = User._meta.db_table
    marks = ", ".join(["%s"] * len(OPEN_STATUSES))
    if connection.vendor == "postgresql":
        limit = f'"{user}"."open_ticket_cap"'
    else:
        limit = f'(SELECT MAX("u2"."open_ticket_cap") FROM "{user}" "u2")'
    sql = (
        f'(SELECT COUNT(*) FROM (SELECT 1 FROM "{ticket}" "t"'
        f' WHERE "t"."assignee_id" = "{user}"."id" AND "t"."status" IN ({marks})'
        f" LIMIT {limit}) AS capped)"
    )
    return RawSQL(sql, tuple(sorted(str(s) for s in OPEN_STATUSES)), output_field=IntegerField())


def available_members(team: Team, product_area: ProductArea | int | None) -> QuerySet[User]:
    """Members of ``team`` who may take a new ticket now, annotated with ``open_load``
    (exact below the member's cap, see :func:`open_load_subquery`).

    Active staff, not away, with fewer open tickets than their cap, holding the product
    area skill when one is given; ordered by id (the round-robin order). One query when
    evaluated. The SLA issue extends this filter with shift calendars / the on-duty rota.
    """
    qs = (
        _members(team, product_area)
        .annotate(open_load=open_load_subquery())
        .filter(open_load__lt=F("open_ticket_cap"))
    )
    return qs.order_by("id")


def _members(team: Team | int, product_area: ProductArea | int | None) -> QuerySet[User]:
    """Active staff members of ``team``, not away, with the product-area skill when one
    is given (their region loaded: auto-assignment's subscribers read its calendar)."""
    qs = User.objects.filter(
        teams=team, is_active=True, kind=User.Kind.STAFF, is_away=False
    ).select_related("region")
    if product_area is not None:
        qs = qs.filter(skills=product_area)
    return qs


# Availability filters of higher apps (the on-duty rota and shift calendars register one in
# their AppConfig.ready(); tickets must not import them): fn(candidates, at) -> the
# candidates who are on shift at ``at``, order kept.
AVAILABILITY_FILTERS: list[Callable[[list[User], datetime], list[User]]] = []


def register_availability_filter(fn: Callable[[list[User], datetime], list[User]]) -> None:
    if fn not in AVAILABILITY_FILTERS:
        AVAILABILITY_FILTERS.append(fn)


def on_shift(candidates: list[User], at: datetime) -> list[User]:
    """``candidates`` narrowed by every registered availability filter."""
    for fn in AVAILABILITY_FILTERS:
        if not candidates:
            break
        candidates = fn(candidates, at)
    return candidates


def _round_robin_order(candidates: list[User], cursor: int | None) -> list[User]:
    """``candidates`` (sorted by id) rotated to start after the member ``cursor``."""
    if cursor is None:
        return candidates
    after = [u for u in candidates if u.pk > cursor]
    before = [u for u in candidates if u.pk <= cursor]
    return after + before


def choose(candidates: list[User], strategy: str, cursor: int | None) -> User | None:
    """The member ``strategy`` picks among ``candidates`` (each with ``open_load``)."""
    if not candidates or strategy == Team.Strategy.MANUAL:
        return None
    ordered = _round_robin_order(candidates, cursor)
    if strategy == Team.Strategy.LEAST_LOAD:
        # min() keeps the first of equals: ties go to the next in round-robin order.
        return min(ordered, key=lambda u: u.open_load)
    return ordered[0]


def auto_assign(ticket, *, actor=None):
    """Pick an assignee among the ticket team's available members with the product-area
    skill (round-robin or least open load per Team.assignment_strategy), set it on the
    ticket (saved), record a "ticket.assigned" audit event, and return the user (or None
    when nobody is available or the team is manual). Runs inside the caller's transaction.

    A ticket without a team, or one that already has an assignee, is left alone (None).
    The assignee also becomes a follower of the ticket; the team's round-robin cursor
    moves to them (for least-load too, so ties keep rotating).
    """
    if ticket.team_id is None or ticket.assignee_id is not None:
        return None
    held = ticket.team if Ticket.team.is_cached(ticket) else None
    if held is not None and held.assignment_strategy == Team.Strategy.MANUAL:
        return None  # as read in this transaction (triage's owning team, say)
    with transaction.atomic(savepoint=False):
        # Who is on shift does not depend on other assignments: read before the team lock
        # (the rota and calendar reads need not wait for, nor hold up, concurrent creates).
        on_duty = on_shift(list(_members(ticket.team_id, ticket.product_area_id)), now())
        team = Team.objects.select_for_update().filter(pk=ticket.team_id).first()
        if team is None or team.assignment_strategy == Team.Strategy.MANUAL or not on_duty:
            return None
        # Under the lock: the cursor and the open loads, as every earlier create left them.
        ids = [u.pk for u in on_duty]
        candidates = list(available_members(team, ticket.product_area_id).filter(pk__in=ids))
        user = choose(candidates, team.assignment_strategy, team.last_assigned_user_id)
        if user is None:
            return None
        team.last_assigned_user_id = user.pk
        team.save(update_fields=["last_assigned_user_id"])
        ticket.assignee = user
        ticket.updated_at = now()
        ticket.save(update_fields=["assignee", "updated_at"])
        ticket.followers.add(user)
        record(
            "ticket.assigned",
            "ticket",
            ticket.pk,
            actor=actor,
            ticket_id=ticket.pk,
            changes={"assignee": (None, user.pk)},
            data={"strategy": team.assignment_strategy, "team": team.pk},
            subject=ticket,
        )
    return user
