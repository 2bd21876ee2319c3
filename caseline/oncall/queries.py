"""Read paths of the rota: who is on duty, is someone on shift, the next region on shift,
the final schedule as segments."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Prefetch, Q

from caseline.accounts.models import Region, User
from caseline.accounts.tokens import digest
from caseline.errors import NotFound
from caseline.tablestamp import Part, TableStamp
from caseline.timesource import now

from . import rota
from .models import Layer, LayerMember, Override, Schedule

log = logging.getLogger(__name__)


def _region(region: Region | int | str) -> Region:
    if isinstance(region, Region):
        return region
    if isinstance(region, int) or (isinstance(region, str) and region.isdigit()):
        found = Region.objects.filter(pk=int(region)).first()
    else:
        found = Region.objects.filter(code__iexact=str(region)).first()
    if found is None:
        raise NotFound(f"no region {region}")
    return found


def _specs(schedules, start: datetime, end: datetime) -> list[tuple[Schedule, rota.ScheduleSpec]]:
    """Schedule rows with their layers, members and the overrides overlapping [start, end)."""
    qs = schedules.prefetch_related(
        Prefetch(
            "layers",
            queryset=Layer.objects.prefetch_related(
                Prefetch("memberships", queryset=LayerMember.objects.order_by("position"))
            ),
        ),
        Prefetch(
            "overrides",
            queryset=Override.objects.filter(start__lt=end, end__gt=start),
            to_attr="window_overrides",
        ),
    )
    out = []
    for s in qs:
        layers = tuple(
            rota.LayerSpec(
                id=la.pk,
                position=la.position,
                start_date=la.start_date,
                handoff=la.handoff_time,
                rotation_days=max(1, la.rotation_days),
                members=tuple(m.user_id for m in la.memberships.all()),
                restrictions=rota.parse_restrictions(la.restrictions),
                ends_at=la.ends_at,
            )
            for la in s.layers.all()
        )
        overrides = tuple(
            rota.OverrideSpec(id=o.pk, user_id=o.user_id, start=o.start, end=o.end)
            for o in s.window_overrides
        )
        out.append((s, rota.ScheduleSpec(s.pk, s.time_zone, layers, overrides)))
    return out


def _users(ids: list[int]) -> list[User]:
    by_id = User.objects.in_bulk(ids)
    return [by_id[i] for i in ids if i in by_id and by_id[i].is_active]


def _at(at: datetime | None) -> datetime:
    at = at or now()
    if at.tzinfo is None:
        raise ValueError("at must be an aware datetime")
    return at.astimezone(UTC)


def on_duty_ids(region: Region | int | str, at: datetime | None = None) -> list[int]:
    at = _at(at)
    region = _region(region)
    ids: list[int] = []
    schedules = Schedule.objects.filter(region=region, active=True).order_by("name", "id")
    for _s, spec in _specs(schedules, at, at + timedelta(seconds=1)):
        for uid in rota.who_at(spec, at)[0]:
            if uid not in ids:
                ids.append(uid)
    return ids


def on_duty(region: Region | int | str, at: datetime | None = None) -> list[User]:
    """The active users on duty in ``region`` at ``at`` (now): per active schedule of the
    region its override or top layer's member, in schedule-name order, without repeats."""
    return _users(on_duty_ids(region, at))


def on_rota(user: User | int, at: datetime | None = None) -> bool:
    """True when ``user`` is on duty on any active schedule at ``at``."""
    at = _at(at)
    uid = user.pk if isinstance(user, User) else int(user)
    schedules = Schedule.objects.filter(active=True).filter(
        Q(layers__memberships__user_id=uid) | Q(overrides__user_id=uid, overrides__end__gt=at)
    )
    schedules = Schedule.objects.filter(pk__in=schedules.values("pk"))
    for _s, spec in _specs(schedules, at, at + timedelta(seconds=1)):
        if uid in rota.who_at(spec, at)[0]:
            return True
    return False


def shift_calendar(name: str) -> Any:
    """The SLA engine's stored calendar ``name`` (None while that module or the calendar
    does not exist)."""
    if not name:
        return None
    try:
        from caseline.sla import calendars  # type: ignore[attr-defined]
    except ImportError:
        return None
    get = getattr(calendars, "get_calendar", None)
    if get is None:
        return None
    try:
        return get(name)
    except Exception as exc:  # unknown name, bad definition: treat as no calendar
        log.debug("shift calendar %r unavailable: %s", name, exc)
        return None


def calendar_open(calendar: Any, at: datetime) -> bool:
    if calendar is None:
        return False
    is_open = getattr(calendar, "is_open", None)
    if is_open is not None:
        return bool(is_open(at))
    from caseline import clock

    return bool(clock.is_open(calendar, at))


def is_on_shift(user: User | int, at: datetime | None = None) -> bool:
    """On a rota at ``at`` (now), or -- when the user's region names a shift calendar that
    the SLA engine knows -- inside that calendar's open hours."""
    at = _at(at)
    if not isinstance(user, User):
        user = User.objects.select_related("region").get(pk=int(user))
    if not user.is_active:
        return False
    if on_rota(user, at):
        return True
    region = user.region
    if region is not None and region.shift_calendar:
        return calendar_open(shift_calendar(region.shift_calendar), at)
    return False


