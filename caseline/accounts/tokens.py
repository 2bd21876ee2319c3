"""API tokens: random secrets of which only the SHA-256 digest is stored."""

from __future__ import annotations

import hashlib
import secrets

from django.db import transaction

from caseline.audit.services import record
from caseline.errors import Conflict, NotFound
from caseline.timesource import now

from .models import ApiToken, User

PREFIX = "cl_"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(user: User, name: str = "", *, actor: User | None = None) -> tuple[ApiToken, str]:
    """Create a token for ``user``; returns the row and the secret (shown once)."""
    secret = PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user, name=name, prefix=secret[:10], digest=digest(secret), created_at=now()
        )
        record(
            "staff.updated",
            "user",
            user.pk,
            actor=actor or user,
            data={"token_created": token.prefix},
            publish_event=False,
        )
    return token, secret


def revoke_token(
    prefix: str, *, actor: User | None = None, token_id: int | None = None
) -> ApiToken:
    """Revoke the active token starting with ``prefix`` (the one with ``token_id`` when the
    caller has already chosen it: prefixes are not unique across users)."""
    with transaction.atomic():
        qs = ApiToken.objects.select_for_update().filter(prefix=prefix, revoked_at__isnull=True)
        if token_id is not None:
            qs = qs.filter(pk=token_id)
        found = list(qs.order_by("pk")[:2])
        if len(found) > 1:
            # Prefixes are not unique: never guess whose token is meant.
            raise Conflict(
                f"several active tokens start with {prefix!r}; revoke one by its id",
                fields={"prefix": "ambiguous"},
            )
        token = found[0] if found else None
        if token is None:
            raise NotFound(f"no active token starts with {prefix!r}")
        token.revoked_at = now()
        token.save(update_fields=["revoked_at"])
        record(
            "staff.updated",
            "user",
            token.user_id,
            actor=actor,
            data={"token_revoked": token.prefix},
            publish_event=False,
        )
    return token
