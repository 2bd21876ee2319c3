from __future__ import annotations

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Run the background worker (huey consumer). Run exactly one worker with the periodic "
        "scheduler; start further workers with --no-periodic."
    )

    def add_arguments(self, parser):
        parser.add_argument("--workers", type=int, default=2, help="threads (default 2)")
        parser.add_argument("--no-periodic", action="store_true", help="do not run periodic tasks")

    def handle(self, *args, **opts):
        argv = ["--workers", str(opts["workers"]), "--worker-type", "thread"]
        if opts["no_periodic"]:
            argv.append("--no-periodic")
        call_command("run_huey", *argv)