def _rota_index(params) -> tuple[tuple[tuple[rota.ScheduleSpec, frozenset[int]], ...], dict]:
    """Every active schedule as a spec with its overrides ending after ``params[0]``, and
    user id -> the schedules whose layers or overrides name that user (the cache of
    :func:`on_shift_filter`; read through the ORM as before the cache)."""
    after = params[0]
    schedules = Schedule.objects.filter(active=True).order_by("id")
    specs = _specs(schedules, after, datetime.max.replace(tzinfo=UTC))
    out = []
    index: dict[int, list[int]] = {}
    for i, (_s, spec) in enumerate(specs):
        members = frozenset(uid for layer in spec.layers for uid in layer.members)
        out.append((spec, members))
        for uid in members | {o.user_id for o in spec.overrides}:
            index.setdefault(uid, []).append(i)
    return tuple(out), {uid: tuple(v) for uid, v in index.items()}


# The rotas as on_shift_filter needs them, cached per process and checked against the
# rows at every call (caseline.tablestamp): active schedules, all layers and members, the
# overrides that have not ended. Any change (services, admin, another process) is seen at
# the next call; an override that ends changes the rows too.
_ROTAS = TableStamp(
    [
        Part(Schedule, '"active"', exclude=("description", "feed_secret_hash", "updated_at")),
        Part(Layer, exclude=("created_at",)),
        Part(LayerMember),
        Part(Override, '"end" > %s', exclude=("reason", "created_by", "created_at")),
    ],
    _rota_index,
)


def on_shift_filter(users: list[User], at: datetime) -> list[User]:
    """The ``users`` who may take work at ``at``, order kept (auto-assignment's filter):
    on duty on a rota; otherwise, when their region names a shift calendar, inside its
    open hours; otherwise, when they are on some rota, not now; people with no shift
    information at all (no rota, no calendar) are always available.

    The rotas come from a per-process cache checked against the rows at every call (one
    statement); the regions from the users when loaded with them (auto-assignment's
    candidates are), else one query; the calendars from the SLA engine's cache."""
    if not users:
        return users
    at = _at(at)
    specs, index = _ROTAS.get([at])
    relevant: set[int] = set()
    for u in users:
        relevant.update(index.get(u.pk, ()))
    on_duty_now: set[int] = set()
    on_a_rota: set[int] = set()
    for i in sorted(relevant):
        spec, members = specs[i]
        # overrides in force: started before ``at``, ending after it
        current = tuple(o for o in spec.overrides if o.start < at < o.end)
        if current != spec.overrides:
            spec = replace(spec, overrides=current)
        on_duty_now.update(rota.who_at(spec, at)[0])
        on_a_rota.update(members)
    region_field = User.region
    if all(region_field.is_cached(u) for u in users):
        calendars = {u.region_id: u.region.shift_calendar for u in users if u.region_id is not None}
    else:
        region_ids = {u.region_id for u in users if u.region_id}
        calendars = dict(
            Region.objects.filter(pk__in=region_ids).values_list("pk", "shift_calendar")
        )
    opened: dict[str, bool | None] = {}
    kept = []
    for u in users:
        if u.pk in on_duty_now:
            kept.append(u)
            continue
        name = calendars.get(u.region_id) or ""
        if name and name not in opened:
            calendar = shift_calendar(name)
            opened[name] = None if calendar is None else calendar_open(calendar, at)
        is_open = opened.get(name) if name else None
        if is_open is not None:
            if is_open:
                kept.append(u)
        elif u.pk not in on_a_rota:
            kept.append(u)
    return kept


def next_region_on_shift(region: Region | int | str, at: datetime | None = None) -> Region | None:
    """The next region after ``region`` in the follow-the-sun chain (Region.handoff_order,
    wrapping around, ``region`` itself last) that has somebody on duty at ``at``."""
    at = _at(at)
    region = _region(region)
    ordered = list(Region.objects.order_by("handoff_order", "code"))
    idx = next((i for i, r in enumerate(ordered) if r.pk == region.pk), 0)
    chain = ordered[idx + 1 :] + ordered[: idx + 1]
    for candidate in chain:
        if on_duty(candidate, at):
            return candidate
    return None


def get_schedule(schedule_id: int) -> Schedule:
    s = Schedule.objects.select_related("region").filter(pk=schedule_id).first()
    if s is None:
        raise NotFound(f"no on-call schedule with id {schedule_id}")
    return s


def feed_secret_hash(secret: str) -> str:
    return digest(secret)  # the API tokens' SHA-256


def schedule_for_feed(secret: str) -> Schedule:
    """The active schedule whose subscription URL carries ``secret``; NotFound otherwise
    (an unknown, revoked or malformed secret looks the same)."""
    if not 20 <= len(secret) <= 100:
        raise NotFound("no such calendar feed")
    s = (
        Schedule.objects.select_related("region")
        .filter(feed_secret_hash=feed_secret_hash(secret), active=True)
        .first()
    )
    if s is None:
        raise NotFound("no such calendar feed")
    return s


def shifts(schedule: Schedule | int, start: datetime, end: datetime) -> list[rota.Segment]:
    """The final schedule of ``schedule`` between ``start`` and ``end`` (merged segments)."""
    pk = schedule.pk if isinstance(schedule, Schedule) else int(schedule)
    specs = _specs(Schedule.objects.filter(pk=pk), start, end)
    if not specs:
        raise NotFound(f"no on-call schedule with id {pk}")
    return rota.segments(specs[0][1], start, end)
