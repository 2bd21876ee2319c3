"""Use-cases of the tickets app: the only code that changes tickets, messages,
attachments, followers, CCs, links, merges and custom field definitions.

Every service is one ``transaction.atomic()`` that validates its whole input first (a
refusal raises a :mod:`caseline.errors` exception and changes nothing), writes the rows,
and appends audit events with ``record(..., ticket_id=ticket.id, changes={field: (old,
new)})`` so the ticket timeline reads field by field. Permission checks belong to the API;
services only enforce what no caller may do (customers writing internal notes, staff
rating satisfaction, solving without an assignee, ...).

Services accept model instances or ids for references, so the API, the admin, the mail
importer and the demo seeder share them.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from caseline.accounts.models import Contact, Organization, ProductArea, Team, User
from caseline.accounts.services import resolve_merged
from caseline.audit.services import record
from caseline.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from caseline.events import DomainEvent, publish
from caseline.text.html import clean_html, html_to_text
from caseline.timesource import now

from .assignment import auto_assign
from .models import (
    Attachment,
    Channel,
    CustomField,
    CustomFieldValue,
    Message,
    Priority,
    Severity,
    Tag,
    Ticket,
    TicketLink,
)
from .states import Status, check_transition
from .triage import apply_triage

SUBJECT_MAX = 300
TEXT_VALUE_MAX = 10_000
TAG_MAX = 80
SATISFACTION_VALUES = ("good", "bad", "")

# --- shared helpers ---------------------------------------------------------------------


class _Errors:
    """Collects every field problem of one input, so the caller sees them all at once."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}

    def add(self, field: str, message: str) -> None:
        self.fields.setdefault(field, message)

    def raise_if_any(self, message: str = "the request is not valid") -> None:
        if self.fields:
            raise ValidationFailed(message, fields=dict(self.fields))


def is_staff(user: Any) -> bool:
    return user is not None and getattr(user, "kind", None) == User.Kind.STAFF


def is_customer(user: Any) -> bool:
    return user is not None and getattr(user, "kind", None) == User.Kind.CUSTOMER


def _as_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _resolve(errors: _Errors, field: str, value: Any, model, label: str, queryset=None):
    """A model instance from an instance or an id (None stays None)."""
    if value is None:
        return None
    if isinstance(value, model):
        return value
    pk = _as_id(value)
    if pk is None:
        errors.add(field, "must be an id")
        return None
    found = (queryset if queryset is not None else model.objects).filter(pk=pk).first()
    if found is None:
        errors.add(field, f"no {label} with id {pk}")
    return found


def _active_staff(errors: _Errors, field: str, value: Any) -> User | None:
    user = _resolve(errors, field, value, User, "user")
    if user is not None and (not is_staff(user) or not user.is_active):
        errors.add(field, f"user {user.pk} is not an active staff user")
        return None
    return user


def _severity(errors: _Errors, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value not in Severity.values:
        errors.add("severity", "must be between 1 and 4 (Sev-1 ... Sev-4)")
        return None
    return value


def _priority(errors: _Errors, value: Any) -> str | None:
    if value is None:
        return None
    if value not in Priority.values:
        errors.add("priority", f"must be one of {', '.join(Priority.values)}")
        return None
    return str(value)


def _channel(errors: _Errors, value: Any, field: str = "channel") -> str:
    if value not in Channel.values:
        errors.add(field, f"must be one of {', '.join(Channel.values)}")
        return Channel.WEB
    return str(value)


def _subject(errors: _Errors, value: Any) -> str:
    subject = " ".join(str(value or "").split())
    if not subject:
        errors.add("subject", "required")
    elif len(subject) > SUBJECT_MAX:
        errors.add("subject", f"at most {SUBJECT_MAX} characters")
    return subject


_TAG_BAD = re.compile(r"[\s,]")


def clean_tags(errors: _Errors, values: Any) -> list[str]:
    """Tag names as stored (NFKC, lower-case, unique); problems go to ``errors["tags"]``."""
    if values is None:
        return []
    if isinstance(values, str) or not isinstance(values, Iterable):
        errors.add("tags", "must be a list of tag names")
        return []
    names: list[str] = []
    for raw in values:
        if isinstance(raw, Tag):
            raw = raw.name
        name = unicodedata.normalize("NFKC", str(raw)).strip().lower()
        if not name:
            errors.add("tags", "a tag must not be empty")
        elif len(name) > TAG_MAX:
            errors.add("tags", f"a tag has at most {TAG_MAX} characters")
        elif _TAG_BAD.search(name):
            errors.add("tags", f"tag {name!r} must not contain spaces or commas")
        elif name not in names:
            names.append(name)
    return names


def _tag_rows(names: Sequence[str]) -> list[Tag]:
    """Tag rows for ``names``, creating missing ones (safe under concurrent creation)."""
    if not names:
        return []
    existing = {t.name: t for t in Tag.objects.filter(name__in=names)}
    missing = [Tag(name=n) for n in names if n not in existing]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {t.name: t for t in Tag.objects.filter(name__in=names)}
    return [existing[n] for n in names]


# --- custom fields: values ---------------------------------------------------------------

_NUMBER_LIMIT = Decimal("1e14")


def parse_custom_value(cf: CustomField, value: Any) -> tuple[Any, str | None]:
    """(parsed value, error) for one value of custom field ``cf``; None/"" clears."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    if cf.type == CustomField.Type.TEXT:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            return None, "must be text"
        text = str(value).strip()
        if len(text) > TEXT_VALUE_MAX:
            return None, f"at most {TEXT_VALUE_MAX} characters"
        return text, None
    if cf.type == CustomField.Type.NUMBER:
        if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
            return None, "must be a number"
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            return None, "must be a number"
        if not number.is_finite() or abs(number) >= _NUMBER_LIMIT:
            return None, "must be a finite number below 10^14"
        return number.quantize(Decimal("0.000001")), None
    if cf.type == CustomField.Type.CHOICE:
        if not isinstance(value, str) or value not in (cf.choices or []):
            allowed = ", ".join(str(c) for c in cf.choices or []) or "none defined"
            return None, f"must be one of: {allowed}"
        return value, None
    if cf.type == CustomField.Type.DATE:
        if isinstance(value, date):
            return value, None
        if not isinstance(value, str):
            return None, "must be an ISO date (YYYY-MM-DD)"
        try:
            return date.fromisoformat(value.strip()), None
        except ValueError:
            return None, "must be an ISO date (YYYY-MM-DD)"
    return None, f"unknown field type {cf.type!r}"


def custom_value_json(value: Any) -> Any:
    """A stored custom field value as JSON (numbers as int when whole, dates ISO)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def _custom_fields(
    errors: _Errors, values: Any, *, allow_inactive_clear: bool = True
) -> dict[str, tuple[CustomField, Any]]:
    """{key: (definition, parsed value or None to clear)} for a {key: value} input."""
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        errors.add("custom_fields", "must be an object of {key: value}")
        return {}
    if not values:
        return {}
    defs = {cf.key: cf for cf in CustomField.objects.filter(key__in=list(values))}
    out: dict[str, tuple[CustomField, Any]] = {}
    for key, raw in values.items():
        cf = defs.get(key)
        if cf is None:
            errors.add(f"custom_fields.{key}", "unknown custom field")
            continue
        parsed, problem = parse_custom_value(cf, raw)
        if problem:
            errors.add(f"custom_fields.{key}", problem)
            continue
        if not cf.active and not (allow_inactive_clear and parsed is None):
            errors.add(f"custom_fields.{key}", "this custom field is no longer active")
            continue
        out[key] = (cf, parsed)
    return out


def _current_custom_values(ticket: Ticket) -> dict[str, Any]:
    return {fv.field.key: fv.value for fv in ticket.field_values.select_related("field").order_by()}


def _write_custom_values(ticket: Ticket, values: dict[str, tuple[CustomField, Any]]) -> None:
    for _key, (cf, parsed) in values.items():
        if parsed is None:
            CustomFieldValue.objects.filter(ticket=ticket, field=cf).delete()
            continue
        slot = {
            CustomField.Type.NUMBER: "value_number",
            CustomField.Type.DATE: "value_date",
        }.get(cf.type, "value_text")
        defaults = {"value_text": None, "value_number": None, "value_date": None, slot: parsed}
        CustomFieldValue.objects.update_or_create(ticket=ticket, field=cf, defaults=defaults)


# --- attachments ------------------------------------------------------------------------

_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]+")


