"""State changes of the web app: the sign-in lockout.

Per (username, client address): ``LOGIN_FAILURE_LIMIT`` failures within
``LOGIN_FAILURE_WINDOW_SECONDS`` lock that pair for ``LOGIN_LOCKOUT_SECONDS`` (settings;
defaults 5, 15 min, 15 min). While locked even the right password is refused, so guessing
stops; another address (the real user at their desk) is not locked. A success clears the
counter. Stored in the database, so every server process sees the same counts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction

from caseline.audit.services import record
from caseline.timesource import now

from .models import LoginThrottle


def _limit() -> int:
    return int(getattr(settings, "LOGIN_FAILURE_LIMIT", 5))


def _window() -> timedelta:
    return timedelta(seconds=int(getattr(settings, "LOGIN_FAILURE_WINDOW_SECONDS", 900)))


def _lockout() -> timedelta:
    return timedelta(seconds=int(getattr(settings, "LOGIN_LOCKOUT_SECONDS", 900)))


def _key(username: str) -> str:
    return (username or "").strip().lower()[:254]


def locked_until(username: str, ip: str) -> datetime | None:
    """When the lockout of ``username`` from ``ip`` ends; None when not locked (a read)."""
    row = LoginThrottle.objects.filter(username=_key(username), ip=ip[:64]).first()
    if row is None or row.locked_until is None or row.locked_until <= now():
        return None
    return row.locked_until


def record_login_failure(username: str, ip: str) -> datetime | None:
    """Count one failed sign-in; returns the lockout end when this failure locks the pair."""
    key, ip = _key(username), ip[:64]
    current = now()
    with transaction.atomic():
        row = LoginThrottle.objects.select_for_update().filter(username=key, ip=ip).first()
        if row is None:
            try:
                with transaction.atomic():
                    row = LoginThrottle.objects.create(username=key, ip=ip, window_start=current)
            except IntegrityError:  # another process created it first
                row = LoginThrottle.objects.select_for_update().get(username=key, ip=ip)
        if row.locked_until is not None and row.locked_until > current:
            return row.locked_until
        if row.window_start + _window() < current or row.locked_until is not None:
            row.failures = 0
            row.window_start = current
            row.locked_until = None
        row.failures += 1
        locked = None
        if row.failures >= _limit():
            locked = row.locked_until = current + _lockout()
            record(
                "auth.locked_out",
                "login",
                row.pk,
                data={"username": key, "ip": ip, "failures": row.failures, "until": locked},
            )
        row.save()
        return locked


def clear_login_failures(username: str, ip: str) -> None:
    """A successful sign-in forgets the failures of this pair."""
    with transaction.atomic():
        LoginThrottle.objects.filter(username=_key(username), ip=ip[:64]).delete()
