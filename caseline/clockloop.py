"""The time-driven duties of the clock loop (``caseline clock``, see caseline.sla.loop).

``duties()`` runs the periodic work that is not a timer (today: the outbox sweeper); the
loop runs it about once a second. ``tick()`` is one full pass -- fire every due timer,
then the duties -- as ``caseline clock --once`` does.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def duties() -> dict[str, int]:
    """Run every periodic duty once; a failing duty must not stop the loop."""
    from caseline.notify.services import sweep_outbox

    counts = {"outbox_requeued": 0}
    try:
        counts["outbox_requeued"] = sweep_outbox()
    except Exception:
        log.exception("outbox sweep failed")
    return counts


def tick() -> dict[str, int]:
    """Fire every due timer, then run the duties once; return counts for logs and tests."""
    from caseline.sla.timers import fire_all_due

    fired = fire_all_due()
    return {"timers_fired": fired, **duties()}
