"""The `caseline` console command: Caseline's own commands plus Django's, one entry point."""

from __future__ import annotations

import os
import sys

OWN_COMMANDS = {
    "serve": "run the web server (granian, WSGI): --host, --port, --workers",
    "worker": "run the background worker (huey consumer)",
    "clock": "run the clock loop (timers, outbox sweeper)",
    "migrate": "create or update the database tables",
    "smtpd": "SMTP receiver for mail to the mailboxes (behind an MTA): --host, --port",
    "mailpoll": "poll the IMAP mailboxes (IDLE where offered): --once, --interval",
    "demo": "migrate, seed demo data and run server, worker, clock and smtpd together",
    "createadmin": "create (or reset) an administrator: --email, --password",
    "token": "API tokens: `token create --user EMAIL`, `token list`, `token revoke PREFIX`",
    "check": "check the configuration (add --deploy for production checks)",
}


def _usage() -> str:
    lines = ["usage: caseline <command> [options]   (caseline <command> --help for details)", ""]
    lines += [f"  {name:<12} {text}" for name, text in OWN_COMMANDS.items()]
    lines += [
        "",
        "Every Django management command also works, e.g. `caseline shell`,",
        "`caseline createsuperuser`, `caseline dbshell`; `caseline help --commands` lists them.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "caseline.settings")
    if not argv or argv[0] in {"-h", "--help"} or argv == ["help"]:
        print(_usage())
        return
    from django.core.exceptions import ImproperlyConfigured

    try:
        from django.core.management import execute_from_command_line

        execute_from_command_line(["caseline", *argv])
    except ImproperlyConfigured as exc:
        print(f"caseline: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2)


if __name__ == "__main__":
    main()
