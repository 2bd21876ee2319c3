"""Demo data for executive summaries: on the demo escalation (caseline/demo/extras.py
``_escalation``), next steps and risks, the daily schedule (17:00 in the owner's zone), one
summary sent earlier, then a few changes and the current draft that covers them. Through
the services; a second run adds nothing."""

from __future__ import annotations

from typing import Any

from caseline.accounts.models import User


def seed_summaries(report: Any, users: dict[str, User]) -> None:
    from caseline.escalations import services, summaries
    from caseline.escalations.models import Escalation, ExecutiveSummary

    esc = (
        Escalation.objects.filter(status__in=services.LIVE_STATUSES)
        .exclude(owner=None)
        .order_by("id")
        .first()
    )
    if esc is None or ExecutiveSummary.objects.filter(escalation=esc).exists():
        return
    owner = esc.owner
    summaries.set_notes(
        esc.pk,
        owner,
        next_steps="Engineering validates the storage firmware fix on the customer's "
        "staging cluster; production rollout in the next maintenance window.",
        risks="The storage vendor has not confirmed the root cause; a second outage before "
        "the rollout would put the customer's quarter-end close at risk.",
    )
    summaries.set_schedule(esc.pk, owner)  # daily 17:00 in the owner's zone
    summaries.send_now(esc.pk, owner)
    report.add("executive summaries sent")
    step = esc.steps.filter(done_at=None).order_by("position").first()
    if step is not None:
        services.tick_step(esc.pk, step.pk, owner)
    summaries.generate(esc.pk, owner)
    report.add("executive summary drafts")
