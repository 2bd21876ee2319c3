"""Rotas stored and queried: services (validation, audit), on_duty, is_on_shift,
next_region_on_shift, the REST API and the iCal feed (parsed back)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from icalendar import Calendar

from caseline import timesource
from caseline.accounts import roles
from caseline.audit.models import AuditEvent
from caseline.errors import NotFound, ValidationFailed
from caseline.oncall import queries, services
from caseline.oncall.models import Layer, Override, Schedule

pytestmark = pytest.mark.django_db


def utc(*a) -> datetime:
    return datetime(*a, tzinfo=UTC)


@pytest.fixture
def people(make_staff, regions):
    return {
        "anna": make_staff(roles.SE, region=regions["EMEA"]),
        "ben": make_staff(roles.SE, region=regions["EMEA"]),
        "cho": make_staff(roles.SE, region=regions["APAC"]),
        "dan": make_staff(roles.SE, region=regions["AMER"]),
        "lead": make_staff(roles.LEAD, region=regions["EMEA"]),
    }


def emea_rota(people, actor=None):
    s = services.create_schedule(actor=actor, region="EMEA", name="EMEA primary")
    services.add_layer(
        s,
        actor=actor,
        start_date=date(2026, 3, 23),
        handoff_time="09:00",
        rotation_days=7,
        member_ids=[people["anna"].pk, people["ben"].pk],
    )
    return s


def test_schedule_defaults_to_region_zone_and_is_audited(people, frozen):
    s = emea_rota(people, actor=people["lead"])
    assert s.time_zone == "Europe/Berlin"
    events = list(
        AuditEvent.objects.filter(subject_type="oncall_schedule", subject_id=s.pk).order_by("id")
    )
    assert [e.data["action"] for e in events] == ["created", "layer_added"]
    assert events[1].data["members"] == [people["anna"].pk, people["ben"].pk]
    assert events[0].actor_id == people["lead"].pk


@pytest.mark.parametrize(
    "data,field",
    [
        ({"region": "NOPE", "name": "x"}, "region"),
        ({"region": "EMEA", "name": ""}, "name"),
        ({"region": "EMEA", "name": "x", "time_zone": "Mars/Base"}, "time_zone"),
    ],
)
def test_bad_schedule_is_refused_and_nothing_written(people, data, field):
    with pytest.raises(ValidationFailed) as exc:
        services.create_schedule(actor=None, **data)
    assert field in exc.value.fields
    assert not Schedule.objects.exists()


@pytest.mark.parametrize(
    "data,field",
    [
        ({"handoff_time": "25:00"}, "handoff_time"),
        ({"rotation_days": 0}, "rotation_days"),
        ({"member_ids": [999999]}, "member_ids"),
        (
            {"restrictions": [{"days": [7], "start": "09:00", "end": "17:00"}]},
            "restrictions.0.days",
        ),
        ({"restrictions": [{"days": [1], "start": "9am", "end": "17:00"}]}, "restrictions.0.start"),
        ({"bogus": 1}, "bogus"),
        ({"start_date": "0001-01-01"}, "start_date"),  # would overflow local-time arithmetic
        ({"ends_at": "9999-12-31T23:00:00+00:00"}, "ends_at"),
    ],
)
def test_bad_layer_is_refused(people, data, field):
    s = services.create_schedule(actor=None, region="EMEA", name="S")
    payload = {"start_date": "2026-03-23", "handoff_time": "09:00", **data}
    with pytest.raises(ValidationFailed) as exc:
        services.add_layer(s, actor=None, **payload)
    assert field in exc.value.fields
    assert not Layer.objects.exists()


def test_customer_cannot_be_on_a_rota(people, regions):
    from caseline.accounts.models import Contact, User

    cust = User.objects.create_user(
        username="c@x.test",
        email="c@x.test",
        kind=User.Kind.CUSTOMER,
        contact=Contact.objects.create(name="C"),
    )
    s = services.create_schedule(actor=None, region="EMEA", name="S")
    with pytest.raises(ValidationFailed):
        services.add_layer(
            s, actor=None, start_date="2026-03-23", handoff_time="09:00", member_ids=[cust.pk]
        )


def test_on_duty_follows_the_rotation_and_overrides(people, frozen):
    s = emea_rota(people)
    assert queries.on_duty("EMEA", utc(2026, 3, 24, 12)) == [people["anna"]]
    assert queries.on_duty("EMEA", utc(2026, 3, 30, 7)) == [people["ben"]]  # 09:00 CEST
    assert queries.on_duty("EMEA", utc(2026, 3, 30, 6, 59)) == [people["anna"]]
    assert queries.on_duty("APAC", utc(2026, 3, 24, 12)) == []
    o = services.add_override(
        s,
        actor=None,
        user=people["lead"],
        start=utc(2026, 3, 24, 11),
        end=utc(2026, 3, 24, 13),
        reason="covering",
    )
    assert queries.on_duty("EMEA", utc(2026, 3, 24, 12)) == [people["lead"]]
    assert queries.on_duty("EMEA", utc(2026, 3, 24, 13)) == [people["anna"]]
    services.delete_override(o, actor=None)
    assert queries.on_duty("EMEA", utc(2026, 3, 24, 12)) == [people["anna"]]
    types = set(AuditEvent.objects.values_list("type", flat=True))
    assert "oncall.override_changed" in types


def test_inactive_schedules_and_people_are_not_on_duty(people, frozen):
    s = emea_rota(people)
    people["anna"].is_active = False
    people["anna"].save()
    assert queries.on_duty("EMEA", utc(2026, 3, 24, 12)) == []
    people["anna"].is_active = True
    people["anna"].save()
    services.update_schedule(s, actor=None, active=False)
    assert queries.on_duty("EMEA", utc(2026, 3, 24, 12)) == []


def test_override_validation(people, frozen):
    s = emea_rota(people)
    with pytest.raises(ValidationFailed) as exc:
        services.add_override(
            s, actor=None, user=people["ben"], start=frozen + timedelta(hours=2), end=frozen
        )
    assert "end" in exc.value.fields
    with pytest.raises(ValidationFailed):
        services.add_override(
            s, actor=None, user=people["ben"], start="yesterday", end=frozen + timedelta(hours=1)
        )
    with pytest.raises(ValidationFailed):  # entirely in the past
        services.add_override(
            s,
            actor=None,
            user=people["ben"],
            start=frozen - timedelta(hours=3),
            end=frozen - timedelta(hours=1),
        )
    assert not Override.objects.exists()


def test_is_on_shift_by_rota_and_by_region_calendar(people, frozen, monkeypatch):
    emea_rota(people)
    at = utc(2026, 3, 24, 12)
    assert queries.is_on_shift(people["anna"], at)
    assert not queries.is_on_shift(people["ben"], at)  # on the rota, not this week
    assert not queries.is_on_shift(people["cho"], at)  # no rota, no calendar
    # A region with a shift calendar the SLA engine knows: open hours count as on shift.
    from caseline.clock.calendar import Calendar as ClockCalendar

    apac = people["cho"].region
    apac.shift_calendar = "apac-hours"
    apac.save()
    calendar = ClockCalendar.build("Asia/Singapore", "Mon-Fri 09:00-18:00")
    monkeypatch.setattr(
        queries, "shift_calendar", lambda name: calendar if name == "apac-hours" else None
    )
    people["cho"].refresh_from_db()
    assert queries.is_on_shift(people["cho"], utc(2026, 3, 24, 3))  # 11:00 in Singapore
    assert not queries.is_on_shift(people["cho"], utc(2026, 3, 24, 12))  # 20:00


def test_unknown_shift_calendar_falls_back_to_the_rota(people, frozen):
    apac = people["cho"].region
    apac.shift_calendar = "no-such-calendar-anywhere"
    apac.save()
    people["cho"].refresh_from_db()
    assert queries.shift_calendar("no-such-calendar-anywhere") is None
    assert not queries.is_on_shift(people["cho"], utc(2026, 3, 24, 3))


def test_next_region_on_shift_walks_the_chain_and_wraps(people, regions, frozen):
    emea_rota(people)
    apac = services.create_schedule(actor=None, region="APAC", name="APAC")
    services.add_layer(
        apac,
        actor=None,
        start_date="2026-03-23",
        handoff_time="08:00",
        rotation_days=1,
        member_ids=[people["cho"].pk],
        restrictions=[{"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "18:00"}],
    )
    day = utc(2026, 3, 24, 3)  # 11:00 Singapore, 04:00 Berlin
    assert queries.next_region_on_shift("AMER", day) == regions["APAC"]  # wraps to the start
    assert queries.next_region_on_shift("APAC", day) == regions["EMEA"]
    evening = utc(2026, 3, 24, 12)  # 20:00 Singapore: APAC off
    assert queries.next_region_on_shift("AMER", evening) == regions["EMEA"]
    assert queries.next_region_on_shift("EMEA", evening) == regions["EMEA"]  # only itself
    with pytest.raises(NotFound):
        queries.next_region_on_shift("XX", evening)


def test_api_edit_and_ask(people, frozen, api_client, make_staff):
    lead = api_client(people["lead"])
    r = lead.post(
        "/api/v1/oncall/schedules",
        {"region": "EMEA", "name": "EMEA API"},
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    sid = r.json()["id"]
    assert r.json()["time_zone"] == "Europe/Berlin"
    r = lead.post(
        f"/api/v1/oncall/schedules/{sid}/layers",
        {
            "start_date": "2026-03-23",
            "handoff_time": "09:00",
            "rotation_days": 7,
            "member_ids": [people["anna"].pk, people["ben"].pk],
            "restrictions": [{"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "20:00"}],
        },
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    layer = r.json()
    assert [m["id"] for m in layer["members"]] == [people["anna"].pk, people["ben"].pk]
    assert layer["restrictions"][0]["start"] == "08:00"
    r = lead.patch(
        f"/api/v1/oncall/layers/{layer['id']}",
        {"member_ids": [people["ben"].pk, people["anna"].pk]},
        content_type="application/json",
    )
    assert r.status_code == 200 and r.json()["members"][0]["id"] == people["ben"].pk
    r = lead.get("/api/v1/oncall/on-duty?region=EMEA")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["regions"][0]["on_duty"][0]["id"] == people["ben"].pk
    assert body["next_region_on_shift"] == "EMEA"
    r = lead.get("/api/v1/oncall/on-duty?at=2026-03-24T21:00:00Z")  # 22:00 Berlin: restricted
    assert {x["region"]: x["on_duty"] for x in r.json()["regions"]}["EMEA"] == []
    r = lead.post(
        f"/api/v1/oncall/schedules/{sid}/overrides",
        {
            "user_id": people["lead"].pk,
            "start": "2026-03-24T20:00:00Z",
            "end": "2026-03-25T06:00:00Z",
        },
        content_type="application/json",
    )
    assert r.status_code == 201, r.content
    r = lead.get("/api/v1/oncall/on-duty?region=EMEA&at=2026-03-24T21:00:00Z")
    assert r.json()["regions"][0]["on_duty"][0]["id"] == people["lead"].pk
    r = lead.get(
        f"/api/v1/oncall/schedules/{sid}/shifts?start=2026-03-24T00:00:00Z&end=2026-03-26T00:00:00Z"
    )
    assert r.status_code == 200
    shifts = r.json()["results"]
    assert shifts[0]["start"].startswith("2026-03-24T00:00")
    assert any(s["source"] == "override" for s in shifts)
    assert any(s["users"] == [] for s in shifts)  # nights are uncovered
    # bad input
    r = lead.post(
        f"/api/v1/oncall/schedules/{sid}/layers",
        {"start_date": "2026-03-23", "handoff_time": "9 o'clock"},
        content_type="application/json",
    )
    assert r.status_code == 422 and "handoff_time" in r.json()["error"]["fields"]
    r = lead.get(f"/api/v1/oncall/schedules/{sid}/shifts?start=2026-03-24T00:00:00")
    assert r.status_code == 422
    assert lead.get("/api/v1/oncall/on-duty?region=NOPE").status_code == 404
    assert lead.get("/api/v1/oncall/schedules/999999").status_code == 404
    # an engineer may read but not edit
    se = api_client(people["anna"])
    assert se.get(f"/api/v1/oncall/schedules/{sid}").status_code == 200
    assert (
        se.patch(
            f"/api/v1/oncall/schedules/{sid}", {"name": "x"}, content_type="application/json"
        ).status_code
        == 403
    )
    assert lead.delete(f"/api/v1/oncall/layers/{layer['id']}").status_code == 204
    assert lead.delete(f"/api/v1/oncall/schedules/{sid}").status_code == 204
    assert not Schedule.objects.filter(pk=sid).exists()


def test_ical_feed_parses_back_to_the_shifts(people, frozen, api_client):
    s = emea_rota(people)
    services.add_override(
        s,
        actor=None,
        user=people["lead"],
        start=utc(2026, 3, 26, 0),
        end=utc(2026, 3, 26, 6),
    )
    r = api_client(people["anna"]).get(f"/api/v1/oncall/schedules/{s.pk}/ical?weeks=3")
    assert r.status_code == 200
    assert r["Content-Type"].startswith("text/calendar")
    cal = Calendar.from_ical(r.content)
    assert str(cal["X-WR-TIMEZONE"]) == "Europe/Berlin"
    events = sorted(cal.walk("VEVENT"), key=lambda e: e.decoded("dtstart"))
    got = [
        (e.decoded("dtstart"), e.decoded("dtend"), int(str(e["X-CASELINE-USER-ID"])))
        for e in events
    ]
    a, b, lead = people["anna"].pk, people["ben"].pk, people["lead"].pk
    assert got == [
        (utc(2026, 3, 23, 8), utc(2026, 3, 26, 0), a),  # the shift in progress, whole
        (utc(2026, 3, 26, 0), utc(2026, 3, 26, 6), lead),
        (utc(2026, 3, 26, 6), utc(2026, 3, 30, 7), a),  # handoff 09:00 CEST after the switch
        (utc(2026, 3, 30, 7), utc(2026, 4, 6, 7), b),
        (utc(2026, 4, 6, 7), utc(2026, 4, 13, 7), a),
        (utc(2026, 4, 13, 7), frozen + timedelta(weeks=3), b),
    ]
    assert len({str(e["UID"]) for e in events}) == len(events)
    # A calendar app re-fetching later sees the same events under the same UIDs.
    timesource.advance(3 * 3600)
    again = Calendar.from_ical(
        api_client(people["anna"]).get(f"/api/v1/oncall/schedules/{s.pk}/ical?weeks=3").content
    )
    first = {str(e["UID"]): (e.decoded("dtstart"), e.decoded("dtend")) for e in events}
    later = {
        str(e["UID"]): (e.decoded("dtstart"), e.decoded("dtend")) for e in again.walk("VEVENT")
    }
    assert set(first) <= set(later)
    changed = [uid for uid in first if first[uid] != later[uid]]
    # only the last event changes: the window's end moved with "now" (same UID: an update)
    assert changed == [str(events[-1]["UID"])]
    assert later[changed[0]][0] == first[changed[0]][0]
    assert "On call:" in str(events[0]["SUMMARY"])
    bad = api_client(people["anna"]).get(f"/api/v1/oncall/schedules/{s.pk}/ical?weeks=0")
    assert bad.status_code == 422


def test_secret_feed_url_works_without_a_token_and_dies_on_rotation(
    people, frozen, api_client, client
):
    s = emea_rota(people)
    # Reading agents may fetch the feed with their token, but only managers hand out URLs.
    denied = api_client(people["anna"]).post(f"/api/v1/oncall/schedules/{s.pk}/feed")
    assert denied.status_code == 403
    r = api_client(people["lead"]).post(f"/api/v1/oncall/schedules/{s.pk}/feed")
    assert r.status_code == 201, r.content
    path = r.json()["path"]
    assert r.json()["url"].endswith(path)
    secret = path.rsplit("/", 1)[1].removesuffix(".ics")
    s.refresh_from_db()
    assert secret not in s.feed_secret_hash and len(s.feed_secret_hash) == 64
    # A calendar app: no Authorization header at all.
    feed = client.get(path + "?weeks=2")
    assert feed.status_code == 200
    assert feed["Content-Type"].startswith("text/calendar")
    events = list(Calendar.from_ical(feed.content).walk("VEVENT"))
    token_feed = api_client(people["anna"]).get(f"/api/v1/oncall/schedules/{s.pk}/ical?weeks=2")
    assert len(events) == len(list(Calendar.from_ical(token_feed.content).walk("VEVENT"))) > 0
    assert client.get(path + "?weeks=99").status_code == 422
    # Wrong, malformed or rotated secrets look alike: 404, JSON envelope.
    assert client.get("/api/v1/oncall/feeds/" + "x" * 43 + ".ics").json()["error"]["code"] == (
        "not_found"
    )
    assert client.get("/api/v1/oncall/feeds/short.ics").status_code == 404
    again = api_client(people["lead"]).post(f"/api/v1/oncall/schedules/{s.pk}/feed")
    assert client.get(path).status_code == 404
    assert client.get(again.json()["path"]).status_code == 200
    # Revoked: no URL works; an inactive schedule publishes nothing either.
    assert (
        api_client(people["lead"]).delete(f"/api/v1/oncall/schedules/{s.pk}/feed").status_code
        == 204
    )
    assert client.get(again.json()["path"]).status_code == 404
    third = api_client(people["lead"]).post(f"/api/v1/oncall/schedules/{s.pk}/feed").json()["path"]
    services.update_schedule(s, actor=None, active=False)
    assert client.get(third).status_code == 404
    datas = list(
        AuditEvent.objects.filter(subject_type="oncall_schedule", subject_id=s.pk).values_list(
            "data", flat=True
        )
    )
    actions = [d["action"] for d in datas]
    assert actions.count("feed_secret_rotated") == 3 and "feed_secret_revoked" in actions
    # No secret ever reaches the audit trail.
    assert not any(secret in str(d) for d in datas)
