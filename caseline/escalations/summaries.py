"""Executive summaries of escalations (docs/escalations.md, "Executive summaries").

A summary is generated from the escalation's records and timeline: status, customer
impact, what changed since the last sent summary (the escalation's audit events since
then, in words), next steps, risks, commitments with their dates, slips since the last
summary and the people engaged. :func:`load` reads those records; :func:`assemble` is a
pure function of them (no queries) that returns the facts; :func:`render` turns the facts
into a subject, text and HTML (templates ``escalations/summary_body.{txt,html}``).

Rows: :class:`~.models.ExecutiveSummary` (at most one ``draft`` per escalation, then
``sent``, every sent one kept) and :class:`~.models.SummarySchedule` (daily at a local
time). The schedule is two rows of the one timer table per occurrence, fired by the clock
loop:

* ``escalation.summary_draft`` at send time minus ``lead_minutes``: the draft is generated
  (or refreshed while nobody edited it) and the owner is told it can be edited;
* ``escalation.summary_send`` at the send time: the current draft (edited or not) goes to
  the internal stakeholders through the outbox and the next day's occurrence is armed.

Keys name the schedule's occurrence (``esc-summary:<escalation>:<occurrence>:send``); a
timer of a replaced occurrence finds the schedule moved on and does nothing. Resolving or
closing the escalation cancels the pending timers (a subscriber of
``escalation.status_changed``); reopening re-arms them.

Lock order (PostgreSQL): timer rows, then the schedule row, then summary rows; services
lock the escalation first and never take a timer row after a schedule or summary row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction
from django.template.loader import render_to_string

from caseline.accounts.models import User
from caseline.errors import Conflict, NotFound, ValidationFailed
from caseline.sla import timers
from caseline.timesource import now

from . import services
from .models import (
    Cadence,
    Commitment,
    CommitmentSlip,
    Escalation,
    ExecutiveSummary,
    Stakeholder,
    SummarySchedule,
)

DRAFT_KIND = "escalation.summary_draft"
SEND_KIND = "escalation.summary_send"
SUMMARY_KINDS = (DRAFT_KIND, SEND_KIND)
DEFAULT_SEND_TIME = time(17, 0)
DEFAULT_LEAD_MINUTES = 60
MAX_LEAD_MINUTES = 12 * 60
# Our own events are not "what changed" in the next summary.
SUMMARY_EVENTS = (
    "escalation.summary_schedule_set",
    "escalation.summary_generated",
    "escalation.summary_edited",
    "escalation.summary_sent",
    "escalation.update_reminded",
)
D = ExecutiveSummary.Status


# --- time: the owner's zone and "17:00 local" each day ------------------------------------


def _valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def zone_for(esc: Escalation, schedule: SummarySchedule | None = None) -> str:
    """The schedule's zone: set on the schedule, else the owner's region's zone, else the
    owner's own zone, else the organization's region's zone, else UTC. ("UTC", the
    accounts default, counts as unset except on the schedule itself.)"""
    if schedule is not None and schedule.time_zone and _valid_zone(schedule.time_zone):
        return schedule.time_zone
    candidates = []
    owner = esc.owner
    if owner is not None:
        candidates.append(owner.region.time_zone if owner.region_id else "")
        candidates.append(owner.time_zone)
    org = esc.organization
    candidates.append(org.region.time_zone if org.region_id else "")
    for name in candidates:
        if name and name != "UTC" and _valid_zone(name):
            return name
    return "UTC"


def next_local(after: datetime, at: time, zone: str) -> datetime:
    """The first instant strictly after ``after`` whose wall-clock time in ``zone`` is
    ``at`` (as UTC). DST-safe: each day's date is combined with the local time and
    converted with that day's offset; a time that does not exist that day (the spring
    gap) lands on the same wall time shifted by the gap (zoneinfo's fold=0), an ambiguous
    one on its first occurrence."""
    tz = ZoneInfo(zone)
    day = after.astimezone(tz).date()
    for _ in range(3):
        candidate = datetime.combine(day, at, tzinfo=tz).astimezone(UTC)
        if candidate > after:
            return candidate
        day += timedelta(days=1)
    raise AssertionError("unreachable: a local time recurs within three days")


def _local(value: datetime | None, zone: str) -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(zone)).strftime("%a %d %b %Y %H:%M %Z")


# --- the facts (pure) ----------------------------------------------------------------------


@dataclass
class Records:
    """What a summary is made of, as loaded by :func:`load` (or built by a test)."""

    escalation: Escalation
    at: datetime
    since: datetime | None
    zone: str
    events: list[Any] = field(default_factory=list)  # AuditEvent rows since ``since``
    commitments: list[Commitment] = field(default_factory=list)
    slips: list[CommitmentSlip] = field(default_factory=list)  # since ``since``
    stakeholders: list[Stakeholder] = field(default_factory=list)  # all rows, history too
    cadences: list[Cadence] = field(default_factory=list)
    after_event_id: int | None = None  # the last event the previous summary covered


HOURS = 3600


def _every(seconds: int) -> str:
    if seconds % 86400 == 0:
        n = seconds // 86400
        return "day" if n == 1 else f"{n} days"
    if seconds % HOURS == 0:
        n = seconds // HOURS
        return "hour" if n == 1 else f"{n} h"
    return f"{seconds // 60} min"


def _label(value: str) -> str:
    return value.replace("_", " ")


def describe(event: Any, people: dict[int, Stakeholder], zone: str) -> str:
    """One audit event of the escalation in words (``people``: stakeholder rows by id)."""
    from caseline.events import EVENT_TYPES

    d = event.data or {}
    kind = event.type.removeprefix("escalation.")
    who = event.actor_label if event.actor_label and event.actor_label != "system" else ""
    by = f" by {who}" if who else ""
    if kind == "opened":
        return f"Escalation opened ({_label(d.get('source', 'direct'))}){by}."
    if kind == "status_changed":
        return f"Status moved from {event.old} to {event.new}{by}."
    if kind == "updated":
        if event.field == "business_impact":
            return f"Business impact updated{by}."
        if event.field == "owner":
            return f"Ownership changed{by}."
        return f"{_label(event.field).capitalize()} changed from {event.old} to {event.new}{by}."
    if kind == "tickets_linked":
        refs = ", ".join(f"CL-{t}" for t in d.get("tickets", []))
        return f"Tickets linked: {refs}{by}."
    if kind == "step_changed":
        state = "done" if event.new else "reopened"
        return f"Checklist step “{d.get('title', '')}” {state}{by}."
    if kind in ("stakeholder_added", "stakeholder_renounced"):
        row = people.get(d.get("stakeholder"))
        name = _person(row) if row is not None else "someone"
        role = _label(d.get("role", ""))
        if kind == "stakeholder_added":
            extra = f" ({d['involvement']})" if d.get("involvement") else ""
            return f"{name} joined as {role}{extra}."
        return f"{name} no longer {role}."
    if kind == "cadence_set":
        what = _label(d.get("kind", "update")).capitalize()
        if not d.get("active", True):
            return f"{what} cadence stopped{by}."
        return f"{what} cadence set to every {_every(int(d.get('every_seconds') or 0))}{by}."
    if kind == "update_recorded":
        late = " (late)" if d.get("late") else ""
        return f"{_label(d.get('kind', 'update')).capitalize()} recorded{late}{by}."
    if kind == "update_missed":
        due = _local(_dt(d.get("due_at")), zone)
        return f"{_label(d.get('kind', 'update')).capitalize()} due {due} was missed."
    if kind == "commitment_added":
        due = _local(_dt(d.get("due_at")), zone)
        return f"New commitment to {d.get('to_whom', '')}: {d.get('what', '')}, due {due}."
    if kind == "commitment_slipped":
        return f"A commitment slipped{by}: {d.get('reason', '')}".rstrip() + "."
    if kind == "commitment_changed":
        if event.field == "status":
            return f"A commitment was marked {event.new}{by}."
        return f"A commitment was reworded{by}."
    if kind == "commitment_overdue":
        return "A commitment passed its due date while still open."
    if kind == "summary_notes_changed":
        return f"{_label(event.field).capitalize()} updated{by}."
    text = EVENT_TYPES.get(event.type, event.type).rstrip(".")
    return f"{text}{by}."


def _dt(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def _person(row: Stakeholder) -> str:
    return str(row.contact if row.contact_id else row.user)


def assemble(r: Records) -> dict[str, Any]:
    """The facts of a summary, from the loaded records only (no queries: the rows'
    relations must be loaded, as :func:`load` does)."""
    esc = r.escalation
    zone = r.zone
    people = {s.pk: s for s in r.stakeholders}
    changes: list[dict[str, str]] = []
    for e in r.events:
        if e.type in SUMMARY_EVENTS:
            continue
        line = describe(e, people, zone)
        if changes and changes[-1]["text"] == line:  # field-by-field rows of one change
            continue
        changes.append({"at": _local(e.at, zone), "text": line})
    commitments = []
    for c in r.commitments:
        if c.status == Commitment.Status.CANCELLED:
            continue
        overdue = c.status == Commitment.Status.OPEN and c.due_at <= r.at
        commitments.append(
            {
                "what": c.what,
                "to_whom": c.to_whom,
                "owner": str(c.owner),
                "due": _local(c.due_at, zone),
                "status": "overdue" if overdue else c.status,
                "slips": len([s for s in r.slips if s.commitment_id == c.pk]),
            }
        )
    slips = [
        {
            "what": s.commitment.what,
            "old": _local(s.old_due_at, zone),
            "new": _local(s.new_due_at, zone),
            "reason": s.reason,
            "by": str(s.by) if s.by_id else "",
        }
        for s in r.slips
    ]
    current = [s for s in r.stakeholders if s.renounced_at is None]
    internal = [
        {"name": str(s.user), "role": _label(s.role), "involvement": s.involvement}
        for s in current
        if s.user_id
    ]
    customer = [{"name": str(s.contact), "role": _label(s.role)} for s in current if s.contact_id]
    cadences = [
        {"kind": _label(c.kind), "next_due": _local(c.next_due_at, zone)}
        for c in r.cadences
        if c.active and c.next_due_at is not None
    ]
    return {
        "reference": esc.reference,
        "title": esc.title,
        "organization": esc.organization.name,
        "severity": esc.severity,
        "status": esc.get_status_display(),
        "status_code": esc.status,
        "owner": str(esc.owner) if esc.owner_id else "nobody",
        "opened": _local(esc.opened_at, zone),
        "impact": esc.business_impact,
        "root_cause": esc.root_cause,
        "next_steps": esc.next_steps,
        "risks": esc.risks,
        "since": _local(r.since, zone) if r.since else "",
        "changes": changes,
        "commitments": commitments,
        "slips": slips,
        "internal": internal,
        "customer": customer,
        "cadences": cadences,
        "generated": _local(r.at, zone),
        "date": r.at.astimezone(ZoneInfo(zone)).strftime("%a %d %b %Y"),
        "zone": zone,
    }


def render(facts: dict[str, Any]) -> tuple[str, str, str]:
    """(subject, text, html) of the facts."""
    subject = (
        f"[{facts['reference']}] Executive summary {facts['date']}: {facts['title']} "
        f"(Sev {facts['severity']}, {facts['status_code']})"
    )[:300]
    text = render_to_string("escalations/summary_body.txt", facts)
    text = re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
    html = render_to_string("escalations/summary_body.html", facts)
    return subject, text, html


def edited_html(subject: str, text: str) -> str:
    return render_to_string("escalations/summary_edited.html", {"subject": subject, "text": text})


# --- loading -------------------------------------------------------------------------------


def last_sent(esc: Escalation) -> ExecutiveSummary | None:
    return esc.executive_summaries.filter(status=D.SENT).order_by("-sent_at", "-id").first()


def load(esc: Escalation, at: datetime, schedule: SummarySchedule | None = None) -> Records:
    """The records of a summary generated at ``at``: changes since the last sent one
    (else since the escalation opened)."""
    from caseline.audit.models import AuditEvent

    esc = (
        Escalation.objects.select_related("owner__region", "organization__region")
        .filter(pk=esc.pk)
        .get()
    )
    prev = last_sent(esc)
    since = prev.generated_at if prev is not None else None
    events = AuditEvent.objects.filter(subject_type="escalation", subject_id=esc.pk)
    if prev is not None and prev.last_event_id is not None:
        events = events.filter(id__gt=prev.last_event_id)
    elif since is not None:
        events = events.filter(at__gt=since)
    slips = CommitmentSlip.objects.filter(commitment__escalation=esc).select_related(
        "commitment", "by"
    )
    if since is not None:
        slips = slips.filter(at__gt=since)
    return Records(
        escalation=esc,
        at=at,
        since=since,
        zone=zone_for(esc, schedule),
        events=list(events.order_by("id")),
        commitments=list(esc.commitments.select_related("owner").order_by("due_at", "id")),
        slips=list(slips.order_by("id")),
        stakeholders=list(esc.stakeholders.select_related("user", "contact").order_by("id")),
        cadences=list(esc.cadences.order_by("kind")),
        after_event_id=prev.last_event_id if prev is not None else None,
    )


# --- reads ---------------------------------------------------------------------------------


def get_escalation(escalation_id: int) -> Escalation:
    esc = (
        Escalation.objects.select_related("owner__region", "organization__region")
        .filter(pk=escalation_id)
        .first()
    )
    if esc is None:
        raise NotFound(f"no escalation ESC-{escalation_id}")
    return esc


def schedule_of(esc: Escalation) -> SummarySchedule | None:
    return SummarySchedule.objects.filter(escalation=esc).first()


def draft_of(esc: Escalation) -> ExecutiveSummary | None:
    return esc.executive_summaries.filter(status=D.DRAFT).first()


def sent_of(esc: Escalation):
    """Every sent summary, newest first."""
    return (
        esc.executive_summaries.filter(status=D.SENT)
        .select_related("sent_by", "edited_by")
        .order_by("-id")
    )


def get_summary(escalation_id: int, summary_id: int) -> ExecutiveSummary:
    s = (
        ExecutiveSummary.objects.select_related("edited_by", "sent_by", "generated_by")
        .filter(pk=summary_id, escalation_id=escalation_id)
        .first()
    )
    if s is None:
        raise NotFound(f"no summary {summary_id} on ESC-{escalation_id}")
    return s


# --- writing a draft and sending (inside the caller's transaction) --------------------------


def _user(actor: Any) -> User | None:
    return actor if isinstance(actor, User) else None


def _write_draft(
    esc: Escalation,
    actor: Any,
    at: datetime,
    *,
    trigger: str,
    keep_edited: bool,
    schedule: SummarySchedule | None = None,
) -> tuple[ExecutiveSummary, bool]:
    """Generate the draft, or refresh the existing one (unless it was edited and
    ``keep_edited``). Returns (draft, regenerated)."""
    draft = ExecutiveSummary.objects.select_for_update().filter(escalation=esc, status=D.DRAFT)
    draft = draft.first()
    if draft is not None and keep_edited and draft.edited_at is not None:
        return draft, False
    records = load(esc, at, schedule)
    subject, text, html = render(assemble(records))
    if draft is None:
        draft = ExecutiveSummary(escalation=esc, status=D.DRAFT)
    draft.subject, draft.text, draft.html = subject, text, html
    draft.since = records.since
    draft.last_event_id = max((e.pk for e in records.events), default=records.after_event_id)
    draft.generated_at = at
    draft.generated_by = _user(actor)
    draft.edited_at = draft.edited_by = None
    refreshed = draft.pk is not None
    draft.save()
    services._rec(
        esc,
        "escalation.summary_generated",
        actor,
        at=at,
        data={"summary": draft.pk, "trigger": trigger, "refreshed": refreshed},
    )
    return draft, True


def _send(
    esc: Escalation,
    draft: ExecutiveSummary,
    actor: Any,
    at: datetime,
    *,
    occurrence: int | None,
) -> ExecutiveSummary:
    to = services.internal_emails(esc)
    draft.status = D.SENT
    draft.sent_at = at
    draft.sent_by = _user(actor)
    draft.recipients = to
    draft.occurrence = occurrence
    draft.save()
    if to:
        from caseline.notify.services import enqueue_email

        enqueue_email(
            key=f"esc-summary-{draft.pk}",
            to=to,
            subject=draft.subject,
            text=draft.text,
            html=draft.html,
            subject_type="escalation",
            subject_id=esc.pk,
        )
    services._rec(
        esc,
        "escalation.summary_sent",
        actor,
        at=at,
        data={
            "summary": draft.pk,
            "recipients": to,
            "occurrence": occurrence,
            "edited": draft.edited_at is not None,
        },
    )
    return draft


# --- schedule ------------------------------------------------------------------------------


def _keys(esc_id: int, occurrence: int) -> tuple[str, str]:
    base = f"esc-summary:{esc_id}:{occurrence}"
    return f"{base}:draft", f"{base}:send"


def _lock_timers(schedule: SummarySchedule | None) -> None:
    from caseline.sla.models import Timer

    if schedule is not None:
        keys = _keys(schedule.escalation_id, schedule.occurrence)
        list(Timer.objects.select_for_update().filter(key__in=keys).values_list("pk"))


def _disarm(schedule: SummarySchedule) -> None:
    for key in _keys(schedule.escalation_id, schedule.occurrence):
        timers.cancel(key)
    schedule.next_send_at = None


def _arm(schedule: SummarySchedule, esc: Escalation, after: datetime) -> None:
    """Arm the next occurrence: the first ``send_time`` in the schedule's zone after
    ``after``, its draft timer ``lead_minutes`` before (already due if that passed)."""
    schedule.occurrence += 1
    zone = zone_for(esc, schedule)
    send_at = next_local(after, schedule.send_time, zone)
    schedule.next_send_at = send_at
    draft_key, send_key = _keys(esc.pk, schedule.occurrence)
    payload = {"occurrence": schedule.occurrence, "zone": zone}
    if schedule.lead_minutes:
        draft_at = send_at - timedelta(minutes=schedule.lead_minutes)
        timers.schedule(DRAFT_KIND, "escalation", esc.pk, draft_at, draft_key, payload)
    timers.schedule(SEND_KIND, "escalation", esc.pk, send_at, send_key, payload)


def _parse_time(value: Any, errors: dict[str, str]) -> time:
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0, tzinfo=None)
    if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
        h, m = (int(x) for x in value.strip().split(":"))
        if h < 24 and m < 60:
            return time(h, m)
    errors["send_time"] = "a local time HH:MM (00:00-23:59)"
    return DEFAULT_SEND_TIME


def set_schedule(
    escalation_id: int,
    actor: Any,
    *,
    active: bool = True,
    send_time: Any = "17:00",
    time_zone: str = "",
    lead_minutes: int = DEFAULT_LEAD_MINUTES,
) -> SummarySchedule:
    """Send the summary daily at ``send_time`` local time (``time_zone`` blank: the
    owner's zone, see :func:`zone_for`), its draft ``lead_minutes`` before; ``active``
    False stops it. The next occurrence is the first such time from now."""
    errors: dict[str, str] = {}
    at_time = _parse_time(send_time, errors)
    zone = (time_zone or "").strip() if isinstance(time_zone, str) else None
    if zone is None or (zone and not _valid_zone(zone)):
        errors["time_zone"] = "an IANA time zone (e.g. Europe/Berlin) or blank for the owner's"
        zone = ""
    if (
        isinstance(lead_minutes, bool)
        or not isinstance(lead_minutes, int)
        or not 0 <= lead_minutes <= MAX_LEAD_MINUTES
    ):
        errors["lead_minutes"] = f"0 to {MAX_LEAD_MINUTES} minutes"
    services._invalid(errors)
    with transaction.atomic():
        esc = services._lock(escalation_id)
        if active:
            services._require_live(esc)
        existing = SummarySchedule.objects.filter(escalation=esc).first()
        _lock_timers(existing)
        sched = SummarySchedule.objects.select_for_update().filter(escalation=esc).first()
        before = None
        if sched is None:
            sched = SummarySchedule(escalation=esc)
        else:
            before = {
                "active": sched.active,
                "send_time": sched.send_time.strftime("%H:%M"),
                "time_zone": sched.time_zone,
                "lead_minutes": sched.lead_minutes,
            }
            _disarm(sched)
        at = now()
        sched.active = bool(active)
        sched.send_time = at_time
        sched.time_zone = zone
        sched.lead_minutes = lead_minutes
        sched.updated_at = at
        sched.updated_by = _user(actor)
        if sched.active:
            _arm(sched, esc, at)
        sched.save()
        services._touch(esc, at)
        services._rec(
            esc,
            "escalation.summary_schedule_set",
            actor,
            at=at,
            data={
                "active": sched.active,
                "send_time": at_time.strftime("%H:%M"),
                "time_zone": zone,
                "zone": zone_for(esc, sched),
                "lead_minutes": lead_minutes,
                "next_send_at": sched.next_send_at,
                "before": before,
            },
        )
    return sched


def on_opened(event: Any) -> None:
    """Subscriber of ``escalation.opened`` (inside the opening transaction): every new
    escalation gets the default schedule — daily at 17:00 in the owner's zone, the draft an
    hour before — so internal stakeholders hear about it until it is resolved without
    anyone remembering to set it up (setting ``ESCALATION_SUMMARY_DEFAULT``, default on;
    the room's panel changes or stops it)."""
    from django.conf import settings

    if not getattr(settings, "ESCALATION_SUMMARY_DEFAULT", True):
        return
    if SummarySchedule.objects.filter(escalation_id=event.subject_id).exists():
        return
    esc = Escalation.objects.select_related("owner__region", "organization__region").get(
        pk=event.subject_id
    )
    sched = SummarySchedule(escalation=esc, updated_at=now())
    _arm(sched, esc, now())
    sched.save()


def on_status_changed(event: Any) -> None:
    """Subscriber of ``escalation.status_changed`` (inside the transition's transaction):
    resolving or closing stops the schedule's timers, reopening arms the next send."""
    old, new = (event.data.get("changes") or {}).get("status", (None, None))
    sched = SummarySchedule.objects.filter(escalation_id=event.subject_id, active=True).first()
    if sched is None:
        return
    _lock_timers(sched)
    sched = SummarySchedule.objects.select_for_update().get(pk=sched.pk)
    if new in (Escalation.Status.RESOLVED, Escalation.Status.CLOSED):
        if sched.next_send_at is not None:
            _disarm(sched)
            sched.save(update_fields=["next_send_at"])
    elif new in services.LIVE_STATUSES and sched.next_send_at is None:
        esc = Escalation.objects.select_related("owner__region", "organization__region").get(
            pk=event.subject_id
        )
        _arm(sched, esc, now())
        sched.save(update_fields=["occurrence", "next_send_at"])


# --- services ------------------------------------------------------------------------------


def set_notes(
    escalation_id: int, actor: Any, *, next_steps: str | None = None, risks: str | None = None
) -> Escalation:
    """Edit the escalation's next steps and risks (shown in every summary)."""
    errors: dict[str, str] = {}
    values = {}
    if next_steps is not None:
        values["next_steps"] = services._text(
            next_steps, "next_steps", errors, required=False, limit=10000
        )
    if risks is not None:
        values["risks"] = services._text(risks, "risks", errors, required=False, limit=10000)
    services._invalid(errors)
    with transaction.atomic():
        esc = services._lock(escalation_id)
        diff = {k: (getattr(esc, k), v) for k, v in values.items() if getattr(esc, k) != v}
        if diff:
            at = now()
            for k, (_, v) in diff.items():
                setattr(esc, k, v)
            esc.updated_at = at
            esc.save(update_fields=[*diff, "updated_at"])
            services._rec(esc, "escalation.summary_notes_changed", actor, at=at, changes=diff)
    return esc


def generate(escalation_id: int, actor: Any) -> ExecutiveSummary:
    """Generate the draft now (replacing the current draft, edits included)."""
    with transaction.atomic():
        esc = services._lock(escalation_id)
        draft, _ = _write_draft(esc, actor, now(), trigger="manual", keep_edited=False)
        services._touch(esc, draft.generated_at)
    return draft


def edit_draft(
    escalation_id: int,
    summary_id: int,
    actor: Any,
    *,
    subject: str | None = None,
    text: str | None = None,
) -> ExecutiveSummary:
    """Edit the draft before it is sent (409 ``summary_sent`` once sent). The HTML part
    becomes the edited text (paragraphs); a scheduled refresh keeps an edited draft."""
    errors: dict[str, str] = {}
    if subject is not None:
        subject = services._text(subject, "subject", errors, required=True, limit=300)
    if text is not None:
        text = services._text(text, "text", errors, required=True, limit=50000)
    services._invalid(errors)
    with transaction.atomic():
        esc = services._lock(escalation_id)
        s = ExecutiveSummary.objects.select_for_update().filter(pk=summary_id, escalation=esc)
        s = s.first()
        if s is None:
            raise NotFound(f"no summary {summary_id} on {esc.reference}")
        if s.status != D.DRAFT:
            raise Conflict(
                "a sent summary is kept as sent",
                fields={"status": f"sent at {s.sent_at.isoformat()}"},
                code="summary_sent",
            )
        changes = {}
        if subject is not None and subject != s.subject:
            changes["subject"] = (s.subject, subject)
            s.subject = subject
        if text is not None and text.strip() + "\n" != s.text:
            changes["text"] = (len(s.text), len(text))
            s.text = text.strip() + "\n"
        if changes:
            at = now()
            s.html = edited_html(s.subject, s.text)
            s.edited_at = at
            s.edited_by = _user(actor)
            s.save()
            services._touch(esc, at)
            services._rec(
                esc,
                "escalation.summary_edited",
                actor,
                at=at,
                data={"summary": s.pk, "fields": sorted(changes)},
            )
    return s


def send_now(escalation_id: int, actor: Any) -> ExecutiveSummary:
    """Send the current draft now (generated first when there is none) to the internal
    stakeholders; 422 when nobody internal has an email address."""
    with transaction.atomic():
        esc = services._lock(escalation_id)
        if not services.internal_emails(esc):
            raise ValidationFailed(
                "the request is not valid",
                fields={"recipients": "no owner or internal stakeholder with an email address"},
            )
        at = now()
        draft = ExecutiveSummary.objects.select_for_update().filter(escalation=esc, status=D.DRAFT)
        draft = draft.first()
        if draft is None:
            draft, _ = _write_draft(esc, actor, at, trigger="manual", keep_edited=True)
        _send(esc, draft, actor, at, occurrence=None)
        services._touch(esc, at)
    return draft


# --- timer handlers (fired by the clock loop inside its claiming transaction) --------------


def _scheduled(timer: Any) -> tuple[SummarySchedule, Escalation] | None:
    """The schedule of the timer's occurrence, if that occurrence is still the live one
    and the escalation is live."""
    sched = (
        SummarySchedule.objects.select_for_update(of=("self",))
        .filter(escalation_id=timer.subject_id, active=True)
        .first()
    )
    if sched is None or sched.occurrence != timer.payload.get("occurrence"):
        return None
    esc = Escalation.objects.select_related("owner__region", "organization__region").get(
        pk=timer.subject_id
    )
    if esc.status not in services.LIVE_STATUSES or sched.next_send_at is None:
        return None
    return sched, esc


@timers.handler(DRAFT_KIND)
def draft_due(timer: Any) -> None:
    found = _scheduled(timer)
    if found is None:
        return
    sched, esc = found
    at = now()
    draft, regenerated = _write_draft(
        esc, None, at, trigger="schedule", keep_edited=True, schedule=sched
    )
    owner = esc.owner
    if owner is not None and owner.is_active and owner.email:
        from caseline.notify.services import enqueue_email

        zone = zone_for(esc, sched)
        state = "generated" if regenerated else "kept as you edited it"
        enqueue_email(
            key=f"{timer.key}:email",
            to=[owner.email],
            subject=f"[{esc.reference}] Executive summary draft: sent at "
            f"{_local(sched.next_send_at, zone)}",
            text=(
                f"The executive summary of {esc.reference} ({esc.title}) goes to the internal "
                f"stakeholders at {_local(sched.next_send_at, zone)}. The draft was {state}; "
                "edit it in Caseline before then if needed.\n\n"
                f"Subject: {draft.subject}\n\n{draft.text}"
            ),
            subject_type="escalation",
            subject_id=esc.pk,
        )


@timers.handler(SEND_KIND)
def send_due(timer: Any) -> None:
    found = _scheduled(timer)
    if found is None:
        return
    sched, esc = found
    at = now()
    # The current draft: an edited one as edited, an untouched one refreshed to now.
    draft, _ = _write_draft(esc, None, at, trigger="schedule", keep_edited=True, schedule=sched)
    _send(esc, draft, None, at, occurrence=sched.occurrence)
    _arm(sched, esc, max(at, sched.next_send_at))
    sched.save(update_fields=["occurrence", "next_send_at"])
