"""Domain-event handlers of the tickets app (subscribed in TicketsConfig.ready()).

They run inside the publishing transaction and only do cheap writes (plain queryset
updates) to the same database.
"""

from __future__ import annotations

from caseline.events import DomainEvent

from .models import Message, Ticket


def contact_merged(event: DomainEvent) -> None:
    """A contact was merged: its tickets (as requester), messages (as author) and CCs
    now belong to the surviving contact."""
    source_id = event.data.get("source_id")
    target_id = event.data.get("target_id")
    if not source_id or not target_id or source_id == target_id:
        return
    Ticket.objects.filter(requester_id=source_id).update(requester_id=target_id)
    Message.objects.filter(author_contact_id=source_id).update(author_contact_id=target_id)
    through = Ticket.ccs.through
    already = through.objects.filter(contact_id=target_id).values("ticket_id")
    # A ticket whose requester is now the survivor does not CC them as well.
    requested = Ticket.objects.filter(requester_id=target_id).values("id")
    through.objects.filter(contact_id=source_id).exclude(ticket_id__in=already).exclude(
        ticket_id__in=requested
    ).update(contact_id=target_id)
    through.objects.filter(contact_id=source_id).delete()
