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
    """One VEVENT per person and shift of the final schedule (overrides applied) from
    ``start`` (now) for ``weeks`` weeks. Times are UTC; the schedule's zone is named in
    X-WR-TIMEZONE for display."""
    start = (start or now()).replace(microsecond=0)
    end = start + timedelta(weeks=weeks)
    segments = queries.shifts(schedule, start, end)
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
