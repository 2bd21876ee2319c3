"""API shapes of post-mortems, action items, root-cause categories and trends."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ninja import Field, Schema

from .models import ActionItem, PostMortem, RootCauseCategory, TimelineItem

# --- input ---------------------------------------------------------------------------------


class PostMortemIn(Schema):
    escalation_id: int | None = Field(None, description="a resolved escalation")
    incident_id: int | None = Field(None, description="a resolved incident")


class PostMortemPatch(Schema):
    title: str | None = None
    summary: str | None = None
    customer_impact: str | None = None
    root_cause: str | None = None
    root_cause_category_id: int | None = None
    contributing_factors: str | None = None
    went_well: str | None = None
    went_badly: str | None = None
    process_improvements: str | None = None
    product_area_id: int | None = None
    author_ids: list[int] | None = None


class StatusIn(Schema):
    status: str = Field(description="draft, in_review, published")


class TimelineIn(Schema):
    at: datetime
    text: str


class TimelinePatch(Schema):
    at: datetime | None = None
    text: str | None = None


class ReviewPatch(Schema):
    scheduled_at: datetime | None = None
    reason: str | None = Field(None, description="required to move past the 5-business-day limit")
    attendee_ids: list[int] | None = None
    location: str | None = None
    duration_minutes: int | None = None


class ActionItemIn(Schema):
    what: str
    owner_id: int
    due_at: datetime
    ticket_id: int | None = None


class ActionItemPatch(Schema):
    what: str | None = None
    owner_id: int | None = None
    due_at: datetime | None = None
    ticket_id: int | None = None
    status: str | None = Field(None, description="open, done, wont_do (needs reason)")
    reason: str | None = None


class CategoryIn(Schema):
    name: str
    description: str = ""
    position: int = 100


class CategoryPatch(Schema):
    name: str | None = None
    description: str | None = None
    active: bool | None = None
    position: int | None = None


# --- output --------------------------------------------------------------------------------


class UserRef(Schema):
    id: int
    name: str
    email: str


class CategoryOut(Schema):
    id: int
    name: str
    description: str
    active: bool
    position: int


class CategoryList(Schema):
    results: list[CategoryOut]


class TimelineOut(Schema):
    id: int
    at: datetime
    text: str
    source: str
    source_ref: str


class ActionItemOut(Schema):
    id: int
    post_mortem_id: int
    what: str
    owner: UserRef
    due_at: datetime
    status: str
    reason: str
    ticket_id: int | None
    done_at: datetime | None
    reminded_at: datetime | None
    overdue_at: datetime | None


class ReviewOut(Schema):
    scheduled_at: datetime
    duration_minutes: int
    latest_at: datetime
    calendar: str
    location: str
    attendees: list[UserRef]
    sequence: int
    move_reason: str
    reminded_at: datetime | None


class PostMortemSummary(Schema):
    id: int
    reference: str
    title: str
    status: str
    escalation_id: int | None
    incident_id: int | None
    root_cause_category: str | None
    product_area: str | None
    resolved_at: datetime | None
    review_at: datetime | None
    open_action_items: int
    updated_at: datetime


class PostMortemList(Schema):
    results: list[PostMortemSummary]
    meta: dict[str, Any]
    links: dict[str, Any]


class PostMortemOut(Schema):
    id: int
    reference: str
    title: str
    status: str
    escalation_id: int | None
    incident_id: int | None
    summary: str
    customer_impact: str
    root_cause: str
    root_cause_category_id: int | None
    root_cause_category: str | None
    contributing_factors: str
    went_well: str
    went_badly: str
    process_improvements: str
    product_area_id: int | None
    product_area: str | None
    authors: list[UserRef]
    resolved_at: datetime | None
    created_at: datetime
    updated_at: datetime
    review_requested_at: datetime | None
    published_at: datetime | None
    timeline: list[TimelineOut]
    action_items: list[ActionItemOut]
    review: ReviewOut | None


def user_ref(u) -> dict[str, Any]:
    return {"id": u.pk, "name": str(u), "email": u.email}


def category_out(c: RootCauseCategory) -> dict[str, Any]:
    return {
        "id": c.pk,
        "name": c.name,
        "description": c.description,
        "active": c.active,
        "position": c.position,
    }


def timeline_out(t: TimelineItem) -> dict[str, Any]:
    return {"id": t.pk, "at": t.at, "text": t.text, "source": t.source, "source_ref": t.source_ref}


def action_out(a: ActionItem) -> dict[str, Any]:
    return {
        "id": a.pk,
        "post_mortem_id": a.post_mortem_id,
        "what": a.what,
        "owner": user_ref(a.owner),
        "due_at": a.due_at,
        "status": a.status,
        "reason": a.reason,
        "ticket_id": a.ticket_id,
        "done_at": a.done_at,
        "reminded_at": a.reminded_at,
        "overdue_at": a.overdue_at,
    }


def review_out(r) -> dict[str, Any] | None:
    if r is None:
        return None
    return {
        "scheduled_at": r.scheduled_at,
        "duration_minutes": r.duration_minutes,
        "latest_at": r.latest_at,
        "calendar": r.calendar,
        "location": r.location,
        "attendees": [user_ref(u) for u in r.attendees.all()],
        "sequence": r.sequence,
        "move_reason": r.move_reason,
        "reminded_at": r.reminded_at,
    }


def summary_out(pm: PostMortem) -> dict[str, Any]:
    review = getattr(pm, "review", None)
    return {
        "id": pm.pk,
        "reference": pm.reference,
        "title": pm.title,
        "status": pm.status,
        "escalation_id": pm.escalation_id,
        "incident_id": pm.incident_id,
        "root_cause_category": str(pm.root_cause_category) if pm.root_cause_category else None,
        "product_area": str(pm.product_area) if pm.product_area else None,
        "resolved_at": pm.resolved_at,
        "review_at": review.scheduled_at if review else None,
        "open_action_items": getattr(pm, "open_actions", 0),
        "updated_at": pm.updated_at,
    }


def postmortem_out(pm: PostMortem, review) -> dict[str, Any]:
    return {
        "id": pm.pk,
        "reference": pm.reference,
        "title": pm.title,
        "status": pm.status,
        "escalation_id": pm.escalation_id,
        "incident_id": pm.incident_id,
        "summary": pm.summary,
        "customer_impact": pm.customer_impact,
        "root_cause": pm.root_cause,
        "root_cause_category_id": pm.root_cause_category_id,
        "root_cause_category": str(pm.root_cause_category) if pm.root_cause_category else None,
        "contributing_factors": pm.contributing_factors,
        "went_well": pm.went_well,
        "went_badly": pm.went_badly,
        "process_improvements": pm.process_improvements,
        "product_area_id": pm.product_area_id,
        "product_area": str(pm.product_area) if pm.product_area else None,
        "authors": [user_ref(u) for u in pm.authors.all()],
        "resolved_at": pm.resolved_at,
        "created_at": pm.created_at,
        "updated_at": pm.updated_at,
        "review_requested_at": pm.review_requested_at,
        "published_at": pm.published_at,
        "timeline": [timeline_out(t) for t in pm.timeline.all()],
        "action_items": [action_out(a) for a in pm.action_items.all()],
        "review": review_out(review),
    }
