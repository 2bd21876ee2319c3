"""Mailbox configuration use-cases (API and admin share them): validate the whole input,
write, append the audit event (``mailbox.changed``; the IMAP password is never recorded).

Inbound processing is ``caseline.mail.ingest``; outbound is ``caseline.mail.outbound``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction

from caseline.accounts.models import ProductArea, Team
from caseline.audit.services import record
from caseline.errors import Conflict, NotFound, ValidationFailed

from .models import InboundMessage, Mailbox

FIELDS = (
    "name",
    "address",
    "kind",
    "team",
    "product_area",
    "imap_host",
    "imap_port",
    "imap_security",
    "imap_user",
    "imap_password",
    "imap_folder",
    "delete_after_import",
    "send_acknowledgement",
    "active",
)
SECRET = "imap_password"


def _clean(data: dict[str, Any], *, current: Mailbox | None) -> dict[str, Any]:
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    creating = current is None
    for key in data:
        if key not in FIELDS:
            errors[key] = "unknown field"
    if "name" in data or creating:
        name = " ".join(str(data.get("name") or "").split())
        if not name:
            errors["name"] = "required"
        elif len(name) > 100:
            errors["name"] = "at most 100 characters"
        elif Mailbox.objects.filter(name=name).exclude(pk=getattr(current, "pk", None)).exists():
            errors["name"] = "another mailbox has this name"
        out["name"] = name
    if "address" in data or creating:
        address = str(data.get("address") or "").strip().lower()
        try:
            validate_email(address)
        except DjangoValidationError:
            errors["address"] = "not an email address"
        else:
            if (
                Mailbox.objects.filter(address__iexact=address)
                .exclude(pk=getattr(current, "pk", None))
                .exists()
            ):
                errors["address"] = "another mailbox has this address"
        out["address"] = address
    if "kind" in data or creating:
        kind = data.get("kind") or Mailbox.Kind.IMAP
        if kind not in Mailbox.Kind.values:
            errors["kind"] = f"one of {', '.join(Mailbox.Kind.values)}"
        out["kind"] = kind
    for key, model, label in (
        ("team", Team, "team"),
        ("product_area", ProductArea, "product area"),
    ):
        if key in data:
            value = data[key]
            if value in (None, ""):
                out[key] = None
            else:
                found = model.objects.filter(pk=value).first() if isinstance(value, int) else None
                if found is None:
                    errors[key] = f"no {label} with id {value}"
                out[key] = found
    if "imap_security" in data:
        if data["imap_security"] not in Mailbox.Security.values:
            errors["imap_security"] = f"one of {', '.join(Mailbox.Security.values)}"
        out["imap_security"] = data["imap_security"]
    if "imap_port" in data:
        port = data["imap_port"]
        if port is not None and (
            isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536
        ):
            errors["imap_port"] = "a port between 1 and 65535"
        out["imap_port"] = port
    for key, limit in (
        ("imap_host", 253),
        ("imap_user", 253),
        ("imap_password", 500),
        ("imap_folder", 200),
    ):
        if key in data:
            value = str(data[key] or "")
            if key != SECRET:
                value = value.strip()
            if len(value) > limit:
                errors[key] = f"at most {limit} characters"
            out[key] = value
    if out.get("imap_folder") == "":
        out["imap_folder"] = "INBOX"
    for key in ("delete_after_import", "send_acknowledgement", "active"):
        if key in data:
            if not isinstance(data[key], bool):
                errors[key] = "true or false"
            out[key] = data[key]
    # an IMAP mailbox needs somewhere to log in
    merged = {f: getattr(current, f, None) for f in ("kind", "imap_host", "imap_user")}
    merged.update({k: v for k, v in out.items() if k in merged})
    if merged.get("kind", Mailbox.Kind.IMAP) == Mailbox.Kind.IMAP:
        for key in ("imap_host", "imap_user"):
            if not merged.get(key) and key not in errors:
                errors[key] = "required for an IMAP mailbox"
    if errors:
        detail = "; ".join(f"{k}: {v}" for k, v in errors.items())
        raise ValidationFailed(f"invalid mailbox: {detail}", fields=errors)
    return out


def _public(value: Any) -> Any:
    return getattr(value, "pk", value)


def create_mailbox(*, actor: Any = None, **data: Any) -> Mailbox:
    clean = _clean(data, current=None)
    with transaction.atomic():
        box = Mailbox.objects.create(**clean)
        record(
            "mailbox.changed",
            "mailbox",
            box.pk,
            actor=actor,
            changes={k: (None, "***" if k == SECRET else _public(v)) for k, v in clean.items()},
            data={"action": "created", "address": box.address},
        )
    return box


def get_mailbox(mailbox_id: int) -> Mailbox:
    box = Mailbox.objects.filter(pk=mailbox_id).first()
    if box is None:
        raise NotFound(f"mailbox {mailbox_id} not found")
    return box


def update_mailbox(mailbox_id: int, *, actor: Any = None, **data: Any) -> Mailbox:
    with transaction.atomic():
        box = Mailbox.objects.select_for_update().filter(pk=mailbox_id).first()
        if box is None:
            raise NotFound(f"mailbox {mailbox_id} not found")
        clean = _clean(data, current=box)
        changes: dict[str, tuple[Any, Any]] = {}
        for key, value in clean.items():
            old = getattr(box, key)
            if old != value:
                changes[key] = ("***", "***") if key == SECRET else (_public(old), _public(value))
                setattr(box, key, value)
        if changes:
            box.save()
            record(
                "mailbox.changed",
                "mailbox",
                box.pk,
                actor=actor,
                changes=changes,
                data={"action": "updated", "address": box.address},
            )
    return box


def delete_mailbox(mailbox_id: int, *, actor: Any = None) -> None:
    """Delete a mailbox that never received mail; one that did is deactivated instead
    (409 tells so): its messages keep their history."""
    with transaction.atomic():
        box = Mailbox.objects.select_for_update().filter(pk=mailbox_id).first()
        if box is None:
            raise NotFound(f"mailbox {mailbox_id} not found")
        if InboundMessage.objects.filter(mailbox=box).exists():
            raise Conflict(
                "this mailbox has received mail; deactivate it (active=false) instead",
                fields={"active": "set to false"},
            )
        address = box.address
        box.delete()
        record(
            "mailbox.changed",
            "mailbox",
            mailbox_id,
            actor=actor,
            data={"action": "deleted", "address": address},
        )
