"""Post-mortem use-cases: the only code that changes learning state (docs/learning.md).

Each service is one transaction that appends its audit event (subject ``postmortem`` or
``root_cause_category``; published as a domain event) and writes its side effects as
outbox rows or timers in the same transaction. Timers (``caseline.sla.timers``, handlers
below, registered by importing this module from ``LearningConfig.ready()``):

* ``learning.review_reminder`` before the review meeting (key names the meeting's
  ``sequence``: moving the meeting cancels it and schedules the next one);
* ``learning.action_item_reminder`` before an action item's due time and
  ``learning.action_item_overdue`` at it (keys name the due time: moving the due date
  cancels the old pair and arms a new one; done / won't do cancels them).

A post-mortem is created when an escalation or an incident becomes resolved (domain
events ``escalation.status_changed`` / ``incident.status_changed``, handled inside the
publishing transaction: cheap writes only) or by hand (``create_postmortem``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction

from caseline.accounts.models import ProductArea, User
from caseline.audit.models import AuditEvent
from caseline.audit.services import record
from caseline.clock import BusinessCalendar, resolve
from caseline.errors import Conflict, NotFound, ValidationFailed
from caseline.events import DomainEvent
from caseline.notify.services import enqueue_email
from caseline.sla import timers
from caseline.sla.calendars import get_calendar
from caseline.tickets.models import Ticket
from caseline.timesource import now
from caseline.validate import aware as _aware
from caseline.validate import raise_if_any as _invalid
from caseline.validate import staff as _staff
from caseline.validate import text as _text

from .models import ActionItem, PostMortem, ReviewMeeting, RootCauseCategory, TimelineItem

S = PostMortem.Status
TRANSITIONS: dict[str, tuple[str, ...]] = {
    S.DRAFT: (S.IN_REVIEW, S.PUBLISHED),
    S.IN_REVIEW: (S.DRAFT, S.PUBLISHED),
    S.PUBLISHED: (),
}
SECTIONS = (
    "summary",
    "customer_impact",
    "root_cause",
    "contributing_factors",
    "went_well",
    "went_badly",
    "process_improvements",
)
REQUIRED_TO_PUBLISH = ("summary", "root_cause")
REVIEW_BUSINESS_DAYS = 5
DEFAULT_CALENDAR = "amer-business"
FALLBACK_CALENDAR = "24x7"
MEETING_OFFSET = timedelta(hours=2)  # after the day's opening
REVIEW_REMINDER_BEFORE = timedelta(hours=24)
ACTION_REMINDER_BEFORE = timedelta(hours=24)
MAX_PREFILL = 500
MAX_AHEAD = timedelta(days=3 * 365)

REVIEW_REMINDER_KIND = "learning.review_reminder"
ACTION_REMINDER_KIND = "learning.action_item_reminder"
ACTION_OVERDUE_KIND = "learning.action_item_overdue"


# --- helpers -----------------------------------------------------------------------------


def _staff_list(ids: Any, field: str, errors: dict[str, str]) -> list[User]:
    if not isinstance(ids, list) or any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
        errors[field] = "a list of staff user ids"
        return []
    users = {u.pk: u for u in User.objects.filter(pk__in=ids, kind=User.Kind.STAFF, is_active=True)}
    missing = [i for i in ids if i not in users]
    if missing:
        errors[field] = f"no such active staff users: {', '.join(map(str, missing))}"
    return [users[i] for i in dict.fromkeys(ids) if i in users]


def _rec(pm: PostMortem, event: str, actor: Any, **kw: Any) -> None:
    record(event, "postmortem", pm.pk, actor=actor, subject=pm, **kw)


def _lock(pm_id: int) -> PostMortem:
    pm = PostMortem.objects.select_for_update().filter(pk=pm_id).first()
    if pm is None:
        raise NotFound(f"no post-mortem PM-{pm_id}")
    return pm


def _require_editable(pm: PostMortem) -> None:
    if pm.status == S.PUBLISHED:
        raise Conflict(
            f"{pm.reference} is published",
            fields={"status": "published post-mortems are read-only"},
            code="postmortem_published",
        )


def _name(user: User | None) -> str:
    return str(user) if user is not None else "nobody"


def _fmt(at: datetime, tz: str = "UTC") -> str:
    return at.astimezone(ZoneInfo(tz)).strftime("%a %d %b %Y %H:%M %Z")


# --- business days -------------------------------------------------------------------------


def _midnight(tz: ZoneInfo, day: date) -> datetime:
    return datetime.fromtimestamp(resolve(tz, datetime(day.year, day.month, day.day)), UTC)


def review_window(
    calendar: BusinessCalendar, tz_name: str, resolved_at: datetime, *, days: int = 5
) -> tuple[datetime, datetime]:
    """(default meeting start, latest moment) for a review due within ``days`` business
    days after ``resolved_at``: a business day is a local date (in ``tz_name``) with any
    open time on ``calendar``; the ``days``-th one after the resolution's date is the
    deadline day; the latest moment is that day's close, the default start its opening
    plus two hours (earlier if the day is short, so a one-hour meeting fits)."""
    tz = ZoneInfo(tz_name)
    day = resolved_at.astimezone(tz).date()
    found = 0
    for _ in range(400):
        day += timedelta(days=1)
        start, end = _midnight(tz, day), _midnight(tz, day + timedelta(days=1))
        open_seconds = calendar.between(start, end)
        if open_seconds > 0:
            found += 1
            if found == days:
                opening = calendar.next_open(start)
                close = calendar.add(start, open_seconds)
                meeting = min(opening + MEETING_OFFSET, max(opening, close - timedelta(hours=1)))
                return meeting, close
    raise ValidationFailed("the calendar has no business days in the next year")


def _calendar_for(owner: User | None) -> tuple[str, BusinessCalendar, str]:
    """The owner's region calendar, else the seeded ``amer-business``, else 24x7."""
    names = []
    region = getattr(owner, "region", None) if owner is not None else None
    if region is not None and region.shift_calendar:
        names.append(region.shift_calendar)
    names += [DEFAULT_CALENDAR, FALLBACK_CALENDAR]
    for name in names:
        try:
            cal = get_calendar(name)
        except (NotFound, ValidationFailed):
            continue
        tz = getattr(cal, "tz", None) or (region.time_zone if region else "UTC")
        return name, cal, str(tz)
    raise NotFound("no calendar")  # pragma: no cover - 24x7 always exists


