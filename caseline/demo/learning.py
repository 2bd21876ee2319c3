"""Demo data for post-mortems and trends: six escalations of the last months resolved
through the services (each gets its post-mortem and review meeting), then moved back to
their planned dates so the trends page has history (two come back: same root-cause
category and product area within 90 days); the latest one's post-mortem is written,
has action items (done, open, won't do) and is published. A second run adds nothing.

Called from ``caseline/demo/extras.py``: ``seed_learning(report, users)``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from caseline.accounts.models import User
from caseline.timesource import now

MARK = "Post-mortem demo: "

# title, days ago opened, hours to take on, hours to resolve, category, root cause
HISTORY = [
    ("Nightly backups failing", 160, 2, 30, "Capacity", "Backup volume full after growth"),
    ("SSO logins rejected", 120, 1, 6, "Configuration change", "IdP certificate rotated early"),
    ("Invoices duplicated", 95, 4, 50, "Software defect", "Retry loop in the invoice job"),
    ("Replica lag after upgrade", 70, 1, 20, "Software defect", "Agent throttles WAL shipping"),
    ("Report exports time out", 40, 3, 26, "Third-party", "Object storage provider slowdown"),
    ("Replication stalls at night", 2, 1, 14, "Software defect", "Agent throttles WAL shipping"),
]


def seed_learning(report: Any, users: dict[str, User]) -> None:
    from caseline.escalations import services as esc
    from caseline.escalations.models import Escalation
    from caseline.learning import services
    from caseline.learning.models import PostMortem, RootCauseCategory
    from caseline.sla import timers
    from caseline.tickets.models import Ticket

    if Escalation.objects.filter(title__startswith=MARK).exists():
        return
    manager = users.get("rahul.mehta") or next(iter(users.values()))
    lead = users.get("priya.natarajan") or manager
    engineer = users.get("sam.carter") or lead
    live = esc.LIVE_STATUSES
    tickets = list(
        Ticket.objects.exclude(organization=None)
        .exclude(product_area=None)
        .exclude(escalations__status__in=live)
        .exclude(incidents__isnull=False)
        .order_by("id")[:200]
    )
    if len(tickets) < len(HISTORY):
        return
    by_area: dict[str, list] = {}
    for t in tickets:
        by_area.setdefault(t.product_area.name, []).append(t)
    areas = sorted(by_area, key=lambda a: -len(by_area[a]))
    replication = by_area.get("Replication") or by_area[areas[0]]
    used: set[int] = set()
    current = now()
    last_pm = None
    for i, (title, days, take_on, resolve, category, cause) in enumerate(HISTORY):
        pool = replication if "Replica" in title else by_area[areas[i % len(areas)]]
        ticket = next((t for t in pool if t.pk not in used), None) or next(
            t for t in tickets if t.pk not in used
        )
        used.add(ticket.pk)
        e = esc.open_escalation(
            manager, ticket_ids=[ticket.pk], owner_id=manager.pk, title=MARK + title, severity=2
        )
        esc.transition(e.pk, manager, "active")
        esc.transition(e.pk, manager, "resolved", root_cause=cause)
        pm = PostMortem.objects.get(escalation_id=e.pk)
        cat = RootCauseCategory.objects.filter(name=category).first()
        services.update_postmortem(
            pm.pk,
            manager,
            root_cause_category_id=cat.pk if cat else None,
            product_area_id=ticket.product_area_id,
        )
        # History: move the rows to their planned moments (the demo's own time travel).
        opened = current - timedelta(days=days)
        resolved = opened + timedelta(hours=resolve)
        Escalation.objects.filter(pk=e.pk).update(
            opened_at=opened,
            active_at=opened + timedelta(hours=take_on),
            resolved_at=resolved,
            updated_at=resolved,
        )
        PostMortem.objects.filter(pk=pm.pk).update(resolved_at=resolved, created_at=resolved)
        last_pm = pm
        if i < len(HISTORY) - 1:
            timers.cancel_for("postmortem", pm.pk)  # old reviews: no reminder now
            pm.review.__class__.objects.filter(post_mortem=pm).update(
                scheduled_at=resolved + timedelta(days=3), latest_at=resolved + timedelta(days=5)
            )
            services.update_postmortem(
                pm.pk,
                manager,
                summary=f"{title}: resolved in {resolve} h.",
                went_well="The owner took it on quickly.",
            )
            services.publish(pm.pk, manager)
        report.add("post-mortems")
    # The latest: written, with action items, then published.
    pm = last_pm
    services.update_postmortem(
        pm.pk,
        manager,
        summary="Replication to the DR site stalled every night for a week; RPO breached "
        "for two customers.",
        customer_impact="Two customers ran without a current replica for up to 6 hours.",
        contributing_factors="The agent's throttle default changed in 7.4.2 without a "
        "release note; night-time batch load doubled the WAL volume.",
        went_well="The pattern was recognised from a previous post-mortem within an hour.",
        went_badly="The same root cause as 60 days earlier: its action item was not done.",
        process_improvements="Release notes must list every changed default.",
        author_ids=[manager.pk, lead.pk],
    )
    services.add_timeline_item(
        pm.pk,
        lead,
        at=current - timedelta(days=2, hours=-1),
        text="Engineering confirmed the agent throttle as the cause",
    )
    soon = current + timedelta(days=10)
    done = services.add_action_item(
        pm.pk, manager, what="Turn the throttle off by default", owner_id=engineer.pk, due_at=soon
    )
    services.update_action_item(done.pk, manager, status="done")
    services.add_action_item(
        pm.pk,
        manager,
        what="Alert when replica lag exceeds 15 minutes",
        owner_id=lead.pk,
        due_at=current + timedelta(days=14),
    )
    wont = services.add_action_item(
        pm.pk, manager, what="Rewrite the agent's WAL shipper", owner_id=engineer.pk, due_at=soon
    )
    services.update_action_item(
        wont.pk, manager, status="wont_do", reason="The throttle fix removes the need"
    )
    services.set_status(pm.pk, manager, "in_review")
    services.publish(pm.pk, lead)
    report.add("post-mortem action items", 3)
