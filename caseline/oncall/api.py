"""/api/v1/oncall: schedules, layers, overrides, who is on duty, the iCal feed.

Reading needs ``view_directory`` (every staff role); changing needs ``manage_teams``
(lead, support manager, admin). Customers are refused.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.http import HttpRequest, HttpResponse
from ninja import Router, Status

from caseline.accounts.models import Region, User
from caseline.api.core import require
from caseline.errors import ValidationFailed
from caseline.timesource import now

from . import ical, queries, services
from .models import Schedule
from .schemas import (
    FeedOut,
    LayerIn,
    LayerOut,
    LayerPatch,
    OnDutyOut,
    OverrideIn,
    OverrideOut,
    ScheduleIn,
    ScheduleList,
    ScheduleOut,
    SchedulePatch,
    ShiftList,
    layer_out,
    override_out,
    person_out,
    schedule_out,
)

router = Router(tags=["on-call"])

READ = "view_directory"
WRITE = "manage_teams"
MAX_SHIFT_WINDOW = timedelta(days=183)


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValidationFailed("the request is not valid", fields={field: "give a UTC offset"})
    return value.astimezone(UTC)


@router.get("/oncall/schedules", response=ScheduleList)
def list_schedules(request: HttpRequest, region: str | None = None):
    require(request, READ)
    qs = Schedule.objects.select_related("region")
    if region:
        qs = qs.filter(region=queries._region(region))
    t = now()
    return {"results": [schedule_out(s, since=t) for s in qs]}


@router.post("/oncall/schedules", response={201: ScheduleOut})
def create_schedule(request: HttpRequest, payload: ScheduleIn):
    user = require(request, WRITE)
    s = services.create_schedule(actor=user, **payload.dict())
    return Status(201, schedule_out(queries.get_schedule(s.pk), since=now()))


@router.get("/oncall/schedules/{schedule_id}", response=ScheduleOut)
def get_schedule(request: HttpRequest, schedule_id: int):
    require(request, READ)
    return schedule_out(queries.get_schedule(schedule_id), since=now())


@router.patch("/oncall/schedules/{schedule_id}", response=ScheduleOut)
def patch_schedule(request: HttpRequest, schedule_id: int, payload: SchedulePatch):
    user = require(request, WRITE)
    services.update_schedule(schedule_id, actor=user, **payload.dict(exclude_unset=True))
    return schedule_out(queries.get_schedule(schedule_id), since=now())


@router.delete("/oncall/schedules/{schedule_id}", response={204: None})
def delete_schedule(request: HttpRequest, schedule_id: int):
    user = require(request, WRITE)
    services.delete_schedule(schedule_id, actor=user)
    return Status(204, None)


@router.post("/oncall/schedules/{schedule_id}/layers", response={201: LayerOut})
def add_layer(request: HttpRequest, schedule_id: int, payload: LayerIn):
    user = require(request, WRITE)
    data = payload.dict()
    if data.get("position") is None:
        data.pop("position")
    layer = services.add_layer(schedule_id, actor=user, **data)
    return Status(201, layer_out(layer))


@router.patch("/oncall/layers/{layer_id}", response=LayerOut)
def patch_layer(request: HttpRequest, layer_id: int, payload: LayerPatch):
    user = require(request, WRITE)
    layer = services.update_layer(layer_id, actor=user, **payload.dict(exclude_unset=True))
    return layer_out(layer)


@router.delete("/oncall/layers/{layer_id}", response={204: None})
def delete_layer(request: HttpRequest, layer_id: int):
    user = require(request, WRITE)
    services.delete_layer(layer_id, actor=user)
    return Status(204, None)


@router.post("/oncall/schedules/{schedule_id}/overrides", response={201: OverrideOut})
def add_override(request: HttpRequest, schedule_id: int, payload: OverrideIn):
    user = require(request, WRITE)
    o = services.add_override(
        schedule_id,
        actor=user,
        user=payload.user_id,
        start=payload.start,
        end=payload.end,
        reason=payload.reason,
    )
    return Status(201, override_out(o))


@router.delete("/oncall/overrides/{override_id}", response={204: None})
def delete_override(request: HttpRequest, override_id: int):
    user = require(request, WRITE)
    services.delete_override(override_id, actor=user)
    return Status(204, None)


@router.get("/oncall/schedules/{schedule_id}/shifts", response=ShiftList)
def list_shifts(
    request: HttpRequest,
    schedule_id: int,
    start: datetime | None = None,
    end: datetime | None = None,
):
    """The final schedule (overrides applied) between start (now) and end (start + 7 days)."""
    require(request, READ)
    schedule = queries.get_schedule(schedule_id)
    a = _aware(start, "start") or now()
    b = _aware(end, "end") or a + timedelta(days=7)
    if b <= a or b - a > MAX_SHIFT_WINDOW:
        raise ValidationFailed(
            "the request is not valid", fields={"end": "after start, at most 183 days later"}
        )
    segs = queries.shifts(schedule, a, b)
    users = User.objects.in_bulk(sorted({u for s in segs for u in s.user_ids}))
    return {
        "schedule_id": schedule.pk,
        "start": a,
        "end": b,
        "results": [
            {
                "start": s.start,
                "end": s.end,
                "users": [person_out(users[u]) for u in s.user_ids if u in users],
                "source": s.source,
            }
            for s in segs
        ],
    }


@router.get("/oncall/schedules/{schedule_id}/ical")
def ical_feed(request: HttpRequest, schedule_id: int, weeks: int = 4):
    """text/calendar: every shift of the next ``weeks`` weeks (1-26)."""
    require(request, READ)
    return _ical_response(queries.get_schedule(schedule_id), weeks)


def _ical_response(schedule: Schedule, weeks: int) -> HttpResponse:
    if not 1 <= weeks <= ical.MAX_WEEKS:
        raise ValidationFailed("the request is not valid", fields={"weeks": f"1-{ical.MAX_WEEKS}"})
    response = HttpResponse(
        ical.feed(schedule, weeks=weeks), content_type="text/calendar; charset=utf-8"
    )
    response["Content-Disposition"] = f'inline; filename="oncall-{schedule.pk}.ics"'
    return response


@router.post("/oncall/schedules/{schedule_id}/feed", response={201: FeedOut})
def rotate_feed(request: HttpRequest, schedule_id: int):
    """A new secret subscription URL for calendar apps (they cannot send a token). The
    previous URL stops working; the secret is shown only in this answer."""
    actor = require(request, WRITE)
    secret = services.rotate_feed_secret(schedule_id, actor=actor)
    path = f"/api/v1/oncall/feeds/{secret}.ics"
    return Status(201, {"url": request.build_absolute_uri(path), "path": path})


@router.delete("/oncall/schedules/{schedule_id}/feed", response={204: None})
def revoke_feed(request: HttpRequest, schedule_id: int):
    actor = require(request, WRITE)
    services.revoke_feed_secret(schedule_id, actor=actor)
    return Status(204, None)


@router.get("/oncall/feeds/{secret}.ics", auth=None)
def secret_feed(request: HttpRequest, secret: str, weeks: int = 4):
    """The iCal feed by its secret URL, without a token (for calendar subscriptions)."""
    return _ical_response(queries.schedule_for_feed(secret), weeks)


@router.get("/oncall/on-duty", response=OnDutyOut)
def on_duty(request: HttpRequest, region: str | None = None, at: datetime | None = None):
    """Who is on duty now (or at ``at``), per region; with ``region`` also the next region
    of the follow-the-sun chain that has someone on duty."""
    require(request, READ)
    t = _aware(at, "at") or now()
    regions = [queries._region(region)] if region else list(Region.objects.all())
    out = []
    for r in regions:
        cal = queries.shift_calendar(r.shift_calendar)
        out.append(
            {
                "region": r.code,
                "on_duty": [person_out(u) for u in queries.on_duty(r, t)],
                "on_shift_by_calendar": queries.calendar_open(cal, t) if cal is not None else None,
            }
        )
    nxt = queries.next_region_on_shift(regions[0], t) if region else None
    return {"at": t, "regions": out, "next_region_on_shift": nxt.code if nxt else None}