def _clean_filename(name: Any) -> str:
    base = os.path.basename(str(name or "").replace("\\", "/")).strip()
    base = _UNSAFE_NAME.sub("_", base).strip(". ") or "attachment"
    if len(base) > 200:
        stem, ext = os.path.splitext(base)
        base = stem[: 200 - len(ext[:20])] + ext[:20]
    return base


def _attachments(errors: _Errors, items: Any) -> list[tuple[str, str, bytes]]:
    """Validate (filename, content_type, bytes) tuples; nothing is stored here."""
    if not items:
        return []
    limit = settings.ATTACHMENT_MAX_BYTES
    out: list[tuple[str, str, bytes]] = []
    for i, item in enumerate(items):
        try:
            filename, content_type, data = item
        except (TypeError, ValueError):
            errors.add(f"attachments.{i}", "must be (filename, content_type, bytes)")
            continue
        if isinstance(data, str):
            data = data.encode()
        if not isinstance(data, (bytes, bytearray, memoryview)):
            errors.add(f"attachments.{i}", "content must be bytes")
            continue
        data = bytes(data)
        if len(data) > limit:
            errors.add(
                f"attachments.{i}",
                f"{_clean_filename(filename)} is {len(data)} bytes; the limit is {limit} bytes",
            )
            continue
        ctype = str(content_type or "application/octet-stream").strip()[:150]
        out.append((_clean_filename(filename), ctype or "application/octet-stream", data))
    return out


def _store_attachments(
    message: Message, items: list[tuple[str, str, bytes]], at
) -> list[Attachment]:
    """Write files through Django's default storage (content-addressed, de-duplicated).

    Files are written only after the whole input validated. A file left behind by a
    rolled-back transaction is harmless: its path is derived from its content.
    """
    field = Attachment._meta.get_field("file")
    rows: list[Attachment] = []
    for filename, ctype, data in items:
        att = Attachment(
            message=message,
            filename=filename,
            content_type=ctype,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            created_at=at,
        )
        name = field.generate_filename(att, filename)
        if default_storage.exists(name) and default_storage.size(name) == len(data):
            att.file.name = name
        else:
            att.file.name = default_storage.save(name, ContentFile(data))
        att.save()
        rows.append(att)
    return rows


# --- small status helper shared by the services -----------------------------------------


def _lock(ticket: Ticket | int) -> Ticket:
    pk = ticket.pk if isinstance(ticket, Ticket) else _as_id(ticket)
    locked = Ticket.objects.select_for_update().filter(pk=pk).first() if pk else None
    if locked is None:
        raise NotFound(f"no ticket with id {pk}")
    return locked


def _sync(target: Any, source: Ticket) -> None:
    """Copy the fresh state of ``source`` onto the caller's instance."""
    if isinstance(target, Ticket) and target is not source:
        target.refresh_from_db()


def _change_status(ticket: Ticket, new: str, *, actor, at, reason: str) -> None:
    """Move ``ticket`` to ``new`` through the state machine and record it."""
    old = ticket.status
    if old == new:
        return
    check_transition(old, new)
    ticket.status = new
    fields = ["status", "updated_at"]
    if new == Status.SOLVED:
        ticket.solved_at = at
        fields.append("solved_at")
    elif new == Status.CLOSED:
        ticket.closed_at = at
        fields.append("closed_at")
    if old == Status.SOLVED and new != Status.CLOSED:
        ticket.solved_at = None
        fields.append("solved_at")
    ticket.updated_at = at
    ticket.save(update_fields=fields)
    data: dict[str, Any] = {"reason": reason}
    if old == Status.SOLVED and new == Status.OPEN:
        data["reopened"] = True
    record(
        "ticket.status_changed",
        "ticket",
        ticket.pk,
        actor=actor,
        at=at,
        ticket_id=ticket.pk,
        changes={"status": (old, new)},
        data=data,
    )


def _solved(ticket: Ticket, *, actor, at) -> None:
    """Record ticket.solved and tell the organization's SC (outbox) when they are not
    the solver and the organization includes its SC."""
    rows = record(
        "ticket.solved",
        "ticket",
        ticket.pk,
        actor=actor,
        at=at,
        ticket_id=ticket.pk,
        data={"assignee": ticket.assignee_id, "solved_by": getattr(actor, "pk", None)},
    )
    org = ticket.organization
    if org is None or not org.include_sc or org.sales_consultant_id is None:
        return
    sc = org.sales_consultant
    if sc is None or not sc.is_active or not sc.email:
        return
    if actor is not None and getattr(actor, "pk", None) == sc.pk:
        return
    from caseline.notify.services import enqueue_email

    solver = str(actor) if actor is not None else "the system"
    assignee = str(ticket.assignee) if ticket.assignee_id else "nobody"
    text = (
        f"{ticket.reference} of {org.name} was solved by {solver} "
        f"at {at:%Y-%m-%d %H:%M} UTC.\n\n"
        f"Subject:   {ticket.subject}\n"
        f"Requester: {ticket.requester.name}\n"
        f"Severity:  Sev-{ticket.severity}\n"
        f"Assignee:  {assignee}\n\n"
        f"You receive this because you are the sales consultant of {org.name}.\n"
    )
    enqueue_email(
        key=f"ticket-{ticket.pk}-solved-{rows[0].pk}",
        to=[sc.email],
        subject=f"[{ticket.reference}] solved: {ticket.subject}",
        text=text,
        subject_type="ticket",
        subject_id=ticket.pk,
    )


