"""Demo data for the incident core: one live Sev-1 incident linked to three open demo
tickets of three different organizations (same product area where possible), with its
incident manager (the single point of contact), a communications lead and an SME, a case
owner who acknowledged the handoff, a task, a pinned timeline entry, and the on-duty
person's page acknowledged. Through the services; a second run adds nothing.

Called from ``caseline/demo/extras.py``: ``seed_incidents(report, users)``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from caseline.accounts.models import User
from caseline.timesource import now

TITLE = "Replication lag across several customers after the storage agent update"


def _pick_tickets(n: int = 3) -> list:
    from caseline.tickets.models import Ticket

    open_ = Ticket.objects.filter(status__in=["new", "open", "pending", "on_hold"]).exclude(
        organization=None
    )
    # Prefer one product area shared by n organizations.
    by_area: dict[Any, dict[int, Any]] = {}
    for t in open_.order_by("severity", "-created_at")[:2000]:
        by_area.setdefault(t.product_area_id, {}).setdefault(t.organization_id, t)
    best = max(by_area.values(), key=len, default={})
    picked = list(best.values())[:n]
    if len(picked) < n:
        seen = {t.organization_id for t in picked}
        for t in open_.order_by("severity", "-created_at"):
            if t.organization_id not in seen:
                picked.append(t)
                seen.add(t.organization_id)
            if len(picked) == n:
                break
    return picked


def seed_incidents(report: Any, users: dict[str, User]) -> None:
    from caseline.incidents import services as inc_services
    from caseline.incidents.models import Incident

    if Incident.objects.filter(title=TITLE).exists():
        return
    tickets = _pick_tickets()
    if len(tickets) < 3:
        return
    manager = users.get("tomasz.nowak") or users["lena.hoffmann"]
    owner = users.get("kenji.watanabe") or users["sam.carter"]
    inc = inc_services.declare_incident(
        manager,
        title=TITLE,
        severity=1,
        summary="Customers report replication jobs falling hours behind since the 7.4.2 "
        "storage agent rolled out. Writes succeed; the replicas lag.",
        ticket_ids=[t.pk for t in tickets],
        incident_manager_id=manager.pk,
    )
    for page in inc.pages.filter(state="sent"):
        inc_services.acknowledge_page(page.pk, page.recipient, via="web")
    inc_services.assign_role(
        inc.pk, manager, role="communications_lead", user_id=users["lena.hoffmann"].pk
    )
    sme = users.get("diego.alvarez")
    if sme is not None:
        inc_services.assign_role(inc.pk, manager, role="sme", user_id=sme.pk)
    inc_services.assign_owner(inc.pk, manager, user_id=owner.pk, note="You know the agent")
    inc_services.acknowledge_ownership(inc.pk, owner)
    inc_services.transition(
        inc.pk, manager, "identified", note="Agent 7.4.2 throttles WAL shipping"
    )
    inc_services.add_note(
        inc.pk,
        manager,
        text="Workaround: set replication.throttle=off on the agent and restart it. "
        "Fix ships in 7.4.3.",
        pinned=True,
    )
    inc_services.add_task(
        inc.pk,
        manager,
        title="Pull 7.4.2 from the auto-update channel",
        assignee_id=owner.pk,
        due_at=now() + timedelta(hours=2),
    )
    report.add("incidents")
