"""Use-cases of the accounts app: the only code that changes organizations, contacts,
staff users, teams, product areas and SME rosters.

Each service is one transaction that validates its whole input first (a refusal changes
nothing), writes the rows, appends the audit event and publishes the domain event
(``caseline.audit.services.record``). Services accept plain values (ids, codes, lists of
strings) as the API sends them, and model instances where that is more natural for
Python callers (the admin, the demo seeder, other apps).

Higher apps learn about changes through events only; in particular tickets subscribe to
``contact.merged`` to move a merged contact's tickets, messages and CCs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from email.utils import parseaddr
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils.text import slugify

from caseline.audit.services import record
from caseline.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from caseline.timesource import now

from . import tokens as token_store
from .models import (
    ApiToken,
    Contact,
    ContactEmail,
    Organization,
    OrganizationDomain,
    OrganizationOwner,
    ProductArea,
    Region,
    SMERosterEntry,
    Team,
    User,
)
from .roles import ADMIN, CSM, ROLES, SC

# --- shared helpers ---------------------------------------------------------------------


class _Errors:
    """Collects every field problem of one input so the caller sees them all at once."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}

    def add(self, field: str, message: str) -> None:
        self.fields.setdefault(field, message)

    def raise_if_any(self, what: str) -> None:
        if self.fields:
            detail = "; ".join(f"{k}: {v}" for k, v in self.fields.items())
            raise ValidationFailed(f"invalid {what}: {detail}", fields=dict(self.fields))


_BAD = object()  # marks a value that failed validation (its error is already recorded)


def _refuse_taken(others, field: str, value: Any, label: str, *, exact: bool = False) -> None:
    """409 naming ``field`` when another row of ``others`` already holds ``value``
    (case-insensitively unless ``exact``): names, codes and slugs are unique."""
    lookup = field if exact else f"{field}__iexact"
    clash = others.filter(**{lookup: value}).first()
    if clash is not None:
        raise Conflict(
            f"{label} #{clash.pk} already has the {field} {getattr(clash, field)!r}",
            fields={field: f"already used by {label} #{clash.pk}"},
        )


@contextmanager
def _unique_guard(what: str) -> Iterator[None]:
    """Turn a uniqueness race lost at commit time into a 409 instead of a 500."""
    try:
        yield
    except IntegrityError as exc:
        raise Conflict(f"the {what} conflicts with existing data ({exc.__class__.__name__})")


def _check_keys(data: Mapping[str, Any], allowed: Iterable[str], what: str) -> None:
    unknown = set(data) - set(allowed)
    if unknown:
        raise TypeError(f"unknown {what} field(s): {', '.join(sorted(unknown))}")


def _text(errors: _Errors, data, field: str, *, max_length: int, required: bool = False):
    value = data[field]
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.add(field, "must be a string")
        return _BAD
    value = value.strip()
    if required and not value:
        errors.add(field, "must not be empty")
        return _BAD
    if len(value) > max_length:
        errors.add(field, f"must be at most {max_length} characters")
        return _BAD
    return value


def _bool(errors: _Errors, data, field: str):
    value = data[field]
    if not isinstance(value, bool):
        errors.add(field, "must be true or false")
        return _BAD
    return value


def _choice(errors: _Errors, data, field: str, choices) -> Any:
    value = data[field]
    valid = [c for c, _ in choices]
    if value not in valid:
        errors.add(field, f"must be one of: {', '.join(valid)}")
        return _BAD
    return value


_MAX_ID = 2**63 - 1


def _as_id(value: Any) -> int | None:
    """A positive 64-bit id from an int or a digit string; None otherwise (including
    numbers no row can have, which the database could not even compare)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, int) and 0 < value <= _MAX_ID:
        return value
    return None


def _region(errors: _Errors, data, field: str = "region"):
    value = data[field]
    if value is None or value == "":
        return None
    if isinstance(value, Region):
        return value
    if not isinstance(value, str):
        errors.add(field, "must be a region code")
        return _BAD
    region = Region.objects.filter(code__iexact=value.strip()).first()
    if region is None:
        known = ", ".join(Region.objects.values_list("code", flat=True)) or "none defined"
        errors.add(field, f"unknown region {value!r} (known: {known})")
        return _BAD
    return region


def _staff_user(errors: _Errors, field: str, value: Any, *, role: str | None = None):
    """An active staff user given by id or instance (optionally holding ``role``)."""
    if value is None or value == "":
        return None
    if isinstance(value, User):
        user = value
    else:
        pk = _as_id(value)
        if pk is None:
            errors.add(field, "must be a user id")
            return _BAD
        user = User.objects.filter(pk=pk).first()
        if user is None:
            errors.add(field, f"no user with id {pk}")
            return _BAD
    if user.kind != User.Kind.STAFF or not user.is_active:
        errors.add(field, f"{user.email} is not an active staff user")
        return _BAD
    if role and not user.groups.filter(name=role).exists():
        errors.add(field, f"{user.email} does not hold the {ROLES[role]} role ({role})")
        return _BAD
    return user


def _staff_users(errors: _Errors, field: str, values: Any) -> Any:
    """A list of distinct active staff users, in the order given."""
    if values is None:
        values = []
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        errors.add(field, "must be a list of user ids")
        return _BAD
    ids: list[int] = []
    for v in values:
        pk = v.pk if isinstance(v, User) else _as_id(v)
        if pk is None:
            errors.add(field, f"{v!r} is not a user id")
            return _BAD
        if pk in ids:
            errors.add(field, f"user {pk} is listed twice")
            return _BAD
        ids.append(pk)
    users = {u.pk: u for u in User.objects.filter(pk__in=ids)}
    missing = [pk for pk in ids if pk not in users]
    if missing:
        errors.add(field, f"no user with id {', '.join(map(str, missing))}")
        return _BAD
    bad = [users[pk].email for pk in ids if not _is_active_staff(users[pk])]
    if bad:
        errors.add(field, f"not active staff: {', '.join(bad)}")
        return _BAD
    return [users[pk] for pk in ids]


def _is_active_staff(user: User) -> bool:
    return user.kind == User.Kind.STAFF and user.is_active


def _objects(errors: _Errors, field: str, values: Any, model, label: str) -> Any:
    """A list of existing rows of ``model`` given by ids (or instances); order kept."""
    if values is None:
        values = []
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        errors.add(field, f"must be a list of {label} ids")
        return _BAD
    ids: list[int] = []
    for v in values:
        pk = v.pk if isinstance(v, model) else _as_id(v)
        if pk is None:
            errors.add(field, f"{v!r} is not a {label} id")
            return _BAD
        if pk not in ids:
            ids.append(pk)
    rows = {r.pk: r for r in model.objects.filter(pk__in=ids)}
    missing = [pk for pk in ids if pk not in rows]
    if missing:
        errors.add(field, f"no {label} with id {', '.join(map(str, missing))}")
        return _BAD
    return [rows[pk] for pk in ids]


def _one(errors: _Errors, field: str, value: Any, model, label: str) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, model):
        return value
    pk = _as_id(value)
    if pk is None:
        errors.add(field, f"must be a {label} id")
        return _BAD
    row = model.objects.filter(pk=pk).first()
    if row is None:
        errors.add(field, f"no {label} with id {pk}")
        return _BAD
    return row


def _time_zone(errors: _Errors, data, field: str, *, allow_blank: bool = False):
    value = data[field]
    if (value is None or value == "") and allow_blank:
        return ""
    if not isinstance(value, str) or not value.strip():
        errors.add(field, "must be an IANA time zone such as Europe/Berlin")
        return _BAD
    try:
        ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        errors.add(field, f"unknown time zone {value!r} (use an IANA name such as Europe/Berlin)")
        return _BAD
    return value.strip()


def _audit_value(value: Any) -> Any:
    if isinstance(value, Region):
        return value.code
    if isinstance(value, (list, tuple)):
        return [_audit_value(v) for v in value]
    return value


def _apply(instance, cleaned: dict[str, Any], changes: dict[str, tuple[Any, Any]]) -> None:
    for key, value in cleaned.items():
        old = getattr(instance, key)
        if old != value:
            setattr(instance, key, value)
            changes[key] = (_audit_value(old), _audit_value(value))


def _ids(rows) -> list[int]:
    return sorted(r.pk for r in rows)


# --- domains and email addresses --------------------------------------------------------

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalize_domain(value: str) -> str:
    """A lower-cased ASCII hostname (IDNA-encoded), or ValueError."""
    domain = (value or "").strip().lower().rstrip(".")
    if domain.startswith("@"):
        domain = domain[1:]
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"{value!r} is not a valid domain name")
    labels = domain.split(".")
    if (
        len(domain) > 253
        or len(labels) < 2
        or not all(_LABEL.match(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise ValueError(f"{value!r} is not a valid domain name")
    return domain


def normalize_email(value: str) -> str:
    """A lower-cased, validated email address, or ValueError."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not an email address")
    address = value.strip().lower()
    try:
        validate_email(address)
    except DjangoValidationError:
        raise ValueError(f"{value!r} is not a valid email address")
    if len(address) > 254:
        raise ValueError(f"{value!r} is too long for an email address")
    return address


