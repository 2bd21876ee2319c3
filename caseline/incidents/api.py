"""The incidents API (ninja router, mounted at /api/v1/; docs/incidents.md).

Reading needs ``view_all_tickets`` (every staff role); declaring an incident and linking
tickets need ``declare_incident`` (every agent role); everything else needs
``manage_incidents`` (incident manager, support manager, admin) -- except two things only
the person concerned can do: acknowledging the case-owner handoff (its receiver) and
acknowledging a page (the paged person, or someone with ``manage_incidents``).
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router, Status

from caseline.api.core import page, require

from . import queries, services
from .schemas import (
    DeclareIn,
    EntryList,
    EntryOut,
    FromTicketIn,
    IncidentList,
    IncidentOut,
    IncidentPatch,
    NoteIn,
    OwnerIn,
    PageOut,
    PagingTargetIn,
    PagingTargetOut,
    PinIn,
    RoleIn,
    RoleOut,
    TaskIn,
    TaskOut,
    TaskPatch,
    TicketsIn,
    TransitionIn,
    entry_out,
    incident_out,
    page_out,
    role_out,
    summary_out,
    task_out,
)

router = Router(tags=["incidents"])

READ = "view_all_tickets"
DECLARE = "declare_incident"
MANAGE = "manage_incidents"


def _detail(incident_id: int) -> dict:
    return incident_out(queries.get_incident(incident_id))


# --- incidents -----------------------------------------------------------------------------


@router.get("/incidents", response=IncidentList)
def list_incidents(
    request: HttpRequest,
    status: str | None = None,
    severity: int | None = None,
    organization: int | None = None,
    product_area: int | None = None,
    ticket: int | None = None,
    manager: str | None = None,
    q: str | None = None,
    limit: int = 25,
    cursor: str | None = None,
):
    """Incidents, newest first; ``status`` = ``live`` or a comma list; ``manager`` = a user
    id or ``none``; ``q`` searches title and summary."""
    require(request, READ)
    qs = queries.list_incidents(
        status=status,
        severity=severity,
        organization=organization,
        product_area=product_area,
        ticket=ticket,
        manager=manager,
        q=q,
    )
    return page(request, qs, summary_out, limit=limit, cursor=cursor)


@router.post("/incidents", response={201: IncidentOut})
def declare(request: HttpRequest, payload: DeclareIn):
    user = require(request, DECLARE)
    inc = services.declare_incident(user, **payload.dict())
    return Status(201, _detail(inc.pk))


@router.post("/tickets/{ticket_id}/incident", response={201: IncidentOut})
def declare_from_ticket(request: HttpRequest, ticket_id: int, payload: FromTicketIn):
    """Declare an incident from the ticket in one call (default Sev-1, the ticket's subject)."""
    user = require(request, DECLARE)
    inc = services.declare_from_ticket(ticket_id, user, **payload.dict())
    return Status(201, _detail(inc.pk))


@router.get("/incidents/{incident_id}", response=IncidentOut)
def get_incident(request: HttpRequest, incident_id: int):
    require(request, READ)
    return _detail(incident_id)


@router.patch("/incidents/{incident_id}", response=IncidentOut)
def patch_incident(request: HttpRequest, incident_id: int, payload: IncidentPatch):
    user = require(request, MANAGE)
    services.update_incident(incident_id, user, **payload.dict(exclude_unset=True))
    return _detail(incident_id)


@router.post("/incidents/{incident_id}/transition", response=IncidentOut)
def transition(request: HttpRequest, incident_id: int, payload: TransitionIn):
    """Move the status; an illegal move answers 409 ``illegal_transition`` naming the
    allowed ones."""
    user = require(request, MANAGE)
    services.transition(incident_id, user, payload.status, note=payload.note)
    return _detail(incident_id)


@router.post("/incidents/{incident_id}/tickets", response=IncidentOut)
def link_tickets(request: HttpRequest, incident_id: int, payload: TicketsIn):
    user = require(request, DECLARE)
    services.link_tickets(incident_id, user, payload.ticket_ids)
    return _detail(incident_id)


@router.delete("/incidents/{incident_id}/tickets/{ticket_id}", response=IncidentOut)
def unlink_ticket(request: HttpRequest, incident_id: int, ticket_id: int):
    user = require(request, MANAGE)
    services.unlink_ticket(incident_id, user, ticket_id)
    return _detail(incident_id)


# --- roles and ownership -------------------------------------------------------------------


@router.post("/incidents/{incident_id}/roles", response={201: RoleOut})
def assign_role(request: HttpRequest, incident_id: int, payload: RoleIn):
    user = require(request, MANAGE)
    row = services.assign_role(
        incident_id, user, role=payload.role, user_id=payload.user_id, note=payload.note
    )
    return Status(201, role_out(row))


@router.post("/incidents/{incident_id}/roles/{role_id}/renounce", response=RoleOut)
def renounce_role(request: HttpRequest, incident_id: int, role_id: int):
    user = require(request, MANAGE)
    return role_out(services.renounce_role(incident_id, user, role_id))


@router.post("/incidents/{incident_id}/owner", response=IncidentOut)
def assign_owner(request: HttpRequest, incident_id: int, payload: OwnerIn):
    """Hand the case owner role to ``user_id``; it waits for their acknowledgement."""
    user = require(request, MANAGE)
    services.assign_owner(incident_id, user, user_id=payload.user_id, note=payload.note)
    return _detail(incident_id)


@router.post("/incidents/{incident_id}/owner/acknowledge", response=IncidentOut)
def acknowledge_ownership(request: HttpRequest, incident_id: int):
    """The receiver of the pending handoff takes ownership (403 for anyone else)."""
    user = require(request, READ)
    services.acknowledge_ownership(incident_id, user)
    return _detail(incident_id)


# --- tasks and timeline --------------------------------------------------------------------


@router.post("/incidents/{incident_id}/tasks", response={201: TaskOut})
def add_task(request: HttpRequest, incident_id: int, payload: TaskIn):
    user = require(request, MANAGE)
    task = services.add_task(incident_id, user, **payload.dict())
    return Status(201, task_out(task))


@router.patch("/incident-tasks/{task_id}", response=TaskOut)
def patch_task(request: HttpRequest, task_id: int, payload: TaskPatch):
    user = require(request, MANAGE)
    return task_out(services.update_task(task_id, user, **payload.dict(exclude_unset=True)))


@router.get("/incidents/{incident_id}/timeline", response=EntryList)
def timeline(
    request: HttpRequest,
    incident_id: int,
    pinned: bool | None = None,
    limit: int = 50,
    cursor: str | None = None,
):
    """The incident's timeline, oldest first (``pinned=true``: the pinned entries only)."""
    require(request, READ)
    queries.get_incident(incident_id)
    qs = queries.timeline(incident_id, pinned_first=False)
    if pinned is not None:
        qs = qs.filter(pinned=pinned)
    return page(request, qs, entry_out, limit=limit, cursor=cursor, descending=False)


@router.post("/incidents/{incident_id}/notes", response={201: EntryOut})
def add_note(request: HttpRequest, incident_id: int, payload: NoteIn):
    user = require(request, MANAGE)
    entry = services.add_note(incident_id, user, text=payload.text, pinned=payload.pinned)
    return Status(201, entry_out(entry))


@router.post("/incident-timeline/{entry_id}/pin", response=EntryOut)
def pin_entry(request: HttpRequest, entry_id: int, payload: PinIn):
    user = require(request, MANAGE)
    return entry_out(services.pin_entry(entry_id, user, pinned=payload.pinned))


# --- paging --------------------------------------------------------------------------------


@router.get("/incidents/{incident_id}/pages", response=list[PageOut])
def list_pages(request: HttpRequest, incident_id: int):
    require(request, READ)
    return [page_out(p) for p in queries.pages(incident_id)]


@router.post("/incidents/{incident_id}/pages", response={201: list[PageOut]})
def page_now(request: HttpRequest, incident_id: int):
    """Start a new paging chain now (the previous chain's waiting pages are cancelled)."""
    user = require(request, MANAGE)
    return Status(201, [page_out(p) for p in services.page_now(incident_id, user)])


@router.post("/incident-pages/{page_id}/acknowledge", response=PageOut)
def acknowledge_page(request: HttpRequest, page_id: int):
    """The paged person (or someone who runs incidents) acknowledges: the chain stops."""
    user = require(request, READ)
    return page_out(services.acknowledge_page(page_id, user, via="api"))


@router.get("/paging-targets", response=list[PagingTargetOut])
def list_paging_targets(request: HttpRequest):
    require(request, MANAGE)
    from .models import PagingTarget

    return [
        {"id": t.pk, "name": t.name, "url": t.webhook.url, "active": t.active}
        for t in PagingTarget.objects.select_related("webhook")
    ]


@router.post("/paging-targets", response={201: PagingTargetOut})
def add_paging_target(request: HttpRequest, payload: PagingTargetIn):
    """A paging / SMS gateway; the answer shows the signing secret once."""
    user = require(request, MANAGE)
    t = services.add_paging_target(user, name=payload.name, url=payload.url, secret=payload.secret)
    return Status(
        201,
        {
            "id": t.pk,
            "name": t.name,
            "url": t.webhook.url,
            "active": t.active,
            "secret": t.webhook.secret,
        },
    )
