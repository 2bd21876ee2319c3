"""The iCal (RFC 5545) feed of a schedule's final shifts, built with ``icalendar``."""

from __future__ import annotations

from datetime import datetime, timedelta

from icalendar import Calendar, Event

from caseline.accounts.models import User
from caseline.timesource import now

from . import queries
from .models import Schedule

MAX_WEEKS = 26


def feed(schedule: Schedule, *, weeks: int = 4, start: datetime | None = None) -> bytes:
    """One VEVENT per person and shift of the final schedule (overrides applied) that is
    running at ``start`` (now) or begins in the ``weeks`` weeks after it. Times are UTC;
    the schedule's zone is named in X-WR-TIMEZONE for display.

    Subscribed calendars re-fetch the feed and match events by UID, so an event must not
    change between fetches: the schedule is computed from a fixed anchor (Monday 00:00 UTC
    of the week before ``start``), never from the request's instant, so a shift in progress
    keeps its real start (and its UID) -- only one that began before the anchor shows
    cut at the anchor, which moves once a week."""
    start = (start or now()).replace(microsecond=0)
    end = start + timedelta(weeks=weeks)
    day = start.replace(hour=0, minute=0, second=0)
    anchor = day - timedelta(days=day.weekday() + 7)
    segments = [s for s in queries.shifts(schedule, anchor, end) if s.end > start]
    ids = sorted({uid for seg in segments for uid in seg.user_ids})
    users = User.objects.in_bulk(ids)
    cal = Calendar()
    cal.add("prodid", "-//Caseline//On-call rota//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", f"On call: {schedule.name}")
    cal.add("x-wr-timezone", schedule.time_zone)
    stamp = now().replace(microsecond=0)
    for seg in segments:
        for uid in seg.user_ids:
            user = users.get(uid)
            if user is None:
                continue
            ev = Event()
            ev.add("uid", f"oncall-{schedule.pk}-{uid}-{int(seg.start.timestamp())}@caseline")
            ev.add("dtstamp", stamp)
            ev.add("dtstart", seg.start)
            ev.add("dtend", seg.end)
            who = str(user)
            ev.add("summary", f"On call: {who} ({schedule.name})")
            ev.add(
                "description",
                f"{who} <{user.email}> is on duty for {schedule.name} "
                f"({schedule.region.code}); source: {seg.source}.",
            )
            ev.add("categories", ["on-call", schedule.region.code])
            ev.add("x-caseline-user-id", str(uid))
            ev.add("x-caseline-source", seg.source)
            cal.add_component(ev)
    return cal.to_ical()
