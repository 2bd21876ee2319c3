from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Run the SMTP receiver for mailboxes of kind 'smtp' (put it behind your MTA, e.g. "
        "Postfix relay_transport or a transport map to smtp:[127.0.0.1]:2525). Answers 250 "
        "only after the message committed, 451 on any failure. SIGTERM/SIGINT stop it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
        parser.add_argument("--port", type=int, default=2525, help="port (default 2525)")
        parser.add_argument("--quiet", action="store_true")

    def handle(self, *args, **opts):
        from caseline.mail.smtpd import controller

        if not 0 < opts["port"] < 65536:
            raise CommandError("--port must be between 1 and 65535")
        server = controller(opts["host"], opts["port"])
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        try:
            server.start()
        except Exception as exc:
            raise CommandError(f"cannot listen on {opts['host']}:{opts['port']}: {exc}")
        if not opts["quiet"]:
            self.stdout.write(f"smtpd: listening on {opts['host']}:{opts['port']}")
            self.stdout.flush()
        try:
            stop.wait()
        finally:
            server.stop()
        if not opts["quiet"]:
            self.stdout.write("smtpd: stopped")
