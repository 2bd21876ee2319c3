from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from caseline.errors import DomainError


class Command(BaseCommand):
    help = "Manage API tokens: create --user EMAIL [--name N] | list [--user EMAIL] | revoke PREFIX"

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a token and print it (shown once)")
        create.add_argument("--user", required=True, help="email of the user the token acts as")
        create.add_argument("--name", default="", help="a label, e.g. the integration's name")
        lst = sub.add_parser("list", help="list tokens (prefix, user, created, last used)")
        lst.add_argument("--user", default=None)
        revoke = sub.add_parser("revoke", help="revoke the token with this prefix")
        revoke.add_argument("prefix")

    def handle(self, *args, **opts):
        from caseline.accounts.models import ApiToken, User
        from caseline.accounts.tokens import create_token, revoke_token

        action = opts["action"]
        if action == "create":
            user = User.objects.filter(email__iexact=opts["user"]).first()
            if user is None:
                raise CommandError(f"no user with email {opts['user']!r}")
            if not user.is_active:
                raise CommandError(f"user {user.email} is deactivated")
            _, secret = create_token(user, opts["name"])
            self.stdout.write(secret)
        elif action == "list":
            qs = ApiToken.objects.select_related("user").order_by("id")
            if opts["user"]:
                qs = qs.filter(user__email__iexact=opts["user"])
            for t in qs:
                state = "revoked" if t.revoked_at else "active"
                last = t.last_used_at.isoformat() if t.last_used_at else "never"
                self.stdout.write(
                    f"{t.prefix}…  {t.user.email:<32} {state:<8} created {t.created_at:%Y-%m-%d} last used {last}  {t.name}"
                )
        else:
            try:
                token = revoke_token(opts["prefix"])
            except DomainError as exc:
                raise CommandError(exc.message)
            self.stdout.write(f"revoked {token.prefix}… of {token.user.email}")
