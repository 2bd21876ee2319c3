"""Requests of the on-call rows of docs/permissions.md (used by
tests/api/test_permissions_matrix.py)."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from caseline.accounts.models import Region
from caseline.oncall import services
from caseline.oncall.models import Layer, LayerMember, Override, Schedule
from caseline.timesource import now

_seq = itertools.count(1)


def _region() -> Region:
    return Region.objects.get_or_create(
        code="MTX", defaults={"name": "Matrix region", "time_zone": "Europe/Berlin"}
    )[0]


def _schedule(w) -> Schedule:
    s = getattr(w, "_oncall_schedule", None)
    if s is None or not Schedule.objects.filter(pk=s.pk).exists():
        s = Schedule.objects.create(
            region=_region(), name=f"Matrix rota {next(_seq)}", time_zone="Europe/Berlin"
        )
        layer = Layer.objects.create(
            schedule=s, start_date=date(2026, 1, 5), handoff_time="09:00", rotation_days=7
        )
        LayerMember.objects.create(layer=layer, user=w.users["SE"], position=1)
        w._oncall_schedule = s
    return s


def _fresh_schedule() -> Schedule:
    return Schedule.objects.create(region=_region(), name=f"Doomed rota {next(_seq)}")


def b_list(w, col, foreign):
    return "get", "/api/v1/oncall/schedules", None


def b_create(w, col, foreign):
    _region()
    return "post", "/api/v1/oncall/schedules", {"region": "MTX", "name": f"Rota {next(_seq)}"}


def b_get(w, col, foreign):
    return "get", f"/api/v1/oncall/schedules/{_schedule(w).id}", None


def b_patch(w, col, foreign):
    return "patch", f"/api/v1/oncall/schedules/{_schedule(w).id}", {"description": "x"}


def b_delete(w, col, foreign):
    return "delete", f"/api/v1/oncall/schedules/{_fresh_schedule().id}", None


def b_add_layer(w, col, foreign):
    return (
        "post",
        f"/api/v1/oncall/schedules/{_schedule(w).id}/layers",
        {
            "start_date": "2026-01-05",
            "handoff_time": "08:00",
            "rotation_days": 1,
            "member_ids": [w.users["SE"].id],
        },
    )


def b_patch_layer(w, col, foreign):
    layer = _schedule(w).layers.first()
    return "patch", f"/api/v1/oncall/layers/{layer.id}", {"rotation_days": 7}


def b_delete_layer(w, col, foreign):
    layer = Layer.objects.create(
        schedule=_schedule(w), start_date=date(2026, 1, 5), handoff_time="09:00", position=9
    )
    return "delete", f"/api/v1/oncall/layers/{layer.id}", None


def b_add_override(w, col, foreign):
    start = now() + timedelta(hours=1)
    return (
        "post",
        f"/api/v1/oncall/schedules/{_schedule(w).id}/overrides",
        {
            "user_id": w.users["SE"].id,
            "start": start.isoformat(),
            "end": (start + timedelta(hours=8)).isoformat(),
        },
    )


def b_delete_override(w, col, foreign):
    start = now() + timedelta(days=1)
    o = Override.objects.create(
        schedule=_schedule(w), user=w.users["SE"], start=start, end=start + timedelta(hours=1)
    )
    return "delete", f"/api/v1/oncall/overrides/{o.id}", None


def b_shifts(w, col, foreign):
    return "get", f"/api/v1/oncall/schedules/{_schedule(w).id}/shifts", None


def b_ical(w, col, foreign):
    return "get", f"/api/v1/oncall/schedules/{_schedule(w).id}/ical?weeks=2", None


def b_on_duty(w, col, foreign):
    _schedule(w)
    return "get", "/api/v1/oncall/on-duty?region=MTX", None


def b_rotate_feed(w, col, foreign):
    return "post", f"/api/v1/oncall/schedules/{_schedule(w).id}/feed", None


def b_revoke_feed(w, col, foreign):
    return "delete", f"/api/v1/oncall/schedules/{_schedule(w).id}/feed", None


def b_secret_feed(w, col, foreign):
    # Anyone holding the URL's secret reads the feed: no token, no role.
    secret = services.rotate_feed_secret(_schedule(w), actor=None)
    return "get", f"/api/v1/oncall/feeds/{secret}.ics", None


BUILDERS = {
    "GET /oncall/schedules": b_list,
    "POST /oncall/schedules": b_create,
    "GET /oncall/schedules/{id}": b_get,
    "PATCH /oncall/schedules/{id}": b_patch,
    "DELETE /oncall/schedules/{id}": b_delete,
    "POST /oncall/schedules/{id}/layers": b_add_layer,
    "PATCH /oncall/layers/{id}": b_patch_layer,
    "DELETE /oncall/layers/{id}": b_delete_layer,
    "POST /oncall/schedules/{id}/overrides": b_add_override,
    "DELETE /oncall/overrides/{id}": b_delete_override,
    "GET /oncall/schedules/{id}/shifts": b_shifts,
    "GET /oncall/schedules/{id}/ical": b_ical,
    "GET /oncall/on-duty": b_on_duty,
    "POST /oncall/schedules/{id}/feed": b_rotate_feed,
    "DELETE /oncall/schedules/{id}/feed": b_revoke_feed,
    "GET /oncall/feeds/{id}.ics (secret URL, no token)": b_secret_feed,
}
