from __future__ import annotations

import os
import shutil
import sys

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Run the web server (granian, WSGI) serving the app, the API and static files."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("CASELINE_HOST", "127.0.0.1"))
        parser.add_argument(
            "--port", type=int, default=int(os.environ.get("CASELINE_PORT", "8000"))
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=int(os.environ.get("WEB_WORKERS", "1")),
            help="server processes (default 1)",
        )
        parser.add_argument(
            "--threads",
            type=int,
            default=int(os.environ["WEB_THREADS"]) if os.environ.get("WEB_THREADS") else None,
            help="blocking threads per process (default 8 on PostgreSQL, 2 on SQLite, whose "
            "one write lock makes more threads only wait in its busy handler)",
        )

    def handle(self, *args, **opts):
        binary = shutil.which("granian", path=os.path.dirname(sys.executable)) or shutil.which(
            "granian"
        )
        if not binary:
            raise CommandError("granian is not installed (pip install granian)")
        if opts["threads"] is None:
            from django.conf import settings

            sqlite = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
            opts["threads"] = 2 if sqlite else 8
        if opts["threads"] < 1:
            raise CommandError("--threads must be 1 or more")
        argv = [
            binary,
            "--interface",
            "wsgi",
            "--host",
            opts["host"],
            "--port",
            str(opts["port"]),
            "--workers",
            str(opts["workers"]),
            "--blocking-threads",
            str(opts["threads"]),
            "--no-ws",
            "--log-level",
            os.environ.get("GRANIAN_LOG_LEVEL", "warning"),
            "caseline.wsgi:application",
        ]
        self.stdout.write(f"Caseline serving on http://{opts['host']}:{opts['port']}/")
        self.stdout.flush()
        os.execv(binary, argv)
