"""The calendar invitation of a call or visit (RFC 5545 / iTIP RFC 5546), built with the
``icalendar`` library: ``METHOD:REQUEST`` for an invitation or an update (same ``UID``,
higher ``SEQUENCE``), ``METHOD:CANCEL`` for a cancellation. Pure: it reads the values it
is given and touches no database."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from icalendar import Calendar, Event, vCalAddress, vText

PRODID = "-//Caseline//Escalation calls//EN"
REQUEST = "REQUEST"
CANCEL = "CANCEL"


@dataclass(frozen=True)
class Person:
    email: str
    name: str = ""


@dataclass(frozen=True)
class Invite:
    uid: str
    sequence: int
    summary: str
    description: str
    location: str
    starts_at: datetime
    ends_at: datetime
    organizer: Person
    attendees: tuple[Person, ...]
    stamp: datetime


def _address(person: Person, **params: str) -> vCalAddress:
    addr = vCalAddress(f"mailto:{person.email}")
    if person.name:
        addr.params["CN"] = vText(person.name)
    for key, value in params.items():
        addr.params[key] = vText(value)
    return addr


def build(invite: Invite, method: str = REQUEST, *, only: Iterable[str] | None = None) -> bytes:
    """The ``.ics`` bytes of ``invite``. ``method`` is ``REQUEST`` or ``CANCEL``; ``only``
    (emails) limits the ATTENDEE lines, e.g. to the people removed from a call."""
    if method not in (REQUEST, CANCEL):
        raise ValueError(f"unsupported iTIP method {method!r}")
    keep = {e.lower() for e in only} if only is not None else None
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)
    ev = Event()
    ev.add("uid", invite.uid)
    ev.add("sequence", invite.sequence)
    ev.add("dtstamp", invite.stamp)
    ev.add("dtstart", invite.starts_at)
    ev.add("dtend", invite.ends_at)
    ev.add("summary", invite.summary)
    if invite.description:
        ev.add("description", invite.description)
    if invite.location:
        ev.add("location", invite.location)
    ev.add("status", "CANCELLED" if method == CANCEL else "CONFIRMED")
    ev.add("transp", "OPAQUE")
    ev.add("organizer", _address(invite.organizer, ROLE="CHAIR"), encode=False)
    for person in invite.attendees:
        if keep is not None and person.email.lower() not in keep:
            continue
        ev.add(
            "attendee",
            _address(
                person,
                CUTYPE="INDIVIDUAL",
                ROLE="REQ-PARTICIPANT",
                PARTSTAT="NEEDS-ACTION",
                RSVP="TRUE" if method == REQUEST else "FALSE",
            ),
            encode=False,
        )
    cal.add_component(ev)
    return cal.to_ical()


def content_type(method: str) -> str:
    return f"text/calendar; method={method}"
