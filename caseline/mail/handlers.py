"""Domain-event handlers of the mail app (subscribed in MailConfig.ready)."""

from __future__ import annotations

from caseline.events import DomainEvent


def message_added(event: DomainEvent) -> None:
    """A staff public reply goes out by email (an outbox row in the same transaction).

    Messages that arrived by email (channel "email": a staff member replying from their
    mail client has already reached everyone they addressed) and notes are not sent.
    """
    data = event.data
    if data.get("kind") != "public" or data.get("author_role") != "staff":
        return
    if data.get("channel") == "email":
        return
    from caseline.tickets.models import Message

    from .outbound import send_reply

    message = Message.objects.filter(pk=data.get("message_id")).first()
    if message is not None:
        send_reply(message)