def _add_sc_follower(ticket: Ticket, *, actor, at, followers: set[int] | None = None) -> None:
    """Add the organization's SC as follower. ``followers``: the ticket's follower ids
    when the caller knows them all (a ticket created in this transaction), else read."""
    org = ticket.organization
    if org is None or not org.include_sc or org.sales_consultant_id is None:
        return
    if followers is not None and org.sales_consultant_id in followers:
        return
    sc = org.sales_consultant
    if sc is None or not sc.is_active or not is_staff(sc):
        return
    if followers is None and ticket.followers.filter(pk=sc.pk).exists():
        return
    ticket.followers.add(sc)
    record(
        "ticket.follower_added",
        "ticket",
        ticket.pk,
        actor=actor,
        at=at,
        ticket_id=ticket.pk,
        changes={"followers": (None, sc.pk)},
        data={"kind": "follower", "user_id": sc.pk, "reason": "sales_consultant"},
    )


# --- create -----------------------------------------------------------------------------


# What a customer may not choose when opening a ticket (agents decide these), keyed by
# the create_ticket argument.
CUSTOMER_CREATE_REFUSED = (
    "team",
    "organization",
    "assignee",
    "priority",
    "tags",
    "ccs",
    "external_id",
)
CUSTOMER_CHANNELS = (Channel.WEB, Channel.API)


def _customer_create_rules(actor: User, requester: Any, channel: Any, given: Mapping[str, Any]):
    """The rules of a customer opening a ticket, for every channel: they open it as
    themselves (``requester`` None, their contact, its id or one of its emails), through
    the web or the API (default web), and set none of :data:`CUSTOMER_CREATE_REFUSED`.
    Returns (contact, channel); PermissionDenied / ValidationFailed otherwise."""
    contact = getattr(actor, "contact", None)
    if contact is None:
        raise PermissionDenied("this customer account has no contact to open tickets as")
    refused = [k for k in CUSTOMER_CREATE_REFUSED if given.get(k) not in (None, "", [], ())]
    if refused:
        raise PermissionDenied(
            "customers cannot set these fields", fields={k: "staff only" for k in refused}
        )
    if requester is not None:
        if isinstance(requester, Contact):
            same = requester.pk == contact.pk
        elif isinstance(requester, Mapping):
            mine = {e.lower() for e in contact.emails.values_list("email", flat=True)}
            same = str(requester.get("email", "")).strip().lower() in mine
        else:
            same = _as_id(requester) == contact.pk
        if not same:
            raise PermissionDenied(
                "customers open tickets as themselves", fields={"requester": "must be you"}
            )
    channel = channel or Channel.WEB
    if channel not in CUSTOMER_CHANNELS:
        raise ValidationFailed(
            "the ticket is not valid", fields={"channel": "customers use web or api"}
        )
    return contact, channel


def create_ticket(
    *,
    actor: User | None,
    requester: Contact | int | Mapping[str, Any] | None = None,
    subject: str,
    body_text: str = "",
    body_html: str = "",
    channel: str | None = None,
    severity: int | None = None,
    priority: str | None = None,
    product_area: ProductArea | int | None = None,
    team: Team | int | None = None,
    organization: Organization | int | None = None,
    assignee: User | int | None = None,
    tags: Iterable[str] = (),
    custom_fields: Mapping[str, Any] | None = None,
    ccs: Iterable[Contact | int] = (),
    attachments: Iterable[tuple[str, str, bytes]] = (),
    external_id: str = "",
    email_message_id: str = "",
    savepoint: bool = True,
) -> Ticket:
    """Create a ticket with its first public message (authored by the requester, also
    when an agent logs it on the customer's behalf: the agent is the audit actor), then
    triage it, auto-assign it when it has a team but no assignee, and add the
    organization's SC as follower. ``organization`` defaults to the requester's.
    ``requester`` is a Contact, a contact id, or {"email", "name"} (found or created in
    the same transaction, so a refused ticket leaves no new contact behind).

    A customer ``actor`` opens tickets as themselves only, through web or api (the
    default: web), and may not set team, organization, assignee, priority, tags, CCs or
    external id (:func:`_customer_create_rules`; the same for every channel).

    Audit: "ticket.created" (one timeline row per initial field) is appended first but
    published last, so subscribers see the triaged and assigned ticket.

    The returned ticket carries ``known_details`` (tags, custom field values, CCs, links
    and the requester's email as written) so a caller can answer without reading it again,
    and ``first_message`` (the Message row created with it).

    ``savepoint=False`` is for a caller that holds a transaction which any failure here
    rolls back entirely anyway (the mail ingest): no SAVEPOINT/RELEASE round trips. Do not
    use it when the caller catches the refusal and goes on in the same transaction.
    """
    tags = list(tags or ())
    ccs = list(ccs or ())
    if is_customer(actor):
        requester, channel = _customer_create_rules(
            actor,
            requester,
            channel,
            {
                "team": team,
                "organization": organization,
                "assignee": assignee,
                "priority": priority,
                "tags": tags,
                "ccs": ccs,
                "external_id": external_id,
            },
        )
    with transaction.atomic(savepoint=savepoint):
        return _create_ticket(
            actor=actor,
            requester=requester,
            subject=subject,
            body_text=body_text,
            body_html=body_html,
            channel=channel,
            severity=severity,
            priority=priority,
            product_area=product_area,
            team=team,
            organization=organization,
            assignee=assignee,
            tags=tags,
            custom_fields=custom_fields,
            ccs=ccs,
            attachments=attachments,
            external_id=external_id,
            email_message_id=email_message_id,
        )


def _find_or_create_contact(email: Any, name: Any, actor) -> Contact:
    """The contact owning ``email`` (or a new one), through the accounts service."""
    try:
        from caseline.accounts import services as accounts_services
    except ImportError:  # pragma: no cover - the accounts services always ship
        accounts_services = None
    finder = getattr(accounts_services, "find_or_create_contact", None)
    if finder is not None:
        return finder(str(email or ""), str(name or ""), actor=actor)
    from django.core.exceptions import ValidationError as DjangoValidationError
    from django.core.validators import validate_email

    address = str(email or "").strip().lower()
    try:
        validate_email(address)
    except DjangoValidationError:
        raise ValidationFailed("invalid email", fields={"requester.email": "not an email"})
    from caseline.accounts.models import ContactEmail

    row = ContactEmail.objects.filter(email__iexact=address).select_related("contact").first()
    if row is not None:
        return resolve_merged(row.contact)
    contact = Contact.objects.create(name=str(name or "").strip()[:200] or address)
    ContactEmail.objects.create(contact=contact, email=address, is_primary=True)
    return contact


