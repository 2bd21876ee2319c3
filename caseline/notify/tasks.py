"""Huey tasks of the notify app. Each carries only an outbox row id; the row is the truth.

Retries are driven by our own table (``attempts``, ``next_attempt_at``), not by huey's
retry machinery: a failed attempt schedules a new ``deliver_outbox`` for the row's next
attempt, and the sweeper re-enqueues anything the queue lost.
"""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task


@db_task(retries=0)
def deliver_outbox(row_id: int) -> str:
    from .services import deliver

    return deliver(row_id)


@db_periodic_task(crontab(minute="*"))
def sweep_outbox_periodic() -> int:
    """Safety net when no clock process runs (the clock loop sweeps every second)."""
    from .services import sweep_outbox

    return sweep_outbox()