def organization_for_email(address: str) -> Organization | None:
    """The organization owning the address's domain, or a parent of it
    (``a.b.example.com`` matches ``example.com``); the most specific domain wins."""
    _, addr = parseaddr(address or "")
    _, at, domain = addr.strip().rpartition("@")
    if not at:
        return None
    try:
        domain = normalize_domain(domain)
    except ValueError:
        return None
    labels = domain.split(".")
    candidates = [".".join(labels[i:]) for i in range(len(labels) - 1)]
    rows = list(
        OrganizationDomain.objects.filter(domain__in=candidates).select_related("organization")
    )
    if not rows:
        return None
    return max(rows, key=lambda r: len(r.domain)).organization


# --- organizations ----------------------------------------------------------------------

ORGANIZATION_FIELDS = (
    "name",
    "domains",
    "tier",
    "support_entitlement",
    "region",
    "lifecycle_stage",
    "sales_consultant",
    "success_manager",
    "include_sc",
    "notes",
    "owners",
)


def _clean_owners(errors: _Errors, values: Any) -> Any:
    if values is None:
        values = []
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        errors.add("owners", "must be a list of {product_area_id, user_id}")
        return _BAD
    out: list[tuple[ProductArea, User]] = []
    seen: set[int] = set()
    for i, entry in enumerate(values):
        if not isinstance(entry, Mapping):
            entry = {
                "product_area_id": getattr(entry, "product_area_id", None),
                "user_id": getattr(entry, "user_id", None),
            }
        field = f"owners.{i}"
        area = _one(errors, field, entry.get("product_area_id"), ProductArea, "product area")
        if area is None:
            errors.add(field, "product_area_id is required")
            return _BAD
        user = _staff_user(errors, field, entry.get("user_id"))
        if user is None:
            errors.add(field, "user_id is required")
            return _BAD
        if area is _BAD or user is _BAD:
            return _BAD
        if area.pk in seen:
            errors.add(field, f"product area {area.name!r} is listed twice")
            return _BAD
        seen.add(area.pk)
        out.append((area, user))
    return out


def clean_organization(data: Mapping[str, Any], org: Organization | None) -> dict[str, Any]:
    """Validate organization fields (only the keys present); 422 / 409 on bad input."""
    _check_keys(data, ORGANIZATION_FIELDS, "organization")
    errors = _Errors()
    out: dict[str, Any] = {}
    if "name" in data:
        out["name"] = _text(errors, data, "name", max_length=200, required=True)
    if "domains" in data:
        raw = data["domains"] or []
        if isinstance(raw, str) or not isinstance(raw, Iterable):
            errors.add("domains", "must be a list of domain names")
        else:
            domains: list[str] = []
            for value in raw:
                try:
                    domain = normalize_domain(str(value))
                except ValueError as exc:
                    errors.add("domains", str(exc))
                    continue
                if domain not in domains:
                    domains.append(domain)
            out["domains"] = domains
    if "tier" in data:
        out["tier"] = _choice(errors, data, "tier", Organization.Tier.choices)
    if "support_entitlement" in data:
        out["support_entitlement"] = _text(errors, data, "support_entitlement", max_length=100)
    if "region" in data:
        out["region"] = _region(errors, data)
    if "lifecycle_stage" in data:
        out["lifecycle_stage"] = _choice(
            errors, data, "lifecycle_stage", Organization.Stage.choices
        )
    if "sales_consultant" in data:
        out["sales_consultant"] = _staff_user(
            errors, "sales_consultant", data["sales_consultant"], role=SC
        )
    if "success_manager" in data:
        out["success_manager"] = _staff_user(
            errors, "success_manager", data["success_manager"], role=CSM
        )
    if "include_sc" in data:
        out["include_sc"] = _bool(errors, data, "include_sc")
    if "notes" in data:
        out["notes"] = _text(errors, data, "notes", max_length=100_000)
    if "owners" in data:
        out["owners"] = _clean_owners(errors, data["owners"])
    errors.raise_if_any("organization")

    others = Organization.objects.exclude(pk=org.pk) if org else Organization.objects.all()
    if "name" in out:
        _refuse_taken(others, "name", out["name"], "organization")
    if out.get("domains"):
        domain_rows = OrganizationDomain.objects.filter(domain__in=out["domains"])
        if org is not None:
            domain_rows = domain_rows.exclude(organization=org)
        taken = domain_rows.select_related("organization").first()
        if taken:
            raise Conflict(
                f"the domain {taken.domain} already belongs to {taken.organization.name}",
                fields={
                    "domains": f"{taken.domain} already belongs to organization "
                    f"#{taken.organization_id} ({taken.organization.name})"
                },
            )
    return out