def _create_ticket(
    *,
    actor,
    requester,
    subject,
    body_text,
    body_html,
    channel,
    severity,
    priority,
    product_area,
    team,
    organization,
    assignee,
    tags,
    custom_fields,
    ccs,
    attachments,
    external_id,
    email_message_id,
) -> Ticket:
    errors = _Errors()
    subject = _subject(errors, subject)
    channel = _channel(errors, channel)
    severity = _severity(errors, severity)
    priority = _priority(errors, priority)
    if isinstance(requester, Mapping):
        if not requester.get("email"):
            errors.add("requester.email", "required")
            contact = None
        else:
            try:
                contact = _find_or_create_contact(
                    requester.get("email"), requester.get("name"), actor
                )
            except ValidationFailed as exc:
                errors.add("requester.email", exc.fields.get("email") or exc.message)
                contact = None
    else:
        contact = _resolve(errors, "requester", requester, Contact, "contact")
    if contact is None and not any(k.startswith("requester") for k in errors.fields):
        errors.add("requester", "required")
    if contact is not None:
        contact = resolve_merged(contact)
    area = _resolve(errors, "product_area", product_area, ProductArea, "product area")
    team_obj = _resolve(errors, "team", team, Team, "team")
    org = _resolve(errors, "organization", organization, Organization, "organization")
    assignee_obj = _active_staff(errors, "assignee", assignee)
    tag_names = clean_tags(errors, tags)
    cf_values = _custom_fields(errors, custom_fields, allow_inactive_clear=False)
    cc_contacts: list[Contact] = []
    for i, cc in enumerate(ccs or ()):
        found = _resolve(errors, f"ccs.{i}", cc, Contact, "contact")
        if found is not None:
            found = resolve_merged(found)
            if found not in cc_contacts and (contact is None or found.pk != contact.pk):
                cc_contacts.append(found)
    files = _attachments(errors, attachments)
    html = clean_html(body_html or "")
    text = (body_text or "").strip() or html_to_text(html)
    external_id = str(external_id or "").strip()
    if len(external_id) > 200:
        errors.add("external_id", "at most 200 characters")
    errors.raise_if_any("the ticket is not valid")
    assert contact is not None
    if org is None and organization is None:
        org = contact.organization

    explicit = frozenset(
        name
        for name, value in (
            ("severity", severity),
            ("priority", priority),
            ("product_area", area),
            ("team", team_obj),
        )
        if value is not None
    )
    with transaction.atomic(savepoint=False):
        at = now()
        ticket = Ticket(
            subject=subject,
            requester=contact,
            organization=org,
            product_area=area,
            severity=severity if severity is not None else Severity.SEV3,
            priority=priority or Priority.NORMAL,
            status=Status.NEW,
            channel=channel,
            assignee=assignee_obj,
            team=team_obj,
            external_id=external_id,
            created_at=at,
            updated_at=at,
        )
        ticket.save()
        # Until "ticket.created" is published, subscribers of the create's earlier events
        # (triaged, assigned, follower_added) that receive this object as the event's
        # subject know the ticket is new: nothing of theirs can exist for it yet.
        ticket.in_creation = True
        message = Message.objects.create(
            ticket=ticket,
            kind=Message.Kind.PUBLIC,
            author_user=actor if is_customer(actor) else None,
            author_contact=contact,
            channel=channel,
            body_text=text,
            body_html=html,
            email_message_id=str(email_message_id or "")[:300],
            created_at=at,
        )
        _store_attachments(message, files, at)
        if tag_names:
            ticket.tags.set(_tag_rows(tag_names))
        if cc_contacts:
            ticket.ccs.add(*cc_contacts)
        if cf_values:
            _write_custom_values(ticket, cf_values)
        if assignee_obj is not None:
            ticket.followers.add(assignee_obj)

        initial: dict[str, tuple[Any, Any]] = {
            "subject": (None, subject),
            "status": (None, ticket.status),
            "channel": (None, channel),
            "requester": (None, contact.pk),
            "severity": (None, ticket.severity),
            "priority": (None, ticket.priority),
        }
        for name, value in (
            ("organization", org),
            ("product_area", area),
            ("team", team_obj),
            ("assignee", assignee_obj),
        ):
            if value is not None:
                initial[name] = (None, value.pk)
        if tag_names:
            initial["tags"] = (None, tag_names)
        for key, (_cf, parsed) in cf_values.items():
            if parsed is not None:
                initial[key] = (None, custom_value_json(parsed))
        if cc_contacts:
            initial["ccs"] = (None, [c.pk for c in cc_contacts])
        created_rows = record(
            "ticket.created",
            "ticket",
            ticket.pk,
            actor=actor,
            at=at,
            ticket_id=ticket.pk,
            changes=initial,
            data={"message_id": message.pk, "channel": channel},
            publish_event=False,
        )

        apply_triage(ticket, f"{subject}\n{text}", explicit=explicit, actor=actor)
        if ticket.team_id is not None and ticket.assignee_id is None:
            if org is not None and org.include_sc and org.sales_consultant_id is not None:
                # Read the SC (added as follower below) before auto-assignment takes the
                # team lock: the statements between that lock and the commit are what
                # concurrent creates for the team queue on.
                _ = org.sales_consultant
            auto_assign(ticket, actor=actor)
        # The followers so far: the assignee (given, or chosen by auto-assignment).
        followers = {ticket.assignee_id} if ticket.assignee_id is not None else set()
        _add_sc_follower(ticket, actor=actor, at=at, followers=followers)

        publish(
            DomainEvent(
                type="ticket.created",
                subject_type="ticket",
                subject_id=ticket.pk,
                at=at,
                actor_id=getattr(actor, "pk", None),
                audit_id=created_rows[0].pk,
                data={
                    "message_id": message.pk,
                    "channel": channel,
                    "requester_id": contact.pk,
                    "organization_id": ticket.organization_id,
                    "severity": ticket.severity,
                    "priority": ticket.priority,
                    "product_area_id": ticket.product_area_id,
                    "team_id": ticket.team_id,
                    "assignee_id": ticket.assignee_id,
                    "status": ticket.status,
                },
                subject=ticket,
            )
        )
        ticket.in_creation = False
    ticket.first_message = message
    ticket.known_details = {
        "tags": list(tag_names),
        "custom_fields": {
            key: custom_value_json(parsed)
            for key, (_cf, parsed) in sorted(cf_values.items())
            if parsed is not None
        },
        "ccs": [c.pk for c in cc_contacts],
        "links": [],
    }
    return ticket


# --- update -----------------------------------------------------------------------------

