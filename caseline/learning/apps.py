from django.apps import AppConfig


class LearningConfig(AppConfig):
    name = "caseline.learning"
    label = "learning"
    verbose_name = "Post-mortems and trends"

    def ready(self) -> None:
        # Timer kinds (review and action-item reminders: importing services registers
        # them), event subscriptions (a resolved escalation or incident gets its
        # post-mortem and review meeting), nav items and room panels.
        from caseline import events
        from caseline.web import nav, panels

        from . import services

        events.subscribe("escalation.status_changed", services.on_escalation_status_changed)
        events.subscribe("incident.status_changed", services.on_incident_status_changed)
        nav.register(
            nav.NavItem(
                "postmortems", "Post-mortems", "postmortem_list", 60, "accounts.view_all_tickets"
            )
        )
        nav.register(nav.NavItem("trends", "Trends", "trends", 65, "accounts.view_all_tickets"))
        panels.register(
            "escalation",
            panels.Panel(
                "postmortem",
                "Post-mortem",
                "escalation_postmortem_panel",
                order=70,
                permission="accounts.view_all_tickets",
            ),
        )
        panels.register(
            "incident",
            panels.Panel(
                "postmortem",
                "Post-mortem",
                "incident_postmortem_panel",
                order=70,
                permission="accounts.view_all_tickets",
            ),
        )
