from django.apps import AppConfig


class EscalationsConfig(AppConfig):
    name = "caseline.escalations"
    label = "escalations"
    verbose_name = "Managed escalations"

    def ready(self) -> None:
        # Timer kinds (cadence reminders and misses, overdue commitments) and the SLA
        # engine's ``open_escalation`` breach action. Lower apps never import this app.
        from caseline.sla import actions

        from . import handlers

        actions.register_action(
            "open_escalation",
            handlers.open_escalation_action,
            params=handlers.ACTION_PARAMS,
            check=handlers.check_action_params,
        )