# --- subjects ----------------------------------------------------------------------------


def _escalation_model():
    from caseline.escalations.models import Escalation

    return Escalation


def _incident_model():
    from caseline.incidents.models import Incident

    return Incident


def _related(pm: PostMortem) -> tuple[list, list]:
    """(escalations, incidents) whose events belong in the timeline: the subjects, plus
    escalations and incidents sharing tickets with them."""
    Escalation, Incident = _escalation_model(), _incident_model()
    escs = {pm.escalation_id} - {None}
    incs = {pm.incident_id} - {None}
    if pm.incident_id:
        tids = Incident.tickets.through.objects.filter(incident_id=pm.incident_id).values(
            "ticket_id"
        )
        escs |= set(Escalation.objects.filter(tickets__in=tids).values_list("id", flat=True))
    if pm.escalation_id:
        tids = Escalation.tickets.through.objects.filter(escalation_id=pm.escalation_id).values(
            "ticket_id"
        )
        incs |= set(Incident.objects.filter(tickets__in=tids).values_list("id", flat=True))
    return sorted(escs), sorted(incs)


def _audit_text(ev: AuditEvent) -> str:
    text = ev.type
    if ev.field:
        text += f" — {ev.field}: {ev.old if ev.old is not None else '—'} → {ev.new}"
    note = (ev.data or {}).get("note") or (ev.data or {}).get("text")
    if isinstance(note, str) and note:
        text += f" — {note[:300]}"
    if ev.actor_label:
        text += f" ({ev.actor_label})"
    return text


def _prefill(pm: PostMortem) -> int:
    """Copy the subjects' (and linked subjects') events into the timeline; lines already
    copied (same ``source_ref``) are skipped. Returns how many were added."""
    escs, incs = _related(pm)
    have = set(pm.timeline.exclude(source_ref="").values_list("source_ref", flat=True))
    rows: list[TimelineItem] = []
    for esc_id in escs:
        evs = AuditEvent.objects.filter(subject_type="escalation", subject_id=esc_id).order_by(
            "id"
        )[:MAX_PREFILL]
        for ev in evs:
            ref = f"audit:{ev.pk}"
            if ref not in have:
                rows.append(
                    TimelineItem(
                        post_mortem=pm,
                        at=ev.at,
                        text=f"ESC-{esc_id}: {_audit_text(ev)}",
                        source="escalation",
                        source_ref=ref,
                    )
                )
    for inc_id in incs:
        try:
            from caseline.incidents.models import TimelineEntry
        except ImportError:  # pragma: no cover - the incidents core adds it
            TimelineEntry = None
        entries = (
            list(
                TimelineEntry.objects.filter(incident_id=inc_id).order_by("at", "id")[:MAX_PREFILL]
            )
            if TimelineEntry is not None
            else []
        )
        if entries:
            for e in entries:
                ref = f"incident-timeline:{e.pk}"
                if ref not in have:
                    pin = " [pinned]" if e.pinned else ""
                    rows.append(
                        TimelineItem(
                            post_mortem=pm,
                            at=e.at,
                            text=f"INC-{inc_id}: {e.text}{pin}",
                            source="incident",
                            source_ref=ref,
                        )
                    )
        else:
            evs = AuditEvent.objects.filter(subject_type="incident", subject_id=inc_id).order_by(
                "id"
            )[:MAX_PREFILL]
            for ev in evs:
                ref = f"audit:{ev.pk}"
                if ref not in have:
                    rows.append(
                        TimelineItem(
                            post_mortem=pm,
                            at=ev.at,
                            text=f"INC-{inc_id}: {_audit_text(ev)}",
                            source="incident",
                            source_ref=ref,
                        )
                    )
    TimelineItem.objects.bulk_create(rows)
    return len(rows)


