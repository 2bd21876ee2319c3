"""Create the role groups and give each its default permissions (after every migrate)."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType

from .roles import PERMISSIONS, ROLE_PERMISSIONS


def ensure_roles(using: str = "default") -> None:
    from .models import User

    ct = ContentType.objects.db_manager(using).get_for_model(User)
    perms = {}
    for codename, name in PERMISSIONS.items():
        perm, _ = Permission.objects.using(using).get_or_create(
            content_type=ct, codename=codename, defaults={"name": name}
        )
        perms[codename] = perm
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.using(using).get_or_create(name=role)
        # Add the defaults; never remove what an admin granted by hand in the admin.
        group.permissions.add(*[perms[c] for c in sorted(codenames)])
