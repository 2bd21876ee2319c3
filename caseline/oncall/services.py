"""Changing rotas: schedules, layers (with ordered members), overrides. Each change is one
transaction with an audit event (``oncall.schedule_changed`` / ``oncall.override_changed``).
Bad input raises ValidationFailed (422) before anything is written."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction

from caseline.accounts.models import Region, User
from caseline.audit.services import record
from caseline.errors import NotFound, ValidationFailed
from caseline.timesource import now

from .models import Layer, LayerMember, Override, Schedule
from .queries import feed_secret_hash

MAX_ROTATION_DAYS = 366
MAX_OVERRIDE = timedelta(days=366)
SCHEDULE_FIELDS = {"region", "name", "time_zone", "description", "active"}
LAYER_FIELDS = {
    "name",
    "position",
    "start_date",
    "handoff_time",
    "rotation_days",
    "member_ids",
    "restrictions",
    "ends_at",
}


class _Errors(dict):
    def raise_if_any(self, message: str) -> None:
        if self:
            raise ValidationFailed(message, fields=dict(self))


def _unknown(data: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise ValidationFailed(
            "unknown fields", fields={k: "unknown or read-only field" for k in extra}
        )


def _time_zone(errors: _Errors, value: Any) -> str:
    try:
        ZoneInfo(str(value))
        return str(value)
    except (ZoneInfoNotFoundError, ValueError):
        errors["time_zone"] = "not an IANA time zone (e.g. Europe/Berlin)"
        return ""


def _region(errors: _Errors, value: Any) -> Region | None:
    qs = Region.objects.all()
    region = None
    if isinstance(value, Region):
        return value
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        region = qs.filter(pk=int(value)).first()
    elif isinstance(value, str) and value.strip():
        region = qs.filter(code__iexact=value.strip()).first()
    if region is None:
        errors["region"] = "no such region (give its code, e.g. EMEA, or id)"
    return region


def _staff_users(errors: _Errors, field: str, ids: Any) -> list[User]:
    if not isinstance(ids, (list, tuple)):
        errors[field] = "a list of staff user ids"
        return []
    clean: list[int] = []
    for v in ids:
        try:
            clean.append(int(v))
        except (TypeError, ValueError):
            errors[field] = "a list of staff user ids"
            return []
    by_id = User.objects.filter(pk__in=clean, is_active=True, kind=User.Kind.STAFF).in_bulk()
    missing = [i for i in clean if i not in by_id]
    if missing:
        errors[field] = f"not active staff users: {', '.join(map(str, missing))}"
        return []
    return [by_id[i] for i in clean]


# Rotas are about the working present: dates far outside it are typing mistakes, and
# would overflow the local-time arithmetic (year 1 minus a UTC offset).
MIN_YEAR, MAX_YEAR = 2000, 2200


def _aware(errors: _Errors, field: str, value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            errors[field] = "an ISO 8601 date-time with a UTC offset"
            return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        errors[field] = "an ISO 8601 date-time with a UTC offset"
        return None
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        errors[field] = f"a year between {MIN_YEAR} and {MAX_YEAR}"
        return None
    return value.astimezone(UTC)


def _time_of_day(errors: _Errors, field: str, value: Any) -> time | None:
    if isinstance(value, time):
        return value.replace(microsecond=0, tzinfo=None)
    try:
        t = time.fromisoformat(str(value))
    except ValueError:
        errors[field] = "a time of day HH:MM"
        return None
    return t.replace(microsecond=0, tzinfo=None)


def clean_restrictions(errors: _Errors, value: Any) -> list[dict[str, Any]]:
    if value in (None, ""):
        return []
    if not isinstance(value, (list, tuple)):
        errors["restrictions"] = 'a list of {"days": [0-6], "start": "HH:MM", "end": "HH:MM"}'
        return []
    out = []
    for i, item in enumerate(value):
        if hasattr(item, "dict"):
            item = item.dict()
        if not isinstance(item, dict) or set(item) - {"days", "start", "end"}:
            errors[f"restrictions.{i}"] = 'give "days", "start" and "end"'
            continue
        days = item.get("days")
        if (
            not isinstance(days, (list, tuple))
            or not days
            or any(not isinstance(d, int) or not 0 <= d <= 6 for d in days)
        ):
            errors[f"restrictions.{i}.days"] = "weekdays 0 (Monday) to 6 (Sunday)"
            continue
        start = _time_of_day(errors, f"restrictions.{i}.start", item.get("start"))
        end = _time_of_day(errors, f"restrictions.{i}.end", item.get("end"))
        if start is None or end is None:
            continue
        out.append(
            {
                "days": sorted(set(days)),
                "start": start.strftime("%H:%M:%S"),
                "end": end.strftime("%H:%M:%S"),
            }
        )
    return out


def _snapshot_schedule(s: Schedule) -> dict[str, Any]:
    return {
        "name": s.name,
        "region": s.region.code,
        "time_zone": s.time_zone,
        "active": s.active,
    }


def _audit_schedule(s: Schedule, actor, action: str, data: dict[str, Any] | None = None) -> None:
    record(
        "oncall.schedule_changed",
        "oncall_schedule",
        s.pk,
        actor=actor,
        data={"action": action, **_snapshot_schedule(s), **(data or {})},
    )


# --- schedules -------------------------------------------------------------------------


def create_schedule(*, actor: User | None, **data: Any) -> Schedule:
    _unknown(data, SCHEDULE_FIELDS)
    errors = _Errors()
    region = _region(errors, data.get("region"))
    name = str(data.get("name") or "").strip()
    if not name or len(name) > 100:
        errors["name"] = "1-100 characters"
    elif Schedule.objects.filter(name__iexact=name).exists():
        errors["name"] = "a schedule with this name exists"
    tz = data.get("time_zone") or (region.time_zone if region else "UTC")
    tz = _time_zone(errors, tz)
    errors.raise_if_any("the schedule is not valid")
    with transaction.atomic():
        s = Schedule.objects.create(
            region=region,
            name=name,
            time_zone=tz,
            description=str(data.get("description") or ""),
            active=bool(data.get("active", True)),
            created_at=now(),
            updated_at=now(),
        )
        _audit_schedule(s, actor, "created")
    return s


def _get_schedule(schedule: Schedule | int, *, lock: bool = False) -> Schedule:
    pk = schedule.pk if isinstance(schedule, Schedule) else schedule
    qs = Schedule.objects.select_related("region")
    if lock:
        qs = qs.select_for_update(of=("self",))
    s = qs.filter(pk=pk).first()
    if s is None:
        raise NotFound(f"no on-call schedule with id {pk}")
    return s


def update_schedule(schedule: Schedule | int, *, actor: User | None, **data: Any) -> Schedule:
    _unknown(data, SCHEDULE_FIELDS)
    errors = _Errors()
    cleaned: dict[str, Any] = {}
    if "region" in data:
        cleaned["region"] = _region(errors, data["region"])
    if "name" in data:
        name = str(data["name"] or "").strip()
        if not name or len(name) > 100:
            errors["name"] = "1-100 characters"
        cleaned["name"] = name
    if "time_zone" in data:
        cleaned["time_zone"] = _time_zone(errors, data["time_zone"])
    if "description" in data:
        cleaned["description"] = str(data["description"] or "")
    if "active" in data:
        cleaned["active"] = bool(data["active"])
    errors.raise_if_any("the schedule change is not valid")
    with transaction.atomic():
        s = _get_schedule(schedule, lock=True)
        if (
            "name" in cleaned
            and Schedule.objects.filter(name__iexact=cleaned["name"]).exclude(pk=s.pk).exists()
        ):
            raise ValidationFailed(
                "the schedule change is not valid",
                fields={"name": "a schedule with this name exists"},
            )
        before = _snapshot_schedule(s)
        for k, v in cleaned.items():
            setattr(s, k, v)
        s.updated_at = now()
        s.save()
        after = _snapshot_schedule(s)
        changed = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
        if changed or "description" in cleaned:
            _audit_schedule(s, actor, "updated", {"changed": changed})
    return s


def rotate_feed_secret(schedule: Schedule | int, *, actor: User | None) -> str:
    """A new secret for the schedule's subscription URL (the old URL stops working). Only
    its SHA-256 is stored: the caller shows the returned secret once."""
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        s = _get_schedule(schedule, lock=True)
        s.feed_secret_hash = feed_secret_hash(secret)
        s.updated_at = now()
        s.save(update_fields=["feed_secret_hash", "updated_at"])
        _audit_schedule(s, actor, "feed_secret_rotated")
    return secret


def revoke_feed_secret(schedule: Schedule | int, *, actor: User | None) -> None:
    """The schedule has no subscription URL any more."""
    with transaction.atomic():
        s = _get_schedule(schedule, lock=True)
        if not s.feed_secret_hash:
            return
        s.feed_secret_hash = ""
        s.updated_at = now()
        s.save(update_fields=["feed_secret_hash", "updated_at"])
        _audit_schedule(s, actor, "feed_secret_revoked")


def delete_schedule(schedule: Schedule | int, *, actor: User | None) -> None:
    with transaction.atomic():
        s = _get_schedule(schedule, lock=True)
        _audit_schedule(s, actor, "deleted")
        s.delete()


# --- layers ----------------------------------------------------------------------------


def _clean_layer(
    data: dict[str, Any], *, creating: bool
) -> tuple[dict[str, Any], list[User] | None]:
    _unknown(data, LAYER_FIELDS)
    errors = _Errors()
    cleaned: dict[str, Any] = {}
    if creating:
        for req in ("start_date", "handoff_time"):
            if data.get(req) in (None, ""):
                errors[req] = "required"
    if "name" in data:
        name = str(data["name"] or "").strip() or "Layer"
        if len(name) > 100:
            errors["name"] = "at most 100 characters"
        cleaned["name"] = name
    if "position" in data:
        try:
            pos = int(data["position"])
            if not 1 <= pos <= 100:
                raise ValueError
            cleaned["position"] = pos
        except (TypeError, ValueError):
            errors["position"] = "1-100 (a higher layer wins)"
    if data.get("start_date") not in (None, ""):
        value = data["start_date"]
        if isinstance(value, datetime):
            value = value.date()
        if not isinstance(value, date):
            try:
                value = date.fromisoformat(str(value))
            except ValueError:
                errors["start_date"] = "a date YYYY-MM-DD"
        if isinstance(value, date) and not MIN_YEAR <= value.year <= MAX_YEAR:
            errors["start_date"] = f"a year between {MIN_YEAR} and {MAX_YEAR}"
        cleaned["start_date"] = value
    if data.get("handoff_time") not in (None, ""):
        cleaned["handoff_time"] = _time_of_day(errors, "handoff_time", data["handoff_time"])
    if "rotation_days" in data:
        try:
            days = int(data["rotation_days"])
            if not 1 <= days <= MAX_ROTATION_DAYS:
                raise ValueError
            cleaned["rotation_days"] = days
        except (TypeError, ValueError):
            errors["rotation_days"] = f"1-{MAX_ROTATION_DAYS} days"
    if "restrictions" in data:
        cleaned["restrictions"] = clean_restrictions(errors, data["restrictions"])
    if "ends_at" in data:
        cleaned["ends_at"] = _aware(errors, "ends_at", data["ends_at"])
    members: list[User] | None = None
    if "member_ids" in data:
        members = _staff_users(errors, "member_ids", data["member_ids"])
        if not errors.get("member_ids") and len({u.pk for u in members}) != len(members):
            errors["member_ids"] = "each member once"
    errors.raise_if_any("the layer is not valid")
    return cleaned, members


def _set_members(layer: Layer, members: list[User]) -> None:
    LayerMember.objects.filter(layer=layer).delete()
    LayerMember.objects.bulk_create(
        [LayerMember(layer=layer, user=u, position=i) for i, u in enumerate(members, start=1)]
    )


def _layer_data(layer: Layer, members: list[int]) -> dict[str, Any]:
    return {
        "layer": layer.pk,
        "layer_name": layer.name,
        "position": layer.position,
        "start_date": layer.start_date.isoformat(),
        "handoff_time": layer.handoff_time.strftime("%H:%M:%S"),
        "rotation_days": layer.rotation_days,
        "members": members,
        "restrictions": layer.restrictions,
        "ends_at": layer.ends_at.isoformat() if layer.ends_at else None,
    }


def add_layer(schedule: Schedule | int, *, actor: User | None, **data: Any) -> Layer:
    cleaned, members = _clean_layer(data, creating=True)
    with transaction.atomic():
        s = _get_schedule(schedule, lock=True)
        if "position" not in cleaned:
            top = s.layers.order_by("-position").values_list("position", flat=True).first()
            cleaned["position"] = min(100, (top or 0) + 1)
        layer = Layer.objects.create(schedule=s, created_at=now(), **cleaned)
        _set_members(layer, members or [])
        s.updated_at = now()
        s.save(update_fields=["updated_at"])
        _audit_schedule(s, actor, "layer_added", _layer_data(layer, [u.pk for u in members or []]))
    return layer


def _get_layer(layer: Layer | int) -> Layer:
    pk = layer.pk if isinstance(layer, Layer) else layer
    found = Layer.objects.select_related("schedule__region").filter(pk=pk).first()
    if found is None:
        raise NotFound(f"no on-call layer with id {pk}")
    return found


def update_layer(layer: Layer | int, *, actor: User | None, **data: Any) -> Layer:
    cleaned, members = _clean_layer(data, creating=False)
    with transaction.atomic():
        la = _get_layer(layer)
        s = _get_schedule(la.schedule_id, lock=True)
        for k, v in cleaned.items():
            setattr(la, k, v)
        la.save()
        if members is not None:
            _set_members(la, members)
        s.updated_at = now()
        s.save(update_fields=["updated_at"])
        ids = list(la.memberships.order_by("position").values_list("user_id", flat=True))
        _audit_schedule(s, actor, "layer_changed", _layer_data(la, ids))
    return la


def delete_layer(layer: Layer | int, *, actor: User | None) -> None:
    with transaction.atomic():
        la = _get_layer(layer)
        s = _get_schedule(la.schedule_id, lock=True)
        ids = list(la.memberships.order_by("position").values_list("user_id", flat=True))
        _audit_schedule(s, actor, "layer_deleted", _layer_data(la, ids))
        la.delete()


# --- overrides -------------------------------------------------------------------------


def add_override(
    schedule: Schedule | int,
    *,
    actor: User | None,
    user: User | int,
    start: Any,
    end: Any,
    reason: str = "",
) -> Override:
    errors = _Errors()
    users = _staff_users(errors, "user_id", [user.pk if isinstance(user, User) else user])
    start_at = _aware(errors, "start", start)
    end_at = _aware(errors, "end", end)
    if start_at is None and "start" not in errors:
        errors["start"] = "required"
    if end_at is None and "end" not in errors:
        errors["end"] = "required"
    if start_at and end_at:
        if end_at <= start_at:
            errors["end"] = "must be after start"
        elif end_at - start_at > MAX_OVERRIDE:
            errors["end"] = "an override lasts at most 366 days"
        elif end_at <= now():
            errors["end"] = "must be in the future"
    reason = str(reason or "").strip()
    if len(reason) > 200:
        errors["reason"] = "at most 200 characters"
    errors.raise_if_any("the override is not valid")
    with transaction.atomic():
        s = _get_schedule(schedule, lock=True)
        o = Override.objects.create(
            schedule=s,
            user=users[0],
            start=start_at,
            end=end_at,
            reason=reason,
            created_by=actor if isinstance(actor, User) else None,
            created_at=now(),
        )
        record(
            "oncall.override_changed",
            "oncall_schedule",
            s.pk,
            actor=actor,
            data={
                "action": "added",
                "override": o.pk,
                "schedule": s.name,
                "user": users[0].pk,
                "start": start_at.isoformat(),
                "end": end_at.isoformat(),
                "reason": reason,
            },
        )
    return o


def delete_override(override: Override | int, *, actor: User | None) -> None:
    pk = override.pk if isinstance(override, Override) else override
    with transaction.atomic():
        o = Override.objects.select_related("schedule").filter(pk=pk).first()
        if o is None:
            raise NotFound(f"no on-call override with id {pk}")
        record(
            "oncall.override_changed",
            "oncall_schedule",
            o.schedule_id,
            actor=actor,
            data={
                "action": "deleted",
                "override": o.pk,
                "schedule": o.schedule.name,
                "user": o.user_id,
                "start": o.start.isoformat(),
                "end": o.end.isoformat(),
            },
        )
        o.delete()
