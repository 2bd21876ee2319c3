"""The huey task of multi-customer detection: enqueued after the commit of a new ticket
(``detection.on_ticket_created``); carries only the ticket id."""

from __future__ import annotations

from huey.contrib.djhuey import db_task


@db_task(retries=2, retry_delay=5)
def detect_ticket(ticket_id: int) -> int | None:
    from .detection import propose_for_ticket

    proposal = propose_for_ticket(ticket_id)
    return proposal.pk if proposal is not None else None
