"""Reading the workspace's HTML form values: one place for the conversions every staff
page needs (ids, numbers, ``datetime-local`` times, ticket numbers). Anything the
conversion cannot read is either passed on for the service to refuse (so the 422 names
the field the way the API does) or refused here with the field named."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from django.utils import timezone

from caseline.errors import ValidationFailed


def form_id(raw: str | None) -> int | None:
    """An id: empty -> None, digits -> int, anything else -> 0 (no such row: the service
    answers 422 naming the field)."""
    raw = (raw or "").strip()
    if not raw:
        return None
    return int(raw) if raw.isdigit() else 0


def form_number(raw: str | None) -> Any:
    """Digits -> int; anything else is passed on as text (the service says why not)."""
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() else raw


def local_datetime(raw: str | None, field: str | None = None) -> Any:
    """``datetime-local`` (in the viewer's time zone) or ISO 8601 with an offset -> an
    aware datetime; empty -> None. Unreadable: with ``field``, a 422 naming it; without,
    the text itself, for the service to refuse."""
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        if field is None:
            return raw
        raise ValidationFailed(
            "the date is not valid", fields={field: "a date and time, e.g. 2026-03-02T15:00"}
        ) from None
    if value.tzinfo is None:
        value = timezone.make_aware(value, timezone.get_current_timezone())
    return value


def ticket_ids(raw: str | None, field: str = "ticket_ids") -> list[int]:
    """Ticket numbers separated by spaces, commas or semicolons (``CL-12`` or ``12``)."""
    ids, bad = [], []
    for token in re.split(r"[\s,;]+", (raw or "").strip()):
        if not token:
            continue
        digits = token.upper().removeprefix("CL-")
        if digits.isdigit():
            ids.append(int(digits))
        else:
            bad.append(token)
    if bad:
        raise ValidationFailed(
            "the request is not valid",
            fields={field: f"ticket numbers like CL-12 or 12, not {', '.join(bad)}"},
        )
    return ids
