from django.apps import AppConfig


class TicketsConfig(AppConfig):
    name = "caseline.tickets"
    label = "tickets"
    verbose_name = "Tickets"

    def ready(self) -> None:
        from caseline import events

        from . import handlers, queues

        queues.register_list_extensions()  # the queues' "teams" filter

        events.subscribe("contact.merged", handlers.contact_merged)
        events.subscribe("organization.updated", handlers.organization_updated)
