"""Row extras the workspace adds to queue pages (registered in WebConfig.ready()).

The web app sits above every other app, so it may read the ETA table; the tickets app
below it only sees the ``queues.ROW_EXTRAS`` registry."""

from __future__ import annotations

from typing import Any


def pending_eta(ticket_ids: list[int]) -> dict[int, dict[str, Any]]:
    """{ticket id: {"eta_due": datetime}} for the page's tickets with a pending ETA."""
    from caseline.eta.models import ETA

    rows = ETA.objects.filter(ticket_id__in=ticket_ids, status=ETA.Status.PENDING).values_list(
        "ticket_id", "due_at"
    )
    return {tid: {"eta_due": due} for tid, due in rows}


def register() -> None:
    from caseline.tickets import queues

    queues.register_list_extensions()
    queues.register_row_extra("eta", pending_eta)
