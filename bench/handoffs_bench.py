"""Follow-the-sun shift end: how long one region's ``handoff.shift_end`` timer holds the
clock's transaction (on SQLite: the write lock) with N items to hand over.

For each database (an SQLite file in a temporary directory; PostgreSQL database
``caseline_handoffs_bench``, dropped and created): migrate; two regions (EMEA ->
AMER, the seeded office-hours calendars), 20 EMEA givers, ``--items`` items held in EMEA
(half live escalations, half open Sev-1 tickets), 5 AMER engineers; then the shift-end
timer fires through ``fire_all_due`` with the settable time source. Printed: wall time of
the firing, per item, handoffs / outbox rows / timers written; then a second firing of the
same shift end (idempotency: must write nothing).

Prints figures, asserts nothing. Usage:
    .venv/bin/python bench/handoffs_bench.py [--db sqlite,postgres] [--items 200]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from benchlib import process_env  # noqa: E402


def child(n_items: int) -> dict:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "caseline.settings")
    django.setup()
    from datetime import UTC, datetime

    from django.core.management import call_command
    from django.db import transaction

    call_command("migrate", verbosity=0)
    from django.contrib.auth.models import Group

    from caseline import timesource
    from caseline.accounts import roles
    from caseline.accounts.models import Contact, Organization, Region, User
    from caseline.escalations import handoffs, services
    from caseline.escalations.models import Handoff
    from caseline.notify.models import OutboxMessage
    from caseline.sla import calendars, timers
    from caseline.sla.models import Timer
    from caseline.tickets.models import Ticket

    timesource.set_time(datetime(2026, 3, 24, 10, tzinfo=UTC))
    calendars.invalidate()
    emea = Region.objects.create(
        code="EMEA", name="EMEA", shift_calendar="emea-business", handoff_order=2
    )
    amer = Region.objects.create(
        code="AMER", name="AMER", shift_calendar="amer-business", handoff_order=3
    )

    def staff(email, region, role):
        u = User.objects.create_user(username=email, email=email, region=region)
        u.groups.add(Group.objects.get(name=role))
        return u

    em = staff("em@bench.test", emea, roles.ESCALATION_MANAGER)
    givers = [staff(f"g{i}@bench.test", emea, roles.SE) for i in range(20)]
    for i in range(5):
        staff(f"a{i}@bench.test", amer, roles.SE)
    org = Organization.objects.create(name="Bench Org", region=emea)
    contact = Contact.objects.create(name="C", organization=org)
    for i in range(n_items):
        t = Ticket.objects.create(
            subject=f"Item {i}",
            requester=contact,
            organization=org,
            severity=1 if i % 2 else 2,
            status="open",
            assignee=givers[i % 20],
        )
        if i % 2 == 0:
            services.open_escalation(em, ticket_ids=[t.pk], owner_id=em.pk)
    handoffs.arm_all()
    timesource.set_time(handoffs.next_shift_end(emea, timesource.now()))
    counts = (Handoff.objects.count(), OutboxMessage.objects.count(), Timer.objects.count())
    t0 = time.perf_counter()
    fired = timers.fire_all_due()
    wall = time.perf_counter() - t0
    after = (Handoff.objects.count(), OutboxMessage.objects.count(), Timer.objects.count())
    shift_timer = (
        Timer.objects.filter(kind=handoffs.SHIFT_END_KIND, subject_id=emea.pk)
        .exclude(fired_at=None)
        .get()
    )
    t1 = time.perf_counter()
    with transaction.atomic():
        handoffs.shift_end_fired(shift_timer)
    again = time.perf_counter() - t1
    final = (Handoff.objects.count(), OutboxMessage.objects.count(), Timer.objects.count())
    return {
        "items": n_items,
        "timers_fired": fired,
        "seconds": round(wall, 3),
        "ms_per_item": round(1000 * wall / max(1, n_items), 2),
        "handoffs": after[0] - counts[0],
        "outbox": after[1] - counts[1],
        "timers": after[2] - counts[2],
        "refire_seconds": round(again, 3),
        "refire_written": [f - a for f, a in zip(final, after, strict=True)],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default="sqlite,postgres")
    ap.add_argument("--items", type=int, default=200)
    ap.add_argument("--child", action="store_true")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.items)))
        return
    for backend in args.db.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            env = process_env(backend, Path(tmp), "caseline_handoffs_bench")
            env["CASELINE_TIME_FILE"] = str(Path(tmp) / "time.json")
            out = subprocess.run(
                [sys.executable, __file__, "--child", "--items", str(args.items)],
                env=env,
                capture_output=True,
                text=True,
            )
            if out.returncode:
                print(backend, "failed:", out.stderr[-2000:])
                continue
            print(backend, out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