def _subject_facts(esc=None, inc=None) -> dict[str, Any]:
    """Title, owner, root cause, product area, resolution time, attendees of a subject."""
    if esc is not None:
        area = esc.tickets.exclude(product_area=None).values_list("product_area", flat=True).first()
        internal = list(
            User.objects.filter(
                escalation_roles__escalation=esc, escalation_roles__renounced_at__isnull=True
            ).distinct()
        )
        return {
            "title": f"{esc.reference}: {esc.title}",
            "owner": esc.owner,
            "root_cause": esc.root_cause,
            "impact": esc.business_impact,
            "area": area,
            "resolved_at": esc.resolved_at,
            "people": [u for u in [esc.owner, *internal] if u is not None],
        }
    area = inc.product_areas.values_list("id", flat=True).first()
    owner = inc.incident_manager or inc.case_owner
    people = [owner, inc.case_owner]
    try:
        from caseline.incidents.models import IncidentRole

        people += [
            r.user for r in IncidentRole.objects.filter(incident=inc, renounced_at__isnull=True)
        ]
    except ImportError:  # pragma: no cover
        pass
    return {
        "title": f"{inc.reference}: {inc.title}",
        "owner": owner,
        "root_cause": getattr(inc, "root_cause", "") or "",
        "impact": inc.summary,
        "area": area,
        "resolved_at": inc.resolved_at,
        "people": [u for u in people if u is not None],
    }


def _unique_users(users: list[User]) -> list[User]:
    seen: dict[int, User] = {}
    for u in users:
        if u.is_active and u.kind == User.Kind.STAFF:
            seen.setdefault(u.pk, u)
    return list(seen.values())


def _create(actor: Any, *, esc=None, inc=None) -> PostMortem:
    facts = _subject_facts(esc, inc)
    at = now()
    resolved_at = facts["resolved_at"] or at
    pm = PostMortem.objects.create(
        escalation=esc,
        incident=inc,
        title=facts["title"][:300],
        root_cause=facts["root_cause"],
        customer_impact=facts["impact"],
        product_area_id=facts["area"],
        resolved_at=resolved_at,
        created_by=actor if isinstance(actor, User) else None,
        created_at=at,
        updated_at=at,
    )
    if facts["owner"] is not None:
        pm.authors.add(facts["owner"])
    added = _prefill(pm)
    _rec(
        pm,
        "postmortem.created",
        actor,
        at=at,
        data={
            "escalation_id": pm.escalation_id,
            "incident_id": pm.incident_id,
            "timeline_entries": added,
        },
    )
    _schedule_review(pm, facts["owner"], _unique_users(facts["people"]), resolved_at, actor)
    return pm


def _attach(pm: PostMortem, actor: Any, *, esc=None, inc=None) -> PostMortem:
    """A second subject joins an existing post-mortem (an escalation and an incident that
    share tickets get one post-mortem)."""
    if esc is not None:
        pm.escalation = esc
    if inc is not None:
        pm.incident = inc
    facts = _subject_facts(esc, inc)
    if not pm.root_cause and facts["root_cause"]:
        pm.root_cause = facts["root_cause"]
    pm.updated_at = now()
    pm.save()
    added = _prefill(pm)
    review = getattr(pm, "review", None)
    if review is not None:
        new = [u for u in _unique_users(facts["people"]) if u not in review.attendees.all()]
        review.attendees.add(*new)
    _rec(
        pm,
        "postmortem.subject_linked",
        actor,
        data={"escalation_id": pm.escalation_id, "incident_id": pm.incident_id, "added": added},
    )
    return pm


def _for_subject(actor: Any, *, esc=None, inc=None) -> PostMortem | None:
    """The post-mortem of a just-resolved subject: the existing one (root cause filled if
    empty), a linked subject's open one (joined), or a new one."""
    existing = PostMortem.objects.filter(
        **({"escalation": esc} if esc is not None else {"incident": inc})
    ).first()
    if existing is not None:
        if esc is not None and esc.root_cause and not existing.root_cause:
            existing.root_cause = esc.root_cause
            existing.save(update_fields=["root_cause"])
        return existing
    Escalation, Incident = _escalation_model(), _incident_model()
    if esc is not None:
        tids = Escalation.tickets.through.objects.filter(escalation_id=esc.pk).values("ticket_id")
        linked = PostMortem.objects.filter(
            escalation__isnull=True,
            incident__in=Incident.objects.filter(tickets__in=tids),
        ).exclude(status=S.PUBLISHED)
    else:
        tids = Incident.tickets.through.objects.filter(incident_id=inc.pk).values("ticket_id")
        linked = PostMortem.objects.filter(
            incident__isnull=True,
            escalation__in=Escalation.objects.filter(tickets__in=tids),
        ).exclude(status=S.PUBLISHED)
    other = linked.select_for_update().order_by("id").first()
    if other is not None:
        return _attach(other, actor, esc=esc, inc=inc)
    return _create(actor, esc=esc, inc=inc)


def _new_status(event: DomainEvent) -> str | None:
    change = (event.data.get("changes") or {}).get("status")
    if isinstance(change, (list, tuple)) and len(change) == 2:
        return change[1]
    return event.data.get("to") or event.data.get("status")


def _event_actor(event: DomainEvent) -> User | None:
    return User.objects.filter(pk=event.actor_id).first() if event.actor_id else None


def on_escalation_status_changed(event: DomainEvent) -> None:
    """Subscriber: an escalation became resolved -> its post-mortem and review meeting."""
    if _new_status(event) != "resolved":
        return
    esc = event.subject
    if esc is None or getattr(esc, "pk", None) != event.subject_id:
        esc = _escalation_model().objects.filter(pk=event.subject_id).first()
    if esc is None or esc.status != "resolved":
        return
    _for_subject(_event_actor(event), esc=esc)


def on_incident_status_changed(event: DomainEvent) -> None:
    """Subscriber: an incident became resolved -> its post-mortem and review meeting."""
    status = _new_status(event)
    inc = event.subject
    if inc is None or getattr(inc, "pk", None) != event.subject_id:
        inc = _incident_model().objects.filter(pk=event.subject_id).first()
    if inc is None or inc.status != "resolved" or status not in (None, "resolved"):
        return
    _for_subject(_event_actor(event), inc=inc)