def _owner_pairs(org: Organization) -> list[dict[str, int]]:
    return [
        {"product_area_id": o.product_area_id, "user_id": o.user_id}
        for o in OrganizationOwner.objects.filter(organization=org).order_by("product_area_id")
    ]


def create_organization(*, actor: User | None = None, name: str, **fields: Any) -> Organization:
    """Create an organization with its domains (and owners); records organization.created."""
    with _unique_guard("organization"), transaction.atomic():
        cleaned = clean_organization({"name": name, **fields}, None)
        domains = cleaned.pop("domains", [])
        owners = cleaned.pop("owners", [])
        at = now()
        org = Organization(created_at=at, updated_at=at, **cleaned)
        org.save()
        OrganizationDomain.objects.bulk_create(
            [OrganizationDomain(organization=org, domain=d) for d in domains]
        )
        OrganizationOwner.objects.bulk_create(
            [OrganizationOwner(organization=org, product_area=a, user=u) for a, u in owners]
        )
        record(
            "organization.created",
            "organization",
            org.pk,
            actor=actor,
            at=at,
            data={
                "name": org.name,
                "domains": domains,
                "tier": org.tier,
                "support_entitlement": org.support_entitlement,
                "region": org.region.code if org.region else None,
                "lifecycle_stage": org.lifecycle_stage,
                "sales_consultant": org.sales_consultant_id,
                "success_manager": org.success_manager_id,
                "include_sc": org.include_sc,
                "owners": _owner_pairs(org),
            },
        )
    return org


def update_organization(
    org: Organization | int, *, actor: User | None = None, **fields: Any
) -> Organization:
    """Change the given fields; ``domains`` and ``owners`` replace the whole set.
    Records organization.updated with one (old, new) pair per changed field."""
    pk = org.pk if isinstance(org, Organization) else org
    with _unique_guard("organization"), transaction.atomic():
        org = Organization.objects.select_for_update().filter(pk=pk).first()
        if org is None:
            raise NotFound(f"no organization with id {pk}")
        cleaned = clean_organization(fields, org)
        domains = cleaned.pop("domains", None)
        owners = cleaned.pop("owners", None)
        changes: dict[str, tuple[Any, Any]] = {}
        _apply(org, cleaned, changes)
        if domains is not None:
            old = sorted(org.domains.values_list("domain", flat=True))
            if old != sorted(domains):
                org.domains.exclude(domain__in=domains).delete()
                OrganizationDomain.objects.bulk_create(
                    [
                        OrganizationDomain(organization=org, domain=d)
                        for d in domains
                        if d not in old
                    ]
                )
                changes["domains"] = (old, sorted(domains))
        if owners is not None:
            old_owners = _owner_pairs(org)
            new_owners = sorted(
                ({"product_area_id": a.pk, "user_id": u.pk} for a, u in owners),
                key=lambda o: o["product_area_id"],
            )
            if old_owners != new_owners:
                OrganizationOwner.objects.filter(organization=org).delete()
                OrganizationOwner.objects.bulk_create(
                    [OrganizationOwner(organization=org, product_area=a, user=u) for a, u in owners]
                )
                changes["owners"] = (old_owners, new_owners)
        if changes:
            at = now()
            org.updated_at = at
            org.save()
            record(
                "organization.updated", "organization", org.pk, actor=actor, at=at, changes=changes
            )
    return org


# --- contacts ---------------------------------------------------------------------------

CONTACT_FIELDS = ("name", "organization", "phone", "title", "time_zone", "emails")


def _email_owner(addresses: list[str], contact: Contact | None) -> ContactEmail | None:
    qs = ContactEmail.objects.annotate(lower=Lower("email")).filter(lower__in=addresses)
    if contact is not None:
        qs = qs.exclude(contact=contact)
    return qs.select_related("contact").first()


def clean_contact(
    data: Mapping[str, Any], contact: Contact | None, *, check_taken: bool = True
) -> dict[str, Any]:
    """Validate contact fields (only the keys present); 422 / 409 on bad input.
    ``check_taken=False`` skips the look-up of the emails' owners (the caller has just
    made it; the case-insensitive unique index still refuses a taken address)."""
    _check_keys(data, CONTACT_FIELDS, "contact")
    errors = _Errors()
    out: dict[str, Any] = {}
    if "name" in data:
        out["name"] = _text(errors, data, "name", max_length=200, required=True)
    if "organization" in data:
        out["organization"] = _one(
            errors, "organization", data["organization"], Organization, "organization"
        )
    if "phone" in data:
        out["phone"] = _text(errors, data, "phone", max_length=50)
    if "title" in data:
        out["title"] = _text(errors, data, "title", max_length=120)
    if "time_zone" in data:
        out["time_zone"] = _time_zone(errors, data, "time_zone", allow_blank=True)
    if "emails" in data:
        raw = data["emails"] or []
        if isinstance(raw, str) or not isinstance(raw, Iterable):
            errors.add("emails", "must be a list of email addresses")
        else:
            emails: list[str] = []
            for value in raw:
                try:
                    address = normalize_email(value)
                except ValueError as exc:
                    errors.add("emails", str(exc))
                    continue
                if address not in emails:
                    emails.append(address)
            out["emails"] = emails
    errors.raise_if_any("contact")
    if check_taken and out.get("emails"):
        taken = _email_owner(out["emails"], contact)
        if taken:
            raise Conflict(
                f"{taken.email} is already an email of contact #{taken.contact_id} "
                f"({taken.contact.name})",
                fields={"emails": f"{taken.email} already belongs to contact #{taken.contact_id}"},
            )
    return out


