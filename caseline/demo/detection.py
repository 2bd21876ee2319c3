"""Demo data for multi-customer detection: three customers of different organizations
report the same failure within minutes (one in German), so the third ticket is proposed
with the other two on /incidents/proposals/ and on each ticket's "Similar tickets
elsewhere" panel. Through the services; a second run adds nothing.

Called from ``caseline/demo/extras.py``: ``seed_detection(report, users)``."""

from __future__ import annotations

from typing import Any

from caseline.accounts.models import User

REPORTS = [
    (
        "demo-detect-1",
        "Backup jobs failing - vault endpoint unreachable",
        'Hi, all backup jobs scheduled at 01:00 UTC failed with "vault endpoint unreachable '
        '(us-east-1)". A manual retry fails the same way. Nothing changed on our side.',
    ),
    (
        "demo-detect-2",
        "nightly backup failed: vault unreachable",
        "Our nightly backup failed for every volume. Error: vault endpoint unreachable. "
        "Anything going on in us-east?",
    ),
    (
        "demo-detect-3",
        "Backup-Jobs schlagen fehl - Vault nicht erreichbar",
        'Hallo, seit 01:00 UTC schlagen alle Backup-Jobs fehl: "vault endpoint unreachable". '
        "Bitte dringend prüfen.",
    ),
]


def seed_detection(report: Any, users: dict[str, User]) -> None:
    from caseline.accounts.models import Contact
    from caseline.incidents import detection
    from caseline.tickets.models import Ticket
    from caseline.tickets.services import create_ticket

    if Ticket.objects.filter(external_id=REPORTS[-1][0]).exists():
        return
    if not Ticket.objects.exclude(external_id__startswith="demo-detect-").exists():
        return  # a demo without tickets (``--tickets 0``) stays without them (idempotent)
    contacts = []
    seen: set[int] = set()
    for contact in Contact.objects.filter(organization__isnull=False).order_by("id"):
        if contact.organization_id not in seen:
            seen.add(contact.organization_id)
            contacts.append(contact)
        if len(contacts) == len(REPORTS):
            break
    if len(contacts) < 2:
        return
    agent = users.get("priya.natarajan")
    for (external_id, subject, body), contact in zip(REPORTS, contacts, strict=False):
        ticket = Ticket.objects.filter(external_id=external_id).first()
        if ticket is None:
            ticket = create_ticket(
                actor=agent,
                requester=contact,
                subject=subject,
                body_text=body,
                channel="email",
                external_id=external_id,
            )
            report.add("tickets")
        # the huey consumer may not run while the demo is seeded: detect right away
        if detection.propose_for_ticket(ticket.pk) is not None:
            report.add("detection proposals")