UPDATABLE = (
    "subject",
    "severity",
    "priority",
    "product_area",
    "team",
    "assignee",
    "organization",
    "status",
    "tags",
    "custom_fields",
    "satisfaction",
    "satisfaction_comment",
)
CUSTOMER_UPDATABLE = frozenset({"status", "satisfaction", "satisfaction_comment"})
_SATISFACTION = frozenset({"satisfaction", "satisfaction_comment"})


def change_tags(
    ticket: Ticket | int,
    *,
    actor: User | None,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
) -> Ticket:
    """Add and remove tags against the tags the ticket has *now*: the row is locked while
    the new set is worked out, so two agents tagging at once both keep their tags
    (``update_ticket(tags=)`` replaces the whole set). Names are normalised as there."""
    errors = _Errors()
    to_add, to_remove = clean_tags(errors, list(add)), set(clean_tags(errors, list(remove)))
    errors.raise_if_any("invalid tags")
    pk = ticket.pk if isinstance(ticket, Ticket) else ticket
    with transaction.atomic():
        locked = Ticket.objects.select_for_update(of=("self",)).filter(pk=pk).first()
        if locked is None:
            raise NotFound(f"no ticket CL-{pk}")
        current = list(locked.tags.values_list("name", flat=True))
        new = [n for n in current if n not in to_remove]
        new += [n for n in to_add if n not in new and n not in to_remove]
        if new == current:
            return locked
        return update_ticket(locked, actor=actor, tags=new)


def update_ticket(ticket: Ticket | int, *, actor: User | None, **changes: Any) -> Ticket:
    """Partial update. Keys: subject, severity, priority, product_area, team, assignee,
    organization, status, tags (replaces), custom_fields ({key: value}, None clears),
    satisfaction / satisfaction_comment (customers only).

    Status goes through the state machine (IllegalTransition = 409). Solving needs an
    assignee and every ``required_on_solve`` custom field (409 otherwise; a customer
    marking their own ticket solved is exempt). A closed ticket only takes a rating.
    """
    unknown = sorted(set(changes) - set(UPDATABLE))
    if unknown:
        raise ValidationFailed(
            "unknown ticket fields", fields={k: "unknown or read-only field" for k in unknown}
        )
    customer = is_customer(actor)
    if customer:
        refused = sorted(set(changes) - CUSTOMER_UPDATABLE)
        if refused:
            raise PermissionDenied(
                "customers may only mark their ticket solved and rate it",
                fields={k: "not allowed for customers" for k in refused},
            )
        if "status" in changes and changes["status"] != Status.SOLVED:
            raise PermissionDenied(
                "customers may only mark their ticket solved",
                fields={"status": "customers may only set solved"},
            )
    elif _SATISFACTION & set(changes):
        raise PermissionDenied(
            "only the customer rates support",
            fields={k: "customers only" for k in sorted(_SATISFACTION & set(changes))},
        )

    errors = _Errors()
    cleaned: dict[str, Any] = {}
    if "subject" in changes:
        cleaned["subject"] = _subject(errors, changes["subject"])
    if "severity" in changes:
        if changes["severity"] is None:
            errors.add("severity", "must be between 1 and 4 (Sev-1 ... Sev-4)")
        cleaned["severity"] = _severity(errors, changes["severity"])
    if "priority" in changes:
        if changes["priority"] is None:
            errors.add("priority", f"must be one of {', '.join(Priority.values)}")
        cleaned["priority"] = _priority(errors, changes["priority"])
    if "product_area" in changes:
        cleaned["product_area"] = _resolve(
            errors, "product_area", changes["product_area"], ProductArea, "product area"
        )
    if "team" in changes:
        cleaned["team"] = _resolve(errors, "team", changes["team"], Team, "team")
    if "assignee" in changes:
        cleaned["assignee"] = _active_staff(errors, "assignee", changes["assignee"])
    if "organization" in changes:
        cleaned["organization"] = _resolve(
            errors, "organization", changes["organization"], Organization, "organization"
        )
    if "status" in changes:
        status = changes["status"]
        if status not in Status.values:
            errors.add("status", f"must be one of {', '.join(Status.values)}")
        cleaned["status"] = status
    if "tags" in changes:
        cleaned["tags"] = clean_tags(errors, changes["tags"])
    cf_values = _custom_fields(errors, changes.get("custom_fields"))
    if "satisfaction" in changes:
        value = changes["satisfaction"] or ""
        if value not in SATISFACTION_VALUES:
            errors.add("satisfaction", "must be good or bad (or empty to withdraw)")
        cleaned["satisfaction"] = value
    if "satisfaction_comment" in changes:
        comment = str(changes["satisfaction_comment"] or "").strip()
        if len(comment) > TEXT_VALUE_MAX:
            errors.add("satisfaction_comment", f"at most {TEXT_VALUE_MAX} characters")
        cleaned["satisfaction_comment"] = comment
    errors.raise_if_any("the ticket change is not valid")

    with transaction.atomic():
        t = _lock(ticket)
        at = now()
        new_status = cleaned.get("status", t.status)
        if new_status != t.status:
            check_transition(t.status, new_status)
        if t.status == Status.CLOSED and (set(cleaned) - _SATISFACTION - {"status"} or cf_values):
            raise Conflict(
                "a closed ticket cannot be changed; open a follow-up ticket instead",
                fields={"status": "closed"},
            )
        final_assignee = cleaned["assignee"] if "assignee" in cleaned else t.assignee
        solving = new_status == Status.SOLVED and t.status != Status.SOLVED
        if solving and not customer:
            if final_assignee is None:
                raise Conflict(
                    "a ticket needs an assignee before it can be solved",
                    fields={"assignee": "required to solve"},
                )
            values = _current_custom_values(t)
            values.update({k: v for k, (_cf, v) in cf_values.items()})
            missing = {
                cf.key: "required to solve"
                for cf in CustomField.objects.filter(required_on_solve=True, active=True)
                if values.get(cf.key) in (None, "")
            }
            if missing:
                raise Conflict(
                    "these custom fields must be filled before solving: "
                    + ", ".join(f"custom_fields.{k}" for k in sorted(missing)),
                    fields={f"custom_fields.{k}": v for k, v in missing.items()},
                )
        if _SATISFACTION & set(cleaned) and new_status not in (Status.SOLVED, Status.CLOSED):
            raise Conflict(
                "support can be rated once the ticket is solved",
                fields={"satisfaction": "ticket not solved"},
            )

        plain: dict[str, tuple[Any, Any]] = {}
        assigned: dict[str, tuple[Any, Any]] = {}
        update_fields: list[str] = []
        for name in (
            "subject",
            "severity",
            "priority",
            "satisfaction",
            "satisfaction_comment",
        ):
            if name in cleaned and getattr(t, name) != cleaned[name]:
                plain[name] = (getattr(t, name), cleaned[name])
                setattr(t, name, cleaned[name])
                update_fields.append(name)
        for name in ("product_area", "organization", "team", "assignee"):
            if name not in cleaned:
                continue
            old_id = getattr(t, f"{name}_id")
            new_obj = cleaned[name]
            new_id = new_obj.pk if new_obj is not None else None
            if old_id != new_id:
                (assigned if name in ("team", "assignee") else plain)[name] = (old_id, new_id)
                setattr(t, name, new_obj)
                update_fields.append(name)
        old_tags: list[str] = []
        new_tags: list[str] = []
        if "tags" in cleaned:
            old_tags = sorted(t.tags.values_list("name", flat=True))
            new_tags = sorted(cleaned["tags"])
        tags_changed = "tags" in cleaned and old_tags != new_tags
        cf_changes: dict[str, tuple[Any, Any]] = {}
        if cf_values:
            current = _current_custom_values(t)
            for key, (_cf, parsed) in cf_values.items():
                old = current.get(key)
                if old != parsed:
                    cf_changes[key] = (custom_value_json(old), custom_value_json(parsed))
        status_changed = new_status != t.status

        if not (update_fields or tags_changed or cf_changes or status_changed):
            _sync(ticket, t)
            return t

        t.updated_at = at
        t.save(update_fields=[*update_fields, "updated_at"])
        if plain:
            record(
                "ticket.updated",
                "ticket",
                t.pk,
                actor=actor,
                at=at,
                ticket_id=t.pk,
                changes=plain,
            )
        if assigned:
            record(
                "ticket.assigned",
                "ticket",
                t.pk,
                actor=actor,
                at=at,
                ticket_id=t.pk,
                changes=assigned,
            )
            if t.assignee_id is not None:
                t.followers.add(t.assignee)
        if "organization" in plain:
            _add_sc_follower(t, actor=actor, at=at)
        if tags_changed:
            t.tags.set(_tag_rows(cleaned["tags"]))
            record(
                "ticket.tags_changed",
                "ticket",
                t.pk,
                actor=actor,
                at=at,
                ticket_id=t.pk,
                changes={"tags": (old_tags, new_tags)},
                data={
                    "added": sorted(set(new_tags) - set(old_tags)),
                    "removed": sorted(set(old_tags) - set(new_tags)),
                },
            )
        if cf_changes:
            _write_custom_values(t, {k: cf_values[k] for k in cf_changes})
            record(
                "ticket.custom_field_changed",
                "ticket",
                t.pk,
                actor=actor,
                at=at,
                ticket_id=t.pk,
                changes=cf_changes,
            )
        if status_changed:
            _change_status(
                t, new_status, actor=actor, at=at, reason="customer" if customer else "update"
            )
            if new_status == Status.SOLVED:
                _solved(t, actor=actor, at=at)
    _sync(ticket, t)
    return t