def _set_emails(
    contact: Contact, emails: list[str], existing: list[ContactEmail] | None = None
) -> tuple[list[str], list[str]]:
    """Make ``emails`` the contact's addresses (the first one primary); (old, new).
    ``existing``: the contact's current rows when the caller knows them (a new contact
    has none)."""
    existing = list(contact.emails.all()) if existing is None else existing
    old = [e.email for e in sorted(existing, key=lambda e: (not e.is_primary, e.email))]
    keep = {e.lower() for e in emails}
    by_lower = {e.email.lower(): e for e in existing}
    stale = [e.pk for e in existing if e.email.lower() not in keep]
    if stale:
        ContactEmail.objects.filter(pk__in=stale).delete()
    for i, address in enumerate(emails):
        row = by_lower.get(address.lower())
        primary = i == 0
        if row is None:
            ContactEmail.objects.create(contact=contact, email=address, is_primary=primary)
        elif row.is_primary != primary or row.email != address:
            row.is_primary = primary
            row.email = address
            row.save(update_fields=["is_primary", "email"])
    return old, list(emails)


_UNSET: Any = object()


def create_contact(
    *,
    actor: User | None = None,
    name: str,
    emails: Iterable[str] = (),
    organization: Any = _UNSET,
    phone: str = "",
    title: str = "",
    time_zone: str = "",
    _emails_checked: bool = False,
) -> Contact:
    """Create a contact; the first email is the primary one. Without an explicit
    ``organization`` the contact joins the organization owning its first email's domain.
    ``_emails_checked``: the caller has just looked the emails up in this transaction
    and found no owner (find_or_create_contact); they are not looked up again."""
    data: dict[str, Any] = {
        "name": name,
        "emails": list(emails),
        "phone": phone,
        "title": title,
        "time_zone": time_zone,
    }
    if organization is not _UNSET:
        data["organization"] = organization
    with _unique_guard("contact"), transaction.atomic():
        cleaned = clean_contact(data, None, check_taken=not _emails_checked)
        addresses = cleaned.pop("emails")
        if "organization" not in cleaned:
            cleaned["organization"] = organization_for_email(addresses[0]) if addresses else None
        at = now()
        contact = Contact(created_at=at, updated_at=at, **cleaned)
        contact.save()
        _set_emails(contact, addresses, existing=[])  # just inserted: it has none yet
        record(
            "contact.created",
            "contact",
            contact.pk,
            actor=actor,
            at=at,
            data={
                "name": contact.name,
                "emails": addresses,
                "organization": contact.organization_id,
            },
        )
    return contact


def update_contact(contact: Contact | int, *, actor: User | None = None, **fields: Any) -> Contact:
    """Change the given fields; ``emails`` replaces the set (first = primary)."""
    pk = contact.pk if isinstance(contact, Contact) else contact
    with _unique_guard("contact"), transaction.atomic():
        contact = Contact.objects.select_for_update().filter(pk=pk).first()
        if contact is None:
            raise NotFound(f"no contact with id {pk}")
        if contact.merged_into_id:
            raise Conflict(
                f"contact #{contact.pk} was merged into #{contact.merged_into_id}; "
                "change that contact instead"
            )
        cleaned = clean_contact(fields, contact)
        emails = cleaned.pop("emails", None)
        changes: dict[str, tuple[Any, Any]] = {}
        _apply(contact, cleaned, changes)
        if emails is not None:
            old, new = _set_emails(contact, emails)
            if old != new:
                changes["emails"] = (old, new)
        if changes:
            at = now()
            contact.updated_at = at
            contact.save()
            record("contact.updated", "contact", contact.pk, actor=actor, at=at, changes=changes)
    return contact


def resolve_merged(contact: Contact) -> Contact:
    """Follow ``merged_into`` to the contact that survives."""
    seen = {contact.pk}
    while contact.merged_into_id:
        contact = Contact.objects.get(pk=contact.merged_into_id)
        if contact.pk in seen:  # defensive: a cycle would be a bug elsewhere
            break
        seen.add(contact.pk)
    return contact


def contact_by_email(address: str) -> Contact | None:
    """The surviving contact owning ``address`` (any of its emails, any case), or None."""
    row = (
        ContactEmail.objects.annotate(lower=Lower("email"))
        .filter(lower=address.lower())
        # callers open tickets for it (and add the organization's SC as follower)
        .select_related("contact__organization__sales_consultant")
        .first()
    )
    return resolve_merged(row.contact) if row else None


def find_or_create_contact(email: str, name: str = "", *, actor: User | None = None) -> Contact:
    """The (surviving) contact having this email (any of its emails, case-insensitively),
    or a new one, placed in the organization owning the address's domain."""
    _, parsed = parseaddr(email or "")
    try:
        address = normalize_email(parsed or email)
    except ValueError as exc:
        raise ValidationFailed(str(exc), fields={"email": str(exc)})
    found = contact_by_email(address)
    if found is not None:
        return found
    clean_name = (name or "").strip()[:200] or address
    try:
        return create_contact(actor=actor, name=clean_name, emails=[address], _emails_checked=True)
    except Conflict:
        # Another transaction created it between our look-up and our insert.
        found = contact_by_email(address)
        if found is None:
            raise
        return found


