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


@db_task(retries=0)
def deliver_outbox_batch(row_ids: list[int]) -> list[str]:
    """The doorbell of rows written together (``services.enqueue_rows``): each row is
    delivered as ``deliver_outbox`` would (lease, retries, the sweeper as safety net)."""
    import logging

    from .services import deliver

    outcomes: list[str] = []
    for row_id in row_ids:
        try:
            outcomes.append(deliver(row_id))
        except Exception:  # the row stays pending: the sweeper hands it out again
            logging.getLogger(__name__).exception("outbox row %s: delivery raised", row_id)
            outcomes.append("error")
    return outcomes


@db_periodic_task(crontab(minute="*"))
def sweep_outbox_periodic() -> int:
    """Safety net when no clock process runs (the clock loop sweeps every second)."""
    from .services import sweep_outbox

    return sweep_outbox()
