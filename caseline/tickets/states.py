"""The ticket status state machine: the statuses and the allowed transitions."""

from __future__ import annotations

from django.db import models

from caseline.errors import Conflict


class Status(models.TextChoices):
    NEW = "new", "New"
    OPEN = "open", "Open"
    PENDING = "pending", "Pending customer"
    ON_HOLD = "on_hold", "On hold"
    SOLVED = "solved", "Solved"
    CLOSED = "closed", "Closed"


ALLOWED: dict[str, frozenset[str]] = {
    Status.NEW: frozenset({Status.OPEN, Status.PENDING, Status.ON_HOLD, Status.SOLVED}),
    Status.OPEN: frozenset({Status.PENDING, Status.ON_HOLD, Status.SOLVED}),
    Status.PENDING: frozenset({Status.OPEN, Status.ON_HOLD, Status.SOLVED}),
    Status.ON_HOLD: frozenset({Status.OPEN, Status.PENDING, Status.SOLVED}),
    Status.SOLVED: frozenset({Status.OPEN, Status.CLOSED}),
    Status.CLOSED: frozenset(),
}

OPEN_STATUSES = frozenset({Status.NEW, Status.OPEN, Status.PENDING, Status.ON_HOLD})


class IllegalTransition(Conflict):
    code = "illegal_transition"

    def __init__(self, old: str, new: str, reason: str):
        super().__init__(reason, fields={"status": reason})
        self.old = old
        self.new = new
        self.reason = reason


def check_transition(old: str, new: str) -> None:
    """Raise IllegalTransition unless ``old`` -> ``new`` is allowed."""
    if new not in Status.values:
        raise IllegalTransition(old, new, f"unknown status {new!r}")
    if old == new:
        return
    if new not in ALLOWED[old]:
        if old == Status.CLOSED:
            reason = "a closed ticket cannot change status; open a follow-up ticket instead"
        else:
            allowed = ", ".join(sorted(ALLOWED[old])) or "none"
            reason = f"cannot go from {old} to {new} (allowed from {old}: {allowed})"
        raise IllegalTransition(old, new, reason)