def merge_contacts(
    source: Contact | int, target: Contact | int, *, actor: User | None = None
) -> Contact:
    """Merge ``source`` into ``target``: the source's emails move to the target, blank
    fields of the target are filled from the source, the source is marked merged.
    Publishes contact.merged {"source_id", "target_id"} (tickets move their rows)."""
    source_id = source.pk if isinstance(source, Contact) else source
    target_id = target.pk if isinstance(target, Contact) else target
    if source_id == target_id:
        raise ValidationFailed(
            "a contact cannot be merged into itself", fields={"into": "is the same contact"}
        )
    with transaction.atomic():
        rows = {
            c.pk: c
            # Locked in id order: concurrent merges of the same pair cannot deadlock.
            for c in Contact.objects.select_for_update()
            .filter(pk__in=[source_id, target_id])
            .order_by("pk")
        }
        if source_id not in rows:
            raise NotFound(f"no contact with id {source_id}")
        if target_id not in rows:
            raise NotFound(
                f"no contact with id {target_id}", fields={"into": f"no contact {target_id}"}
            )
        src, dst = rows[source_id], rows[target_id]
        if dst.merged_into_id:
            raise Conflict(
                f"contact #{dst.pk} was itself merged into #{dst.merged_into_id}; "
                "merge into that one",
                fields={"into": f"already merged into #{dst.merged_into_id}"},
            )
        if src.merged_into_id:
            raise Conflict(
                f"contact #{src.pk} is already merged into #{src.merged_into_id}",
                fields={"id": f"already merged into #{src.merged_into_id}"},
            )
        at = now()
        old_emails = [e.email for e in dst.emails.all()]
        moved = [e.email for e in src.emails.all()]
        had_primary = any(e.is_primary for e in dst.emails.all())
        src.emails.all().update(contact=dst, is_primary=False)
        if not had_primary and moved:
            ContactEmail.objects.filter(contact=dst, email=moved[0]).update(is_primary=True)
        changes: dict[str, tuple[Any, Any]] = {}
        if moved:
            changes["emails"] = (old_emails, old_emails + moved)
        filled = {
            f: getattr(src, f)
            for f in ("organization", "phone", "title", "time_zone")
            if not getattr(dst, f) and getattr(src, f)
        }
        _apply(dst, filled, changes)
        dst.updated_at = at
        dst.save()
        # Earlier merges into the source now point at the survivor (chains stay short).
        Contact.objects.filter(merged_into=src).update(merged_into=dst, updated_at=at)
        # Portal users: the source's login moves to the survivor when it has none; when
        # both have one, the source's is deactivated (a login of a merged contact would
        # see none of its former tickets and file new ones on a dead contact).
        src_user = User.objects.select_for_update().filter(contact=src).first()
        dst_user = User.objects.filter(contact=dst).first()
        src_changes: dict[str, tuple[Any, Any]] = {}
        if src_user is not None and dst_user is None:
            User.objects.filter(pk=src_user.pk).update(contact=dst)
            changes["portal_user"] = (None, src_user.pk)
            src_changes["portal_user"] = (src_user.pk, None)
        elif src_user is not None and src_user.is_active:
            User.objects.filter(pk=src_user.pk).update(is_active=False)
            src_changes["portal_user_active"] = (True, False)
        src.merged_into = dst
        src.updated_at = at
        src.save(update_fields=["merged_into", "updated_at"])
        record(
            "contact.merged",
            "contact",
            dst.pk,
            actor=actor,
            at=at,
            changes=changes or None,
            data={"source_id": src.pk, "target_id": dst.pk},
            publish_event=False,
        )
        record(
            "contact.merged",
            "contact",
            src.pk,
            actor=actor,
            at=at,
            changes=src_changes or None,
            data={"source_id": src.pk, "target_id": dst.pk},
        )
        if src_user is not None and src_changes:
            moved_user = "portal_user" in src_changes
            record(
                "staff.updated",
                "user",
                src_user.pk,
                actor=actor,
                at=at,
                changes={"contact": (src.pk, dst.pk)}
                if moved_user
                else {"is_active": (True, False)},
                data={"reason": "contact_merged", "source_id": src.pk, "target_id": dst.pk},
                publish_event=False,
            )
    return dst


# --- staff ------------------------------------------------------------------------------

STAFF_FIELDS = (
    "email",
    "display_name",
    "roles",
    "region",
    "teams",
    "skills",
    "time_zone",
    "open_ticket_cap",
    "password",
    "is_away",
    "is_active",
)


def clean_staff(data: Mapping[str, Any], user: User | None) -> dict[str, Any]:
    """Validate staff fields (only the keys present); 422 / 409 on bad input."""
    _check_keys(data, STAFF_FIELDS, "staff")
    errors = _Errors()
    out: dict[str, Any] = {}
    if "email" in data:
        try:
            out["email"] = normalize_email(data["email"])
        except ValueError as exc:
            errors.add("email", str(exc))
    if "display_name" in data:
        out["display_name"] = _text(errors, data, "display_name", max_length=150)
    if "roles" in data:
        raw = data["roles"] or []
        if isinstance(raw, str) or not isinstance(raw, Iterable):
            errors.add("roles", "must be a list of role names")
        else:
            roles = []
            for r in raw:
                if r not in roles:
                    roles.append(r)
            unknown = [str(r) for r in roles if r not in ROLES]
            if unknown:
                errors.add(
                    "roles",
                    f"unknown role(s) {', '.join(unknown)}; valid roles: {', '.join(ROLES)}",
                )
            else:
                out["roles"] = roles
    if "region" in data:
        out["region"] = _region(errors, data)
    if "teams" in data:
        out["teams"] = _objects(errors, "teams", data["teams"], Team, "team")
    if "skills" in data:
        out["skills"] = _objects(errors, "skills", data["skills"], ProductArea, "product area")
    if "time_zone" in data:
        out["time_zone"] = _time_zone(errors, data, "time_zone")
    if "open_ticket_cap" in data:
        cap = data["open_ticket_cap"]
        if isinstance(cap, bool) or not isinstance(cap, int) or not 0 <= cap <= 100_000:
            errors.add("open_ticket_cap", "must be a whole number between 0 and 100000")
        else:
            out["open_ticket_cap"] = cap
    if "password" in data and data["password"] is not None:
        password = data["password"]
        if not isinstance(password, str):
            errors.add("password", "must be a string")
        else:
            try:
                validate_password(password, user)
            except DjangoValidationError as exc:
                errors.add("password", " ".join(exc.messages))
            else:
                out["password"] = password
    if "is_away" in data:
        out["is_away"] = _bool(errors, data, "is_away")
    if "is_active" in data:
        out["is_active"] = _bool(errors, data, "is_active")
    errors.raise_if_any("staff user")
    if "email" in out:
        others = User.objects.exclude(pk=user.pk) if user else User.objects.all()
        clash = (
            others.filter(email__iexact=out["email"]).first()
            or others.filter(username__iexact=out["email"]).first()
        )
        if clash:
            raise Conflict(
                f"the email {out['email']} is already used by user #{clash.pk}",
                fields={"email": f"already used by user #{clash.pk}"},
            )
    return out


def is_admin(user: Any) -> bool:
    """Holds the admin role (or is a Django superuser)."""
    if user is None or not getattr(user, "is_active", False):
        return False
    if user.is_superuser:
        return True
    return user.groups.filter(name=ADMIN).exists()