def create_postmortem(
    actor: Any, *, escalation_id: int | None = None, incident_id: int | None = None
) -> PostMortem:
    """By hand: the post-mortem of a resolved (or closed) escalation or incident (409
    ``postmortem_exists`` when it has one)."""
    errors: dict[str, str] = {}
    if (escalation_id is None) == (incident_id is None):
        errors["escalation_id"] = "give exactly one of escalation_id and incident_id"
    _invalid(errors)
    with transaction.atomic():
        if escalation_id is not None:
            subj = _escalation_model().objects.select_for_update().filter(pk=escalation_id).first()
            field = "escalation_id"
        else:
            subj = _incident_model().objects.select_for_update().filter(pk=incident_id).first()
            field = "incident_id"
        if subj is None:
            raise ValidationFailed("the request is not valid", fields={field: "not found"})
        if subj.status not in ("resolved", "closed"):
            raise ValidationFailed(
                "the request is not valid", fields={field: f"{subj.reference} is not resolved"}
            )
        key = "escalation" if escalation_id is not None else "incident"
        existing = PostMortem.objects.filter(**{key: subj}).first()
        if existing is not None:
            raise Conflict(
                f"{subj.reference} has a post-mortem",
                fields={"postmortem_id": existing.pk},
                code="postmortem_exists",
            )
        return _create(actor, **({"esc": subj} if key == "escalation" else {"inc": subj}))


# --- review meeting ------------------------------------------------------------------------


def _review_ics(meeting: ReviewMeeting, pm: PostMortem, people: list[User]) -> str:
    """The review's calendar invitation (``.ics``, METHOD:REQUEST, stable UID, SEQUENCE =
    the meeting's) written to default storage; the outbox row attaches it by path."""
    import hashlib
    from email.utils import parseaddr

    from django.conf import settings
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from caseline.escalations import ics

    owner = pm.authors.order_by("id").first()
    if owner is not None and owner.email:
        organizer = ics.Person(owner.email, str(owner))
    else:
        name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
        organizer = ics.Person(address, name or "Caseline")
    data = ics.build(
        ics.Invite(
            uid=f"postmortem-review-{meeting.pk}@caseline",
            sequence=meeting.sequence,
            summary=f"[{pm.reference}] Post-mortem review: {pm.title}",
            description=f"Review of {pm.reference}. Due by {meeting.latest_at:%Y-%m-%d %H:%M} UTC.",
            location=meeting.location,
            starts_at=meeting.scheduled_at,
            ends_at=meeting.scheduled_at + timedelta(minutes=meeting.duration_minutes),
            organizer=organizer,
            attendees=tuple(ics.Person(u.email, str(u)) for u in people),
            stamp=now(),
        ),
        ics.REQUEST,
    )
    digest = hashlib.sha256(data).hexdigest()[:16]
    name = f"learning/reviews/{meeting.pk}/s{meeting.sequence}-{digest}.ics"
    if default_storage.exists(name) and default_storage.size(name) == len(data):
        return name
    return default_storage.save(name, ContentFile(data))


def _review_emails(meeting: ReviewMeeting, pm: PostMortem, what: str, tz: str) -> None:
    people = [u for u in meeting.attendees.order_by("id") if u.email]
    to = sorted({u.email for u in people})
    if not to:
        return
    start = meeting.scheduled_at
    lines = [
        f"Post-mortem review: {pm.title}",
        "",
        f"When: {_fmt(start, tz)} ({meeting.duration_minutes} min)",
        f"Latest date allowed: {_fmt(meeting.latest_at, tz)}",
    ]
    if meeting.location:
        lines.append(f"Where: {meeting.location}")
    if meeting.move_reason and what != "invitation":
        lines.append(f"Why it moved: {meeting.move_reason}")
    lines.append(f"Post-mortem: /postmortems/{pm.pk}/")
    attachments = None
    if what in ("invitation", "update"):
        lines += ["", "The calendar invitation is attached (invite.ics)."]
        attachments = [
            {
                "filename": "invite.ics",
                "content_type": "text/calendar; method=REQUEST",
                "path": _review_ics(meeting, pm, people),
            }
        ]
    enqueue_email(
        key=f"pm-review:{meeting.pk}:{meeting.sequence}:{what}",
        to=to,
        subject=f"[{pm.reference}] Post-mortem review {what}: {_fmt(start, tz)}",
        text="\n".join(lines) + "\n",
        subject_type="postmortem",
        subject_id=pm.pk,
        attachments=attachments,
    )


def _arm_review_reminder(meeting: ReviewMeeting, pm: PostMortem) -> None:
    at = now()
    remind_at = meeting.scheduled_at - REVIEW_REMINDER_BEFORE
    if remind_at <= at:
        remind_at = meeting.scheduled_at - timedelta(hours=1)
    if remind_at <= at:
        return
    timers.schedule(
        REVIEW_REMINDER_KIND,
        "postmortem",
        pm.pk,
        remind_at,
        f"pm-review:{meeting.pk}:{meeting.sequence}:reminder",
        {"meeting": meeting.pk, "sequence": meeting.sequence},
    )


