"""Template context every workspace page gets (settings TEMPLATES context_processors)."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse

from . import nav


def workspace(request) -> dict:
    user = getattr(request, "user", None)
    items = nav.items_for(user) if user is not None and user.is_authenticated else []
    search_url = reverse("search")
    return {
        "nav_items": items,
        "search_url": search_url,
        "countdown_warn_seconds": getattr(settings, "CASELINE_COUNTDOWN_WARN_SECONDS", 3600),
    }
