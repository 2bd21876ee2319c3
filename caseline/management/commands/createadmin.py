from __future__ import annotations

import getpass
import os

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction


class Command(BaseCommand):
    help = "Create an administrator (or reset an existing one's password and roles)."

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True)
        parser.add_argument(
            "--password",
            default=os.environ.get("CASELINE_ADMIN_PASSWORD"),
            help="default: $CASELINE_ADMIN_PASSWORD, else prompt",
        )
        parser.add_argument("--name", default="Administrator")

    def handle(self, *args, **opts):
        from caseline.accounts.models import User
        from caseline.accounts.roles import ADMIN

        email = opts["email"].strip().lower()
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(f"not an email address: {email!r}")
        password = opts["password"]
        if not password:
            password = getpass.getpass("Password: ")
        if len(password) < 8:
            raise CommandError("the password needs at least 8 characters")
        with transaction.atomic():
            user = User.objects.filter(email__iexact=email).first()
            created = user is None
            if created:
                user = User(username=email, email=email, display_name=opts["name"])
            user.is_staff = True
            user.is_superuser = True
            user.is_active = True
            user.kind = User.Kind.STAFF
            user.set_password(password)
            user.save()
            user.groups.add(Group.objects.get_or_create(name=ADMIN)[0])
        self.stdout.write(f"{'created' if created else 'updated'} administrator {email}")
