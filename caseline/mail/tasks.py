"""Huey tasks of the email channel.

``deliver_outbox_rows``: the doorbell of the acknowledgements one ingest batch wrote
(``caseline.mail.outbound.write_deferred``): one queue entry per batch instead of one
per row (on the SQLite queue each entry is a committed write). It carries only row ids;
each row is delivered by ``caseline.notify.services.deliver`` exactly as the notify
app's own ``deliver_outbox`` does (lease, retries with back-off, the sweeper as safety
net), one after the other.
"""

from __future__ import annotations

import logging

from huey.contrib.djhuey import db_task

log = logging.getLogger(__name__)


@db_task(retries=0)
def deliver_outbox_rows(row_ids: list[int]) -> list[str]:
    from caseline.notify.services import deliver

    outcomes: list[str] = []
    for row_id in row_ids:
        try:
            outcomes.append(deliver(row_id))
        except Exception:  # the row stays pending: the sweeper hands it out again
            log.exception("outbox row %s: delivery raised; the sweeper will retry it", row_id)
            outcomes.append("error")
    return outcomes