def _check_admin_rights(
    actor: User | None,
    *,
    target: User | None,
    old_roles: list[str],
    new_roles: list[str] | None,
) -> None:
    """Only admins grant or remove the admin role and change admin users; only
    superusers change superusers. ``actor=None`` is the system (CLI, migrations, demo)."""
    if actor is None:
        return
    myself = target is not None and target.pk == actor.pk
    if target is not None and not myself and target.is_superuser and not actor.is_superuser:
        raise PermissionDenied(
            "only a superuser may change a superuser", fields={"id": "is a superuser"}
        )
    actor_is_admin = is_admin(actor)
    if target is not None and not myself and ADMIN in old_roles and not actor_is_admin:
        raise PermissionDenied(
            "only an admin may change an admin user", fields={"id": "is an admin"}
        )
    if new_roles is not None and (ADMIN in old_roles) != (ADMIN in new_roles):
        if not actor_is_admin:
            verb = "grant" if ADMIN in new_roles else "remove"
            raise PermissionDenied(
                f"only an admin may {verb} the admin role",
                fields={"roles": f"only an admin may {verb} the admin role"},
            )


def _set_roles(user: User, roles: list[str]) -> None:
    groups = [Group.objects.get_or_create(name=r)[0] for r in roles]
    user.groups.set(groups)


def create_staff(
    *,
    actor: User | None = None,
    email: str,
    display_name: str = "",
    roles: Iterable[str] = (),
    region: Any = None,
    teams: Iterable[Any] = (),
    skills: Iterable[Any] = (),
    time_zone: str = "UTC",
    open_ticket_cap: int = 40,
    password: str | None = None,
    is_away: bool = False,
) -> User:
    """Create a staff user with roles (Django groups); the admin role grants the admin site."""
    data = {
        "email": email,
        "display_name": display_name,
        "roles": list(roles),
        "region": region,
        "teams": list(teams),
        "skills": list(skills),
        "time_zone": time_zone,
        "open_ticket_cap": open_ticket_cap,
        "password": password,
        "is_away": is_away,
    }
    with _unique_guard("staff user"), transaction.atomic():
        cleaned = clean_staff(data, None)
        _check_admin_rights(actor, target=None, old_roles=[], new_roles=cleaned["roles"])
        roles_ = cleaned.pop("roles")
        teams_ = cleaned.pop("teams")
        skills_ = cleaned.pop("skills")
        password_ = cleaned.pop("password", None)
        user = User(
            username=cleaned["email"],
            kind=User.Kind.STAFF,
            is_staff=ADMIN in roles_,
            date_joined=now(),
            **cleaned,
        )
        if password_:
            user.set_password(password_)
        else:
            user.set_unusable_password()
        user.save()
        _set_roles(user, roles_)
        user.teams.set(teams_)
        user.skills.set(skills_)
        record(
            "staff.created",
            "user",
            user.pk,
            actor=actor,
            data={
                "email": user.email,
                "display_name": user.display_name,
                "roles": sorted(roles_),
                "region": user.region.code if user.region else None,
                "teams": _ids(teams_),
                "skills": _ids(skills_),
            },
        )
    return user


def update_staff(user: User | int, *, actor: User | None = None, **fields: Any) -> User:
    """Change a staff user's fields, roles, teams, skills, availability or password."""
    pk = user.pk if isinstance(user, User) else user
    with _unique_guard("staff user"), transaction.atomic():
        user = User.objects.select_for_update().filter(pk=pk, kind=User.Kind.STAFF).first()
        if user is None:
            raise NotFound(f"no staff user with id {pk}")
        cleaned = clean_staff(fields, user)
        old_roles = sorted(user.groups.values_list("name", flat=True))
        _check_admin_rights(actor, target=user, old_roles=old_roles, new_roles=cleaned.get("roles"))
        if cleaned.get("is_active") is False and actor is not None and actor.pk == user.pk:
            raise ValidationFailed(
                "you cannot deactivate yourself", fields={"is_active": "is your own account"}
            )
        roles = cleaned.pop("roles", None)
        teams = cleaned.pop("teams", None)
        skills = cleaned.pop("skills", None)
        password = cleaned.pop("password", None)
        changes: dict[str, tuple[Any, Any]] = {}
        if "email" in cleaned and cleaned["email"] != user.email:
            user.username = cleaned["email"]
        _apply(user, cleaned, changes)
        if password:
            user.set_password(password)
            changes["password"] = (None, "changed")
        if roles is not None:
            if old_roles != sorted(roles):
                _set_roles(user, roles)
                changes["roles"] = (old_roles, sorted(roles))
            is_staff = ADMIN in roles or user.is_superuser
            if user.is_staff != is_staff:
                user.is_staff = is_staff
        if teams is not None:
            old = _ids(user.teams.all())
            if old != _ids(teams):
                user.teams.set(teams)
                changes["teams"] = (old, _ids(teams))
        if skills is not None:
            old = _ids(user.skills.all())
            if old != _ids(skills):
                user.skills.set(skills)
                changes["skills"] = (old, _ids(skills))
        if changes:
            user.save()
            record("staff.updated", "user", user.pk, actor=actor, changes=changes)
    return user


def update_customer_user(user: User | int, *, actor: User | None = None, **fields: Any) -> User:
    """Change a customer (portal) user's display name, active flag or password."""
    pk = user.pk if isinstance(user, User) else user
    allowed = ("display_name", "is_active", "password")
    _check_keys(fields, allowed, "customer user")
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=pk, kind=User.Kind.CUSTOMER).first()
        if user is None:
            raise NotFound(f"no customer user with id {pk}")
        errors = _Errors()
        cleaned: dict[str, Any] = {}
        if "display_name" in fields:
            cleaned["display_name"] = _text(errors, fields, "display_name", max_length=150)
        if "is_active" in fields:
            cleaned["is_active"] = _bool(errors, fields, "is_active")
        password = fields.get("password")
        if password is not None:
            if not isinstance(password, str):
                errors.add("password", "must be a string")
            else:
                try:
                    validate_password(password, user)
                except DjangoValidationError as exc:
                    errors.add("password", " ".join(exc.messages))
        errors.raise_if_any("customer user")
        changes: dict[str, tuple[Any, Any]] = {}
        _apply(user, cleaned, changes)
        if password:
            user.set_password(password)
            changes["password"] = (None, "changed")
        if changes:
            user.save()
            record("user.updated", "user", user.pk, actor=actor, changes=changes)
    return user