# --- messages ---------------------------------------------------------------------------


def add_message(
    ticket: Ticket | int,
    *,
    actor: User | None = None,
    author_contact: Contact | None = None,
    kind: str = Message.Kind.PUBLIC,
    body_text: str = "",
    body_html: str = "",
    attachments: Iterable[tuple[str, str, bytes]] = (),
    channel: str = Channel.WEB,
    email_message_id: str = "",
    actionable: bool | None = None,
    _system: bool = False,
) -> Message:
    """Add a public reply or internal note.

    The author is the customer when ``actor`` is a customer user (their contact) or when
    ``author_contact`` is given (inbound mail, an agent logging a call: the agent stays the
    audit actor); otherwise the staff ``actor``. Customers cannot write internal notes.
    HTML is sanitised (text derived from it when empty); attachments over
    ``ATTACHMENT_MAX_BYTES`` are refused (422) before anything is stored.

    Status: a customer's public message moves a pending or solved ticket to open (solved ->
    open is a reopen); a staff public reply moves a new ticket to open. A closed ticket
    takes no messages (409).
    """
    errors = _Errors()
    if kind not in Message.Kind.values:
        errors.add("kind", "must be public or internal")
    channel = _channel(errors, channel)
    if is_customer(actor):
        contact = actor.contact
        if contact is None:
            raise PermissionDenied("this customer account has no contact")
        author_contact = contact
    customer = author_contact is not None
    if customer and kind == Message.Kind.INTERNAL:
        raise PermissionDenied(
            "customers cannot write internal notes", fields={"kind": "not allowed"}
        )
    if not customer and actor is not None and not is_staff(actor):
        raise PermissionDenied("only staff and customers write messages")
    files = _attachments(errors, attachments)
    html = clean_html(body_html or "")
    text = (body_text or "").strip() or html_to_text(html)
    if not text and not html and not files:
        errors.add("body_text", "a message needs text or an attachment")
    errors.raise_if_any("the message is not valid")

    with transaction.atomic():
        t = _lock(ticket)
        if t.status == Status.CLOSED:
            raise Conflict(
                f"{t.reference} is closed; open a follow-up ticket instead",
                fields={"status": "closed"},
            )
        at = now()
        message = Message.objects.create(
            ticket=t,
            kind=kind,
            author_user=actor
            if (actor is not None and (is_customer(actor) or not customer))
            else None,
            author_contact=author_contact,
            channel=channel,
            body_text=text,
            body_html=html,
            email_message_id=str(email_message_id or "")[:300],
            created_at=at,
        )
        stored = _store_attachments(message, files, at)
        t.updated_at = at
        t.save(update_fields=["updated_at"])
        record(
            "ticket.message_added",
            "ticket",
            t.pk,
            actor=actor,
            at=at,
            ticket_id=t.pk,
            data={
                "message_id": message.pk,
                "kind": kind,
                "author_role": "customer" if customer else "staff",
                "channel": channel,
                "attachments": [a.pk for a in stored],
                # SLA: an explicit "actionable" flag on a staff reply (docs/sla.md)
                **({"actionable": bool(actionable)} if actionable is not None else {}),
            },
        )
        if kind == Message.Kind.PUBLIC and not _system:
            if customer and t.status in (Status.PENDING, Status.SOLVED):
                _change_status(t, Status.OPEN, actor=actor, at=at, reason="customer_reply")
            elif not customer and t.status == Status.NEW:
                _change_status(t, Status.OPEN, actor=actor, at=at, reason="staff_reply")
    _sync(ticket, t)
    return message


# --- followers and CCs ------------------------------------------------------------------


def _follow_change(ticket, *, actor, event: str, kind: str, ref: str, pk: int, add: bool) -> None:
    at = now()
    ticket.updated_at = at
    ticket.save(update_fields=["updated_at"])
    field = "followers" if kind == "follower" else "ccs"
    record(
        event,
        "ticket",
        ticket.pk,
        actor=actor,
        at=at,
        ticket_id=ticket.pk,
        changes={field: (None, pk) if add else (pk, None)},
        data={"kind": kind, ref: pk},
    )


