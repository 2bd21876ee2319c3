from __future__ import annotations

import signal

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Run the clock loop: fire due timers (SLA thresholds, ETA reminders, ...) within a "
        "second of their due time, and sweep the outbox about once a second. Any number of "
        "clock processes may run on PostgreSQL; each timer fires once. SIGTERM/SIGINT finish "
        "the current batch and exit 0."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--once", action="store_true", help="fire what is due, run the duties once, exit"
        )
        parser.add_argument(
            "--batch", type=int, default=100, help="timers per transaction (default 100)"
        )
        parser.add_argument(
            "--poll",
            type=float,
            default=None,
            help="poll interval in seconds (default: 0.2 on SQLite, none on PostgreSQL, "
            "which is woken by LISTEN/NOTIFY)",
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=1.0,
            help="seconds between runs of the outbox sweeper (default 1)",
        )
        parser.add_argument(
            "--quiet", action="store_true", help="no start/stop lines on standard output"
        )

    def handle(self, *args, **opts):
        from django.core.management.base import CommandError

        from caseline.sla.loop import ClockLoop

        if opts["batch"] < 1:
            raise CommandError("--batch must be at least 1")
        if opts["poll"] is not None and opts["poll"] <= 0:
            raise CommandError("--poll must be positive")
        loop = ClockLoop(batch=opts["batch"], poll=opts["poll"], duty_interval=opts["interval"])
        if opts["once"]:
            stats = loop.run(once=True)
            if not opts["quiet"]:
                self.stdout.write(f"clock: fired {stats['fired']} timer(s)")
            return

        def stop(*_):
            loop.request_stop()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        if not opts["quiet"]:
            self.stdout.write(f"clock: running ({loop.describe()})")
            self.stdout.flush()
        stats = loop.run()
        if not opts["quiet"]:
            self.stdout.write(
                f"clock: stopped after firing {stats['fired']} timer(s) "
                f"in {stats['batches']} batch(es)"
            )
