"""Requests of the broadcast and status-page rows of docs/permissions.md (used by
tests/api/test_permissions_matrix.py)."""

from __future__ import annotations

import itertools
import secrets

from caseline.incidents import broadcasts, services, statuspage
from caseline.incidents.models import Incident, StatusComponent, StatusSubscriber

_seq = itertools.count(1)


def _incident(w) -> Incident:
    inc = getattr(w, "_bcast_incident", None)
    if inc is None:
        t = w.ticket(w.org_a, w.contact_a)
        inc = w._bcast_incident = services.declare_incident(
            None, title="Broadcast matrix", severity=2, ticket_ids=[t.pk]
        )
    return inc


def _broadcast(w):
    b = getattr(w, "_bcast", None)
    if b is None:
        b = w._bcast = broadcasts.send_broadcast(_incident(w).pk, None, body="Matrix update")
    return b


def _hook(w):
    return broadcasts.create_chat_webhook(
        None, name=f"#matrix-{next(_seq)}", url="https://chat.example.com/hooks/matrix"
    )


def _component(w) -> StatusComponent:
    return statuspage.create_component(None, name=f"Matrix component {next(_seq)}")


def _subscriber() -> StatusSubscriber:
    return StatusSubscriber.objects.create(
        email=f"matrix{next(_seq)}@example.test", token=secrets.token_urlsafe(32)
    )


def b_list(w, col, foreign):
    return "get", f"/api/v1/incidents/{_incident(w).pk}/broadcasts", None


def b_send(w, col, foreign):
    return "post", f"/api/v1/incidents/{_incident(w).pk}/broadcasts", {"body": "Update"}


def b_get(w, col, foreign):
    b = _broadcast(w)
    return "get", f"/api/v1/incidents/{b.incident_id}/broadcasts/{b.pk}", None


def b_feed(w, col, foreign):
    return "get", "/api/v1/broadcasts", None


def b_cadence(w, col, foreign):
    url = f"/api/v1/incidents/{_incident(w).pk}/broadcast-cadence"
    return "put", url, {"every_seconds": 3600}


def b_status_page(w, col, foreign):
    return "patch", f"/api/v1/incidents/{_incident(w).pk}/status-page", {"public": True}


def b_chat_list(w, col, foreign):
    return "get", "/api/v1/chat-webhooks", None


def b_chat_create(w, col, foreign):
    body = {"name": f"#c{next(_seq)}", "url": "https://chat.example.com/hooks/x"}
    return "post", "/api/v1/chat-webhooks", body


def b_chat_patch(w, col, foreign):
    return "patch", f"/api/v1/chat-webhooks/{_hook(w).pk}", {"active": False}


def b_chat_delete(w, col, foreign):
    return "delete", f"/api/v1/chat-webhooks/{_hook(w).pk}", None


def b_components(w, col, foreign):
    return "get", "/api/v1/status/components", None


def b_component_create(w, col, foreign):
    return "post", "/api/v1/status/components", {"name": f"Component {next(_seq)}"}


def b_component_patch(w, col, foreign):
    return "patch", f"/api/v1/status/components/{_component(w).pk}", {"group": "Core"}


def b_component_delete(w, col, foreign):
    return "delete", f"/api/v1/status/components/{_component(w).pk}", None


def b_status(w, col, foreign):
    return "get", "/api/v1/status", None


def b_subscribe(w, col, foreign):
    from caseline.api import ratelimit

    ratelimit._local.clear()  # every role subscribes from 127.0.0.1: a fresh window each
    ratelimit.store().clear()
    return "post", "/api/v1/status/subscriptions", {"email": f"s{next(_seq)}@example.test"}


def b_confirm(w, col, foreign):
    return "post", "/api/v1/status/subscriptions/confirm", {"token": _subscriber().token}


def b_unsubscribe(w, col, foreign):
    return "post", "/api/v1/status/subscriptions/unsubscribe", {"token": _subscriber().token}


BUILDERS = {
    "GET /incidents/{id}/broadcasts": b_list,
    "POST /incidents/{id}/broadcasts": b_send,
    "GET /incidents/{id}/broadcasts/{id}": b_get,
    "GET /broadcasts": b_feed,
    "PUT /incidents/{id}/broadcast-cadence": b_cadence,
    "PATCH /incidents/{id}/status-page": b_status_page,
    "GET /chat-webhooks": b_chat_list,
    "POST /chat-webhooks": b_chat_create,
    "PATCH /chat-webhooks/{id}": b_chat_patch,
    "DELETE /chat-webhooks/{id}": b_chat_delete,
    "GET /status/components": b_components,
    "POST /status/components": b_component_create,
    "PATCH /status/components/{id}": b_component_patch,
    "DELETE /status/components/{id}": b_component_delete,
    "GET /status (public, no token)": b_status,
    "POST /status/subscriptions (public, no token)": b_subscribe,
    "POST /status/subscriptions/confirm (public, the mailed token)": b_confirm,
    "POST /status/subscriptions/unsubscribe (public, the mailed token)": b_unsubscribe,
}
