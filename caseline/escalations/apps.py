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

        # The web: the "Escalations" nav item and the ticket page's escalation panel.
        from caseline.web import nav, panels

        nav.register(
            nav.NavItem(
                "escalations", "Escalations", "escalation_list", 25, "accounts.view_all_tickets"
            )
        )
        panels.register(
            "ticket",
            panels.Panel(
                "escalation",
                "Escalation",
                "ticket_escalation_panel",
                order=20,
                permission="accounts.view_all_tickets",
            ),
        )

        # Calls and visits: the action-item timer kind and the escalation room's panel.
        from caseline.web import panels as web_panels

        from . import calls  # noqa: F401

        web_panels.register(
            "escalation",
            web_panels.Panel(
                "calls",
                "Calls and visits",
                "escalation_calls_panel",
                order=40,
                permission="accounts.view_all_tickets",
            ),
        )

        # Executive summaries: the draft/send timer kinds, the schedule following the
        # escalation's status, and the escalation room's panel.
        from caseline import events as domain_events
        from caseline.web import panels as summary_panels

        from . import summaries

        domain_events.subscribe("escalation.status_changed", summaries.on_status_changed)
        domain_events.subscribe("escalation.opened", summaries.on_opened)
        summary_panels.register(
            "escalation",
            summary_panels.Panel(
                "summaries",
                "Executive summaries",
                "escalation_summaries_panel",
                order=50,
                permission="accounts.view_all_tickets",
            ),
        )

        # Follow-the-sun handoffs: the timer kinds (shift end, late note, late
        # acknowledgement), re-arming the shift ends when a region or calendar changes or
        # after migrate, the "Hand-offs" page and the escalation room / ticket page panels.
        from django.db.models.signals import post_migrate

        from caseline import events as handoff_events
        from caseline.web import nav as handoff_nav
        from caseline.web import panels as handoff_panels

        from . import handoffs

        handoff_events.subscribe("region.created", handoffs.on_region_changed)
        handoff_events.subscribe("region.updated", handoffs.on_region_changed)
        handoff_events.subscribe("sla_calendar.changed", handoffs.on_calendar_changed)
        post_migrate.connect(handoffs.on_migrate, sender=self, dispatch_uid="handoffs-arm")
        handoff_nav.register(
            handoff_nav.NavItem(
                "handoffs", "Hand-offs", "handoffs", 27, "accounts.view_all_tickets"
            )
        )
        handoff_panels.register(
            "escalation",
            handoff_panels.Panel(
                "handoffs",
                "Hand-offs",
                "escalation_handoffs_panel",
                order=60,
                permission="accounts.view_all_tickets",
            ),
        )
        handoff_panels.register(
            "ticket",
            handoff_panels.Panel(
                "handoffs",
                "Hand-offs",
                "ticket_handoffs_panel",
                order=30,
                permission="accounts.view_all_tickets",
            ),
        )
