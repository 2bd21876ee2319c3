from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "caseline.mail"
    label = "mail"
    verbose_name = "Email channel"

    def ready(self) -> None:
        from caseline import events

        from . import handlers

        events.subscribe("ticket.message_added", handlers.message_added)

        from .cache import connect_signals

        connect_signals()  # per-process caches of the ingest path forget changed rows
