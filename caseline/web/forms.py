"""Sign-in forms with the lockout (caseline/web/services.py) in front of authentication."""

from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.utils import timezone

from . import services


def client_ip(request) -> str:
    """The address the lockout counts by: REMOTE_ADDR (behind a proxy, have the proxy set
    it, e.g. granian's/uvicorn's forwarded-allow settings; never trust a client header)."""
    if request is None:
        return "unknown"
    return request.META.get("REMOTE_ADDR") or "unknown"


class LockoutMixin:
    def _lockout_error(self, until) -> forms.ValidationError:
        local = timezone.localtime(until)
        return forms.ValidationError(
            "Too many failed sign-ins for this account from your address. "
            f"Try again after {local:%H:%M} ({local:%Z}), or reset your password.",
            code="locked_out",
        )

    def clean(self):
        username = self.data.get("username", "") or ""
        ip = client_ip(self.request)
        until = services.locked_until(username, ip)
        if until is not None:
            raise self._lockout_error(until)
        try:
            cleaned = super().clean()
        except forms.ValidationError as exc:
            if getattr(exc, "code", None) == "invalid_login" or any(
                getattr(e, "code", None) == "invalid_login" for e in getattr(exc, "error_list", [])
            ):
                locked = services.record_login_failure(username, ip)
                if locked is not None:
                    raise self._lockout_error(locked) from None
            raise
        if self.user_cache is not None:
            services.clear_login_failures(username, ip)
        return cleaned


class SignInForm(LockoutMixin, AuthenticationForm):
    username = forms.CharField(
        label="Email or username",
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username"}),
    )


class AdminSignInForm(LockoutMixin, AdminAuthenticationForm):
    """The admin site's login form, with the same lockout (set in WebConfig.ready())."""
