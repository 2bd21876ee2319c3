"""`caseline demo`: migrate, seed the demo data if needed, then run the web server, the
worker and the clock loop together in one foreground process group.

Ctrl-C (or SIGTERM) stops all three cleanly; if one of them dies, the others are stopped
and the command exits non-zero.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

STOP_GRACE_SECONDS = 10.0


class Command(BaseCommand):
    help = (
        "Migrate, seed demo data (once) and run server + worker + clock + SMTP receiver "
        "together; "
        "Ctrl-C stops everything."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="address to serve on")
        parser.add_argument("--port", type=int, default=8000, help="port to serve on")
        parser.add_argument(
            "--no-serve", action="store_true", help="only migrate and seed, then exit"
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="drop the database and seed again (SQLite: a fresh file)",
        )
        parser.add_argument(
            "--tickets", type=int, default=None, help="number of demo tickets (default 300)"
        )
        parser.add_argument("--seed", type=int, default=None, help="random seed of the demo data")
        parser.add_argument(
            "--smtp-port",
            type=int,
            default=None,
            help="port of the demo's SMTP receiver for mail to the demo mailboxes "
            "(default 2525; 0 runs none)",
        )

    # --- database ---------------------------------------------------------------------

    def _reset(self) -> None:
        db = settings.DATABASES["default"]
        connections.close_all()
        if db["ENGINE"].endswith("sqlite3"):
            path = Path(str(db["NAME"]))
            for suffix in ("", "-wal", "-shm", "-journal"):
                candidate = Path(f"{path}{suffix}")
                if candidate.exists():
                    candidate.unlink()
            self.stdout.write(f"reset: removed {path}")
        else:
            self.stdout.write(f"reset: flushing database {db['NAME']}")
            call_command("flush", interactive=False, verbosity=0)

    def _seed(self, opts) -> None:
        from caseline.demo.seed import DEFAULT_SEED, DEFAULT_TICKETS, DemoRefused, seed

        def progress(message: str) -> None:
            self.stdout.write(f"  seed: {message}")
            self.stdout.flush()

        self.stdout.write("seeding demo data (skips what exists; Ctrl-C is safe)")
        try:
            report = seed(
                tickets=opts["tickets"] if opts["tickets"] is not None else DEFAULT_TICKETS,
                seed=opts["seed"] if opts["seed"] is not None else DEFAULT_SEED,
                progress=progress,
            )
        except DemoRefused as exc:
            raise CommandError(str(exc))
        if report.anything_created:
            made = ", ".join(f"{n} {what}" for what, n in report.created.items() if n)
            self.stdout.write(f"seeded: {made} in {report.seconds:.1f} s")
        else:
            self.stdout.write("demo data already present: nothing to add")
        self.stdout.write(f"demo tickets: {report.tickets_total}")

    def _logins(self, base_url: str, smtp: str = "") -> None:
        from caseline.demo import content as C

        w = self.stdout.write
        w("")
        w(f"  Caseline demo:  {base_url}/")
        w(f"  Admin site:     {base_url}/admin/")
        w(f"  API docs:       {base_url}/api/v1/docs")
        if smtp:
            boxes = ", ".join(address for _n, address, _t in C.MAILBOXES)
            w(f"  Mail in:        SMTP {smtp} accepts mail to {boxes}")
        w("")
        w(f"  Login (admin):  {C.ADMIN_EMAIL} / {C.DEMO_PASSWORD}")
        for local, what in C.NAMED_LOGINS:
            w(f"  Login:          {local}@{C.DEMO_DOMAIN} / {C.DEMO_PASSWORD}   ({what})")
        from caseline.demo.seed import portal_customer

        customer, person = portal_customer()
        w(f"  Portal:         {base_url}/portal/   (customers)")
        w(f"  Login (portal): {customer} / {C.DEMO_PASSWORD}   (customer {person})")
        w("")
        self.stdout.flush()

    # --- processes --------------------------------------------------------------------

    def handle(self, *args, **opts):
        from caseline.demo import content as C

        if opts["tickets"] is not None and opts["tickets"] < 0:
            raise CommandError("--tickets must be 0 or more")
        if opts["smtp_port"] is None:
            opts["smtp_port"] = C.DEMO_SMTP_PORT
        if not 0 <= opts["smtp_port"] < 65536:
            raise CommandError("--smtp-port must be between 0 and 65535")
        if opts["reset"]:
            self._reset()
        self.stdout.write("migrating the database")
        self.stdout.flush()
        call_command("migrate", interactive=False, verbosity=0)
        self._seed(opts)
        connections.close_all()
        base_url = f"http://{opts['host']}:{opts['port']}"
        if opts["no_serve"]:
            self._logins(base_url)
            return
        code = self._run_children(opts)
        if code:
            sys.exit(code)

    def _run_children(self, opts) -> int:
        base = [sys.executable, "-m", "caseline"]
        specs = [
            ("serve", [*base, "serve", "--host", opts["host"], "--port", str(opts["port"])]),
            ("worker", [*base, "worker"]),
            ("clock", [*base, "clock"]),
        ]
        if opts["smtp_port"]:
            smtp = ["smtpd", "--host", opts["host"], "--port", str(opts["smtp_port"])]
            specs.append(("smtpd", [*base, *smtp]))
        env = dict(os.environ)
        env.setdefault("DJANGO_SETTINGS_MODULE", "caseline.settings")
        stopping = {"signal": None}

        def on_signal(signum, _frame):
            stopping["signal"] = signum

        old_int = signal.signal(signal.SIGINT, on_signal)
        old_term = signal.signal(signal.SIGTERM, on_signal)
        children: list[tuple[str, subprocess.Popen]] = []
        try:
            for name, argv in specs:
                # Same process group as this command (the terminal's foreground group),
                # so Ctrl-C reaches every child at once.
                # The worker and the clock share this command's process group (the
                # terminal's foreground group), so Ctrl-C reaches them at once. The web
                # server gets a group of its own: granian's master stops its workers
                # itself, and a Ctrl-C reaching the workers directly as well left the
                # master waiting for them in about one run in three. _stop() passes the
                # signal on to it.
                proc = subprocess.Popen(argv, env=env, start_new_session=name == "serve")
                children.append((name, proc))
                self.stdout.write(f"started {name} (pid {proc.pid})")
            smtp = f"{opts['host']}:{opts['smtp_port']}" if opts["smtp_port"] else ""
            self._logins(f"http://{opts['host']}:{opts['port']}", smtp)
            self.stdout.write("Press Ctrl-C to stop.")
            self.stdout.flush()
            failed: str | None = None
            while stopping["signal"] is None and failed is None:
                for name, proc in children:
                    if proc.poll() is not None:
                        failed = f"{name} exited with code {proc.returncode}"
                        break
                else:
                    time.sleep(0.2)
            if failed:
                self.stderr.write(f"{failed}; stopping the others")
            else:
                self.stdout.write("stopping...")
            self.stdout.flush()
            self._stop(children, stopping["signal"] or signal.SIGTERM)
            if failed:
                return 1
            return 0
        finally:
            # Never leave a child behind, whatever happened above.
            self._stop(children, signal.SIGTERM, quiet=True)
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, old_term)

    def _stop(self, children, signum, quiet: bool = False) -> None:
        """Stop the children: a Ctrl-C already reached worker and clock (same process
        group) and is passed on to the server, so give them a moment to exit on their own;
        then SIGTERM; after the grace period SIGKILL for each child and every process below
        it (granian's workers)."""
        if signum == signal.SIGINT:
            for name, proc in children:
                if name == "serve" and proc.poll() is None:
                    proc.send_signal(signal.SIGINT)  # its own group: Ctrl-C did not reach it
            self._wait(children, 2.0)
        for _name, proc in children:
            if proc.poll() is None:
                try:
                    proc.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
        self._wait(children, STOP_GRACE_SECONDS)
        for name, proc in children:
            if proc.poll() is None:
                if not quiet:
                    self.stderr.write(f"{name} did not stop in time; killing it")
                for pid in [*_descendants(proc.pid), proc.pid]:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                proc.wait(timeout=5)
        if not quiet:
            self.stdout.write("stopped: " + ", ".join(name for name, _ in children))
            self.stdout.flush()

    @staticmethod
    def _wait(children, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        for _name, proc in children:
            try:
                proc.wait(timeout=max(0.01, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc; empty elsewhere), deepest first."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found[::-1]
