from django.apps import AppConfig


class NotifyConfig(AppConfig):
    name = "caseline.notify"
    label = "notify"
    verbose_name = "Notifications, outbox and webhooks"

    def ready(self) -> None:
        from caseline import events

        from . import handlers

        events.subscribe("*", handlers.fan_out_to_webhooks)