def _schedule_review(
    pm: PostMortem, owner: User | None, attendees: list[User], resolved_at: datetime, actor: Any
) -> ReviewMeeting:
    name, cal, tz = _calendar_for(owner)
    start, latest = review_window(cal, tz, resolved_at, days=REVIEW_BUSINESS_DAYS)
    meeting = ReviewMeeting.objects.create(
        post_mortem=pm, scheduled_at=start, latest_at=latest, calendar=name, created_at=now()
    )
    meeting.attendees.add(*attendees)
    _review_emails(meeting, pm, "invitation", tz)
    _arm_review_reminder(meeting, pm)
    _rec(
        pm,
        "postmortem.review_scheduled",
        actor,
        data={
            "scheduled_at": start,
            "latest_at": latest,
            "calendar": name,
            "attendees": [u.pk for u in attendees],
        },
    )
    return meeting


def move_review(
    pm_id: int,
    actor: Any,
    *,
    scheduled_at: Any = None,
    reason: Any = None,
    attendee_ids: Any = None,
    location: Any = None,
    duration_minutes: Any = None,
) -> ReviewMeeting:
    """Move the review meeting or change its attendees / place. A date after the 5
    business-day limit needs a ``reason`` (422 otherwise); a date in the past is refused.
    A change re-sends the invitation (raised ``sequence``) and re-arms the reminder."""
    errors: dict[str, str] = {}
    new_at = _aware(scheduled_at, "scheduled_at", errors) if scheduled_at is not None else None
    why = _text(reason, "reason", errors, limit=2000)
    people = _staff_list(attendee_ids, "attendee_ids", errors) if attendee_ids is not None else None
    place = _text(location, "location", errors, limit=500) if location is not None else None
    if duration_minutes is not None and (
        isinstance(duration_minutes, bool)
        or not isinstance(duration_minutes, int)
        or not 15 <= duration_minutes <= 480
    ):
        errors["duration_minutes"] = "15 to 480"
    _invalid(errors)
    with transaction.atomic():
        pm = _lock(pm_id)
        meeting = ReviewMeeting.objects.select_for_update().filter(post_mortem=pm).first()
        if meeting is None:
            raise NotFound(f"{pm.reference} has no review meeting")
        at = now()
        changes: dict[str, tuple[Any, Any]] = {}
        if new_at is not None and new_at != meeting.scheduled_at:
            if new_at <= at:
                errors["scheduled_at"] = "must be in the future"
            elif new_at > at + MAX_AHEAD:
                errors["scheduled_at"] = "too far ahead"
            elif new_at > meeting.latest_at and not why:
                errors["reason"] = (
                    f"the review is due by {meeting.latest_at.isoformat()} "
                    "(5 business days after resolution): give a reason to move it later"
                )
            _invalid(errors)
            changes["scheduled_at"] = (meeting.scheduled_at, new_at)
            meeting.scheduled_at = new_at
            meeting.move_reason = why
        if place is not None and place != meeting.location:
            changes["location"] = (meeting.location, place)
            meeting.location = place
        if duration_minutes is not None and duration_minutes != meeting.duration_minutes:
            changes["duration_minutes"] = (meeting.duration_minutes, duration_minutes)
            meeting.duration_minutes = duration_minutes
        if people is not None:
            old = sorted(meeting.attendees.values_list("id", flat=True))
            if old != sorted(u.pk for u in people):
                changes["attendees"] = (old, sorted(u.pk for u in people))
                meeting.attendees.set(people)
        if not changes:
            return meeting
        timers.cancel(f"pm-review:{meeting.pk}:{meeting.sequence}:reminder")
        meeting.sequence += 1
        meeting.reminded_at = None
        meeting.save()
        tz = str(getattr(_safe_calendar(meeting.calendar), "tz", "UTC") or "UTC")
        _review_emails(meeting, pm, "update", tz)
        _arm_review_reminder(meeting, pm)
        _rec(pm, "postmortem.review_moved", actor, at=at, changes=changes, data={"reason": why})
    return meeting


def _safe_calendar(name: str):
    try:
        return get_calendar(name)
    except (NotFound, ValidationFailed):
        return None


@timers.handler(REVIEW_REMINDER_KIND)
def review_reminder(timer) -> None:
    meeting = (
        ReviewMeeting.objects.select_related("post_mortem")
        .filter(pk=timer.payload.get("meeting"))
        .first()
    )
    if meeting is None or meeting.sequence != timer.payload.get("sequence"):
        return
    pm = meeting.post_mortem
    meeting.reminded_at = now()
    meeting.save(update_fields=["reminded_at"])
    tz = str(getattr(_safe_calendar(meeting.calendar), "tz", "UTC") or "UTC")
    _review_emails(meeting, pm, "reminder", tz)
    _rec(pm, "postmortem.review_reminded", None, data={"scheduled_at": meeting.scheduled_at})


# --- the post-mortem -----------------------------------------------------------------------


