"""Demo data for calls and visits: a customer call scheduled on the demo escalation (the
one ``extras._escalation`` opens), with its customer technical lead and the internal
participants invited, an agenda, a dial-in, and one action item. Through the services;
a second run adds nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from caseline.accounts.models import User
from caseline.timesource import now


def seed_calls(report: Any, users: dict[str, User]) -> None:
    from caseline.escalations import calls
    from caseline.escalations.models import Call, Escalation
    from caseline.escalations.services import LIVE_STATUSES

    esc = Escalation.objects.filter(status__in=LIVE_STATUSES).order_by("id").first()
    if esc is None or Call.objects.filter(escalation=esc).exists():
        return
    manager = esc.owner or users["rahul.mehta"]
    attendees: list[dict[str, Any]] = []
    for row in esc.stakeholders.filter(renounced_at__isnull=True).select_related("contact"):
        if row.contact_id and row.contact.primary_email:
            attendees.append({"contact_id": row.contact_id})
        elif row.user_id:
            attendees.append({"user_id": row.user_id})
    if not attendees:
        attendees.append({"user_id": manager.pk})
    start = (now() + timedelta(days=1)).replace(hour=15, minute=0, second=0, microsecond=0)
    call = calls.schedule_call(
        esc.pk,
        manager,
        kind=Call.Kind.CUSTOMER_CALL,
        title="Daily status call with the customer",
        starts_at=start,
        ends_at=start + timedelta(minutes=45),
        location="https://meet.caseline.example/esc-status (PIN 4711)",
        agenda="1. Status of the replication fix\n2. Root-cause analysis timeline\n"
        "3. Next steps and owners",
        attendees=attendees,
    )
    owner = users.get("priya.natarajan") or manager
    calls.add_action_item(
        call.pk,
        manager,
        what="Share the storage array log analysis with the customer",
        owner_id=owner.pk,
        due_at=start + timedelta(days=1),
    )
    report.add("escalation calls")