def set_password(user: User | int, password: str, *, actor: User | None = None) -> User:
    """Set anyone's password through the service of their kind (validated, audited,
    and for staff subject to the admin rules)."""
    pk = user.pk if isinstance(user, User) else user
    kind = User.objects.filter(pk=pk).values_list("kind", flat=True).first()
    if kind is None:
        raise NotFound(f"no user with id {pk}")
    if kind == User.Kind.CUSTOMER:
        return update_customer_user(pk, actor=actor, password=password)
    return update_staff(pk, actor=actor, password=password)


# --- regions ----------------------------------------------------------------------------

REGION_FIELDS = ("code", "name", "time_zone", "shift_calendar", "handoff_order")


def clean_region(data: Mapping[str, Any], region: Region | None) -> dict[str, Any]:
    _check_keys(data, REGION_FIELDS, "region")
    errors = _Errors()
    out: dict[str, Any] = {}
    if "code" in data:
        code = _text(errors, data, "code", max_length=16, required=True)
        if code is not _BAD:
            if not re.fullmatch(r"[A-Za-z0-9_-]+", code):
                errors.add("code", "letters, digits, - and _ only (e.g. EMEA)")
            else:
                out["code"] = code.upper()
    if "name" in data:
        out["name"] = _text(errors, data, "name", max_length=100, required=True)
    if "time_zone" in data:
        out["time_zone"] = _time_zone(errors, data, "time_zone")
    if "shift_calendar" in data:
        out["shift_calendar"] = _text(errors, data, "shift_calendar", max_length=100)
    if "handoff_order" in data:
        order = data["handoff_order"]
        if isinstance(order, bool) or not isinstance(order, int) or not 0 <= order <= 32767:
            errors.add("handoff_order", "must be a whole number between 0 and 32767")
        else:
            out["handoff_order"] = order
    errors.raise_if_any("region")
    if "code" in out:
        others = Region.objects.exclude(pk=region.pk) if region else Region.objects.all()
        _refuse_taken(others, "code", out["code"], "region")
    return out


def create_region(
    *,
    actor: User | None = None,
    code: str,
    name: str,
    time_zone: str = "UTC",
    shift_calendar: str = "",
    handoff_order: int = 0,
) -> Region:
    data = {
        "code": code,
        "name": name,
        "time_zone": time_zone,
        "shift_calendar": shift_calendar,
        "handoff_order": handoff_order,
    }
    with _unique_guard("region"), transaction.atomic():
        cleaned = clean_region(data, None)
        region = Region.objects.create(**cleaned)
        record("region.created", "region", region.pk, actor=actor, data=dict(cleaned))
    return region


def update_region(region: Region | int, *, actor: User | None = None, **fields: Any) -> Region:
    pk = region.pk if isinstance(region, Region) else region
    with _unique_guard("region"), transaction.atomic():
        region = Region.objects.select_for_update().filter(pk=pk).first()
        if region is None:
            raise NotFound(f"no region with id {pk}")
        cleaned = clean_region(fields, region)
        changes: dict[str, tuple[Any, Any]] = {}
        _apply(region, cleaned, changes)
        if changes:
            region.save()
            record("region.updated", "region", region.pk, actor=actor, changes=changes)
    return region


# --- teams ------------------------------------------------------------------------------

TEAM_FIELDS = (
    "name",
    "region",
    "lead",
    "members",
    "email",
    "assignment_strategy",
    "reply_greeting_required",
    "reply_closing_required",
)


def clean_team(data: Mapping[str, Any], team: Team | None) -> dict[str, Any]:
    _check_keys(data, TEAM_FIELDS, "team")
    errors = _Errors()
    out: dict[str, Any] = {}
    if "name" in data:
        out["name"] = _text(errors, data, "name", max_length=100, required=True)
    if "region" in data:
        out["region"] = _region(errors, data)
    if "lead" in data:
        out["lead"] = _staff_user(errors, "lead", data["lead"])
    if "members" in data:
        out["members"] = _staff_users(errors, "members", data["members"])
    if "email" in data:
        value = data["email"]
        if value in (None, ""):
            out["email"] = ""
        else:
            try:
                out["email"] = normalize_email(value)
            except ValueError as exc:
                errors.add("email", str(exc))
    if "assignment_strategy" in data:
        out["assignment_strategy"] = _choice(
            errors, data, "assignment_strategy", Team.Strategy.choices
        )
    for flag in ("reply_greeting_required", "reply_closing_required"):
        if flag in data:
            out[flag] = _bool(errors, data, flag)
    errors.raise_if_any("team")
    if "name" in out:
        others = Team.objects.exclude(pk=team.pk) if team else Team.objects.all()
        _refuse_taken(others, "name", out["name"], "team")
    return out


def create_team(
    *,
    actor: User | None = None,
    name: str,
    region: Any = None,
    lead: Any = None,
    members: Iterable[Any] = (),
    email: str = "",
    assignment_strategy: str = Team.Strategy.ROUND_ROBIN,
    reply_greeting_required: bool = False,
    reply_closing_required: bool = False,
) -> Team:
    data = {
        "name": name,
        "region": region,
        "lead": lead,
        "members": list(members),
        "email": email,
        "assignment_strategy": assignment_strategy,
        "reply_greeting_required": reply_greeting_required,
        "reply_closing_required": reply_closing_required,
    }
    with _unique_guard("team"), transaction.atomic():
        cleaned = clean_team(data, None)
        members_ = cleaned.pop("members")
        team = Team(created_at=now(), **cleaned)
        team.save()
        team.members.set(members_)
        record(
            "team.created",
            "team",
            team.pk,
            actor=actor,
            data={
                "name": team.name,
                "region": team.region.code if team.region else None,
                "lead": team.lead_id,
                "members": [u.pk for u in members_],
                "assignment_strategy": team.assignment_strategy,
            },
        )
    return team


def update_team(team: Team | int, *, actor: User | None = None, **fields: Any) -> Team:
    pk = team.pk if isinstance(team, Team) else team
    with _unique_guard("team"), transaction.atomic():
        team = Team.objects.select_for_update().filter(pk=pk).first()
        if team is None:
            raise NotFound(f"no team with id {pk}")
        cleaned = clean_team(fields, team)
        members = cleaned.pop("members", None)
        changes: dict[str, tuple[Any, Any]] = {}
        _apply(team, cleaned, changes)
        if members is not None:
            old = _ids(team.members.all())
            if old != _ids(members):
                team.members.set(members)
                changes["members"] = (old, _ids(members))
        if changes:
            team.save()
            record("team.updated", "team", team.pk, actor=actor, changes=changes)
    return team


