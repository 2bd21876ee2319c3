"""Access decorators for workspace pages."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied


def staff_required(view=None, *, perm: str = "accounts.view_all_tickets"):
    """Signed-in staff with ``perm``: anonymous -> sign-in page (with ?next=), customers and
    staff without the permission -> 403."""

    def decorate(fn):
        @wraps(fn)
        def wrapper(request, *args, **kwargs):
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if user.is_customer or not user.has_perm(perm):
                raise PermissionDenied
            return fn(request, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate
