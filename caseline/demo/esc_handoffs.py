"""Demo data for follow-the-sun handoffs: every region's shift-end timer armed, the demo
escalation handed to the next region and acknowledged (its acting owner set), and one
open ticket's handoff waiting for its note. Through the services; a second run adds
nothing."""

from __future__ import annotations

from typing import Any

from caseline.accounts.models import User


def seed_handoffs(report: Any, users: dict[str, User]) -> None:
    from caseline.escalations import handoffs
    from caseline.escalations.models import Escalation, Handoff
    from caseline.escalations.services import LIVE_STATUSES
    from caseline.tickets.models import Ticket
    from caseline.tickets.states import OPEN_STATUSES
    from caseline.timesource import now

    handoffs.arm_all(missing_only=True)
    if Handoff.objects.exists():
        return
    # Acknowledged: the demo escalation, from its owner to the next region.
    esc = (
        Escalation.objects.filter(status__in=LIVE_STATUSES, owner__region__isnull=False)
        .select_related("owner__region")
        .order_by("id")
        .first()
    )
    if esc is not None:
        owner = esc.owner
        to_region = handoffs.next_region(owner.region)
        receiver = handoffs.suggest_receiver(to_region, now(), exclude={owner.pk})
        if receiver is None:
            options = [u for u in handoffs.receiver_options(to_region) if u.pk != owner.pk]
            receiver = options[0] if options else None
        if receiver is not None:
            h = handoffs.start(
                owner,
                escalation_id=esc.pk,
                receiver_id=receiver.pk,
                note="Customer CIO expects the root-cause draft by your morning. Storage "
                "vendor case is open (ref SR-20931); call them first. Next customer "
                "update due at 10:00 their time.",
            )
            handoffs.acknowledge(h.pk, receiver)
            report.add("handoffs")
    # Pending: the worst open ticket held by someone with a region (no note yet).
    ticket = (
        Ticket.objects.filter(status__in=OPEN_STATUSES, assignee__region__isnull=False)
        .exclude(escalations__status__in=LIVE_STATUSES)
        .order_by("severity", "-created_at")
        .select_related("assignee")
        .first()
    )
    if ticket is not None:
        handoffs.start(ticket.assignee, ticket_id=ticket.pk)
        report.add("handoffs")
