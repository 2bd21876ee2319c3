"""Demo data for broadcasts and the status page: status components, the demo Sev-1
incident (caseline/demo/incidents.py) put on the status page with its impact, a chat
webhook, and two broadcasts (one internal, one public). Through the services; a second
run adds nothing.

Called from ``caseline/demo/extras.py`` after ``seed_incidents``:
``seed_broadcasts(report, users)``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from caseline.accounts.models import User
from caseline.timesource import now

COMPONENTS = [
    ("Web app", "Platform"),
    ("REST API", "Platform"),
    ("Replication", "Storage"),
    ("Backups", "Storage"),
]


def seed_broadcasts(report: Any, users: dict[str, User]) -> None:
    from caseline.demo.incidents import TITLE
    from caseline.incidents import broadcasts, statuspage
    from caseline.incidents.models import Broadcast, ChatWebhook, Incident, StatusComponent

    for name, group in COMPONENTS:
        if not StatusComponent.objects.filter(name=name).exists():
            statuspage.create_component(None, name=name, group=group)
            report.add("status components")
    inc = Incident.objects.filter(title=TITLE).first()
    if inc is None or Broadcast.objects.filter(incident=inc).exists():
        return
    manager = inc.incident_manager or users["lena.hoffmann"]
    if not ChatWebhook.objects.exists():
        # A placeholder channel (its posts fail until an admin points it at a real
        # Slack-compatible incoming webhook): the delivery state shows that.
        broadcasts.create_chat_webhook(
            manager, name="#incidents", url="https://hooks.slack.example/services/T0/B0/demo"
        )
    repl = StatusComponent.objects.get(name="Replication")
    backups = StatusComponent.objects.get(name="Backups")
    statuspage.set_status_page(
        inc.pk,
        manager,
        public=True,
        public_title="Replication delays for some customers",
        components={str(repl.pk): "partial_outage", str(backups.pk): "degraded"},
    )
    broadcasts.send_broadcast(
        inc.pk,
        manager,
        body="Internal: agent 7.4.2 throttles WAL shipping; 7.4.3 is being built. "
        "Customers on 7.4.2 should disable replication.throttle.",
        next_update_at=now() + timedelta(minutes=45),
        channels=["chat"],
    )
    broadcasts.send_broadcast(
        inc.pk,
        manager,
        body="We have identified the cause of the replication delays some customers see "
        "since the latest storage agent update. A workaround is available from support; "
        "a fixed agent is on its way.",
        next_update_at=now() + timedelta(hours=1),
        public=True,
    )
    report.add("broadcasts", 2)
