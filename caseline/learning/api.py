"""The learning API (ninja router, mounted at /api/v1/): post-mortems, their timeline,
review meeting and action items, exports (Markdown, PDF), root-cause categories, trends
(docs/learning.md).

Reading needs ``view_all_tickets`` (every staff role); writing needs
``manage_postmortems`` (incident manager, escalation manager, support manager, lead,
admin).
"""

from __future__ import annotations

from datetime import datetime

from django.http import HttpRequest, HttpResponse
from ninja import Router, Status

from caseline.api.core import page, require

from . import export, queries, services
from .schemas import (
    ActionItemIn,
    ActionItemOut,
    ActionItemPatch,
    CategoryIn,
    CategoryList,
    CategoryOut,
    CategoryPatch,
    PostMortemIn,
    PostMortemList,
    PostMortemOut,
    PostMortemPatch,
    ReviewPatch,
    StatusIn,
    TimelineIn,
    TimelineOut,
    TimelinePatch,
    action_out,
    category_out,
    postmortem_out,
    summary_out,
    timeline_out,
)

router = Router(tags=["learning"])

READ = "view_all_tickets"
WRITE = "manage_postmortems"


def _detail(pm_id: int) -> dict:
    pm = queries.get_postmortem(pm_id)
    return postmortem_out(pm, queries.review_of(pm))


# --- post-mortems --------------------------------------------------------------------------


@router.get("/postmortems", response=PostMortemList)
def list_postmortems(
    request: HttpRequest,
    status: str | None = None,
    category: int | None = None,
    q: str | None = None,
    limit: int = 25,
    cursor: str | None = None,
):
    """Post-mortems, newest first; ``status`` a comma list (draft, in_review, published)."""
    require(request, READ)
    qs = queries.list_postmortems(status=status, q=q, category=category)
    return page(request, qs, summary_out, limit=limit, cursor=cursor)


@router.post("/postmortems", response={201: PostMortemOut})
def create_postmortem(request: HttpRequest, payload: PostMortemIn):
    """By hand, for a resolved escalation or incident without one (resolving creates it)."""
    user = require(request, WRITE)
    pm = services.create_postmortem(user, **payload.dict())
    return Status(201, _detail(pm.pk))


@router.get("/postmortems/{pm_id}", response=PostMortemOut)
def get_postmortem(request: HttpRequest, pm_id: int):
    require(request, READ)
    return _detail(pm_id)


@router.patch("/postmortems/{pm_id}", response=PostMortemOut)
def patch_postmortem(request: HttpRequest, pm_id: int, payload: PostMortemPatch):
    user = require(request, WRITE)
    services.update_postmortem(pm_id, user, **payload.dict(exclude_unset=True))
    return _detail(pm_id)


@router.post("/postmortems/{pm_id}/status", response=PostMortemOut)
def set_status(request: HttpRequest, pm_id: int, payload: StatusIn):
    user = require(request, WRITE)
    services.set_status(pm_id, user, payload.status)
    return _detail(pm_id)


@router.post("/postmortems/{pm_id}/publish", response=PostMortemOut)
def publish(request: HttpRequest, pm_id: int):
    """Publish (422 naming the missing summary, root cause or category)."""
    user = require(request, WRITE)
    services.publish(pm_id, user)
    return _detail(pm_id)


@router.post("/postmortems/{pm_id}/timeline", response={201: TimelineOut})
def add_timeline(request: HttpRequest, pm_id: int, payload: TimelineIn):
    user = require(request, WRITE)
    item = services.add_timeline_item(pm_id, user, **payload.dict())
    return Status(201, timeline_out(item))


@router.post("/postmortems/{pm_id}/timeline/refill", response=PostMortemOut)
def refill_timeline(request: HttpRequest, pm_id: int):
    """Copy the subjects' events not yet in the timeline (edited lines are kept)."""
    user = require(request, WRITE)
    services.refill_timeline(pm_id, user)
    return _detail(pm_id)


@router.patch("/postmortems/{pm_id}/timeline/{item_id}", response=TimelineOut)
def edit_timeline(request: HttpRequest, pm_id: int, item_id: int, payload: TimelinePatch):
    user = require(request, WRITE)
    item = services.edit_timeline_item(pm_id, item_id, user, **payload.dict(exclude_unset=True))
    return timeline_out(item)


