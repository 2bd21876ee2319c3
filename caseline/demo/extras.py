"""Demo data for the workspace and escalations: shared macros, a shared saved view, team
reply style, and one live escalation opened from the worst open demo ticket (checklist,
stakeholders, cadences, a commitment with a slip). Everything goes through the services;
each part is looked up first, so a second run adds nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from caseline.accounts.models import Team, User
from caseline.timesource import now

MACROS = [
    (
        "Ask for logs",
        "Hello {requester_first_name},\n\nthank you for the details. To find the cause we "
        "need the diagnostic bundle from the affected node: Settings > Support > Download "
        "bundle. Could you attach it to this ticket?\n\nBest regards,\n{agent_first_name}",
        {"status": "pending", "add_tags": ["logs-requested"]},
    ),
    (
        "Known issue: fix in next release",
        "Hello {requester_first_name},\n\nthis is a known issue; the fix ships with the "
        "next maintenance release. I will update you as soon as it is available.\n\n"
        "Best regards,\n{agent_first_name}",
        {"add_tags": ["known-issue"]},
    ),
]


def seed_extras(report: Any, users: dict[str, User]) -> None:
    _macros(report, users["priya.natarajan"])
    _saved_view(report, users["priya.natarajan"])
    _reply_style(report)
    _escalation(report, users)
    # Parts of the escalations and incidents issues, each in its own demo module.
    from caseline.demo.esc_calls import seed_calls
    from caseline.demo.esc_summaries import seed_summaries

    seed_calls(report, users)
    seed_summaries(report, users)
    from caseline.demo.esc_handoffs import seed_handoffs

    seed_handoffs(report, users)
    from caseline.demo.incidents import seed_incidents

    seed_incidents(report, users)
    from caseline.demo.detection import seed_detection

    seed_detection(report, users)
    from caseline.demo.learning import seed_learning

    seed_learning(report, users)
    from caseline.demo.broadcasts import seed_broadcasts

    seed_broadcasts(report, users)


def _macros(report: Any, author: User) -> None:
    from caseline.tickets.macros import create_macro
    from caseline.tickets.models import Macro

    for name, body, actions in MACROS:
        if not Macro.objects.filter(name=name).exists():
            create_macro(actor=author, name=name, body=body, actions=actions, shared=True)
            report.add("macros")


def _saved_view(report: Any, lead: User) -> None:
    from caseline.tickets.models import SavedView
    from caseline.tickets.savedviews import create_saved_view

    name = "Sev-2 not solved, deadline first"
    if not SavedView.objects.filter(name=name, owner=lead).exists():
        create_saved_view(
            actor=lead,
            name=name,
            filters={"status": "new,open,pending,on_hold", "severity": "2"},
            sort="deadline",
            shared=True,
        )
        report.add("saved views")


def _reply_style(report: Any) -> None:
    """The EMEA teams ask for a greeting and a closing in every reply (the reply checker
    flags drafts without them)."""
    from caseline.accounts.services import update_team

    for team in Team.objects.filter(name__icontains="EMEA", reply_greeting_required=False):
        update_team(team, reply_greeting_required=True, reply_closing_required=True)
        report.add("team reply styles")


def _escalation(report: Any, users: dict[str, User]) -> None:
    from caseline.escalations import services as esc
    from caseline.escalations.models import Escalation
    from caseline.tickets.models import Ticket

    if Escalation.objects.exists():
        return
    ticket = (
        Ticket.objects.filter(status__in=["new", "open", "pending", "on_hold"])
        .exclude(organization=None)
        .order_by("severity", "-created_at")
        .first()
    )
    if ticket is None:
        return
    manager = users["rahul.mehta"]
    e = esc.open_from_ticket(
        ticket.pk,
        manager,
        title=f"{ticket.organization.name}: {ticket.subject}"[:300],
        business_impact="Production workload affected; the customer's quarter-end close "
        "depends on it. Executive attention requested by their CIO.",
    )
    esc.transition(e.pk, manager, "active")
    contact = ticket.requester
    if contact is not None:
        esc.add_stakeholder(e.pk, manager, role="technical_lead", contact_id=contact.pk)
    lead = users["priya.natarajan"]
    esc.add_stakeholder(
        e.pk,
        manager,
        role="engineering_lead",
        user_id=lead.pk,
        involvement="4 h/day until resolved",
        approved_by_id=users["lena.hoffmann"].pk,
    )
    esc.add_stakeholder(
        e.pk, manager, role="executive_sponsor", user_id=users["margaret.okafor"].pk
    )
    esc.set_cadence(e.pk, manager, kind="customer_update", every_seconds=4 * 3600)
    esc.set_cadence(e.pk, manager, kind="internal_sync", every_seconds=24 * 3600)
    c = esc.add_commitment(
        e.pk,
        manager,
        what="Root-cause analysis of the outage",
        to_whom=contact.name if contact is not None else ticket.organization.name,
        owner_id=lead.pk,
        due_at=now() + timedelta(days=2),
    )
    esc.update_commitment(
        c.pk,
        manager,
        due_at=now() + timedelta(days=3),
        reason="Waiting for the customer's storage array logs",
    )
    report.add("escalations")
