"""Field checks shared by the services of escalations, incidents and post-mortems: each
check reads one input value, adds ``field -> reason`` to an ``errors`` dict when it is not
acceptable, and returns the cleaned value; ``raise_if_any`` then refuses the whole
request at once (422 naming every bad field, nothing changed)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from caseline.errors import ValidationFailed


def raise_if_any(errors: dict[str, str], message: str = "the request is not valid") -> None:
    if errors:
        raise ValidationFailed(message, fields=errors)


def text(
    value: Any, field: str, errors: dict[str, str], *, limit: int, required: bool = False
) -> str:
    """Stripped text (None counts as empty); at most ``limit`` characters."""
    cleaned = (value or "").strip() if isinstance(value, str) or value is None else None
    if cleaned is None:
        errors[field] = "must be text"
        return ""
    if required and not cleaned:
        errors[field] = "required"
    elif len(cleaned) > limit:
        errors[field] = f"at most {limit} characters"
    return cleaned


def severity(value: Any, errors: dict[str, str], *, default: int = 2) -> int:
    """1 (critical) to 4 (low); a bool is not a number."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4:
        errors["severity"] = "1 (critical) to 4 (low)"
        return default
    return value


def aware(
    value: Any, field: str, errors: dict[str, str], *, optional: bool = False
) -> datetime | None:
    """An aware datetime or an ISO 8601 text with a UTC offset, as UTC. ``optional``:
    None is accepted (and returned) instead of refused."""
    if value is None and optional:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            value = None
    if not isinstance(value, datetime) or value.tzinfo is None:
        errors[field] = "an ISO 8601 date-time with a UTC offset"
        return None
    return value.astimezone(UTC)


def staff(user_id: Any, field: str, errors: dict[str, str]) -> Any:
    """The active staff user with that id (an int, not a bool), else None and an error."""
    from caseline.accounts.models import User

    ok = isinstance(user_id, int) and not isinstance(user_id, bool)
    user = User.objects.filter(pk=user_id).first() if ok else None
    if user is None or user.kind != User.Kind.STAFF or not user.is_active:
        errors[field] = "no such active staff user"
        return None
    return user