@router.delete("/postmortems/{pm_id}/timeline/{item_id}", response={204: None})
def delete_timeline(request: HttpRequest, pm_id: int, item_id: int):
    user = require(request, WRITE)
    services.delete_timeline_item(pm_id, item_id, user)
    return Status(204, None)


@router.patch("/postmortems/{pm_id}/review", response=PostMortemOut)
def move_review(request: HttpRequest, pm_id: int, payload: ReviewPatch):
    """Move the review meeting (past the 5-business-day limit only with a ``reason``),
    change attendees, place or length; the invitation is sent again."""
    user = require(request, WRITE)
    services.move_review(pm_id, user, **payload.dict(exclude_unset=True))
    return _detail(pm_id)


@router.post("/postmortems/{pm_id}/action-items", response={201: ActionItemOut})
def add_action_item(request: HttpRequest, pm_id: int, payload: ActionItemIn):
    user = require(request, WRITE)
    item = services.add_action_item(pm_id, user, **payload.dict())
    return Status(201, action_out(queries.get_action_item(item.pk)))


@router.get("/postmortem-action-items/{item_id}", response=ActionItemOut)
def get_action_item(request: HttpRequest, item_id: int):
    require(request, READ)
    return action_out(queries.get_action_item(item_id))


@router.patch("/postmortem-action-items/{item_id}", response=ActionItemOut)
def patch_action_item(request: HttpRequest, item_id: int, payload: ActionItemPatch):
    """``status`` done / open / wont_do (with ``reason``); moving ``due_at`` re-arms the
    reminder and the overdue notice."""
    user = require(request, WRITE)
    services.update_action_item(item_id, user, **payload.dict(exclude_unset=True))
    return action_out(queries.get_action_item(item_id))


@router.delete("/postmortem-action-items/{item_id}", response={204: None})
def delete_action_item(request: HttpRequest, item_id: int):
    user = require(request, WRITE)
    services.delete_action_item(item_id, user)
    return Status(204, None)


def _download(body: bytes | str, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@router.get("/postmortems/{pm_id}/export.md")
def export_markdown(request: HttpRequest, pm_id: int):
    """The post-mortem as Markdown (text/markdown)."""
    require(request, READ)
    pm = queries.get_postmortem(pm_id)
    doc = export.document(pm, queries.review_of(pm))
    return _download(export.to_markdown(doc), "text/markdown; charset=utf-8", f"{pm.reference}.md")


@router.get("/postmortems/{pm_id}/export.pdf")
def export_pdf(request: HttpRequest, pm_id: int):
    """The post-mortem as PDF (application/pdf)."""
    require(request, READ)
    pm = queries.get_postmortem(pm_id)
    doc = export.document(pm, queries.review_of(pm))
    return _download(export.to_pdf(doc), "application/pdf", f"{pm.reference}.pdf")


# --- root-cause categories -----------------------------------------------------------------


@router.get("/root-cause-categories", response=CategoryList)
def list_categories(request: HttpRequest, include_inactive: bool = False):
    require(request, READ)
    return {
        "results": [category_out(c) for c in queries.categories(include_inactive=include_inactive)]
    }


@router.post("/root-cause-categories", response={201: CategoryOut})
def create_category(request: HttpRequest, payload: CategoryIn):
    user = require(request, WRITE)
    return Status(201, category_out(services.create_category(user, **payload.dict())))


@router.patch("/root-cause-categories/{category_id}", response=CategoryOut)
def patch_category(request: HttpRequest, category_id: int, payload: CategoryPatch):
    user = require(request, WRITE)
    cat = services.update_category(category_id, user, **payload.dict(exclude_unset=True))
    return category_out(cat)


# --- trends --------------------------------------------------------------------------------


@router.get("/trends")
def trends(request: HttpRequest, since: datetime | None = None, until: datetime | None = None):
    """Escalations and incidents by month, product area, organization and root-cause
    category; recurring root causes; MTTA and MTTR in seconds (definitions in
    docs/learning.md). Default window: the last 12 months."""
    require(request, READ)
    from caseline.errors import ValidationFailed

    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ValidationFailed(
                "the request is not valid", fields={name: "a date-time with a UTC offset"}
            )
    if since and until and since >= until:
        raise ValidationFailed("the request is not valid", fields={"until": "after since"})
    return queries.trends(since=since, until=until)
