"""The status page renders a cached JSON snapshot: its times are ISO 8601 strings."""

from __future__ import annotations

from datetime import datetime

from django import template

register = template.Library()


@register.filter
def iso_dt(value):
    """An ISO 8601 string (or a datetime) as a datetime for ``|date``; else unchanged."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    return value
