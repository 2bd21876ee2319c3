"""Authentication of /api/v1: API tokens and the web app's session, with the per-caller
rate limit.

This is the one API module that knows the accounts models; the routers' plumbing
(``caseline.api.core``) does not, so ``accounts.api -> api.core`` is no import cycle.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import OuterRef
from django.http import HttpRequest
from ninja.security import APIKeyHeader, SessionAuth
from ninja.utils import check_csrf

from caseline.accounts.models import ApiToken, User
from caseline.accounts.tokens import digest as token_digest
from caseline.errors import DomainError, PermissionDenied
from caseline.timesource import now

from . import ratelimit
from .core import permission_version, prime_permissions


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
        if not key or "\x00" in key:
            return None
        scheme, _, secret = key.partition(" ")
        if scheme.lower() not in {"bearer", "token"} or not secret.strip():
            return None
        token = (
            ApiToken.objects.select_related("user")
            .annotate(perm_version=permission_version(OuterRef("user_id")))
            .filter(digest=token_digest(secret.strip()), revoked_at__isnull=True)
            .first()
        )
        if token is None or not token.user.is_active:
            return None
        prime_permissions(token.user, token.perm_version)
        current = now()
        if token.last_used_at is None or current - token.last_used_at > timedelta(minutes=5):
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=current)
        _apply_rate_limit(request, f"t{token.pk}")
        request.user = token.user
        request.api_token = token  # type: ignore[attr-defined]
        return token.user


class CsrfFailed(PermissionDenied):
    code = "csrf_failed"


class CaselineSessionAuth(SessionAuth):
    """The web app's session. Unsafe methods need the CSRF token (header ``X-CSRFToken``
    or the form field); a failed check is 403 ``csrf_failed``. Without a signed-in
    session this scheme does not apply (the caller gets 401, not a CSRF error)."""

    def _get_key(self, request: HttpRequest) -> Any:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if self.csrf and not getattr(request, "_ninja_csrf_exempt", False):
            failure = check_csrf(request)
            if failure is not None:
                raise CsrfFailed(
                    "CSRF check failed: send the csrftoken cookie's value in the "
                    "X-CSRFToken header (or authenticate with an API token)",
                    fields={"X-CSRFToken": "missing or wrong"},
                )
        return request.COOKIES.get(self.param_name)

    def authenticate(self, request: HttpRequest, key: str | None) -> User | None:
        user = super().authenticate(request, key)
        if user is not None:
            prime_permissions(user)
            _apply_rate_limit(request, f"u{user.pk}")
        return user


AUTH = [TokenAuth(), CaselineSessionAuth()]
