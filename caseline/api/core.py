"""API plumbing shared by every router: the caller, permission checks, cursor pages.

A leaf module: it imports no domain app (authentication, which needs the accounts
models, lives in ``caseline.api.auth``), so routers of any app may import it.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.http import HttpRequest

from caseline import events
from caseline.errors import PermissionDenied, ValidationFailed

if TYPE_CHECKING:
    from caseline.accounts.models import User

INT64_MAX = 2**63 - 1
_UNKNOWN: Any = object()


def actor(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined,no-any-return]


# --- permission cache -------------------------------------------------------------------
# Django's ModelBackend loads a user's permissions afresh for every request (two queries:
# the user's own and their groups'). Roles change rarely, so each server process keeps
# the permission set per user, stamped with the user's *permission version*: the id of
# the newest audit event about that user (roles, activation and every other staff change
# go through accounts.services, which appends "staff.updated"). Authentication reads the
# version in the token lookup itself (``permission_version``, a subquery on
# audit_subject_idx) and calls ``prime_permissions``; so a role change is seen by every
# process at its next request, at no extra round trip. Changes that leave no audit event
# about the user (a role group's permissions edited in the admin, group membership set
# outside the services) clear this process's cache through model signals and reach other
# processes within API_PERMISSION_CACHE_SECONDS (default 60).

_perm_cache: dict[int, tuple[int | None, float, frozenset[str]]] = {}


def permission_version(user_ref: Any) -> Any:
    """Subquery expression: the newest audit event id about the user ``user_ref``
    (an ``OuterRef`` or an id)."""
    from django.db.models import Subquery

    from caseline.audit.models import AuditEvent

    return Subquery(
        AuditEvent.objects.filter(subject_type="user", subject_id=user_ref)
        .order_by("-id")
        .values("id")[:1]
    )


def prime_permissions(user: User, version: Any = _UNKNOWN) -> None:
    """Give ``user`` its permission set from the process cache (loading it when absent,
    expired or of another ``version``), so ``user.has_perm`` runs no query. Without a
    version (session logins) it is read with one query."""
    if not user.is_active or user.is_superuser:
        return  # has_perm answers without loading anything
    if version is _UNKNOWN:
        from caseline.audit.models import AuditEvent

        version = (
            AuditEvent.objects.filter(subject_type="user", subject_id=user.pk)
            .order_by("-id")
            .values_list("id", flat=True)
            .first()
        )
    ttl = getattr(settings, "API_PERMISSION_CACHE_SECONDS", 60)
    clock = time.monotonic()
    entry = _perm_cache.get(user.pk)
    if entry is not None and entry[0] == version and entry[1] > clock:
        perms = entry[2]
    else:
        from django.contrib.auth.backends import ModelBackend

        perms = frozenset(ModelBackend().get_all_permissions(user))
        _perm_cache[user.pk] = (version, clock + ttl, perms)
    user._perm_cache = set(perms)  # type: ignore[attr-defined]  # what ModelBackend reads


def clear_permission_cache(*_args: Any, **_kwargs: Any) -> None:
    """Forget every cached permission set of this process."""
    _perm_cache.clear()


def _staff_updated(event: Any) -> None:
    _perm_cache.pop(event.subject_id, None)


def _user_row_changed(sender: Any, instance: Any, created: bool = True, **_kwargs: Any) -> None:
    # A new or deleted row: never let an id seen before (a rolled-back test database
    # hands ids out again) inherit a cached set.
    if created:
        _perm_cache.pop(instance.pk, None)


events.subscribe("staff.updated", _staff_updated)
for _uid, _signal, _sender in (
    ("groups", m2m_changed, "accounts.User_groups"),
    ("group-perms", m2m_changed, "auth.Group_permissions"),
    ("user-perms", m2m_changed, "accounts.User_user_permissions"),
    ("group-save", post_save, "auth.Group"),
    ("group-delete", post_delete, "auth.Group"),
):
    _signal.connect(
        clear_permission_cache, sender=_sender, weak=False, dispatch_uid=f"api-perms-{_uid}"
    )
post_save.connect(_user_row_changed, sender="accounts.User", dispatch_uid="api-perms-user")
post_delete.connect(_user_row_changed, sender="accounts.User", dispatch_uid="api-perms-user-del")


def require(request: HttpRequest, *perms: str) -> User:
    """The authenticated user, if they hold every one of ``perms`` (accounts.<codename>).
    Answered from the process's permission cache once authentication primed the user."""
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


def decode_cursor(cursor: str, *, source: str = "this API") -> dict[str, Any]:
    """The position a cursor of :func:`encode_cursor` names: ``id`` (a positive 64-bit
    integer: beyond that the database cannot even compare it) and, for keyset pages on
    (key, id), ``k`` (an ISO date-time or null). Anything else is a 422 naming ``source``."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(data, dict):
            raise ValueError
        after = data.get("id")
        if isinstance(after, bool) or not isinstance(after, int) or not 0 < after <= INT64_MAX:
            raise ValueError
        if data.get("k") is not None:
            datetime.fromisoformat(str(data["k"]))
        return data
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ValidationFailed("invalid cursor", fields={"cursor": f"not a cursor from {source}"})


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
        after = decode_cursor(cursor)["id"]
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
