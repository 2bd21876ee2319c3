from django.apps import AppConfig


class SlaConfig(AppConfig):
    name = "caseline.sla"
    label = "sla"
    verbose_name = "SLA engine and timers"

    def ready(self) -> None:
        # Registers the built-in timer kinds (``audit.note``) in the registry.
        from caseline.events import subscribe

        from . import services, timers  # noqa: F401  (services registers sla.* timer kinds)
        from .queries import register_ticket_list_extensions

        register_ticket_list_extensions()
        from django.apps import apps

        if apps.is_installed("caseline.mail"):  # acknowledgement mails state the SLA's ETA
            from caseline.mail.outbound import register_eta_provider

            from .queries import answer_eta_text

            register_eta_provider(answer_eta_text)
        subscribe("ticket.created", services.on_ticket_created)
        subscribe("ticket.message_added", services.on_message_added)
        subscribe("ticket.status_changed", services.on_status_changed)
        subscribe("ticket.updated", services.on_updated)
        subscribe("ticket.assigned", services.on_assigned)
