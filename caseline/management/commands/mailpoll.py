from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Poll the active IMAP mailboxes (IDLE where the server offers it). A message is "
        "marked seen (or deleted) only after its transaction committed. --once does one "
        "pass and exits. SIGTERM/SIGINT stop it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="one pass over every mailbox")
        parser.add_argument(
            "--interval",
            type=float,
            default=60.0,
            help="seconds between polls of servers without IDLE (default 60)",
        )
        parser.add_argument("--quiet", action="store_true")

    def handle(self, *args, **opts):
        from caseline.mail.imap import poll_all_once, run_forever

        if opts["interval"] <= 0:
            raise CommandError("--interval must be positive")
        if opts["once"]:
            totals = poll_all_once()
            if not opts["quiet"]:
                self.stdout.write(
                    "mailpoll: fetched {fetched}, new {new}, duplicate {duplicate}, "
                    "errors {errors}".format(**totals)
                )
            if totals["errors"]:
                raise CommandError(f"{totals['errors']} mailbox(es) could not be polled")
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        if not opts["quiet"]:
            self.stdout.write("mailpoll: running")
            self.stdout.flush()
        run_forever(stop, interval=opts["interval"])
        if not opts["quiet"]:
            self.stdout.write("mailpoll: stopped")
