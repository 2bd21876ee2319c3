"""Web pages of the incident core (docs/incidents.md, "Web").

* ``/incidents/`` the list with filters; ``/incidents/<id>/`` the incident room;
  ``/incidents/<id>/do/<action>`` its form posts (status, notes, pins, roles, owner
  handoff and acknowledgement, tasks, tickets, pages), each calling one service and
  redirecting back to the room with a flash message (a refusal is flashed, nothing changed);
* ``/incidents/ticket/<ticket_id>/panel`` the ticket page's "Incident" panel (htmx
  fragment) and ``.../declare`` its one-click "Declare incident";
* ``/incidents/pages/ack/<token>/`` the signed acknowledgement link of a page's email
  (GET shows a button, POST acknowledges: link scanners that fetch the URL acknowledge
  nothing).

Permissions: reading ``view_all_tickets``; declaring and linking ``declare_incident``;
everything else ``manage_incidents`` -- except acknowledging the owner handoff (its
receiver) and a page (the paged person).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from caseline.accounts.models import Organization, User
from caseline.errors import DomainError, NotFound, ValidationFailed
from caseline.tickets.models import Ticket
from caseline.web import panels
from caseline.web.auth import staff_required
from caseline.web.formparse import form_id as _id
from caseline.web.formparse import local_datetime as _local_dt
from caseline.web.formparse import ticket_ids as _ticket_ids

from . import queries, services
from .models import Incident, IncidentRole, Page

READ = "accounts.view_all_tickets"
DECLARE = "accounts.declare_incident"
MANAGE = "accounts.manage_incidents"


def _why(exc: DomainError) -> str:
    fields = getattr(exc, "fields", None) or {}
    detail = "; ".join(f"{k}: {v}" for k, v in fields.items() if isinstance(v, str))
    return f"{exc.message}" + (f" ({detail})" if detail else "")


# --- list and room ---------------------------------------------------------------------------


@require_GET
@staff_required(perm=READ)
def incident_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "live") or None
    if status == "all":
        status = None
    sev = request.GET.get("severity", "")
    org = request.GET.get("organization", "")
    q = request.GET.get("q", "").strip()
    error = None
    try:
        qs = queries.list_incidents(
            status=status,
            severity=int(sev) if sev.isdigit() else None,
            organization=int(org) if org.isdigit() else None,
            q=q or None,
        )
        rows = list(qs.prefetch_related("organizations")[:200])
    except ValidationFailed as exc:
        rows, error = [], _why(exc)
    return render(
        request,
        "incidents/list.html",
        {
            "rows": rows,
            "error": error,
            "nav_active": "incidents",
            "f": {
                "status": request.GET.get("status", "live"),
                "severity": sev,
                "organization": org,
                "q": q,
            },
            "statuses": ["live", "all", *queries.STATUSES],
            "organizations": Organization.objects.filter(incidents__isnull=False)
            .distinct()
            .order_by("name"),
            "can_declare": request.user.has_perm(DECLARE),
        },
    )


def _room_context(request: HttpRequest, inc: Incident) -> dict[str, Any]:
    user = request.user
    entries = list(queries.timeline(inc.pk))
    roles = list(inc.roles.all())
    pending = queries.pending_handoff(inc)
    return {
        "inc": inc,
        "nav_active": "incidents",
        "moves": services.legal_moves(inc.status),
        "tickets": sorted(inc.tickets.all(), key=lambda t: t.pk),
        "organizations": list(inc.organizations.all()),
        "areas": list(inc.product_areas.all()),
        "current_roles": [r for r in roles if r.renounced_at is None],
        "past_roles": [r for r in roles if r.renounced_at is not None],
        "pending": pending,
        "target": queries.owner_target(inc),
        "tasks": list(inc.tasks.all()),
        "pinned": [e for e in entries if e.pinned],
        "entries": [e for e in entries if not e.pinned],
        "pages": list(inc.pages.all()),
        "can_manage": user.has_perm(MANAGE),
        "can_declare": user.has_perm(DECLARE),
        "is_receiver": pending is not None and pending.to_user_id == user.pk,
        "role_choices": [
            (v, label)
            for v, label in IncidentRole.Role.choices
            if v != IncidentRole.Role.CASE_OWNER
        ],
        "staff": User.objects.filter(kind=User.Kind.STAFF, is_active=True).order_by(
            "first_name", "last_name", "email"
        ),
        "panels": panels.panels_for("incident", user, inc.pk),
    }


@require_GET
@staff_required(perm=READ)
def room(request: HttpRequest, incident_id: int) -> HttpResponse:
    try:
        inc = queries.get_incident(incident_id)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    return render(request, "incidents/room.html", _room_context(request, inc))


# --- room actions ------------------------------------------------------------------------------


def _transition(request, inc_id, user):
    services.transition(
        inc_id, user, request.POST.get("status", ""), note=request.POST.get("note", "")
    )
    return "Status changed."


def _note(request, inc_id, user):
    services.add_note(
        inc_id, user, text=request.POST.get("text", ""), pinned=request.POST.get("pinned") == "on"
    )
    return "Note added."


def _pin(request, inc_id, user):
    entry_id = _id(request.POST.get("entry_id")) or 0
    if not queries.timeline(inc_id).filter(pk=entry_id).exists():
        raise NotFound("no such timeline entry here")
    services.pin_entry(entry_id, user, pinned=request.POST.get("pinned") == "1")
    return "Timeline updated."


def _role(request, inc_id, user):
    services.assign_role(
        inc_id,
        user,
        role=request.POST.get("role", ""),
        user_id=_id(request.POST.get("user_id")),
        note=request.POST.get("note", ""),
    )
    return "Role assigned."


def _renounce(request, inc_id, user):
    services.renounce_role(inc_id, user, _id(request.POST.get("role_id")) or 0)
    return "Role renounced."


def _owner(request, inc_id, user):
    services.assign_owner(
        inc_id, user, user_id=_id(request.POST.get("user_id")), note=request.POST.get("note", "")
    )
    return "Handoff sent; waiting for the new owner's acknowledgement."


def _ack_owner(request, inc_id, user):
    services.acknowledge_ownership(inc_id, user)
    return "You own the case now."


def _task(request, inc_id, user):
    services.add_task(
        inc_id,
        user,
        title=request.POST.get("title", ""),
        assignee_id=_id(request.POST.get("assignee_id")),
        due_at=_local_dt(request.POST.get("due_at")),
    )
    return "Task added."


def _task_done(request, inc_id, user):
    task_id = _id(request.POST.get("task_id")) or 0
    if not Incident.objects.filter(pk=inc_id, tasks__id=task_id).exists():
        raise NotFound("no such task here")
    services.update_task(task_id, user, done=request.POST.get("done") == "1")
    return "Task updated."


def _link(request, inc_id, user):
    services.link_tickets(inc_id, user, _ticket_ids(request.POST.get("ticket_ids")))
    return "Tickets linked."


def _unlink(request, inc_id, user):
    services.unlink_ticket(inc_id, user, _id(request.POST.get("ticket_id")) or 0)
    return "Ticket unlinked."


def _ack_page(request, inc_id, user):
    page_id = _id(request.POST.get("page_id")) or 0
    if not Page.objects.filter(pk=page_id, incident_id=inc_id).exists():
        raise NotFound("no such page here")
    services.acknowledge_page(page_id, user, via="web")
    return "Page acknowledged; paging stopped."


def _page_now(request, inc_id, user):
    pages = services.page_now(inc_id, user)
    return f"Paged {', '.join(str(p.recipient) for p in pages)}." if pages else "Nobody to page."


# action -> (permission, handler); the owner and page acknowledgements are checked by the
# services (only the receiver / the paged person or a manager).
ACTIONS = {
    "transition": (MANAGE, _transition),
    "note": (MANAGE, _note),
    "pin": (MANAGE, _pin),
    "role": (MANAGE, _role),
    "renounce": (MANAGE, _renounce),
    "owner": (MANAGE, _owner),
    "ack-owner": (READ, _ack_owner),
    "task": (MANAGE, _task),
    "task-done": (MANAGE, _task_done),
    "link": (DECLARE, _link),
    "unlink": (MANAGE, _unlink),
    "ack-page": (READ, _ack_page),
    "page": (MANAGE, _page_now),
}


@require_POST
@staff_required(perm=READ)
def room_action(request: HttpRequest, incident_id: int, action: str) -> HttpResponse:
    if action not in ACTIONS:
        raise Http404("no such action")
    perm, handler = ACTIONS[action]
    if not request.user.has_perm(perm):
        raise PermissionDenied
    if not Incident.objects.filter(pk=incident_id).exists():
        raise Http404("no such incident")
    try:
        flash.success(request, handler(request, incident_id, request.user))
    except DomainError as exc:
        flash.error(request, _why(exc))
    return redirect(reverse("incident_room", args=[incident_id]))


# --- the ticket page's panel -------------------------------------------------------------------


def _ticket_panel(request: HttpRequest, ticket: Ticket, error: str | None = None) -> HttpResponse:
    return render(
        request,
        "incidents/ticket_panel.html",
        {
            "ticket": ticket,
            "incidents": list(queries.incidents_of_ticket(ticket.pk)),
            "can_declare": request.user.has_perm(DECLARE),
            "error": error,
        },
    )


@require_GET
@staff_required(perm=READ)
def ticket_panel(request: HttpRequest, ticket_id: int) -> HttpResponse:
    ticket = Ticket.objects.filter(pk=ticket_id).first()
    if ticket is None:
        raise Http404("no such ticket")
    return _ticket_panel(request, ticket)


@require_POST
@staff_required(perm=DECLARE)
def ticket_declare(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """One click: declare a Sev-1 incident from the ticket; the panel shows it."""
    ticket = Ticket.objects.filter(pk=ticket_id).first()
    if ticket is None:
        raise Http404("no such ticket")
    severity = request.POST.get("severity", "1")
    try:
        inc = services.declare_from_ticket(
            ticket_id,
            request.user,
            title=request.POST.get("title", ""),
            severity=int(severity) if severity.isdigit() else severity,
        )
    except DomainError as exc:
        return _ticket_panel(request, ticket, _why(exc))
    if request.headers.get("HX-Request") != "true":
        return redirect(reverse("incident_room", args=[inc.pk]))
    return _ticket_panel(request, ticket)


# --- the signed acknowledgement link ------------------------------------------------------------


@csrf_exempt
@require_http_methods(["GET", "POST"])
def page_ack(request: HttpRequest, token: str) -> HttpResponse:
    """The link in a page's email: the signed token names the page and its recipient, so
    it works without signing in. GET shows the page and a button; POST acknowledges."""
    try:
        page = services.page_from_token(token)
    except NotFound as exc:
        raise Http404(str(exc)) from exc
    done = None
    if request.method == "POST":
        try:
            page = services.acknowledge_page(page.pk, page.recipient, via="link")
            done = "Acknowledged. The paging chain stopped."
        except DomainError as exc:
            done = _why(exc)
    page = Page.objects.select_related("incident", "recipient").get(pk=page.pk)
    return render(
        request, "incidents/room_page_ack.html", {"page": page, "inc": page.incident, "done": done}
    )