def add_follower(ticket: Ticket | int, user: User | int, *, actor: User | None) -> Ticket:
    """Make an active staff user follow the ticket (idempotent)."""
    errors = _Errors()
    target = _active_staff(errors, "user_id", user)
    errors.raise_if_any("the follower is not valid")
    with transaction.atomic():
        t = _lock(ticket)
        if not t.followers.filter(pk=target.pk).exists():
            t.followers.add(target)
            _follow_change(
                t,
                actor=actor,
                event="ticket.follower_added",
                kind="follower",
                ref="user_id",
                pk=target.pk,
                add=True,
            )
    return t


def remove_follower(ticket: Ticket | int, user: User | int, *, actor: User | None) -> Ticket:
    """Stop a user following the ticket (no-op when they do not)."""
    errors = _Errors()
    target = _resolve(errors, "user_id", user, User, "user")
    errors.raise_if_any("the follower is not valid")
    with transaction.atomic():
        t = _lock(ticket)
        if t.followers.filter(pk=target.pk).exists():
            t.followers.remove(target)
            _follow_change(
                t,
                actor=actor,
                event="ticket.follower_removed",
                kind="follower",
                ref="user_id",
                pk=target.pk,
                add=False,
            )
    return t


def add_cc(ticket: Ticket | int, contact: Contact | int, *, actor: User | None) -> Ticket:
    """Copy a customer contact on the ticket's public conversation (idempotent)."""
    errors = _Errors()
    target = _resolve(errors, "contact_id", contact, Contact, "contact")
    errors.raise_if_any("the CC is not valid")
    target = resolve_merged(target)
    with transaction.atomic():
        t = _lock(ticket)
        if t.requester_id != target.pk and not t.ccs.filter(pk=target.pk).exists():
            t.ccs.add(target)
            _follow_change(
                t,
                actor=actor,
                event="ticket.follower_added",
                kind="cc",
                ref="contact_id",
                pk=target.pk,
                add=True,
            )
    return t


def remove_cc(ticket: Ticket | int, contact: Contact | int, *, actor: User | None) -> Ticket:
    errors = _Errors()
    target = _resolve(errors, "contact_id", contact, Contact, "contact")
    errors.raise_if_any("the CC is not valid")
    with transaction.atomic():
        t = _lock(ticket)
        if t.ccs.filter(pk=target.pk).exists():
            t.ccs.remove(target)
            _follow_change(
                t,
                actor=actor,
                event="ticket.follower_removed",
                kind="cc",
                ref="contact_id",
                pk=target.pk,
                add=False,
            )
    return t


# --- links and merge --------------------------------------------------------------------


def _link(source: Ticket, target: Ticket, kind: str, *, actor, at) -> TicketLink:
    existing = TicketLink.objects.filter(source=source, target=target, kind=kind).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            link = TicketLink.objects.create(
                source=source, target=target, kind=kind, created_by=actor, created_at=at
            )
    except IntegrityError:  # created concurrently
        return TicketLink.objects.get(source=source, target=target, kind=kind)
    data = {"link_id": link.pk, "kind": kind, "source_id": source.pk, "target_id": target.pk}
    record(
        "ticket.linked",
        "ticket",
        source.pk,
        actor=actor,
        at=at,
        ticket_id=source.pk,
        changes={"links": (None, {"kind": kind, "target": target.pk})},
        data=data,
    )
    record(
        "ticket.linked",
        "ticket",
        target.pk,
        actor=actor,
        at=at,
        ticket_id=target.pk,
        changes={"links": (None, {"kind": kind, "source": source.pk})},
        data=data,
        publish_event=False,
    )
    return link


def link_tickets(
    source: Ticket | int, target: Ticket | int, kind: str, *, actor: User | None
) -> TicketLink:
    """Link ``source`` to ``target`` (duplicate_of, incident_of = source is an incident of
    the target problem, related). Linking twice returns the existing link."""
    errors = _Errors()
    if kind not in TicketLink.Kind.values:
        errors.add("kind", f"must be one of {', '.join(TicketLink.Kind.values)}")
    src = _resolve(errors, "source", source, Ticket, "ticket")
    dst = _resolve(errors, "target", target, Ticket, "ticket")
    if src is not None and dst is not None and src.pk == dst.pk:
        errors.add("target", "a ticket cannot be linked to itself")
    errors.raise_if_any("the link is not valid")
    with transaction.atomic():
        return _link(src, dst, kind, actor=actor, at=now())


def _quote(text: str, limit: int = 4000) -> str:
    text = (text or "").strip()
    if len(text) > limit:
        text = text[:limit].rstrip() + " …"
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines()) or "> (empty)"


