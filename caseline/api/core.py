"""API plumbing shared by every router: authentication, permissions, cursor pages."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import timedelta
from typing import Any

from django.http import HttpRequest
from ninja.security import APIKeyHeader, SessionAuth

from caseline.accounts.models import ApiToken, User
from caseline.accounts.tokens import digest as token_digest
from caseline.errors import DomainError, PermissionDenied, ValidationFailed
from caseline.timesource import now

from . import ratelimit


class RateLimited(DomainError):
    status = 429
    code = "rate_limited"

    def __init__(self, retry_after: int, limit: int):
        super().__init__(
            f"rate limit of {limit} requests per minute exceeded; retry after {retry_after} s"
        )
        self.retry_after = retry_after
        self.limit = limit


def _apply_rate_limit(request: HttpRequest, key: str) -> None:
    verdict = ratelimit.check(key)
    request.ratelimit = verdict  # type: ignore[attr-defined]
    if not verdict.allowed:
        raise RateLimited(verdict.retry_after, verdict.limit)


class TokenAuth(APIKeyHeader):
    """``Authorization: Bearer <token>`` (or ``Token <token>``)."""

    param_name = "Authorization"
    openapi_description = "API token: `Authorization: Bearer <token>` (see `caseline token create`)"

    def authenticate(self, request: HttpRequest, key: str | None) -> User | None:
        if not key:
            return None
        scheme, _, secret = key.partition(" ")
        if scheme.lower() not in {"bearer", "token"} or not secret.strip():
            return None
        token = (
            ApiToken.objects.select_related("user")
            .filter(digest=token_digest(secret.strip()), revoked_at__isnull=True)
            .first()
        )
        if token is None or not token.user.is_active:
            return None
        current = now()
        if token.last_used_at is None or current - token.last_used_at > timedelta(minutes=5):
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=current)
        _apply_rate_limit(request, f"t{token.pk}")
        request.user = token.user
        request.api_token = token  # type: ignore[attr-defined]
        return token.user


class CaselineSessionAuth(SessionAuth):
    """The web app's session (CSRF-checked for unsafe methods)."""

    def authenticate(self, request: HttpRequest, key: str | None) -> User | None:
        user = super().authenticate(request, key)
        if user is not None:
            _apply_rate_limit(request, f"u{user.pk}")
        return user


AUTH = [TokenAuth(), CaselineSessionAuth()]


def actor(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined,no-any-return]


def require(request: HttpRequest, *perms: str) -> User:
    """The authenticated user, if they hold every one of ``perms`` (accounts.<codename>)."""
    user = actor(request)
    for perm in perms:
        if not user.has_perm(f"accounts.{perm}"):
            raise PermissionDenied(f"your roles do not allow this ({perm})")
    return user


def require_staff(request: HttpRequest) -> User:
    user = actor(request)
    if user.is_customer:
        raise PermissionDenied("staff only")
    return user


# --- cursor pagination ------------------------------------------------------------------

MAX_LIMIT = 100


def encode_cursor(data: dict[str, Any]) -> str:
    return (
        base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode())
        .decode()
        .rstrip("=")
    )


def decode_cursor(cursor: str) -> dict[str, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(data, dict):
            raise ValueError
        return data
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed("invalid cursor", fields={"cursor": "not a cursor from this API"})


def page(
    request: HttpRequest,
    qs,
    serialize,
    *,
    limit: int = 25,
    cursor: str | None = None,
    descending: bool = True,
) -> dict[str, Any]:
    """One page of ``qs`` keyed on id, with ``meta.next_cursor`` and ``links.next``.

    Keyset pagination: the cost of a deep page equals the cost of the first page.
    """
    if limit < 1 or limit > MAX_LIMIT:
        raise ValidationFailed(
            f"limit must be between 1 and {MAX_LIMIT}", fields={"limit": "out of range"}
        )
    if cursor:
        after = decode_cursor(cursor).get("id")
        if not isinstance(after, int):
            raise ValidationFailed(
                "invalid cursor", fields={"cursor": "not a cursor from this API"}
            )
        qs = qs.filter(id__lt=after) if descending else qs.filter(id__gt=after)
    qs = qs.order_by("-id" if descending else "id")
    rows = list(qs[: limit + 1])
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor({"id": rows[-1].id}) if has_more and rows else None
    next_link = None
    if next_cursor:
        params = request.GET.copy()
        params["cursor"] = next_cursor
        next_link = request.build_absolute_uri(f"{request.path}?{params.urlencode()}")
    return {
        "results": [serialize(r) for r in rows],
        "meta": {"has_more": has_more, "next_cursor": next_cursor},
        "links": {"next": next_link},
    }
