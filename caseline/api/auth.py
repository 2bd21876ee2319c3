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

from caseline import sqlcache
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


# The token lookup, compiled once per database (caseline.sqlcache): the token's columns,
# its user's columns and the user's permission version, in one query whose SQL Django
# builds once instead of at every request. It still runs at every request, so a revoked
# token, a deactivated user or a role change (new permission version) is refused or seen
# at the caller's very next request, in every process.
_TOKEN_FIELDS = tuple(f.attname for f in ApiToken._meta.concrete_fields)
_USER_FIELDS = tuple(f.attname for f in User._meta.concrete_fields)
_token_sql: dict[str, Any] = {}


def _token_query(digest: str) -> Any:
    return (
        ApiToken.objects.filter(digest=digest, revoked_at__isnull=True)
        .annotate(perm_version=permission_version(OuterRef("user_id")))
        .values_list(*_TOKEN_FIELDS, *(f"user__{f}" for f in _USER_FIELDS), "perm_version")[:1]
    )


def find_token(digest: str) -> tuple[ApiToken, User, int | None] | None:
    """The unrevoked token of ``digest`` with its user and the user's permission version."""
    alias = ApiToken.objects.db
    prepared = _token_sql.get(alias, False)
    if prepared is False:
        prepared = _token_sql[alias] = sqlcache.prepare(
            lambda v: _token_query(v["digest"]), ({"digest": "\x00a"}, {"digest": "\x00b"})
        )
    if prepared is None:  # not preparable on this database: the ORM every time
        rows = list(_token_query(digest))
    else:
        rows = prepared.rows({"digest": digest})
    if not rows:
        return None
    row = rows[0]
    n = len(_TOKEN_FIELDS)
    token = ApiToken.from_db(alias, _TOKEN_FIELDS, row[:n])
    user = User.from_db(alias, _USER_FIELDS, row[n : n + len(_USER_FIELDS)])
    return token, user, row[-1]


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
        found = find_token(token_digest(secret.strip()))
        if found is None:
            return None
        token, user, perm_version = found
        if not user.is_active:
            return None
        token.user = user
        prime_permissions(user, perm_version)
        current = now()
        if token.last_used_at is None or current - token.last_used_at > timedelta(minutes=5):
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=current)
        _apply_rate_limit(request, f"t{token.pk}")
        request.user = user
        request.api_token = token  # type: ignore[attr-defined]
        return user


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