def update_postmortem(pm_id: int, actor: Any, **fields: Any) -> PostMortem:
    """Edit title, sections, ``root_cause_category_id``, ``product_area_id``,
    ``author_ids`` (409 once published)."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    known = {*SECTIONS, "title", "root_cause_category_id", "product_area_id", "author_ids"}
    for key in fields:
        if key not in known:
            errors[key] = "unknown field"
    if "title" in fields:
        values["title"] = _text(fields["title"], "title", errors, limit=300, required=True)
    for key in SECTIONS:
        if key in fields:
            values[key] = _text(fields[key], key, errors, limit=50000)
    if "root_cause_category_id" in fields:
        cid = fields["root_cause_category_id"]
        cat = None
        if cid is not None:
            ok = isinstance(cid, int) and not isinstance(cid, bool)
            cat = RootCauseCategory.objects.filter(pk=cid, active=True).first() if ok else None
            if cat is None:
                errors["root_cause_category_id"] = "no such active root-cause category"
        values["root_cause_category"] = cat
    if "product_area_id" in fields:
        aid = fields["product_area_id"]
        area = None
        if aid is not None:
            ok = isinstance(aid, int) and not isinstance(aid, bool)
            area = ProductArea.objects.filter(pk=aid).first() if ok else None
            if area is None:
                errors["product_area_id"] = "no such product area"
        values["product_area"] = area
    authors = (
        _staff_list(fields["author_ids"], "author_ids", errors) if "author_ids" in fields else None
    )
    _invalid(errors)
    with transaction.atomic():
        pm = _lock(pm_id)
        _require_editable(pm)
        changes: dict[str, tuple[Any, Any]] = {}
        for key, value in values.items():
            old = getattr(pm, key)
            if old != value:
                changes[key] = (
                    (str(old) if old is not None else None, str(value) if value else None)
                    if key in ("root_cause_category", "product_area")
                    else (
                        old if len(str(old)) < 200 else "…",
                        value if len(str(value)) < 200 else "…",
                    )
                )
                setattr(pm, key, value)
        if authors is not None:
            old_ids = sorted(pm.authors.values_list("id", flat=True))
            new_ids = sorted(u.pk for u in authors)
            if old_ids != new_ids:
                pm.authors.set(authors)
                changes["authors"] = (old_ids, new_ids)
        if changes:
            pm.updated_at = now()
            pm.save()
            _rec(pm, "postmortem.updated", actor, changes=changes)
    return pm


def set_status(pm_id: int, actor: Any, status: Any) -> PostMortem:
    """draft <-> in_review -> published (also draft -> published). Publishing needs a
    summary, a root cause and a root-cause category (422 naming the missing ones)."""
    if status not in TRANSITIONS:
        raise ValidationFailed(
            "unknown status", fields={"status": f"one of {', '.join(TRANSITIONS)}"}
        )
    with transaction.atomic():
        pm = _lock(pm_id)
        old = pm.status
        if status == old:
            return pm
        if status not in TRANSITIONS[old]:
            allowed = ", ".join(TRANSITIONS[old]) or "no further moves (published)"
            raise Conflict(
                f"a post-mortem cannot move from {old} to {status}",
                fields={"status": f"from {old}: {allowed}"},
                code="illegal_transition",
            )
        if status == S.PUBLISHED:
            errors = {f: "required to publish" for f in REQUIRED_TO_PUBLISH if not getattr(pm, f)}
            if pm.root_cause_category_id is None:
                errors["root_cause_category_id"] = "required to publish"
            _invalid(errors, "the post-mortem is not complete")
        at = now()
        pm.status = status
        pm.updated_at = at
        if status == S.IN_REVIEW:
            pm.review_requested_at = at
        if status == S.PUBLISHED:
            pm.published_at = at
            pm.published_by = actor if isinstance(actor, User) else None
        pm.save()
        _rec(pm, "postmortem.status_changed", actor, at=at, changes={"status": (old, status)})
    return pm


def publish(pm_id: int, actor: Any) -> PostMortem:
    return set_status(pm_id, actor, S.PUBLISHED)


# --- timeline ----------------------------------------------------------------------------


def add_timeline_item(pm_id: int, actor: Any, *, at: Any, text: Any) -> TimelineItem:
    errors: dict[str, str] = {}
    when = _aware(at, "at", errors)
    body = _text(text, "text", errors, limit=5000, required=True)
    _invalid(errors)
    with transaction.atomic():
        pm = _lock(pm_id)
        _require_editable(pm)
        item = TimelineItem.objects.create(post_mortem=pm, at=when, text=body, source="manual")
        _rec(pm, "postmortem.timeline_changed", actor, data={"added": item.pk, "text": body[:300]})
    return item


def _item(pm_id: int, item_id: int) -> TimelineItem:
    item = TimelineItem.objects.filter(pk=item_id, post_mortem_id=pm_id).first()
    if item is None:
        raise NotFound(f"no timeline entry {item_id} in PM-{pm_id}")
    return item


def edit_timeline_item(
    pm_id: int, item_id: int, actor: Any, *, at: Any = None, text: Any = None
) -> TimelineItem:
    errors: dict[str, str] = {}
    when = _aware(at, "at", errors) if at is not None else None
    body = _text(text, "text", errors, limit=5000, required=True) if text is not None else None
    _invalid(errors)
    with transaction.atomic():
        pm = _lock(pm_id)
        item = _item(pm_id, item_id)
        _require_editable(pm)
        changes: dict[str, tuple[Any, Any]] = {}
        if when is not None and when != item.at:
            changes["at"] = (item.at, when)
            item.at = when
        if body is not None and body != item.text:
            changes["text"] = (item.text[:300], body[:300])
            item.text = body
        if changes:
            item.save()
            _rec(pm, "postmortem.timeline_changed", actor, changes=changes, data={"item": item.pk})
    return item


def delete_timeline_item(pm_id: int, item_id: int, actor: Any) -> None:
    with transaction.atomic():
        pm = _lock(pm_id)
        item = _item(pm_id, item_id)
        _require_editable(pm)
        text = item.text
        item.delete()
        _rec(
            pm,
            "postmortem.timeline_changed",
            actor,
            data={"removed": item_id, "text": text[:300]},
        )


def refill_timeline(pm_id: int, actor: Any) -> int:
    """Copy events that happened since (or were missed): lines already copied are kept."""
    with transaction.atomic():
        pm = _lock(pm_id)
        _require_editable(pm)
        added = _prefill(pm)
        if added:
            _rec(pm, "postmortem.timeline_changed", actor, data={"refilled": added})
    return added


# --- action items --------------------------------------------------------------------------


def _action_keys(item: ActionItem) -> tuple[str, str]:
    stamp = int(item.due_at.timestamp())
    return (f"pm-action:{item.pk}:{stamp}:reminder", f"pm-action:{item.pk}:{stamp}:overdue")


def _arm_action(item: ActionItem) -> None:
    reminder, overdue = _action_keys(item)
    payload = {"due": int(item.due_at.timestamp())}
    remind_at = item.due_at - ACTION_REMINDER_BEFORE
    if remind_at > now():
        timers.schedule(
            ACTION_REMINDER_KIND, "pm_action_item", item.pk, remind_at, reminder, payload
        )
    timers.schedule(ACTION_OVERDUE_KIND, "pm_action_item", item.pk, item.due_at, overdue, payload)


def _disarm_action(item: ActionItem) -> None:
    for key in _action_keys(item):
        timers.cancel(key)


def _ticket(ticket_id: Any, errors: dict[str, str]) -> Ticket | None:
    if ticket_id is None:
        return None
    ok = isinstance(ticket_id, int) and not isinstance(ticket_id, bool)
    ticket = Ticket.objects.filter(pk=ticket_id).first() if ok else None
    if ticket is None:
        errors["ticket_id"] = "no such ticket"
    return ticket


def add_action_item(
    pm_id: int,
    actor: Any,
    *,
    what: Any,
    owner_id: Any,
    due_at: Any,
    ticket_id: Any = None,
) -> ActionItem:
    errors: dict[str, str] = {}
    text = _text(what, "what", errors, limit=500, required=True)
    owner = _staff(owner_id, "owner_id", errors)
    due = _aware(due_at, "due_at", errors)
    ticket = _ticket(ticket_id, errors)
    if due is not None and not (now() < due <= now() + MAX_AHEAD):
        errors["due_at"] = "in the future (at most 3 years ahead)"
    _invalid(errors)
    with transaction.atomic():
        pm = _lock(pm_id)
        at = now()
        item = ActionItem.objects.create(
            post_mortem=pm,
            what=text,
            owner=owner,
            due_at=due,
            ticket=ticket,
            created_by=actor if isinstance(actor, User) else None,
            created_at=at,
            updated_at=at,
        )
        _arm_action(item)
        _rec(
            pm,
            "postmortem.action_item_added",
            actor,
            at=at,
            data={"item": item.pk, "what": text, "owner": owner.pk, "due_at": due},
        )
    return item


def _action(item_id: int) -> ActionItem:
    item = ActionItem.objects.select_for_update().filter(pk=item_id).first()
    if item is None:
        raise NotFound(f"no action item {item_id}")
    return item


def update_action_item(item_id: int, actor: Any, **fields: Any) -> ActionItem:
    """Change ``what``, ``owner_id``, ``due_at`` (re-arms the reminders), ``ticket_id``,
    ``status`` (``done`` / ``open`` / ``wont_do`` — the last needs a ``reason``)."""
    errors: dict[str, str] = {}
    known = {"what", "owner_id", "due_at", "ticket_id", "status", "reason"}
    for key in fields:
        if key not in known:
            errors[key] = "unknown field"
    values: dict[str, Any] = {}
    if "what" in fields:
        values["what"] = _text(fields["what"], "what", errors, limit=500, required=True)
    if "owner_id" in fields:
        values["owner"] = _staff(fields["owner_id"], "owner_id", errors)
    if "due_at" in fields:
        due = _aware(fields["due_at"], "due_at", errors)
        if due is not None and due > now() + MAX_AHEAD:
            errors["due_at"] = "at most 3 years ahead"
        values["due_at"] = due
    if "ticket_id" in fields:
        values["ticket"] = _ticket(fields["ticket_id"], errors)
    reason = _text(fields.get("reason"), "reason", errors, limit=2000)
    status = fields.get("status")
    if status is not None and status not in ActionItem.Status.values:
        errors["status"] = f"one of {', '.join(ActionItem.Status.values)}"
    if status == ActionItem.Status.WONT_DO and not reason:
        errors["reason"] = "say why it will not be done"
    _invalid(errors)
    with transaction.atomic():
        item = _action(item_id)
        pm = _lock(item.post_mortem_id)
        at = now()
        changes: dict[str, tuple[Any, Any]] = {}
        old_due = item.due_at
        was_open = item.status == ActionItem.Status.OPEN
        for key, value in values.items():
            old = getattr(item, key)
            if old != value:
                changes[key] = (
                    (getattr(old, "pk", old), getattr(value, "pk", value))
                    if key in ("owner", "ticket")
                    else (old, value)
                )
                setattr(item, key, value)
        if status is not None and status != item.status:
            changes["status"] = (item.status, status)
            item.status = status
            item.done_at = at if status == ActionItem.Status.DONE else None
            item.reason = reason if status == ActionItem.Status.WONT_DO else ""
        if not changes:
            return item
        now_open = item.status == ActionItem.Status.OPEN
        if "due_at" in changes or was_open != now_open:
            if was_open:
                moved = ActionItem(pk=item.pk, due_at=old_due)
                _disarm_action(moved)
            if now_open:
                if "due_at" in changes:
                    item.reminded_at = None
                    item.overdue_at = None
                _arm_action(item)
        item.updated_at = at
        item.save()
        _rec(
            pm,
            "postmortem.action_item_changed",
            actor,
            at=at,
            changes=changes,
            data={"item": item.pk, **({"reason": reason} if reason else {})},
        )
    return item


def delete_action_item(item_id: int, actor: Any) -> None:
    with transaction.atomic():
        item = _action(item_id)
        pm = _lock(item.post_mortem_id)
        if item.status == ActionItem.Status.OPEN:
            _disarm_action(item)
        what = item.what
        item.delete()
        _rec(pm, "postmortem.action_item_changed", actor, data={"removed": item_id, "what": what})


def _pending_item(timer) -> ActionItem | None:
    item = (
        ActionItem.objects.select_related("post_mortem", "owner")
        .filter(pk=timer.subject_id)
        .first()
    )
    if item is None or item.status != ActionItem.Status.OPEN:
        return None
    if int(item.due_at.timestamp()) != timer.payload.get("due"):
        return None  # the due date moved: a newer timer carries it
    return item


def _action_mail(item: ActionItem, what: str) -> None:
    if not item.owner.email:
        return
    pm = item.post_mortem
    due = _fmt(item.due_at)
    subject = (
        f"[{pm.reference}] Action item due {due}: {item.what}"
        if what == "reminder"
        else f"[{pm.reference}] Action item OVERDUE: {item.what}"
    )
    enqueue_email(
        key=f"pm-action:{item.pk}:{int(item.due_at.timestamp())}:{what}",
        to=[item.owner.email],
        subject=subject[:250],
        text=(
            f"{item.what}\n\nDue: {due}\nPost-mortem: {pm.title} (/postmortems/{pm.pk}/)\n"
            "Mark it done (or won't do, with a reason) when it is.\n"
        ),
        subject_type="postmortem",
        subject_id=pm.pk,
    )


@timers.handler(ACTION_REMINDER_KIND)
def action_item_reminder(timer) -> None:
    item = _pending_item(timer)
    if item is None:
        return
    item.reminded_at = now()
    item.save(update_fields=["reminded_at"])
    _action_mail(item, "reminder")
    _rec(
        item.post_mortem,
        "postmortem.action_item_reminded",
        None,
        data={"item": item.pk, "owner": item.owner_id, "due_at": item.due_at},
    )


@timers.handler(ACTION_OVERDUE_KIND)
def action_item_overdue(timer) -> None:
    item = _pending_item(timer)
    if item is None:
        return
    item.overdue_at = now()
    item.save(update_fields=["overdue_at"])
    _action_mail(item, "overdue")
    _rec(
        item.post_mortem,
        "postmortem.action_item_overdue",
        None,
        data={"item": item.pk, "owner": item.owner_id, "due_at": item.due_at},
    )


# --- root-cause categories -----------------------------------------------------------------


def create_category(actor: Any, *, name: Any, description: Any = "", position: Any = 100):
    errors: dict[str, str] = {}
    label = _text(name, "name", errors, limit=100, required=True)
    desc = _text(description, "description", errors, limit=2000)
    if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position <= 1000:
        errors["position"] = "0 to 1000"
    if label and RootCauseCategory.objects.filter(name__iexact=label).exists():
        errors["name"] = "already exists"
    _invalid(errors)
    with transaction.atomic():
        cat = RootCauseCategory.objects.create(name=label, description=desc, position=position)
        record(
            "root_cause_category.changed",
            "root_cause_category",
            cat.pk,
            actor=actor,
            data={"created": label},
        )
    return cat


def update_category(category_id: int, actor: Any, **fields: Any) -> RootCauseCategory:
    errors: dict[str, str] = {}
    for key in fields:
        if key not in ("name", "description", "active", "position"):
            errors[key] = "unknown field"
    values: dict[str, Any] = {}
    if "name" in fields:
        values["name"] = _text(fields["name"], "name", errors, limit=100, required=True)
    if "description" in fields:
        values["description"] = _text(fields["description"], "description", errors, limit=2000)
    if "active" in fields:
        if not isinstance(fields["active"], bool):
            errors["active"] = "true or false"
        values["active"] = fields["active"]
    if "position" in fields:
        p = fields["position"]
        if isinstance(p, bool) or not isinstance(p, int) or not 0 <= p <= 1000:
            errors["position"] = "0 to 1000"
        values["position"] = p
    _invalid(errors)
    with transaction.atomic():
        cat = RootCauseCategory.objects.select_for_update().filter(pk=category_id).first()
        if cat is None:
            raise NotFound(f"no root-cause category {category_id}")
        if (
            "name" in values
            and RootCauseCategory.objects.filter(name__iexact=values["name"])
            .exclude(pk=cat.pk)
            .exists()
        ):
            raise ValidationFailed("the request is not valid", fields={"name": "already exists"})
        changes = {k: (getattr(cat, k), v) for k, v in values.items() if getattr(cat, k) != v}
        if changes:
            for k, (_, v) in changes.items():
                setattr(cat, k, v)
            cat.save()
            record(
                "root_cause_category.changed",
                "root_cause_category",
                cat.pk,
                actor=actor,
                changes=changes,
            )
    return cat