# --- product areas and SME rosters ------------------------------------------------------

PRODUCT_AREA_FIELDS = ("name", "slug", "owning_team", "keywords")


def keyword_list(value: Any) -> list[str]:
    """Keywords from a list or a comma-separated string: stripped, lower-cased, unique."""
    if value is None:
        return []
    parts = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    out: list[str] = []
    for part in parts:
        word = part.strip().lower()
        if word and word not in out:
            out.append(word)
    return out


def clean_product_area(data: Mapping[str, Any], area: ProductArea | None) -> dict[str, Any]:
    _check_keys(data, PRODUCT_AREA_FIELDS, "product area")
    errors = _Errors()
    out: dict[str, Any] = {}
    if "name" in data:
        out["name"] = _text(errors, data, "name", max_length=100, required=True)
    if data.get("slug") not in (None, ""):
        raw = data["slug"]
        slug = slugify(raw) if isinstance(raw, str) else ""
        if not slug or slug != raw:
            errors.add("slug", "must be lower-case letters, digits and hyphens")
        else:
            out["slug"] = slug[:100]
    if "owning_team" in data:
        out["owning_team"] = _one(errors, "owning_team", data["owning_team"], Team, "team")
    if "keywords" in data:
        raw = data["keywords"]
        if raw is not None and not isinstance(raw, (str, list, tuple)):
            errors.add("keywords", "must be a list of words")
        else:
            out["keywords"] = ", ".join(keyword_list(raw))
    errors.raise_if_any("product area")
    if "slug" not in out and "name" in out:
        derived = slugify(out["name"])[:100]
        if not derived:
            raise ValidationFailed(
                "the name gives no slug; pass one", fields={"slug": "needed for this name"}
            )
        auto = area is None or area.slug == slugify(area.name)[:100]
        if auto:
            out["slug"] = derived
    others = ProductArea.objects.exclude(pk=area.pk) if area else ProductArea.objects.all()
    if "name" in out:
        _refuse_taken(others, "name", out["name"], "product area")
    if "slug" in out:
        _refuse_taken(others, "slug", out["slug"], "product area", exact=True)
    return out


def create_product_area(
    *,
    actor: User | None = None,
    name: str,
    slug: str | None = None,
    owning_team: Any = None,
    keywords: Any = (),
) -> ProductArea:
    data = {"name": name, "slug": slug, "owning_team": owning_team, "keywords": list(keywords)}
    if isinstance(keywords, str):
        data["keywords"] = keywords
    with _unique_guard("product area"), transaction.atomic():
        cleaned = clean_product_area(data, None)
        area = ProductArea(**cleaned)
        area.save()
        record(
            "product_area.created",
            "product_area",
            area.pk,
            actor=actor,
            data={
                "name": area.name,
                "slug": area.slug,
                "owning_team": area.owning_team_id,
                "keywords": keyword_list(area.keywords),
            },
        )
    return area


def update_product_area(
    area: ProductArea | int, *, actor: User | None = None, **fields: Any
) -> ProductArea:
    pk = area.pk if isinstance(area, ProductArea) else area
    with _unique_guard("product area"), transaction.atomic():
        area = ProductArea.objects.select_for_update().filter(pk=pk).first()
        if area is None:
            raise NotFound(f"no product area with id {pk}")
        cleaned = clean_product_area(fields, area)
        changes: dict[str, tuple[Any, Any]] = {}
        _apply(area, cleaned, changes)
        if changes:
            area.save()
            record("product_area.updated", "product_area", area.pk, actor=actor, changes=changes)
    return area


def set_roster(
    area: ProductArea | int, user_ids: Iterable[Any], *, actor: User | None = None
) -> list[SMERosterEntry]:
    """Replace the SME roster: the first user is the primary expert, then the backups."""
    pk = area.pk if isinstance(area, ProductArea) else area
    errors = _Errors()
    users = _staff_users(errors, "user_ids", user_ids)
    errors.raise_if_any("roster")
    with transaction.atomic():
        area = ProductArea.objects.select_for_update().filter(pk=pk).first()
        if area is None:
            raise NotFound(f"no product area with id {pk}")
        old = list(
            SMERosterEntry.objects.filter(product_area=area)
            .order_by("position")
            .values_list("user_id", flat=True)
        )
        new = [u.pk for u in users]
        if old == new:
            return list(area.roster.select_related("user").order_by("position"))
        SMERosterEntry.objects.filter(product_area=area).delete()
        entries = SMERosterEntry.objects.bulk_create(
            [
                SMERosterEntry(product_area=area, user=u, position=i)
                for i, u in enumerate(users, start=1)
            ]
        )
        record(
            "product_area.updated",
            "product_area",
            area.pk,
            actor=actor,
            changes={"roster": (old, new)},
        )
    return entries


# --- API tokens -------------------------------------------------------------------------


def create_api_token(user: User, name: str = "", *, actor: User | None = None):
    """A new token for ``user``: (row, secret). The secret is shown once."""
    if not isinstance(name, str) or len(name.strip()) > 100:
        raise ValidationFailed(
            "the token name must be at most 100 characters",
            fields={"name": "must be at most 100 characters"},
        )
    return token_store.create_token(user, name.strip(), actor=actor or user)


def revoke_api_token(prefix: str, *, actor: User, any_user: bool = False) -> ApiToken:
    """Revoke the caller's active token starting with ``prefix`` (anyone's if
    ``any_user``). Someone else's token is reported as not found."""
    qs = ApiToken.objects.filter(prefix=prefix, revoked_at__isnull=True)
    if not any_user:
        qs = qs.filter(user=actor)
    elif not is_admin(actor):
        # Managing staff does not extend to admins: their tokens stay out of reach.
        admins = User.objects.filter(groups__name=ADMIN).exclude(pk=actor.pk).values("pk")
        qs = qs.exclude(user__is_superuser=True).exclude(user__in=admins)
    token_id = qs.order_by("pk").values_list("pk", flat=True).first()
    if token_id is None:
        raise NotFound(f"no active token of yours starts with {prefix!r}")
    # Revoke exactly the token found above: another user's token may share the prefix.
    return token_store.revoke_token(prefix, actor=actor, token_id=token_id)