def merge_tickets(
    source: Ticket | int, target: Ticket | int, *, actor: User | None, force: bool = False
) -> Ticket:
    """Merge ``source`` into ``target``: internal notes on both sides (the target's quotes
    the source's first message), the source's requester becomes a CC of the target, a
    duplicate_of link, ``source.merged_into = target``, and the source is closed (through
    solved, by the state machine). Refused: into itself (422), into a closed or merged
    ticket, merging a closed or merged ticket, across organizations without ``force``
    (409). Returns the source."""
    src_id = source.pk if isinstance(source, Ticket) else _as_id(source)
    dst_id = target.pk if isinstance(target, Ticket) else _as_id(target)
    if src_id is None or dst_id is None:
        raise ValidationFailed("the merge is not valid", fields={"into": "must be a ticket id"})
    if src_id == dst_id:
        raise ValidationFailed(
            "a ticket cannot be merged into itself", fields={"into": "is the same ticket"}
        )
    with transaction.atomic():
        # Lock in id order so two opposite merges cannot deadlock.
        rows = {
            t.pk: t
            for t in Ticket.objects.select_for_update()
            .filter(pk__in=[src_id, dst_id])
            .order_by("pk")
        }
        if src_id not in rows:
            raise NotFound(f"no ticket with id {src_id}")
        if dst_id not in rows:
            raise NotFound(f"no ticket with id {dst_id}", fields={"into": "no such ticket"})
        src, dst = rows[src_id], rows[dst_id]
        if src.merged_into_id:
            raise Conflict(
                f"{src.reference} is already merged into CL-{src.merged_into_id}",
                fields={"id": "already merged"},
            )
        if src.status == Status.CLOSED:
            raise Conflict(f"{src.reference} is closed", fields={"id": "closed"})
        if dst.merged_into_id:
            raise Conflict(
                f"{dst.reference} was merged into CL-{dst.merged_into_id}; merge into that one",
                fields={"into": "already merged"},
            )
        if dst.status == Status.CLOSED:
            raise Conflict(
                f"{dst.reference} is closed; cannot merge into a closed ticket",
                fields={"into": "closed"},
            )
        if src.organization_id != dst.organization_id and not force:
            raise Conflict(
                f"{src.reference} and {dst.reference} belong to different organizations; "
                "pass force=true to merge anyway",
                fields={"into": "different organization"},
            )
        at = now()
        first = src.messages.filter(kind=Message.Kind.PUBLIC).order_by("id").first()
        add_message(
            src,
            actor=actor,
            kind=Message.Kind.INTERNAL,
            body_text=f"Merged into {dst.reference}: {dst.subject}",
            channel=Channel.AGENT,
            _system=True,
        )
        quoted = _quote(first.body_text if first else "")
        add_message(
            dst,
            actor=actor,
            kind=Message.Kind.INTERNAL,
            body_text=(
                f"{src.reference} merged into this ticket: {src.subject}\n\n"
                f"Its first message:\n{quoted}"
            ),
            channel=Channel.AGENT,
            _system=True,
        )
        if (
            src.requester_id != dst.requester_id
            and not dst.ccs.filter(pk=src.requester_id).exists()
        ):
            dst.ccs.add(src.requester_id)
            _follow_change(
                dst,
                actor=actor,
                event="ticket.follower_added",
                kind="cc",
                ref="contact_id",
                pk=src.requester_id,
                add=True,
            )
        _link(src, dst, TicketLink.Kind.DUPLICATE_OF, actor=actor, at=at)
        src.refresh_from_db()
        src.merged_into = dst
        src.updated_at = at
        src.save(update_fields=["merged_into", "updated_at"])
        if src.status != Status.SOLVED:
            _change_status(src, Status.SOLVED, actor=actor, at=at, reason="merged")
        _change_status(src, Status.CLOSED, actor=actor, at=at, reason="merged")
        data = {"source_id": src.pk, "target_id": dst.pk, "force": bool(force)}
        record(
            "ticket.merged",
            "ticket",
            src.pk,
            actor=actor,
            at=at,
            ticket_id=src.pk,
            changes={"merged_into": (None, dst.pk)},
            data=data,
        )
        record(
            "ticket.merged",
            "ticket",
            dst.pk,
            actor=actor,
            at=at,
            ticket_id=dst.pk,
            data=data,
            publish_event=False,
        )
    _sync(source, src)
    return src


# --- custom field definitions -----------------------------------------------------------

_KEY = re.compile(r"^[a-z0-9][a-z0-9_-]{0,59}$")
CUSTOM_FIELD_ATTRS = ("key", "label", "type", "choices", "required_on_solve", "active")


def clean_custom_field(data: Mapping[str, Any], cf: CustomField | None) -> dict[str, Any]:
    errors = _Errors()
    unknown = sorted(set(data) - set(CUSTOM_FIELD_ATTRS))
    for k in unknown:
        errors.add(k, "unknown field")
    out: dict[str, Any] = {}
    if "key" in data:
        key = str(data["key"] or "").strip()
        if not _KEY.match(key):
            errors.add("key", "lowercase letters, digits, _ and -, at most 60, e.g. 'version'")
        out["key"] = key
    elif cf is None:
        errors.add("key", "required")
    if "label" in data:
        label = " ".join(str(data["label"] or "").split())
        if not label:
            errors.add("label", "required")
        elif len(label) > 120:
            errors.add("label", "at most 120 characters")
        out["label"] = label
    elif cf is None:
        errors.add("label", "required")
    if "type" in data:
        if data["type"] not in CustomField.Type.values:
            errors.add("type", f"must be one of {', '.join(CustomField.Type.values)}")
        out["type"] = data["type"]
    elif cf is None:
        errors.add("type", "required")
    if "choices" in data:
        raw = data["choices"]
        if raw is None:
            raw = []
        if not isinstance(raw, (list, tuple)) or not all(isinstance(c, str) for c in raw):
            errors.add("choices", "must be a list of strings")
            raw = []
        choices: list[str] = []
        for c in raw:
            c = c.strip()
            if not c or len(c) > 200:
                errors.add("choices", "each choice has 1-200 characters")
            elif c not in choices:
                choices.append(c)
        out["choices"] = choices
    for flag in ("required_on_solve", "active"):
        if flag in data:
            if not isinstance(data[flag], bool):
                errors.add(flag, "must be true or false")
            out[flag] = data[flag]
    ftype = out.get("type", cf.type if cf else None)
    choices_final = out.get("choices", cf.choices if cf else [])
    if ftype == CustomField.Type.CHOICE and not choices_final:
        errors.add("choices", "a choice field needs at least one choice")
    if ftype is not None and ftype != CustomField.Type.CHOICE and out.get("choices"):
        errors.add("choices", "only choice fields have choices")
    if cf is not None and "type" in out and out["type"] != cf.type and cf.values.exists():
        errors.add("type", "cannot change the type of a field that tickets already use")
    errors.raise_if_any("the custom field is not valid")
    if "key" in out:
        clash = CustomField.objects.filter(key=out["key"])
        if cf is not None:
            clash = clash.exclude(pk=cf.pk)
        if clash.exists():
            raise Conflict(
                f"a custom field with key {out['key']!r} exists", fields={"key": "taken"}
            )
    return out


def create_custom_field(*, actor: User | None, **data: Any) -> CustomField:
    cleaned = clean_custom_field(data, None)
    with transaction.atomic():
        cf = CustomField(**cleaned)
        try:
            with transaction.atomic():
                cf.save()
        except IntegrityError:
            raise Conflict(f"a custom field with key {cf.key!r} exists", fields={"key": "taken"})
        record(
            "custom_field.changed",
            "custom_field",
            cf.pk,
            actor=actor,
            changes={k: (None, getattr(cf, k)) for k in CUSTOM_FIELD_ATTRS},
            data={"action": "created", "key": cf.key},
        )
    return cf


def update_custom_field(cf: CustomField | int, *, actor: User | None, **data: Any) -> CustomField:
    with transaction.atomic():
        pk = cf.pk if isinstance(cf, CustomField) else _as_id(cf)
        row = CustomField.objects.select_for_update().filter(pk=pk).first() if pk else None
        if row is None:
            raise NotFound(f"no custom field with id {pk}")
        cleaned = clean_custom_field(data, row)
        changes = {k: (getattr(row, k), v) for k, v in cleaned.items() if getattr(row, k) != v}
        if changes:
            for k, (_old, new) in changes.items():
                setattr(row, k, new)
            try:
                with transaction.atomic():
                    row.save(update_fields=list(changes))
            except IntegrityError:
                raise Conflict("a custom field with this key exists", fields={"key": "taken"})
            record(
                "custom_field.changed",
                "custom_field",
                row.pk,
                actor=actor,
                changes=changes,
                data={"action": "updated", "key": row.key},
            )
    return row
