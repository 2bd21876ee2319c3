from django.apps import AppConfig


class EtaConfig(AppConfig):
    name = "caseline.eta"
    label = "eta"
    verbose_name = "ETA commitments"

    def ready(self) -> None:
        from caseline import events

        from . import handlers  # noqa: F401  (registers the eta.* timer kinds)

        events.subscribe("ticket.message_added", handlers.on_message_added)
        events.subscribe("ticket.solved", handlers.on_ticket_solved)
        events.subscribe("ticket.assigned", handlers.on_assigned)

        from caseline.tickets import queues

        from . import queries

        queues.register_row_extra("eta", queries.queue_row_eta)  # the ETA column of queues
