"""Follow-the-sun handoffs (issue 6, docs/escalations.md "Follow-the-sun handoffs").

At each region's shift end every live escalation held in that region (its acting owner's
region, else its owner's) and every open Sev-1 ticket assigned in it gets a
:class:`~caseline.escalations.models.Handoff` to the next region in hand-off order
(``Region.handoff_order``, wrapping). The giver writes a note and names a receiver
(:func:`hand`); the receiver acknowledges (:func:`acknowledge`) and becomes the holder:
a Sev-1 ticket is reassigned through the tickets services, an escalation records the
receiver as ``acting_owner`` (the escalation manager stays its owner). A note not written
``HANDOFF_NOTE_MINUTES`` after the shift end, or an acknowledgement not given
``HANDOFF_ACK_MINUTES`` after handing, escalates the handoff to the region's managers.

Timers (the one table, ``caseline.sla.timers``; handlers below, registered on import):

* ``handoff.shift_end`` -- subject ``region``, key ``handoff-shift:<region>:<UTC instant>``,
  at the region's next shift end: the next closing of its shift calendar
  (``Region.shift_calendar``) after which the calendar stays closed for at least
  ``HANDOFF_MIN_CLOSED_MINUTES`` (a lunch break is no shift end). Re-armed when it fires
  and whenever a region or a stored calendar changes (``region.created``,
  ``region.updated``, ``sla_calendar.changed``) or after ``migrate``;
* ``handoff.note_due`` -- subject ``handoff``, key ``handoff:<id>:note``;
* ``handoff.ack_due`` -- subject ``handoff``, key ``handoff:<id>:ack:<hand_count>``.

Every change is one transaction with an audit event (subject ``escalation`` for an
escalation's handoff, ``ticket`` for a ticket's, ``region`` for a shift end; ``data.handoff``
names the handoff) and its mail as outbox rows.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet

from caseline.accounts import roles as R
from caseline.accounts.models import Region, User
from caseline.audit.services import record
from caseline.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from caseline.sla import timers
from caseline.sla.models import Timer
from caseline.tickets.models import Ticket
from caseline.tickets.states import OPEN_STATUSES
from caseline.timesource import now

from .models import Escalation, Handoff

log = logging.getLogger(__name__)

SHIFT_END_KIND = "handoff.shift_end"
NOTE_DUE_KIND = "handoff.note_due"
NOTES_DUE_KIND = "handoff.notes_due"
ACK_DUE_KIND = "handoff.ack_due"
KINDS = (SHIFT_END_KIND, NOTES_DUE_KIND, NOTE_DUE_KIND, ACK_DUE_KIND)

H = Handoff.Status
LIVE_ESCALATION = ("open", "active", "monitoring")
# Handoffs still waiting for something (an escalated one can still be handed / acknowledged).
OPEN_STATUSES_HANDOFF = (H.PENDING, H.HANDED, H.ESCALATED)
SEARCH_DAYS = 15
NOTE_LIMIT = 10000
MANAGE = "accounts.manage_escalations"


def note_minutes() -> int:
    return int(getattr(settings, "HANDOFF_NOTE_MINUTES", 30))


def ack_minutes() -> int:
    return int(getattr(settings, "HANDOFF_ACK_MINUTES", 30))


def min_closed_minutes() -> int:
    return int(getattr(settings, "HANDOFF_MIN_CLOSED_MINUTES", 120))


# --- shift ends --------------------------------------------------------------------------


def region_calendar(region: Region) -> Any:
    """The region's shift calendar (the SLA engine's stored calendar), or None."""
    from caseline.oncall import queries as oncall

    return oncall.shift_calendar(region.shift_calendar)


def _closed_after(cal: Any, at: datetime) -> bool:
    gap = timedelta(minutes=min_closed_minutes())
    return cal.between(at, at + gap) == 0


def next_shift_end(region: Region, after: datetime) -> datetime | None:
    """The first closing of the region's shift calendar strictly after ``after`` that is
    followed by at least ``HANDOFF_MIN_CLOSED_MINUTES`` of closed time; None without a
    calendar, or when it does not close within 15 days (24x7)."""
    cal = region_calendar(region)
    if cal is None:
        return None
    end_window = after + timedelta(days=SEARCH_DAYS)
    for _start, end in cal.open_spans(after, end_window):
        if end <= after or end >= end_window:
            continue
        if _closed_after(cal, end):
            return end
    return None


def is_shift_end(region: Region, at: datetime) -> bool:
    """True when ``at`` is a shift end of the region's calendar as it is now (a timer left
    from an older calendar finds it is not, and only re-arms)."""
    cal = region_calendar(region)
    if cal is None:
        return False
    return cal.is_open(at - timedelta(seconds=1)) and not cal.is_open(at) and _closed_after(cal, at)


def shift_start(region: Region, end: datetime) -> datetime:
    """The opening of the shift that ends at ``end`` (open spans separated by less than
    the minimum closed time belong to one shift); ``end`` - 1 day without a calendar."""
    cal = region_calendar(region)
    if cal is None:
        return end - timedelta(days=1)
    gap = timedelta(minutes=min_closed_minutes())
    spans = cal.open_spans(end - timedelta(days=7), end)
    if not spans or spans[-1][1] != end:
        return end - timedelta(days=1)
    start = spans[-1][0]
    for s, e in reversed(spans[:-1]):
        if start - e >= gap:
            break
        start = s
    return start


def _shift_key(region: Region, at: datetime) -> str:
    return f"handoff-shift:{region.pk}:{at.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def _pending_timers(**filters: Any) -> QuerySet[Timer]:
    return Timer.objects.filter(
        fired_at__isnull=True, cancelled_at__isnull=True, failed_at__isnull=True, **filters
    )


def arm_region(region: Region, *, after: datetime | None = None) -> datetime | None:
    """(Re)arm the region's shift-end timer at its next shift end after ``after`` (now);
    a pending timer for another instant is cancelled. Returns the instant (None: no
    calendar or it never closes, no timer)."""
    after = after or now()
    end = next_shift_end(region, after)
    key = _shift_key(region, end) if end else None
    with transaction.atomic():
        stale = _pending_timers(kind=SHIFT_END_KIND, subject_type="region", subject_id=region.pk)
        for old in stale.exclude(key=key).values_list("key", flat=True):
            timers.cancel(old)
        if end is not None:
            timers.schedule(
                SHIFT_END_KIND,
                "region",
                region.pk,
                end,
                key=key,
                payload={"region": region.code},
            )
    return end


def arm_all(*, missing_only: bool = False) -> dict[str, datetime | None]:
    """Arm every region's shift-end timer (``missing_only``: only regions without a
    pending one). Idempotent; called after ``migrate``, by the demo and by every shift end."""
    armed = set()
    if missing_only:
        armed = set(
            _pending_timers(kind=SHIFT_END_KIND, subject_type="region").values_list(
                "subject_id", flat=True
            )
        )
    out: dict[str, datetime | None] = {}
    for region in Region.objects.all():
        if region.pk in armed:
            continue
        out[region.code] = arm_region(region)
    return out


def next_region(region: Region, at: datetime | None = None) -> Region:
    """The region after ``region`` in hand-off order (wrapping); the region itself when it
    is the only one. When that region has nobody at all (no staff, no rota), the next
    region with somebody on duty (``caseline.oncall.queries.next_region_on_shift``)."""
    from caseline.oncall import queries as oncall

    ordered = list(Region.objects.order_by("handoff_order", "code"))
    idx = next((i for i, r in enumerate(ordered) if r.pk == region.pk), 0)
    chain = ordered[idx + 1 :] + ordered[:idx]
    if not chain:
        return region
    first = chain[0]
    if not _has_people(first):
        other = oncall.next_region_on_shift(region, at or now())
        if other is not None and other.pk != region.pk:
            return other
    return first


def _has_people(region: Region) -> bool:
    from caseline.oncall.models import Schedule

    return (
        User.objects.filter(region=region, is_active=True, kind=User.Kind.STAFF).exists()
        or Schedule.objects.filter(region=region, active=True).exists()
    )


def _rota_user_ids(region: Region, at: datetime) -> set[int]:
    """Everybody on a rota of ``region``: layer members and overrides not yet over."""
    from caseline.oncall.models import LayerMember, Override

    ids = set(
        LayerMember.objects.filter(
            layer__schedule__region=region, layer__schedule__active=True
        ).values_list("user_id", flat=True)
    )
    ids |= set(
        Override.objects.filter(
            schedule__region=region, schedule__active=True, end__gt=at
        ).values_list("user_id", flat=True)
    )
    return ids


def receiver_options(region: Region, at: datetime | None = None) -> list[User]:
    """Who may receive a handoff into ``region``: active staff of the region or on one of
    its rotas, by name."""
    at = at or now()
    ids = _rota_user_ids(region, at)
    return list(
        User.objects.filter(Q(region=region) | Q(pk__in=ids), is_active=True, kind=User.Kind.STAFF)
        .select_related("region")
        .order_by("display_name", "email")
    )


def receiver_candidates(region: Region, at: datetime, *, prefer_role: str = "") -> list[User]:
    """The next region's on-shift people, best first: on duty on its rota at ``at``, else
    on duty when its calendar next opens, else staff of the region on shift then (rota or
    calendar: the auto-assignment filter ``tickets.assignment.on_shift``). Away and
    inactive people are left out; holders of ``prefer_role`` come first among equals."""
    from caseline.oncall import queries as oncall
    from caseline.tickets.assignment import on_shift

    def usable(users: list[User]) -> list[User]:
        ok = [u for u in users if u.is_active and not u.is_away]
        if prefer_role and ok:
            preferred = set(
                User.objects.filter(
                    pk__in=[u.pk for u in ok], groups__name=prefer_role
                ).values_list("pk", flat=True)
            )
            ok.sort(key=lambda u: u.pk not in preferred)
        return ok

    found = usable(oncall.on_duty(region, at))
    if found:
        return found
    cal = region_calendar(region)
    opening = at
    if cal is not None:
        try:
            opening = cal.next_open(at)
        except ValueError:
            opening = at
        found = usable(oncall.on_duty(region, opening))
        if found:
            return found
    staff = list(
        User.objects.filter(region=region, is_active=True, kind=User.Kind.STAFF, is_away=False)
        .select_related("region")
        .order_by("id")
    )
    return usable(on_shift(staff, opening))


def suggest_receiver(
    region: Region, at: datetime, *, exclude: set[int] | None = None, prefer_role: str = ""
) -> User | None:
    """The first of :func:`receiver_candidates` not in ``exclude`` (the giver)."""
    skip = exclude or set()
    return next(
        (u for u in receiver_candidates(region, at, prefer_role=prefer_role) if u.pk not in skip),
        None,
    )


# --- items -------------------------------------------------------------------------------


def _holder(item: Escalation | Ticket) -> User | None:
    if isinstance(item, Escalation):
        return item.acting_owner or item.owner
    return item.assignee


def _item_open(h: Handoff) -> bool:
    if h.escalation_id:
        return h.escalation.status in LIVE_ESCALATION
    return h.ticket.status in OPEN_STATUSES


def _item_title(h: Handoff) -> str:
    return h.escalation.title if h.escalation_id else h.ticket.subject


def _rec(h: Handoff, event: str, actor: Any, *, data: dict | None = None, **kw: Any) -> None:
    payload = {"handoff": h.pk, "item": h.item_reference, **(data or {})}
    if h.escalation_id:
        record(
            event,
            "escalation",
            h.escalation_id,
            actor=actor,
            data=payload,
            subject=h.escalation,
            **kw,
        )
    else:
        # The hand-off is the subject (the ticket's own history stays the ticket's changes);
        # ticket_id puts it on the ticket's timeline.
        record(event, "handoff", h.pk, actor=actor, ticket_id=h.ticket_id, data=payload, **kw)


def _email(h: Handoff, key: str, to: list[User], subject: str, text: str) -> list[str]:
    from caseline.notify.services import enqueue_email

    addresses: list[str] = []
    for u in to:
        if u is not None and u.is_active and u.email and u.email not in addresses:
            addresses.append(u.email)
    if addresses:
        enqueue_email(
            key=key,
            to=addresses,
            subject=f"[{h.item_reference}] {subject}",
            text=text,
            subject_type="escalation" if h.escalation_id else "ticket",
            subject_id=h.escalation_id or h.ticket_id,
        )
    return addresses


def _new(
    item: Escalation | Ticket,
    *,
    giver: User,
    from_region: Region,
    to_region: Region,
    shift_end: datetime,
    source: str,
    actor: Any,
    at: datetime,
    suggested: User | None,
) -> Handoff:
    """An unsaved handoff of ``item`` (the note is due N minutes after the shift end)."""
    is_esc = isinstance(item, Escalation)
    return Handoff(
        escalation=item if is_esc else None,
        ticket=None if is_esc else item,
        from_user=giver,
        from_region=from_region,
        to_region=to_region,
        suggested_receiver=suggested,
        status=H.PENDING,
        source=source,
        shift_end_at=shift_end,
        created_at=at,
        created_by=actor if isinstance(actor, User) else None,
        note_due_at=max(at, shift_end) + timedelta(minutes=note_minutes()),
    )


def _created(h: Handoff, actor: Any, at: datetime, *, note_timer: bool = True) -> None:
    """A saved new handoff's audit event and (``note_timer``: a handoff started by hand)
    its own note timer (inside the caller's transaction). A shift end's handoffs share one
    ``handoff.notes_due`` timer of the region instead."""
    if note_timer:
        timers.schedule(NOTE_DUE_KIND, "handoff", h.pk, h.note_due_at, key=f"handoff:{h.pk}:note")
    _rec(
        h,
        "handoff.created",
        actor,
        at=at,
        data={
            "source": h.source,
            "from_user": h.from_user_id,
            "from_region": h.from_region.code,
            "to_region": h.to_region.code,
            "shift_end_at": h.shift_end_at,
            "suggested_receiver": h.suggested_receiver_id,
            "note_due_at": h.note_due_at,
        },
    )


def _open_handoff(item: Escalation | Ticket) -> Handoff | None:
    field = "escalation" if isinstance(item, Escalation) else "ticket"
    return (
        Handoff.objects.filter(**{field: item}, status__in=OPEN_STATUSES_HANDOFF)
        .filter(acknowledged_at__isnull=True)
        .order_by("-id")
        .first()
    )


def _cancel(h: Handoff, reason: str, actor: Any = None) -> None:
    at = now()
    h.status = H.CANCELLED
    h.cancelled_at = at
    h.cancel_reason = reason[:300]
    h.save(update_fields=["status", "cancelled_at", "cancel_reason"])
    timers.cancel_for("handoff", h.pk, kinds=[NOTE_DUE_KIND, ACK_DUE_KIND])
    _rec(h, "handoff.cancelled", actor, at=at, data={"reason": h.cancel_reason})


def open_for_shift_end(region: Region, shift_end: datetime, *, key: str = "") -> dict[str, Any]:
    """See :func:`_open_for_shift_end` (one transaction; the clock's when it fires)."""
    with transaction.atomic():
        return _open_for_shift_end(region, shift_end, key=key)


def _open_for_shift_end(region: Region, shift_end: datetime, *, key: str = "") -> dict[str, Any]:
    """The region's shift ended at ``shift_end``: a handoff for every live escalation held
    in the region and every open Sev-1 ticket assigned in it (inside the caller's
    transaction). An item with an open handoff started during this shift keeps it; an open
    one from an earlier shift is cancelled (superseded) and replaced. Idempotent: a second
    call for the same shift end creates nothing (checked first, and unique per item,
    region and shift end). A few queries for the whole shift end, then one timer and one
    audit row per new handoff."""
    at = now()
    to_region = next_region(region, shift_end)
    began = shift_start(region, shift_end)
    escalations = list(
        Escalation.objects.select_for_update(of=("self",))
        .select_related("owner", "acting_owner")
        .filter(status__in=LIVE_ESCALATION)
        .filter(Q(acting_owner__region=region) | Q(acting_owner__isnull=True, owner__region=region))
        .order_by("id")
    )
    tickets = list(
        Ticket.objects.select_for_update(of=("self",))
        .select_related("assignee")
        .filter(severity=1, status__in=OPEN_STATUSES, assignee__region=region)
        .order_by("id")
    )

    done = {
        (h.escalation_id is not None, h.escalation_id or h.ticket_id)
        for h in Handoff.objects.filter(
            from_region=region, shift_end_at=shift_end, source=Handoff.Source.SHIFT_END
        ).only("escalation_id", "ticket_id")
    }
    current: dict[tuple[bool, int | None], Handoff] = {}
    for h in Handoff.objects.filter(
        Q(escalation_id__in=[e.pk for e in escalations]) | Q(ticket_id__in=[t.pk for t in tickets]),
        status__in=OPEN_STATUSES_HANDOFF,
        acknowledged_at__isnull=True,
    ).order_by("id"):
        current[(h.escalation_id is not None, h.escalation_id or h.ticket_id)] = h
    candidates: dict[bool, list[User]] = {}
    new: list[Handoff] = []
    kept: list[int] = []
    superseded: list[int] = []
    for item in [*escalations, *tickets]:
        is_esc = isinstance(item, Escalation)
        giver = _holder(item)
        if giver is None or (is_esc, item.pk) in done:
            continue
        open_one = current.get((is_esc, item.pk))
        if open_one is not None:
            if open_one.created_at >= began and open_one.from_region_id == region.pk:
                kept.append(open_one.pk)
                continue
            _cancel(
                open_one,
                f"superseded by the {region.code} shift end of {shift_end:%Y-%m-%d %H:%M} UTC",
            )
            superseded.append(open_one.pk)
        if is_esc not in candidates:
            candidates[is_esc] = receiver_candidates(
                to_region, at, prefer_role=R.ESCALATION_MANAGER if is_esc else ""
            )
        suggested = next((u for u in candidates[is_esc] if u.pk != giver.pk), None)
        new.append(
            _new(
                item,
                giver=giver,
                from_region=region,
                to_region=to_region,
                shift_end=shift_end,
                source=Handoff.Source.SHIFT_END,
                actor=None,
                at=at,
                suggested=suggested,
            )
        )
    if not new and done:
        # A replay of a shift end already handled (a second clock, a re-run): nothing to add.
        return {"shift_end_at": shift_end, "to_region": to_region.code, "created": []}
    created = Handoff.objects.bulk_create(new)
    for h in created:
        _created(h, None, at, note_timer=False)
    if created:
        timers.schedule(
            NOTES_DUE_KIND,
            "region",
            region.pk,
            created[0].note_due_at,
            key=f"{_shift_key(region, shift_end)}:notes",
            payload={"shift_end": shift_end.astimezone(UTC).isoformat()},
        )
    # One email per giver listing what they must hand over.
    from caseline.notify.services import enqueue_email

    by_giver: dict[int, list[Handoff]] = {}
    for h in created:
        by_giver.setdefault(h.from_user_id, []).append(h)
    for uid, items in by_giver.items():
        giver = items[0].from_user
        lines = "\n".join(
            f"- {h.item_reference}: {_item_title(h)}"
            + (f" (suggested receiver: {h.suggested_receiver})" if h.suggested_receiver else "")
            for h in items
        )
        if not (giver.is_active and giver.email):
            continue
        enqueue_email(
            key=f"{key or _shift_key(region, shift_end)}:giver:{uid}",
            to=[giver.email],
            subject=f"[{region.code}] Hand-off to {to_region.code}: {len(items)} item(s) at "
            "your shift end",
            subject_type="region",
            subject_id=region.pk,
            text=f"Your {region.code} shift ended at {shift_end:%Y-%m-%d %H:%M} UTC. Write a "
            f"hand-off note and name a receiver in {to_region.code} for:\n\n{lines}\n\n"
            f"Without a note within {note_minutes()} minutes the hand-off goes to your "
            "manager.\n",
        )
    summary = {
        "shift_end_at": shift_end,
        "to_region": to_region.code,
        "created": [h.pk for h in created],
        "kept": kept,
        "superseded": superseded,
    }
    record("handoff.shift_ended", "region", region.pk, at=at, data=summary)
    return summary


# --- timer handlers ----------------------------------------------------------------------


@timers.handler(SHIFT_END_KIND)
def shift_end_fired(timer: Timer) -> None:
    region = Region.objects.filter(pk=timer.subject_id).first()
    if region is None:
        return
    if is_shift_end(region, timer.due_at):
        open_for_shift_end(region, timer.due_at, key=timer.key)
    arm_region(region, after=max(now(), timer.due_at))
    arm_all(missing_only=True)


def _locked(handoff_id: int) -> Handoff | None:
    return (
        Handoff.objects.select_for_update(of=("self",))
        .select_related(
            "escalation__owner", "ticket__team__lead", "from_user", "receiver", "from_region"
        )
        .filter(pk=handoff_id)
        .first()
    )


def managers(h: Handoff) -> list[User]:
    """Who hears of a late handoff: the support managers and escalation managers of the
    giving region (all of them when the region has none), the team lead of the ticket's
    team and of the giver's teams in that region, the escalation's owner."""
    from caseline.accounts.models import Team
    from caseline.sla.actions import _staff_in_role

    people: list[User] = []
    people += _staff_in_role(R.SUPPORT_MANAGER, h.from_region)
    people += _staff_in_role(R.ESCALATION_MANAGER, h.from_region)
    if h.ticket_id and h.ticket.team_id and h.ticket.team.lead_id:
        people.append(h.ticket.team.lead)
    if h.from_user_id:
        for team in (
            Team.objects.filter(members=h.from_user_id, region=h.from_region)
            .exclude(lead=None)
            .select_related("lead")
        ):
            people.append(team.lead)
    if h.escalation_id and h.escalation.owner_id:
        people.append(h.escalation.owner)
    out: list[User] = []
    for u in people:
        if u.is_active and u.pk != h.from_user_id and u not in out:
            out.append(u)
    return out


def _escalate(h: Handoff, stage: str, timer: Timer, *, email: bool = True) -> tuple[list, str]:
    """Mark ``h`` escalated (stage ``note`` or ``ack``), audit it and (``email``) tell its
    managers; returns (managers, the sentence saying what is late)."""
    at = now()
    h.status = H.ESCALATED
    h.escalated_at = at
    h.escalated_stage = stage
    h.save(update_fields=["status", "escalated_at", "escalated_stage"])
    who = managers(h)
    if stage == "note":
        what = (
            f"{h.from_user or 'The holder'} has not written a hand-off note for "
            f"{h.item_reference} ({_item_title(h)}) {note_minutes()} minutes after the "
            f"{h.from_region.code} shift end ({h.shift_end_at:%Y-%m-%d %H:%M} UTC)."
        )
    else:
        what = (
            f"{h.receiver or 'The receiver'} ({h.to_region.code}) has not acknowledged the "
            f"hand-off of {h.item_reference} ({_item_title(h)}) from {h.from_user} "
            f"{ack_minutes()} minutes after it was handed ({h.handed_at:%Y-%m-%d %H:%M} UTC).\n\n"
            f"Note:\n{h.note}"
        )
    if email:
        sent = _email(
            h,
            f"{timer.key}:escalated",
            who,
            "Hand-off not " + ("written" if stage == "note" else "acknowledged"),
            what + "\n\nTake over or make sure somebody does: Caseline > Hand-offs.\n",
        )
    else:
        sent = [u.email for u in who if u.email]
    _rec(
        h,
        "handoff.escalated",
        None,
        at=at,
        data={"stage": stage, "managers": [u.pk for u in who], "emails": sent},
    )
    return who, what


@timers.handler(NOTES_DUE_KIND)
def notes_due(timer: Timer) -> None:
    """``HANDOFF_NOTE_MINUTES`` after a region's shift end: every handoff of that shift end
    still pending is escalated (or cancelled when its item closed); each manager gets ONE
    email listing theirs."""
    from caseline.notify.services import enqueue_email

    region = Region.objects.filter(pk=timer.subject_id).first()
    if region is None:
        return
    shift_end = datetime.fromisoformat(timer.payload["shift_end"])
    rows = list(
        Handoff.objects.select_for_update(of=("self",))
        .select_related(
            "escalation__owner", "ticket__team__lead", "from_user", "from_region", "to_region"
        )
        .filter(
            from_region=region,
            shift_end_at=shift_end,
            source=Handoff.Source.SHIFT_END,
            status=H.PENDING,
        )
        .order_by("id")
    )
    digest: dict[int, tuple[User, list[str]]] = {}
    for h in rows:
        if not _item_open(h):
            _cancel(h, f"{h.item_reference} is no longer open")
            continue
        who, what = _escalate(h, "note", timer, email=False)
        for u in who:
            digest.setdefault(u.pk, (u, []))[1].append(what)
    for uid, (u, lines) in digest.items():
        if not u.email:
            continue
        items = "\n".join(f"- {line}" for line in lines)
        enqueue_email(
            key=f"{timer.key}:{uid}",
            to=[u.email],
            subject=f"[{region.code}] Hand-off not written: {len(lines)} item(s)",
            text=f"{items}\n\nTake over or make sure somebody does: Caseline > Hand-offs.\n",
            subject_type="region",
            subject_id=region.pk,
        )


@timers.handler(NOTE_DUE_KIND)
def note_due(timer: Timer) -> None:
    h = _locked(timer.subject_id)
    if h is None or h.status != H.PENDING:
        return
    if not _item_open(h):
        _cancel(h, f"{h.item_reference} is no longer open")
        return
    _escalate(h, "note", timer)


@timers.handler(ACK_DUE_KIND)
def ack_due(timer: Timer) -> None:
    h = _locked(timer.subject_id)
    if h is None or h.status != H.HANDED or h.hand_count != timer.payload.get("hand"):
        return
    if not _item_open(h):
        _cancel(h, f"{h.item_reference} is no longer open")
        return
    _escalate(h, "ack", timer)


# --- services ----------------------------------------------------------------------------


def _may_act(actor: Any, user_id: int | None) -> bool:
    return isinstance(actor, User) and (actor.pk == user_id or actor.has_perm(MANAGE))


def _note(value: Any, errors: dict[str, str]) -> str:
    if not isinstance(value, str) or not value.strip():
        errors["note"] = "required: what the next region must know"
        return ""
    text = value.strip()
    if len(text) > NOTE_LIMIT:
        errors["note"] = f"at most {NOTE_LIMIT} characters"
    return text


def _receiver(value: Any, h_region: Region, giver_id: int | None, errors: dict) -> User | None:
    if isinstance(value, bool) or not isinstance(value, int):
        errors["receiver_id"] = "required: a staff user of the next region"
        return None
    user = User.objects.select_related("region").filter(pk=value).first()
    if user is None or user.kind != User.Kind.STAFF or not user.is_active:
        errors["receiver_id"] = "no such active staff user"
        return None
    if user.pk == giver_id:
        errors["receiver_id"] = "the receiver must be somebody else than the giver"
        return None
    if user.region_id != h_region.pk and user.pk not in _rota_user_ids(h_region, now()):
        errors["receiver_id"] = f"must be staff of {h_region.code} or on one of its rotas"
        return None
    return user


def _hand(h: Handoff, actor: Any, receiver: User, note: str, at: datetime) -> None:
    previous = h.receiver_id
    h.note = note
    h.receiver = receiver
    h.handed_at = at
    h.handed_by = actor if isinstance(actor, User) else None
    h.hand_count += 1
    h.status = H.HANDED
    h.ack_due_at = at + timedelta(minutes=ack_minutes())
    h.save(
        update_fields=[
            "note",
            "receiver",
            "handed_at",
            "handed_by",
            "hand_count",
            "status",
            "ack_due_at",
        ]
    )
    timers.cancel_for("handoff", h.pk, kinds=[NOTE_DUE_KIND, ACK_DUE_KIND])
    timers.schedule(
        ACK_DUE_KIND,
        "handoff",
        h.pk,
        h.ack_due_at,
        key=f"handoff:{h.pk}:ack:{h.hand_count}",
        payload={"hand": h.hand_count},
    )
    _email(
        h,
        f"handoff:{h.pk}:handed:{h.hand_count}",
        [receiver],
        f"Hand-off to you from {h.from_user or h.from_region.code}: please acknowledge",
        f"{h.from_user or 'The ' + h.from_region.code + ' shift'} hands {h.item_reference} "
        f"({_item_title(h)}) over to you for the {h.to_region.code} shift.\n\nNote:\n{note}\n\n"
        f"Acknowledge within {ack_minutes()} minutes (Caseline > Hand-offs); otherwise the "
        "hand-off goes to the managers.\n",
    )
    _rec(
        h,
        "handoff.handed",
        actor,
        at=at,
        data={
            "receiver": receiver.pk,
            "previous_receiver": previous,
            "hand": h.hand_count,
            "ack_due_at": h.ack_due_at,
            "suggested_receiver": h.suggested_receiver_id,
        },
    )


def hand(handoff_id: int, actor: Any, *, receiver_id: Any = None, note: Any = None) -> Handoff:
    """The giver (or anyone with ``manage_escalations``) writes the note and names the
    receiver: staff of the next region or on one of its rotas. Handing again (another
    receiver, a better note) restarts the acknowledgement timer. 404 unknown, 403 not
    yours, 409 acknowledged / cancelled / the item closed, 422 bad note or receiver."""
    with transaction.atomic():
        h = _locked(handoff_id)
        if h is None:
            raise NotFound(f"no hand-off {handoff_id}")
        if not _may_act(actor, h.from_user_id):
            raise PermissionDenied("only the giver or an escalation manager hands this over")
        if h.status not in OPEN_STATUSES_HANDOFF or h.acknowledged_at is not None:
            raise Conflict(
                f"hand-off {h.pk} is {h.status}",
                fields={"status": h.status},
                code="handoff_closed",
            )
        if not _item_open(h):
            raise Conflict(
                f"{h.item_reference} is no longer open",
                fields={"item": h.item_reference},
                code="item_closed",
            )
        errors: dict[str, str] = {}
        text = _note(note, errors)
        receiver = _receiver(receiver_id, h.to_region, h.from_user_id, errors)
        if errors:
            raise ValidationFailed("the hand-off is not valid", fields=errors)
        assert receiver is not None
        _hand(h, actor, receiver, text, now())
    return h


def acknowledge(handoff_id: int, actor: Any) -> Handoff:
    """The receiver (or anyone with ``manage_escalations``) acknowledges: the receiver
    becomes the holder (a ticket is reassigned through the tickets services; an escalation
    records them as ``acting_owner``, or clears it when they own it), pending timers are
    cancelled. 404 unknown, 403 not yours, 409 not handed yet / already acknowledged."""
    from caseline.tickets.services import update_ticket

    with transaction.atomic():
        h = _locked(handoff_id)
        if h is None:
            raise NotFound(f"no hand-off {handoff_id}")
        if not _may_act(actor, h.receiver_id):
            raise PermissionDenied("only the receiver or an escalation manager acknowledges")
        if h.acknowledged_at is not None or h.status == H.ACKNOWLEDGED:
            raise Conflict(f"hand-off {h.pk} is already acknowledged", code="already_acknowledged")
        if h.status == H.CANCELLED:
            raise Conflict(f"hand-off {h.pk} is cancelled", code="handoff_closed")
        if h.receiver_id is None or h.handed_at is None:
            raise Conflict(
                f"hand-off {h.pk} has no note and receiver yet",
                fields={"status": h.status},
                code="not_handed",
            )
        at = now()
        receiver = h.receiver
        h.status = H.ACKNOWLEDGED
        h.acknowledged_at = at
        h.acknowledged_by = actor if isinstance(actor, User) else None
        h.save(update_fields=["status", "acknowledged_at", "acknowledged_by"])
        timers.cancel_for("handoff", h.pk, kinds=[NOTE_DUE_KIND, ACK_DUE_KIND])
        changes = None
        result: dict[str, Any] = {"receiver": receiver.pk}
        if h.escalation_id:
            esc = Escalation.objects.select_for_update().get(pk=h.escalation_id)
            new = None if receiver.pk == esc.owner_id else receiver.pk
            if esc.acting_owner_id != new:
                changes = {"acting_owner": (esc.acting_owner_id, new)}
                esc.acting_owner_id = new
                esc.updated_at = at
                esc.save(update_fields=["acting_owner", "updated_at"])
            h.escalation = esc
        else:
            t = h.ticket
            if t.status in OPEN_STATUSES and t.assignee_id != receiver.pk:
                update_ticket(t.pk, actor=actor, assignee=receiver.pk)
                result["reassigned"] = [t.assignee_id, receiver.pk]
        _rec(h, "handoff.acknowledged", actor, at=at, changes=changes, data=result)
    return h


def start(
    actor: Any,
    *,
    escalation_id: Any = None,
    ticket_id: Any = None,
    receiver_id: Any = None,
    note: Any = None,
) -> Handoff:
    """Start a handoff by hand before the shift end, for a live escalation or an open
    ticket (any severity) held by someone with a region; with ``receiver_id`` and ``note``
    it is handed at once. 403 unless the holder or ``manage_escalations``; 409 when the
    item already has an open handoff (``fields.handoff_id``) or is closed."""
    errors: dict[str, str] = {}
    given = [x for x in (escalation_id, ticket_id) if x is not None]
    if len(given) != 1:
        errors["escalation_id"] = "give exactly one of escalation_id and ticket_id"
    for name, value in (("escalation_id", escalation_id), ("ticket_id", ticket_id)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            errors[name] = "an id"
    if errors:
        raise ValidationFailed("the hand-off is not valid", fields=errors)
    with transaction.atomic():
        item: Escalation | Ticket | None
        if escalation_id is not None:
            item = (
                Escalation.objects.select_for_update(of=("self",))
                .select_related("owner__region", "acting_owner__region")
                .filter(pk=escalation_id)
                .first()
            )
            if item is None:
                raise NotFound(f"no escalation ESC-{escalation_id}")
            is_open = item.status in LIVE_ESCALATION
        else:
            item = (
                Ticket.objects.select_for_update(of=("self",))
                .select_related("assignee__region")
                .filter(pk=ticket_id)
                .first()
            )
            if item is None:
                raise NotFound(f"no ticket CL-{ticket_id}")
            is_open = item.status in OPEN_STATUSES
        giver = _holder(item)
        if not _may_act(actor, giver.pk if giver else None):
            raise PermissionDenied("only the holder or an escalation manager starts a hand-off")
        if not is_open:
            raise Conflict(f"{item.reference} is not open", code="item_closed")
        if giver is None or giver.region_id is None:
            raise ValidationFailed(
                "the hand-off is not valid",
                fields={"holder": "the item's holder must belong to a region"},
            )
        current = _open_handoff(item)
        if current is not None:
            raise Conflict(
                f"{item.reference} already has an open hand-off",
                fields={"handoff_id": current.pk},
                code="handoff_open",
            )
        at = now()
        region = giver.region
        to_region = next_region(region, at)
        if receiver_id is not None or note is not None:
            # Check the hand part before writing anything: bad input changes nothing.
            _note(note, errors)
            _receiver(receiver_id, to_region, giver.pk, errors)
            if errors:
                raise ValidationFailed("the hand-off is not valid", fields=errors)
        shift_end = next_shift_end(region, at) or at
        suggested = suggest_receiver(
            to_region,
            at,
            exclude={giver.pk},
            prefer_role=R.ESCALATION_MANAGER if isinstance(item, Escalation) else "",
        )
        h = _new(
            item,
            giver=giver,
            from_region=region,
            to_region=to_region,
            shift_end=shift_end,
            source=Handoff.Source.MANUAL,
            actor=actor,
            at=at,
            suggested=suggested,
        )
        h.save()
        _created(h, actor, at)
        if receiver_id is not None:
            receiver = _receiver(receiver_id, to_region, giver.pk, errors)
            assert receiver is not None
            _hand(h, actor, receiver, _note(note, errors), at)
    return h


# --- subscribers (AppConfig.ready) ---------------------------------------------------------


def on_region_changed(event: Any) -> None:
    """``region.created`` / ``region.updated``: re-arm that region's shift-end timer."""
    region = event.subject if isinstance(event.subject, Region) else None
    region = region or Region.objects.filter(pk=event.subject_id).first()
    if region is not None:
        arm_region(region)


def on_calendar_changed(event: Any) -> None:
    """``sla_calendar.changed``: shift ends of every region may have moved (a region's
    calendar may also be a union containing the changed one). The calendar cache is
    cleared first: the SLA service clears it only after publishing."""
    from caseline.sla import calendars

    calendars.invalidate()
    for region in Region.objects.all():
        arm_region(region)


def on_migrate(**kwargs: Any) -> None:
    """After ``migrate``: arm the regions that have no shift-end timer yet."""
    try:
        arm_all(missing_only=True)
    except Exception:  # a partial migrate (tables missing) must not fail the command
        log.warning("follow-the-sun hand-offs: could not arm shift-end timers", exc_info=True)


# --- reads ---------------------------------------------------------------------------------


def _queryset() -> QuerySet[Handoff]:
    return Handoff.objects.select_related(
        "escalation",
        "ticket",
        "from_user__region",
        "from_region",
        "to_region",
        "suggested_receiver__region",
        "receiver__region",
        "handed_by__region",
        "acknowledged_by__region",
    )


TO_GIVE = Q(status__in=[H.PENDING, H.ESCALATED], handed_at__isnull=True)
TO_ACKNOWLEDGE = Q(
    status__in=[H.HANDED, H.ESCALATED], handed_at__isnull=False, acknowledged_at__isnull=True
)


def list_handoffs(
    user: User,
    *,
    mine: str | None = None,
    region: str | None = None,
    status: str | None = None,
    escalation: int | None = None,
    ticket: int | None = None,
) -> QuerySet[Handoff]:
    """Handoffs, newest first. ``mine``: ``give`` (yours to hand: pending or escalated
    without a note) or ``acknowledge`` (handed to you, not acknowledged); ``region``: code
    or id, from or to; ``status``: ``open`` or a comma list."""
    qs = _queryset()
    errors: dict[str, str] = {}
    if mine == "give":
        qs = qs.filter(TO_GIVE, from_user=user)
    elif mine == "acknowledge":
        qs = qs.filter(TO_ACKNOWLEDGE, receiver=user)
    elif mine:
        errors["mine"] = "give or acknowledge"
    if region:
        r = (
            Region.objects.filter(pk=int(region)).first()
            if region.isdigit()
            else Region.objects.filter(code__iexact=region).first()
        )
        if r is None:
            errors["region"] = "no such region (a code like EMEA or an id)"
        else:
            qs = qs.filter(Q(from_region=r) | Q(to_region=r))
    if status:
        wanted = list(OPEN_STATUSES_HANDOFF) if status == "open" else status.split(",")
        bad = [s for s in wanted if s not in H.values]
        if bad:
            errors["status"] = f"open or a comma list of {', '.join(H.values)}"
        else:
            qs = qs.filter(status__in=wanted)
    if escalation is not None:
        qs = qs.filter(escalation_id=escalation)
    if ticket is not None:
        qs = qs.filter(ticket_id=ticket)
    if errors:
        raise ValidationFailed("the request is not valid", fields=errors)
    return qs.order_by("-id")


def get_handoff(handoff_id: int) -> Handoff:
    h = _queryset().filter(pk=handoff_id).first()
    if h is None:
        raise NotFound(f"no hand-off {handoff_id}")
    return h


def history(h: Handoff) -> QuerySet:
    """The handoff's audit events (on its escalation's or ticket's timeline), oldest first."""
    from caseline.audit.models import AuditEvent

    subject = ("escalation", h.escalation_id) if h.escalation_id else ("handoff", h.pk)
    return (
        AuditEvent.objects.filter(
            subject_type=subject[0],
            subject_id=subject[1],
            type__startswith="handoff.",
            data__handoff=h.pk,
        )
        .select_related("actor")
        .order_by("at", "id")
    )


def can_hand(user: User, h: Handoff) -> bool:
    return (
        h.status in OPEN_STATUSES_HANDOFF
        and h.acknowledged_at is None
        and _may_act(user, h.from_user_id)
    )


def can_acknowledge(user: User, h: Handoff) -> bool:
    return (
        h.status in (H.HANDED, H.ESCALATED)
        and h.handed_at is not None
        and h.acknowledged_at is None
        and _may_act(user, h.receiver_id)
    )


def for_item(*, escalation_id: int | None = None, ticket_id: int | None = None) -> list[Handoff]:
    qs = _queryset()
    qs = qs.filter(escalation_id=escalation_id) if escalation_id else qs.filter(ticket_id=ticket_id)
    return list(qs.order_by("-id")[:20])
