from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "caseline.incidents"
    label = "incidents"
    verbose_name = "Critical incidents"

    def ready(self) -> None:
        # Timer kinds, event subscriptions and workspace panels of incidents, broadcasts,
        # the status page and multi-customer detection register here. Lower apps never
        # import this app.
        pass

        # Incident core (services.py, views.py): timer kinds, the "Incidents" nav item,
        # the ticket page's "Incident" panel.
        from caseline.sla import timers
        from caseline.web import nav, panels

        from . import services as incident_services

        timers.handler(incident_services.OWNER_KIND)(incident_services.owner_due)
        timers.handler(incident_services.PAGE_KIND)(incident_services.page_ack_due)
        nav.register(
            nav.NavItem("incidents", "Incidents", "incident_list", 26, "accounts.view_all_tickets")
        )
        nav.register(
            nav.NavItem(
                "detection", "Proposals", "detection_proposals", 27, "accounts.view_all_tickets"
            )
        )
        panels.register(
            "ticket",
            panels.Panel(
                "incident",
                "Incident",
                "ticket_incident_panel",
                order=25,
                permission="accounts.view_all_tickets",
            ),
        )

        # Broadcasts and the status page: timer kinds, event subscriptions, the incident
        # room's "Broadcasts" panel and the "Status" nav item (caseline/incidents/broadcasts.py).
        from .broadcasts import connect as connect_broadcasts

        connect_broadcasts()

        # Multi-customer detection: ticket.created -> a huey task after commit, the ticket
        # page's "Similar tickets elsewhere" panel (caseline/incidents/detection.py).
        from .detection import connect as connect_detection

        connect_detection()
