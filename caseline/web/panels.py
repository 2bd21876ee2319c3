"""Panels that other apps plug into a host page (the ticket page, the escalation room, the
incident room) without the host importing them.

A panel is an htmx fragment served by its own app: the host renders one
``<section hx-get="<url>" hx-trigger="load">`` per panel the user may see, and the panel's
view returns its HTML (forms inside post back to the panel's own URLs and swap the
section). Register from the owning app's ``AppConfig.ready()``::

    from caseline.web import panels
    panels.register("ticket", panels.Panel("escalation", "Escalation", "ticket_escalation_panel",
                                            order=20, permission="accounts.view_all_tickets"))

The URL name takes exactly one keyword argument, the host object's id, named by the host
(``ticket_id``, ``escalation_id``, ``incident_id``). A panel whose URL name does not
resolve is left out, as is one whose permission the user lacks.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse

HOST_KWARG = {"ticket": "ticket_id", "escalation": "escalation_id", "incident": "incident_id"}


@dataclass(frozen=True)
class Panel:
    key: str
    label: str
    url_name: str
    order: int = 100
    permission: str | None = None


_PANELS: dict[str, list[Panel]] = {host: [] for host in HOST_KWARG}


def register(host: str, panel: Panel) -> None:
    """Add (or replace, by key) a panel of ``host`` ("ticket", "escalation", "incident")."""
    if host not in _PANELS:
        raise ValueError(f"unknown panel host {host!r}; one of {sorted(_PANELS)}")
    _PANELS[host][:] = [p for p in _PANELS[host] if p.key != panel.key] + [panel]


def panels_for(host: str, user, object_id: int) -> list[dict[str, str]]:
    """The panels of ``host`` that ``user`` may see, in order, as {key, label, url}."""
    out = []
    for panel in sorted(_PANELS[host], key=lambda p: (p.order, p.key)):
        if panel.permission and not user.has_perm(panel.permission):
            continue
        try:
            url = reverse(panel.url_name, kwargs={HOST_KWARG[host]: object_id})
        except NoReverseMatch:
            continue
        out.append({"key": panel.key, "label": panel.label, "url": url})
    return out
