"""Requests of the learning rows of docs/permissions.md (used by
tests/api/test_permissions_matrix.py)."""

from __future__ import annotations

import itertools
from datetime import timedelta

from caseline.escalations import services as esc_services
from caseline.learning import services
from caseline.learning.models import PostMortem, RootCauseCategory
from caseline.timesource import now

_seq = itertools.count(1)


def _fresh(w) -> PostMortem:
    """A new resolved escalation (owner: the EM) and its post-mortem."""
    t = w.ticket(w.org_a, w.contact_a)
    esc = esc_services.open_escalation(None, ticket_ids=[t.pk], owner_id=w.users["EM"].pk)
    esc_services.transition(esc.pk, None, "resolved", root_cause="Matrix root cause")
    return PostMortem.objects.get(escalation=esc)


def _shared(w) -> PostMortem:
    pm = getattr(w, "_postmortem", None)
    if pm is None:
        pm = w._postmortem = _fresh(w)
    return pm


def _ready(w) -> PostMortem:
    pm = _fresh(w)
    cat = RootCauseCategory.objects.order_by("id").first()
    services.update_postmortem(pm.pk, None, summary="Done", root_cause_category_id=cat.pk)
    return pm


def _item(w):
    pm = _shared(w)
    return services.add_action_item(
        pm.pk,
        None,
        what="Matrix action",
        owner_id=w.users["SE"].pk,
        due_at=now() + timedelta(days=3),
    )


def _entry(w):
    pm = _shared(w)
    return services.add_timeline_item(pm.pk, None, at=now(), text=f"Entry {next(_seq)}")


def b_list(w, col, foreign):
    _shared(w)
    return "get", "/api/v1/postmortems", None


def b_create(w, col, foreign):
    t = w.ticket(w.org_a, w.contact_a)
    esc = esc_services.open_escalation(None, ticket_ids=[t.pk], owner_id=w.users["EM"].pk)
    esc_services.transition(esc.pk, None, "resolved", root_cause="Matrix")
    PostMortem.objects.filter(escalation=esc).delete()  # as if resolved before the feature
    return "post", "/api/v1/postmortems", {"escalation_id": esc.pk}


def b_get(w, col, foreign):
    return "get", f"/api/v1/postmortems/{_shared(w).pk}", None


def b_patch(w, col, foreign):
    return "patch", f"/api/v1/postmortems/{_shared(w).pk}", {"summary": f"S {next(_seq)}"}


def b_status(w, col, foreign):
    return "post", f"/api/v1/postmortems/{_fresh(w).pk}/status", {"status": "in_review"}


def b_publish(w, col, foreign):
    return "post", f"/api/v1/postmortems/{_ready(w).pk}/publish", None


def b_add_entry(w, col, foreign):
    return (
        "post",
        f"/api/v1/postmortems/{_shared(w).pk}/timeline",
        {"at": now().isoformat(), "text": "Matrix entry"},
    )


def b_refill(w, col, foreign):
    return "post", f"/api/v1/postmortems/{_shared(w).pk}/timeline/refill", None


def b_edit_entry(w, col, foreign):
    e = _entry(w)
    return "patch", f"/api/v1/postmortems/{e.post_mortem_id}/timeline/{e.pk}", {"text": "Edited"}


def b_delete_entry(w, col, foreign):
    e = _entry(w)
    return "delete", f"/api/v1/postmortems/{e.post_mortem_id}/timeline/{e.pk}", None


def b_review(w, col, foreign):
    return "patch", f"/api/v1/postmortems/{_shared(w).pk}/review", {"location": f"R{next(_seq)}"}


def b_add_item(w, col, foreign):
    return (
        "post",
        f"/api/v1/postmortems/{_shared(w).pk}/action-items",
        {
            "what": "Do it",
            "owner_id": w.users["SE"].pk,
            "due_at": (now() + timedelta(days=2)).isoformat(),
        },
    )


def b_get_item(w, col, foreign):
    item = getattr(w, "_pm_item", None) or _item(w)
    w._pm_item = item
    return "get", f"/api/v1/postmortem-action-items/{item.pk}", None


def b_patch_item(w, col, foreign):
    return "patch", f"/api/v1/postmortem-action-items/{_item(w).pk}", {"status": "done"}


def b_delete_item(w, col, foreign):
    return "delete", f"/api/v1/postmortem-action-items/{_item(w).pk}", None


def b_export_md(w, col, foreign):
    return "get", f"/api/v1/postmortems/{_shared(w).pk}/export.md", None


def b_export_pdf(w, col, foreign):
    return "get", f"/api/v1/postmortems/{_shared(w).pk}/export.pdf", None


def b_categories(w, col, foreign):
    return "get", "/api/v1/root-cause-categories", None


def b_create_category(w, col, foreign):
    return "post", "/api/v1/root-cause-categories", {"name": f"Matrix cat {next(_seq)}"}


def b_patch_category(w, col, foreign):
    cat = services.create_category(None, name=f"Editable cat {next(_seq)}")
    return "patch", f"/api/v1/root-cause-categories/{cat.pk}", {"description": "d"}


def b_trends(w, col, foreign):
    return "get", "/api/v1/trends", None


BUILDERS = {
    "GET /postmortems": b_list,
    "POST /postmortems": b_create,
    "GET /postmortems/{id}": b_get,
    "PATCH /postmortems/{id}": b_patch,
    "POST /postmortems/{id}/status": b_status,
    "POST /postmortems/{id}/publish": b_publish,
    "POST /postmortems/{id}/timeline": b_add_entry,
    "POST /postmortems/{id}/timeline/refill": b_refill,
    "PATCH /postmortems/{id}/timeline/{id}": b_edit_entry,
    "DELETE /postmortems/{id}/timeline/{id}": b_delete_entry,
    "PATCH /postmortems/{id}/review": b_review,
    "POST /postmortems/{id}/action-items": b_add_item,
    "GET /postmortem-action-items/{id}": b_get_item,
    "PATCH /postmortem-action-items/{id}": b_patch_item,
    "DELETE /postmortem-action-items/{id}": b_delete_item,
    "GET /postmortems/{id}/export.md": b_export_md,
    "GET /postmortems/{id}/export.pdf": b_export_pdf,
    "GET /root-cause-categories": b_categories,
    "POST /root-cause-categories": b_create_category,
    "PATCH /root-cause-categories/{id}": b_patch_category,
    "GET /trends": b_trends,
}
