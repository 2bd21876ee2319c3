"""Calls and visits of an escalation: scheduled customer calls, internal calls and onsite
visits with attendees, agenda, location / dial-in, notes and action items
(docs/escalations.md "Calls and visits").

Use-cases (each one transaction with its audit event, side effects as outbox rows and
timers in the same transaction) and the reads of the API and the room panel. Validation
helpers are the escalation services' own (``services._text``, ``_aware``, ``_staff`` ...).

* Scheduling writes an invitation email to every attendee with an ``.ics`` attachment
  (``ics.build``: METHOD:REQUEST, the call's stable UID, SEQUENCE). Rescheduling or
  changing what the invitation says raises SEQUENCE and sends the updated invitation;
  attendees taken off the call get a METHOD:CANCEL; cancelling the call sends a
  METHOD:CANCEL to everyone. The ``.ics`` files are written to Django's default storage
  (``escalations/calls/<call>/``, named by content hash) and attached by path.
* An open action item has a timer ``escalation.action_item_due`` at its due time (key
  ``esc-action:<item>:<due>``): when it fires the owner is reminded by email and the item
  is marked overdue. Moving the due date cancels the old timer and arms a new one;
  ticking the item done cancels it.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Prefetch, QuerySet

from caseline.accounts.models import Contact, User
from caseline.errors import Conflict, NotFound
from caseline.sla import timers
from caseline.sla.models import Timer
from caseline.timesource import now

from . import ics
from .models import ActionItem, Call, CallAttendee, Escalation
from .services import (
    MAX_AHEAD,
    _aware,
    _due_in_range,
    _invalid,
    _lock,
    _rec,
    _require_live,
    _staff,
    _text,
    _touch,
)

ACTION_ITEM_KIND = "escalation.action_item_due"
MAX_ATTENDEES = 100
MAX_DURATION = timedelta(days=14)
INVITE_FIELDS = ("kind", "title", "agenda", "location", "starts_at", "ends_at")
KIND_LABEL = dict(Call.Kind.choices)


# --- validation ----------------------------------------------------------------------------


def _kind(value: Any, errors: dict[str, str]) -> str:
    if value not in Call.Kind.values:
        errors["kind"] = f"one of {', '.join(Call.Kind.values)}"
        return Call.Kind.CUSTOMER_CALL
    return value


def _times(start: Any, end: Any, errors: dict[str, str]) -> tuple[datetime | None, datetime | None]:
    """Start in the future (at most three years ahead), end after it, at most 14 days."""
    starts = _aware(start, "starts_at", errors)
    ends = _aware(end, "ends_at", errors)
    if starts is not None and not (now() < starts <= now() + MAX_AHEAD):
        errors["starts_at"] = "in the future, at most three years ahead"
    if starts is not None and ends is not None and not (starts < ends <= starts + MAX_DURATION):
        errors["ends_at"] = "after starts_at, at most 14 days later"
    return starts, ends


def _attendees(value: Any, esc: Escalation, errors: dict[str, str]) -> list[CallAttendee]:
    """Unsaved attendee rows from ``[{contact_id} | {user_id} | {email, name}]``: a contact
    of the escalation's organization (its primary address), an active staff user, or any
    valid email address. The same address twice is kept once."""
    if not isinstance(value, list | tuple) or not value or len(value) > MAX_ATTENDEES:
        errors["attendees"] = f"a list of 1 to {MAX_ATTENDEES} attendees"
        return []
    out: dict[str, CallAttendee] = {}
    for i, item in enumerate(value):
        field = f"attendees.{i}"
        item = item if isinstance(item, dict) else {}
        given = [k for k in ("contact_id", "user_id", "email") if item.get(k) not in (None, "")]
        if len(given) != 1:
            errors[field] = "exactly one of contact_id, user_id, email"
            continue
        name = item.get("name") or ""
        if not isinstance(name, str) or len(name) > 200:
            errors[field] = "name: text of at most 200 characters"
            continue
        row: CallAttendee | None = None
        if given == ["contact_id"]:
            cid = item["contact_id"]
            contact = (
                Contact.objects.filter(pk=cid).prefetch_related("emails").first()
                if isinstance(cid, int) and not isinstance(cid, bool)
                else None
            )
            if contact is None or contact.organization_id != esc.organization_id:
                errors[field] = "not a contact of the escalation's organization"
            elif not contact.primary_email:
                errors[field] = f"{contact.name} has no email address"
            else:
                row = CallAttendee(
                    contact=contact, email=contact.primary_email, name=name or contact.name
                )
        elif given == ["user_id"]:
            sub: dict[str, str] = {}
            user = _staff(item["user_id"], field, sub)
            if sub or user is None:
                errors.update(sub)
            elif not user.email:
                errors[field] = f"{user} has no email address"
            else:
                row = CallAttendee(user=user, email=user.email, name=name or str(user))
        else:
            email = item["email"].strip() if isinstance(item["email"], str) else ""
            try:
                validate_email(email)
            except DjangoValidationError:
                errors[field] = "not a valid email address"
            else:
                row = CallAttendee(email=email, name=name.strip())
        if row is not None:
            out.setdefault(row.email.lower(), row)
    return list(out.values())


# --- the invitation ------------------------------------------------------------------------


def _organizer(esc: Escalation, actor: Any) -> ics.Person:
    """The escalation owner (else the acting staff user, else the product's address)."""
    for user in (esc.owner, actor if isinstance(actor, User) else None):
        if user is not None and user.email:
            return ics.Person(user.email, str(user))
    name, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    return ics.Person(address, name or "Caseline")


def invite_of(call: Call, organizer: ics.Person, people: list[CallAttendee]) -> ics.Invite:
    esc = call.escalation
    return ics.Invite(
        uid=call.uid,
        sequence=call.sequence,
        summary=f"[{esc.reference}] {call.title}",
        description=call.agenda,
        location=call.location,
        starts_at=call.starts_at,
        ends_at=call.ends_at,
        organizer=organizer,
        attendees=tuple(ics.Person(a.email, a.name) for a in people),
        stamp=now(),
    )


def _store_ics(call: Call, data: bytes, method: str) -> str:
    """Write the ``.ics`` to default storage under a name of its content (an equal file is
    reused); the outbox row attaches it by this path at delivery time."""
    digest = hashlib.sha256(data).hexdigest()[:16]
    name = f"escalations/calls/{call.pk}/s{call.sequence}-{method.lower()}-{digest}.ics"
    if default_storage.exists(name) and default_storage.size(name) == len(data):
        return name
    return default_storage.save(name, ContentFile(data))


def _when(call: Call) -> str:
    same_day = call.starts_at.date() == call.ends_at.date()
    end = f"{call.ends_at:%H:%M}" if same_day else f"{call.ends_at:%a %d %b %Y %H:%M}"
    return f"{call.starts_at:%a %d %b %Y %H:%M} - {end} UTC"


def _send(
    call: Call,
    actor: Any,
    method: str,
    people: list[CallAttendee],
    *,
    key: str,
    headline: str,
    note: str = "",
) -> dict[str, Any] | None:
    """One outbox email to ``people`` with the call's ``.ics`` (``method``) attached."""
    if not people:
        return None
    from caseline.notify.services import enqueue_email

    esc = call.escalation
    organizer = _organizer(esc, actor)
    data = ics.build(invite_of(call, organizer, people), method)
    path = _store_ics(call, data, method)
    label = KIND_LABEL[call.kind]
    lines = [
        headline,
        "",
        f"{label}: {call.title}",
        f"Escalation: {esc.reference} {esc.title}",
        f"When: {_when(call)}",
        f"Where: {call.location or '-'}",
        f"Organizer: {organizer.name} <{organizer.email}>",
    ]
    if note:
        lines += ["", note]
    if call.agenda:
        lines += ["", "Agenda:", call.agenda]
    lines += ["", "Attendees:"] + [
        f"- {a.name} <{a.email}>" if a.name else f"- {a.email}" for a in people
    ]
    lines += ["", "The calendar invitation is attached (invite.ics)."]
    prefix = {"REQUEST": "Invitation" if call.sequence == 0 else "Updated invitation"}.get(
        method, "Cancelled"
    )
    row = enqueue_email(
        key=key,
        to=[a.email for a in people],
        subject=f"[{esc.reference}] {prefix}: {call.title} ({call.starts_at:%d %b %H:%M} UTC)",
        text="\n".join(lines) + "\n",
        reply_to=[organizer.email],
        subject_type="escalation",
        subject_id=esc.pk,
        attachments=[
            {"filename": "invite.ics", "content_type": ics.content_type(method), "path": path}
        ],
    )
    return {"outbox": row.pk, "method": method, "to": [a.email for a in people], "ics": path}


def _uid(esc: Escalation) -> str:
    return f"esc{esc.pk}-call-{uuid.uuid4().hex}@{settings.CASELINE_MAIL_DOMAIN}"


def _lock_call(call_id: int) -> tuple[Escalation, Call]:
    """Lock the escalation, then the call (the order every escalation service uses)."""
    esc_id = Call.objects.filter(pk=call_id).values_list("escalation_id", flat=True).first()
    if esc_id is None:
        raise NotFound(f"no call {call_id}")
    esc = _lock(esc_id)
    call = Call.objects.select_for_update().filter(pk=call_id).first()
    if call is None:
        raise NotFound(f"no call {call_id}")
    call.escalation = esc
    return esc, call


def _require_scheduled(call: Call) -> None:
    if call.status != Call.Status.SCHEDULED:
        raise Conflict(
            f"the call is {call.status}",
            fields={"status": f"{call.status}: only a scheduled call changes"},
            code="call_not_scheduled",
        )


# --- calls ----------------------------------------------------------------------------------


def schedule_call(
    escalation_id: int,
    actor: Any,
    *,
    kind: str = Call.Kind.CUSTOMER_CALL,
    title: str,
    starts_at: Any,
    ends_at: Any,
    attendees: list[dict[str, Any]],
    agenda: str = "",
    location: str = "",
) -> Call:
    """Schedule a call or visit and invite its attendees (email with an ``.ics``)."""
    errors: dict[str, str] = {}
    kind = _kind(kind, errors)
    title = _text(title, "title", errors, required=True, limit=300)
    agenda = _text(agenda, "agenda", errors, required=False, limit=20000)
    location = _text(location, "location", errors, required=False, limit=500)
    starts, ends = _times(starts_at, ends_at, errors)
    esc = Escalation.objects.filter(pk=escalation_id).first()
    if esc is None:
        raise NotFound(f"no escalation ESC-{escalation_id}")
    people = _attendees(attendees, esc, errors)
    _invalid(errors)
    with transaction.atomic():
        esc = _lock(escalation_id)
        _require_live(esc)
        at = now()
        call = Call.objects.create(
            escalation=esc,
            kind=kind,
            title=title,
            agenda=agenda,
            location=location,
            starts_at=starts,
            ends_at=ends,
            uid=_uid(esc),
            created_by=actor if isinstance(actor, User) else None,
            created_at=at,
            updated_at=at,
        )
        for row in people:
            row.call = call
        CallAttendee.objects.bulk_create(people)
        sent = _send(
            call,
            actor,
            ics.REQUEST,
            people,
            key=f"esc-call-{call.pk}-s0-request",
            headline=f"You are invited to a {KIND_LABEL[kind].lower()} on {esc.reference}.",
        )
        _touch(esc, at)
        _rec(
            esc,
            "escalation.call_scheduled",
            actor,
            at=at,
            data={
                "call": call.pk,
                "kind": kind,
                "title": title,
                "starts_at": starts,
                "ends_at": ends,
                "attendees": [a.email for a in people],
                "invitation": sent,
            },
        )
    return call


def update_call(call_id: int, actor: Any, **changes: Any) -> Call:
    """Change a call. ``notes`` may change on a scheduled or held call; anything the
    invitation says (kind, title, agenda, location, start, end, attendees) only on a
    scheduled one, and then SEQUENCE goes up and the updated invitation goes to the
    attendees (people taken off the call get a cancellation)."""
    errors: dict[str, str] = {}
    unknown = set(changes) - {*INVITE_FIELDS, "attendees", "notes"}
    if unknown:
        errors.update({k: "not a field of a call" for k in sorted(unknown)})
    _invalid(errors)
    with transaction.atomic():
        esc, call = _lock_call(call_id)
        before = {f: getattr(call, f) for f in (*INVITE_FIELDS, "notes")}
        if "kind" in changes:
            call.kind = _kind(changes["kind"], errors)
        for field, limit in (("title", 300), ("agenda", 20000), ("location", 500)):
            if field in changes:
                value = _text(changes[field], field, errors, required=field == "title", limit=limit)
                setattr(call, field, value)
        if "notes" in changes:
            call.notes = _text(changes["notes"], "notes", errors, required=False, limit=50000)
        if "starts_at" in changes or "ends_at" in changes:
            starts, ends = _times(
                changes.get("starts_at", call.starts_at),
                changes.get("ends_at", call.ends_at),
                errors,
            )
            if starts is not None and ends is not None:
                call.starts_at, call.ends_at = starts, ends
        old_people = list(call.attendees.order_by("id"))
        new_people = old_people
        if "attendees" in changes:
            new_people = _attendees(changes["attendees"], esc, errors)
        _invalid(errors)
        diff = {f: (v, getattr(call, f)) for f, v in before.items() if getattr(call, f) != v}
        old_emails = {a.email.lower(): a for a in old_people}
        new_emails = {a.email.lower(): a for a in new_people}
        people_changed = set(old_emails) != set(new_emails)
        if people_changed:
            diff["attendees"] = (
                [a.email for a in old_people],
                [a.email for a in new_people],
            )
        if not diff:
            return call
        if call.status == Call.Status.CANCELLED or (
            call.status == Call.Status.HELD and set(diff) != {"notes"}
        ):
            _require_scheduled(call)
        at = now()
        invite_changed = bool(set(diff) - {"notes"})
        sent: list[dict[str, Any]] = []
        if invite_changed:
            call.sequence += 1
        call.updated_at = at
        call.save()
        if people_changed:
            removed = [a for k, a in old_emails.items() if k not in new_emails]
            CallAttendee.objects.filter(pk__in=[a.pk for a in removed]).delete()
            added = [a for k, a in new_emails.items() if k not in old_emails]
            for row in added:
                row.call = call
            CallAttendee.objects.bulk_create(added)
            current = list(call.attendees.order_by("id"))
            cancelled = _send(
                call,
                actor,
                ics.CANCEL,
                removed,
                key=f"esc-call-{call.pk}-s{call.sequence}-cancel-removed",
                headline=f"You were taken off this {KIND_LABEL[call.kind].lower()}.",
            )
            if cancelled:
                sent.append(cancelled)
        else:
            current = old_people
        if invite_changed:
            moved = "starts_at" in diff or "ends_at" in diff
            update = _send(
                call,
                actor,
                ics.REQUEST,
                current,
                key=f"esc-call-{call.pk}-s{call.sequence}-request",
                headline=(
                    f"The {KIND_LABEL[call.kind].lower()} on {esc.reference} was "
                    + ("rescheduled." if moved else "changed.")
                ),
            )
            if update:
                sent.append(update)
        _touch(esc, at)
        _rec(
            esc,
            "escalation.call_changed",
            actor,
            at=at,
            changes=diff,
            data={
                "call": call.pk,
                "sequence": call.sequence,
                "rescheduled": "starts_at" in diff or "ends_at" in diff,
                "invitations": sent,
            },
        )
    return call


def mark_held(call_id: int, actor: Any, *, notes: str | None = None) -> Call:
    """The call took place (409 before its start time); ``notes`` are its minutes."""
    errors: dict[str, str] = {}
    text = _text(notes, "notes", errors, required=False, limit=50000) if notes is not None else None
    _invalid(errors)
    with transaction.atomic():
        esc, call = _lock_call(call_id)
        _require_scheduled(call)
        at = now()
        if call.starts_at > at:
            raise Conflict(
                "the call has not started yet",
                fields={"starts_at": call.starts_at.isoformat()},
                code="call_not_started",
            )
        call.status = Call.Status.HELD
        call.held_at = at
        if text is not None:
            call.notes = text
        call.updated_at = at
        call.save()
        _touch(esc, at)
        _rec(
            esc,
            "escalation.call_held",
            actor,
            at=at,
            changes={"status": (Call.Status.SCHEDULED, Call.Status.HELD)},
            data={"call": call.pk, "notes": bool(call.notes)},
        )
    return call


def cancel_call(call_id: int, actor: Any, *, reason: str = "") -> Call:
    """Cancel a scheduled call: SEQUENCE goes up and every attendee gets METHOD:CANCEL."""
    errors: dict[str, str] = {}
    why = _text(reason, "reason", errors, required=False, limit=5000)
    _invalid(errors)
    with transaction.atomic():
        esc, call = _lock_call(call_id)
        _require_scheduled(call)
        at = now()
        call.status = Call.Status.CANCELLED
        call.cancelled_at = at
        call.cancel_reason = why
        call.sequence += 1
        call.updated_at = at
        call.save()
        sent = _send(
            call,
            actor,
            ics.CANCEL,
            list(call.attendees.order_by("id")),
            key=f"esc-call-{call.pk}-s{call.sequence}-cancel",
            headline=f"The {KIND_LABEL[call.kind].lower()} on {esc.reference} is cancelled.",
            note=f"Reason: {why}" if why else "",
        )
        _touch(esc, at)
        _rec(
            esc,
            "escalation.call_cancelled",
            actor,
            at=at,
            changes={"status": (Call.Status.SCHEDULED, Call.Status.CANCELLED)},
            data={"call": call.pk, "reason": why, "sequence": call.sequence, "invitation": sent},
        )
    return call


def current_ics(call: Call) -> bytes:
    """The ``.ics`` of the call as it stands (REQUEST, or CANCEL once cancelled)."""
    method = ics.CANCEL if call.status == Call.Status.CANCELLED else ics.REQUEST
    people = list(call.attendees.order_by("id"))
    return ics.build(invite_of(call, _organizer(call.escalation, None), people), method)


# --- action items ---------------------------------------------------------------------------


def _item_key(item: ActionItem) -> str:
    return f"esc-action:{item.pk}:{item.due_at.isoformat()}"


def _lock_item_timers(item_id: int) -> None:
    """Lock the item's pending timer rows before the item row: the clock loop holds a
    firing timer's row and then takes the item's, so a service waits instead of
    deadlocking with it."""
    list(
        Timer.objects.select_for_update()
        .filter(subject_type="action_item", subject_id=item_id, kind=ACTION_ITEM_KIND)
        .filter(timers.PENDING)
        .values_list("pk")
    )


def _arm_item(item: ActionItem) -> None:
    timers.schedule(ACTION_ITEM_KIND, "action_item", item.pk, item.due_at, _item_key(item))


def add_action_item(
    call_id: int, actor: Any, *, what: str, owner_id: int, due_at: Any
) -> ActionItem:
    errors: dict[str, str] = {}
    what = _text(what, "what", errors, required=True, limit=500)
    owner = _staff(owner_id, "owner_id", errors)
    due = _aware(due_at, "due_at", errors)
    _due_in_range(due, errors)
    _invalid(errors)
    with transaction.atomic():
        esc, call = _lock_call(call_id)
        if call.status == Call.Status.CANCELLED:
            _require_scheduled(call)
        at = now()
        item = ActionItem.objects.create(
            call=call,
            escalation=esc,
            what=what,
            owner=owner,
            due_at=due,
            created_at=at,
            created_by=actor if isinstance(actor, User) else None,
        )
        _arm_item(item)
        _touch(esc, at)
        _rec(
            esc,
            "escalation.action_item_added",
            actor,
            at=at,
            data={
                "call": call.pk,
                "action_item": item.pk,
                "what": what,
                "owner": owner.pk,
                "due_at": due,
            },
        )
    return item


def update_action_item(item_id: int, actor: Any, **changes: Any) -> ActionItem:
    """Change ``what``, ``owner_id``, ``due_at`` (re-arms the reminder) or tick ``done``
    (who and when recorded; cancels the reminder; unticking re-arms it)."""
    errors: dict[str, str] = {}
    unknown = set(changes) - {"what", "owner_id", "due_at", "done"}
    if unknown:
        errors.update({k: "not a field of an action item" for k in sorted(unknown)})
    what = owner = due = None
    if "what" in changes:
        what = _text(changes["what"], "what", errors, required=True, limit=500)
    if "owner_id" in changes:
        owner = _staff(changes["owner_id"], "owner_id", errors)
    if "due_at" in changes:
        due = _aware(changes["due_at"], "due_at", errors)
    if "done" in changes and not isinstance(changes["done"], bool):
        errors["done"] = "true or false"
    _invalid(errors)
    esc_id = ActionItem.objects.filter(pk=item_id).values_list("escalation_id", flat=True).first()
    if esc_id is None:
        raise NotFound(f"no action item {item_id}")
    with transaction.atomic():
        esc = _lock(esc_id)
        _lock_item_timers(item_id)
        item = ActionItem.objects.select_for_update().filter(pk=item_id).first()
        if item is None:
            raise NotFound(f"no action item {item_id}")
        at = now()
        diff: dict[str, tuple[Any, Any]] = {}
        if what is not None and what != item.what:
            diff["what"] = (item.what, what)
            item.what = what
        if owner is not None and owner.pk != item.owner_id:
            diff["owner"] = (item.owner_id, owner.pk)
            item.owner = owner
        if due is not None and due != item.due_at:
            _due_in_range(due, errors)
            _invalid(errors)
            timers.cancel(_item_key(item))
            diff["due_at"] = (item.due_at, due)
            item.due_at = due
            item.overdue_at = None
        if "done" in changes and changes["done"] != (item.done_at is not None):
            done = changes["done"]
            diff["done"] = (not done, done)
            item.done_at = at if done else None
            item.done_by = actor if done and isinstance(actor, User) else None
        if not diff:
            return item
        item.save()
        if item.done_at is not None:
            timers.cancel(_item_key(item))
        else:
            _arm_item(item)
        _touch(esc, at)
        _rec(
            esc,
            "escalation.action_item_done"
            if diff.get("done") == (False, True)
            else "escalation.action_item_changed",
            actor,
            at=at,
            changes=diff,
            data={"call": item.call_id, "action_item": item.pk},
        )
    return item


@timers.handler(ACTION_ITEM_KIND)
def action_item_overdue(timer: Timer) -> None:
    """An open action item passed its due time: mark it overdue and remind its owner. A
    timer of an older due date, or of an item done since, does nothing."""
    item = (
        ActionItem.objects.select_for_update(of=("self",))
        .select_related("escalation", "owner", "call")
        .filter(pk=timer.subject_id, done_at__isnull=True, overdue_at__isnull=True)
        .first()
    )
    if item is None or timer.key != _item_key(item) or item.due_at > now():
        return
    at = now()
    ActionItem.objects.filter(pk=item.pk).update(overdue_at=at)
    esc = item.escalation
    sent = None
    if item.owner.is_active and item.owner.email:
        from caseline.notify.services import enqueue_email

        enqueue_email(
            key=f"{timer.key}:email",
            to=[item.owner.email],
            subject=f"[{esc.reference}] Action item overdue: {item.what}",
            text=(
                f'The action item "{item.what}" from the {KIND_LABEL[item.call.kind].lower()} '
                f'"{item.call.title}" ({esc.reference}) was due at '
                f"{item.due_at:%Y-%m-%d %H:%M} UTC and is still open.\n"
                "Tick it done in Caseline, or move its due date.\n"
            ),
            subject_type="escalation",
            subject_id=esc.pk,
        )
        sent = item.owner.email
    _rec(
        esc,
        "escalation.action_item_overdue",
        None,
        at=at,
        data={
            "call": item.call_id,
            "action_item": item.pk,
            "due_at": item.due_at,
            "owner": item.owner_id,
            "email": sent,
        },
    )


# --- reads ----------------------------------------------------------------------------------


def calls_of(escalation_id: int) -> QuerySet[Call]:
    """The escalation's calls (404 when it does not exist), attendees and items loaded."""
    if not Escalation.objects.filter(pk=escalation_id).exists():
        raise NotFound(f"no escalation ESC-{escalation_id}")
    return (
        Call.objects.filter(escalation_id=escalation_id)
        .select_related("escalation__owner")
        .prefetch_related(
            Prefetch("attendees", queryset=CallAttendee.objects.order_by("id")),
            Prefetch(
                "action_items",
                queryset=ActionItem.objects.select_related("owner", "done_by").order_by(
                    "due_at", "id"
                ),
            ),
        )
        .order_by("starts_at", "id")
    )


def get_call(call_id: int) -> Call:
    call = (
        Call.objects.filter(pk=call_id)
        .select_related("escalation__owner")
        .prefetch_related(
            Prefetch("attendees", queryset=CallAttendee.objects.order_by("id")),
            Prefetch(
                "action_items",
                queryset=ActionItem.objects.select_related("owner", "done_by").order_by(
                    "due_at", "id"
                ),
            ),
        )
        .first()
    )
    if call is None:
        raise NotFound(f"no call {call_id}")
    return call


def get_action_item(item_id: int) -> ActionItem:
    item = ActionItem.objects.select_related("owner", "done_by").filter(pk=item_id).first()
    if item is None:
        raise NotFound(f"no action item {item_id}")
    return item


def ics_filename(call: Call) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", call.title).strip("-").lower()[:40] or "call"
    return f"{call.escalation.reference.lower()}-{slug}.ics"
