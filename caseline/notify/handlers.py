"""Domain-event handlers of the notify app (subscribed in NotifyConfig.ready)."""

from __future__ import annotations

from caseline.events import DomainEvent


def fan_out_to_webhooks(event: DomainEvent) -> None:
    """Write one outbox row per active webhook that wants this event type.

    Runs inside the publishing transaction: the rows commit (and are delivered) only if
    the change that caused them commits. One query for the active webhooks per event.
    """
    from .services import enqueue_webhooks_for_event

    enqueue_webhooks_for_event(event)
