"""Saved ticket views (custom queues): create, change, delete -- each a transaction with
its audit event -- and the reads the workspace needs.

A view's ``filters`` may only name filters the ticket list knows (``queues.known_filters``:
the list's own and the registered ``queries.LIST_FILTERS``) with values they accept, and
its ``sort`` a registered order (``newest`` or ``queries.LIST_ORDERS``); anything else is a
ValidationFailed naming the field, and nothing is stored.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet

from caseline.audit.services import record
from caseline.errors import NotFound, PermissionDenied, ValidationFailed
from caseline.timesource import now

from . import queues
from .models import SavedView

NAME_MAX = 80


def _check_actor(actor: Any) -> None:
    if actor is None or actor.is_customer or not actor.has_perm("accounts.view_all_tickets"):
        raise PermissionDenied("only agents keep saved views")


def _clean(actor: Any, *, name: Any, filters: Any, sort: Any, exclude: int | None = None):
    errors: dict[str, str] = {}
    name = str(name or "").strip()
    if not name:
        errors["name"] = "a view needs a name"
    elif len(name) > NAME_MAX:
        errors["name"] = f"at most {NAME_MAX} characters"
    elif SavedView.objects.filter(owner=actor, name__iexact=name).exclude(pk=exclude or 0).exists():
        errors["name"] = "you already have a view with this name"
    sort = str(sort or "newest").strip()
    try:
        cleaned = queues.check(actor, filters if filters is not None else {}, sort)
    except ValidationFailed as exc:
        errors.update(exc.fields)
        cleaned = {}
    if errors:
        raise ValidationFailed("invalid view", fields=errors)
    return name, cleaned, sort


def create_saved_view(
    *, actor: Any, name: Any, filters: Any, sort: Any = "newest", shared: bool = False
) -> SavedView:
    _check_actor(actor)
    name, cleaned, sort = _clean(actor, name=name, filters=filters, sort=sort)
    with transaction.atomic():
        view = SavedView.objects.create(
            owner=actor, name=name, filters=cleaned, sort=sort, shared=bool(shared)
        )
        record(
            "saved_view.changed",
            "saved_view",
            view.pk,
            actor=actor,
            data={"action": "created", "name": name, "filters": cleaned, "sort": sort},
        )
    return view


def update_saved_view(view: SavedView | int, *, actor: Any, **changes: Any) -> SavedView:
    """Change name / filters / sort / shared of the actor's own view."""
    _check_actor(actor)
    unknown = sorted(set(changes) - {"name", "filters", "sort", "shared"})
    if unknown:
        raise ValidationFailed("unknown fields", fields={k: "unknown field" for k in unknown})
    with transaction.atomic():
        pk = view.pk if isinstance(view, SavedView) else view
        current = SavedView.objects.select_for_update().filter(pk=pk, owner=actor).first()
        if current is None:
            raise NotFound(f"no saved view {pk} of yours")
        name, cleaned, sort = _clean(
            actor,
            name=changes.get("name", current.name),
            filters=changes.get("filters", current.filters),
            sort=changes.get("sort", current.sort),
            exclude=current.pk,
        )
        before = {
            "name": current.name,
            "filters": current.filters,
            "sort": current.sort,
            "shared": current.shared,
        }
        current.name, current.filters, current.sort = name, cleaned, sort
        if "shared" in changes:
            current.shared = bool(changes["shared"])
        current.updated_at = now()
        current.save()
        after = {
            "name": current.name,
            "filters": current.filters,
            "sort": current.sort,
            "shared": current.shared,
        }
        record(
            "saved_view.changed",
            "saved_view",
            current.pk,
            actor=actor,
            changes={k: (before[k], after[k]) for k in before if before[k] != after[k]},
            data={"action": "updated"},
        )
    return current


def delete_saved_view(view: SavedView | int, *, actor: Any) -> None:
    _check_actor(actor)
    pk = view.pk if isinstance(view, SavedView) else view
    with transaction.atomic():
        current = SavedView.objects.select_for_update().filter(pk=pk, owner=actor).first()
        if current is None:
            raise NotFound(f"no saved view {pk} of yours")
        record(
            "saved_view.changed",
            "saved_view",
            current.pk,
            actor=actor,
            data={"action": "deleted", "name": current.name},
        )
        current.delete()


# --- reads ------------------------------------------------------------------------------


def visible_saved_views(user: Any) -> QuerySet[SavedView]:
    """The user's own views and the shared ones of others."""
    return SavedView.objects.filter(Q(owner=user) | Q(shared=True)).select_related("owner")


def get_saved_view(user: Any, view_id: int) -> SavedView:
    view = visible_saved_views(user).filter(pk=view_id).first()
    if view is None:
        raise NotFound(f"no saved view {view_id}")
    return view
