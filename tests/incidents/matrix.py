"""Requests of the incident core's rows of docs/permissions.md (used by
tests/api/test_permissions_matrix.py)."""

from __future__ import annotations

import itertools
from datetime import timedelta

from caseline.incidents import services
from caseline.incidents.models import Incident, Page
from caseline.timesource import now

_seq = itertools.count(1)


def _fresh(w) -> Incident:
    """A new Sev-2 incident on a new ticket of the first organization (IM: the IM user)."""
    t = w.ticket(w.org_a, w.contact_a)
    return services.declare_incident(
        None,
        title="Matrix incident",
        severity=2,
        ticket_ids=[t.pk],
        incident_manager_id=w.users["IM"].pk,
    )


def _shared(w) -> Incident:
    inc = getattr(w, "_incident", None)
    if inc is None:
        inc = w._incident = _fresh(w)
    return inc


def _staff(w, col):
    return w.users[col] if col != "Cust" else w.users["SE"]


def b_list(w, col, foreign):
    _shared(w)
    return "get", "/api/v1/incidents?status=live", None


def b_declare(w, col, foreign):
    return "post", "/api/v1/incidents", {"title": f"Outage {next(_seq)}", "severity": 2}


def b_from_ticket(w, col, foreign):
    t = w.ticket(w.org_a, w.contact_a)
    return "post", f"/api/v1/tickets/{t.pk}/incident", {"severity": 2}


def b_get(w, col, foreign):
    return "get", f"/api/v1/incidents/{_shared(w).pk}", None


def b_patch(w, col, foreign):
    return "patch", f"/api/v1/incidents/{_shared(w).pk}", {"title": f"Renamed {next(_seq)}"}


def b_transition(w, col, foreign):
    return "post", f"/api/v1/incidents/{_fresh(w).pk}/transition", {"status": "identified"}


def b_link(w, col, foreign):
    t = w.ticket(w.org_a, w.contact_a)
    return "post", f"/api/v1/incidents/{_shared(w).pk}/tickets", {"ticket_ids": [t.pk]}


def b_unlink(w, col, foreign):
    inc = _fresh(w)
    t = inc.tickets.get()
    return "delete", f"/api/v1/incidents/{inc.pk}/tickets/{t.pk}", None


def b_role(w, col, foreign):
    return (
        "post",
        f"/api/v1/incidents/{_fresh(w).pk}/roles",
        {"role": "sme", "user_id": w.users["SE"].pk},
    )


def b_renounce(w, col, foreign):
    inc = _fresh(w)
    row = services.assign_role(inc.pk, None, role="sme", user_id=w.users["SE"].pk)
    return "post", f"/api/v1/incidents/{inc.pk}/roles/{row.pk}/renounce", None


def b_owner(w, col, foreign):
    return "post", f"/api/v1/incidents/{_fresh(w).pk}/owner", {"user_id": w.users["SE"].pk}


def b_owner_ack(w, col, foreign):
    # Only the receiver acknowledges: the handoff goes to the caller.
    inc = _fresh(w)
    services.assign_owner(inc.pk, None, user_id=_staff(w, col).pk)
    return "post", f"/api/v1/incidents/{inc.pk}/owner/acknowledge", None


def b_task(w, col, foreign):
    return "post", f"/api/v1/incidents/{_shared(w).pk}/tasks", {"title": "Roll back"}


def b_patch_task(w, col, foreign):
    task = services.add_task(_shared(w).pk, None, title=f"Task {next(_seq)}")
    return "patch", f"/api/v1/incident-tasks/{task.pk}", {"done": True}


def b_timeline(w, col, foreign):
    return "get", f"/api/v1/incidents/{_shared(w).pk}/timeline", None


def b_note(w, col, foreign):
    return "post", f"/api/v1/incidents/{_shared(w).pk}/notes", {"text": "Found it"}


def b_pin(w, col, foreign):
    entry = services.add_note(_shared(w).pk, None, text=f"Note {next(_seq)}")
    return "post", f"/api/v1/incident-timeline/{entry.pk}/pin", {"pinned": True}


def b_pages(w, col, foreign):
    return "get", f"/api/v1/incidents/{_shared(w).pk}/pages", None


def b_page_now(w, col, foreign):
    return "post", f"/api/v1/incidents/{_fresh(w).pk}/pages", None


def b_page_ack(w, col, foreign):
    # The paged person acknowledges: the page goes to the caller.
    inc = _fresh(w)
    page = Page.objects.create(
        incident=inc,
        level=1,
        reason="on_duty",
        recipient=_staff(w, col),
        ack_due_at=now() + timedelta(minutes=5),
    )
    return "post", f"/api/v1/incident-pages/{page.pk}/acknowledge", None


def b_targets(w, col, foreign):
    return "get", "/api/v1/paging-targets", None


def b_add_target(w, col, foreign):
    return (
        "post",
        "/api/v1/paging-targets",
        {"name": f"Pager {next(_seq)}", "url": "https://pager.example.com/hook"},
    )


BUILDERS = {
    "GET /incidents": b_list,
    "POST /incidents": b_declare,
    "POST /tickets/{id}/incident": b_from_ticket,
    "GET /incidents/{id}": b_get,
    "PATCH /incidents/{id}": b_patch,
    "POST /incidents/{id}/transition": b_transition,
    "POST /incidents/{id}/tickets": b_link,
    "DELETE /incidents/{id}/tickets/{id}": b_unlink,
    "POST /incidents/{id}/roles": b_role,
    "POST /incidents/{id}/roles/{id}/renounce": b_renounce,
    "POST /incidents/{id}/owner": b_owner,
    "POST /incidents/{id}/owner/acknowledge (the handoff's receiver)": b_owner_ack,
    "POST /incidents/{id}/tasks": b_task,
    "PATCH /incident-tasks/{id}": b_patch_task,
    "GET /incidents/{id}/timeline": b_timeline,
    "POST /incidents/{id}/notes": b_note,
    "POST /incident-timeline/{id}/pin": b_pin,
    "GET /incidents/{id}/pages": b_pages,
    "POST /incidents/{id}/pages": b_page_now,
    "POST /incident-pages/{id}/acknowledge (the paged person)": b_page_ack,
    "GET /paging-targets": b_targets,
    "POST /paging-targets": b_add_target,
}
