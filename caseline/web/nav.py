"""The workspace's main navigation: one list, read by the ``workspace`` context processor.

A screen joins the nav by adding one ``NavItem`` line to ``NAV`` below (targeted edit) or by
calling ``register(...)`` from its app's ``AppConfig.ready()``. An item whose URL name does
not resolve (the screen is not built yet) or whose permission the user lacks is left out,
so a line may be added before the screen exists. A page marks its item active by passing
``nav_active="<key>"`` in its template context.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse


@dataclass(frozen=True)
class NavItem:
    key: str
    label: str
    url_name: str
    order: int = 100
    permission: str | None = None  # e.g. "accounts.view_all_tickets"
    url_kwargs: tuple[tuple[str, str], ...] = ()


NAV: list[NavItem] = [
    NavItem("queues", "Queues", "queue", 10, "accounts.view_all_tickets"),
    NavItem("search", "Search", "search", 20, "accounts.view_all_tickets"),
    NavItem("organizations", "Organizations", "organizations", 30, "accounts.view_directory"),
    NavItem("dashboard", "Dashboard", "dashboard", 40, "accounts.view_all_tickets"),
    NavItem("admin", "Admin", "admin:index", 90, None),
]


def register(item: NavItem) -> None:
    """Add (or replace, by key) a nav item."""
    NAV[:] = [i for i in NAV if i.key != item.key] + [item]


def items_for(user) -> list[dict[str, str]]:
    """The nav items ``user`` may use, in order, as {key, label, url}."""
    out = []
    for item in sorted(NAV, key=lambda i: (i.order, i.key)):
        if item.key == "admin" and not getattr(user, "is_staff", False):
            continue
        if item.permission and not user.has_perm(item.permission):
            continue
        try:
            url = reverse(item.url_name, kwargs=dict(item.url_kwargs) or None)
        except NoReverseMatch:
            continue
        out.append({"key": item.key, "label": item.label, "url": url})
    return out
