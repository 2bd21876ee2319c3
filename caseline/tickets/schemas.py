"""API shapes of the tickets domain (django-ninja / pydantic) and the functions that turn
loaded rows into them. Serializers read only what the queries loaded."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Union

from ninja import Field, Schema

from caseline.accounts.models import Contact, User
from caseline.audit.models import AuditEvent

from .models import Attachment, CustomField, Message, Ticket, TicketLink
from .services import custom_value_json

# --- shared -----------------------------------------------------------------------------


class PageMeta(Schema):
    has_more: bool
    next_cursor: str | None = None


class PageLinks(Schema):
    next: str | None = None


class UserRef(Schema):
    id: int
    email: str
    name: str


class ContactRef(Schema):
    id: int
    name: str
    email: str


class NamedRef(Schema):
    id: int
    name: str


def _user_ref(user: User | None) -> dict[str, Any] | None:
    if user is None:
        return None
    return {"id": user.pk, "email": user.email, "name": str(user)}


def _contact_ref(contact: Contact | None) -> dict[str, Any] | None:
    if contact is None:
        return None
    return {"id": contact.pk, "name": contact.name, "email": contact.primary_email}


def _named(obj: Any) -> dict[str, Any] | None:
    return None if obj is None else {"id": obj.pk, "name": obj.name}


# --- tickets ----------------------------------------------------------------------------


class RequesterIn(Schema):
    email: str
    name: str = ""


class AttachmentIn(Schema):
    filename: str
    content_type: str = "application/octet-stream"
    content_base64: str


class TicketIn(Schema):
    subject: str
    body_text: str = ""
    body_html: str = ""
    requester: int | RequesterIn | None = Field(
        None, description='contact id, or {"email", "name"} to find or create the contact'
    )
    requester_id: int | None = Field(None, description="the requester's contact id")
    channel: str | None = Field(None, description="email, web, api, phone, chat or agent")
    severity: int | None = Field(None, description="1-4 (Sev-1 ... Sev-4); triage decides if unset")
    priority: str | None = Field(None, description="low, normal, high or urgent")
    product_area_id: int | None = None
    team_id: int | None = None
    organization_id: int | None = Field(None, description="default: the requester's")
    assignee_id: int | None = None
    tags: list[str] = Field(default_factory=list)
    custom_fields: dict[str, Any] = Field(default_factory=dict)
    cc_ids: list[int] = Field(default_factory=list, description="contact ids to copy")
    attachments: list[AttachmentIn] = Field(default_factory=list)
    external_id: str = ""


class TicketPatch(Schema):
    subject: str | None = None
    severity: int | None = None
    priority: str | None = None
    product_area_id: int | None = None
    team_id: int | None = None
    assignee_id: int | None = Field(None, description="null unassigns")
    organization_id: int | None = None
    status: str | None = Field(None, description="new, open, pending, on_hold, solved, closed")
    tags: list[str] | None = Field(None, description="replaces the tags")
    custom_fields: dict[str, Any] | None = Field(None, description="{key: value}; null clears")
    satisfaction: str | None = Field(None, description="customers: good or bad")
    satisfaction_comment: str | None = None


class LinkOut(Schema):
    id: int
    kind: str
    source_id: int
    target_id: int


class TicketOut(Schema):
    id: int
    reference: str
    subject: str
    status: str
    severity: int
    priority: str
    channel: str
    requester: ContactRef
    organization: NamedRef | None
    assignee: UserRef | None
    team: NamedRef | None
    product_area: NamedRef | None
    tags: list[str]
    custom_fields: dict[str, Any]
    followers: list[int]
    ccs: list[int]
    satisfaction: str
    satisfaction_comment: str
    merged_into: int | None
    external_id: str
    created_at: datetime
    updated_at: datetime
    solved_at: datetime | None
    closed_at: datetime | None
    links: list[LinkOut]


class TicketListItem(Schema):
    """One row of the staff ticket list (the queue): the ticket's own columns, its
    references and tags. Followers, CCs, custom fields and links are on the detail."""

    id: int
    reference: str
    subject: str
    status: str
    severity: int
    priority: str
    channel: str
    requester: ContactRef
    organization: NamedRef | None
    assignee: UserRef | None
    team: NamedRef | None
    product_area: NamedRef | None
    tags: list[str]
    satisfaction: str
    merged_into: int | None
    external_id: str
    created_at: datetime
    updated_at: datetime
    solved_at: datetime | None
    closed_at: datetime | None
    next_deadline: datetime | None = Field(
        None, description="Earliest due time of a running SLA clock (none: nothing running)."
    )


class TicketPage(Schema):
    results: list[TicketListItem]
    meta: PageMeta
    links: PageLinks


# What a customer sees of a ticket: no priority, assignee, team, product area, tags,
# custom fields, followers, CCs, links, channel or external id, and public messages only.


class CustomerAuthorOut(Schema):
    role: str = Field(description="customer or staff")
    name: str


class CustomerAttachmentOut(Schema):
    id: int
    filename: str
    content_type: str
    size: int
    url: str


class CustomerMessageOut(Schema):
    id: int
    ticket_id: int
    author: CustomerAuthorOut | None
    body_text: str
    body_html: str
    created_at: datetime
    attachments: list[CustomerAttachmentOut]


class CustomerTicketSummary(Schema):
    id: int
    reference: str
    subject: str
    status: str
    severity: int
    requester: ContactRef
    organization: str | None = Field(description="the organization's name")
    satisfaction: str
    satisfaction_comment: str
    created_at: datetime
    updated_at: datetime
    solved_at: datetime | None
    closed_at: datetime | None


class CustomerTicketOut(CustomerTicketSummary):
    messages: list[CustomerMessageOut] = Field(description="public replies, oldest first")


class CustomerTicketPage(Schema):
    results: list[CustomerTicketSummary]
    meta: PageMeta
    links: PageLinks


def link_out(link: TicketLink) -> dict[str, Any]:
    return {
        "id": link.pk,
        "kind": link.kind,
        "source_id": link.source_id,
        "target_id": link.target_id,
    }


def ticket_out(t: Ticket) -> dict[str, Any]:
    """Serialize a ticket loaded by ``queries.with_details``."""
    links = sorted([*t.links_out.all(), *t.links_in.all()], key=lambda link: link.pk)
    return {
        "id": t.pk,
        "reference": t.reference,
        "subject": t.subject,
        "status": t.status,
        "severity": t.severity,
        "priority": t.priority,
        "channel": t.channel,
        "requester": _contact_ref(t.requester),
        "organization": _named(t.organization),
        "assignee": _user_ref(t.assignee),
        "team": _named(t.team),
        "product_area": _named(t.product_area),
        "tags": sorted(tag.name for tag in t.tags.all()),
        "custom_fields": {fv.field.key: custom_value_json(fv.value) for fv in t.field_values.all()},
        "followers": [u.pk for u in t.followers.all()],
        "ccs": [c.pk for c in t.ccs.all()],
        "satisfaction": t.satisfaction,
        "satisfaction_comment": t.satisfaction_comment,
        "merged_into": t.merged_into_id,
        "external_id": t.external_id,
        "created_at": t.created_at,
        "updated_at": t.updated_at,
        "solved_at": t.solved_at,
        "closed_at": t.closed_at,
        "links": [link_out(link) for link in links],
    }


def _ticket_row(t: Ticket, requester_email: str | None = None) -> dict[str, Any]:
    requester = t.requester
    return {
        "id": t.pk,
        "reference": t.reference,
        "subject": t.subject,
        "status": t.status,
        "severity": t.severity,
        "priority": t.priority,
        "channel": t.channel,
        "requester": {
            "id": requester.pk,
            "name": requester.name,
            "email": requester.primary_email if requester_email is None else requester_email,
        },
        "organization": _named(t.organization),
        "assignee": _user_ref(t.assignee),
        "team": _named(t.team),
        "product_area": _named(t.product_area),
        "satisfaction": t.satisfaction,
        "satisfaction_comment": t.satisfaction_comment,
        "merged_into": t.merged_into_id,
        "external_id": t.external_id,
        "created_at": t.created_at,
        "updated_at": t.updated_at,
        "solved_at": t.solved_at,
        "closed_at": t.closed_at,
    }


def ticket_out_known(t: Ticket, known: dict[str, Any]) -> dict[str, Any]:
    """The detail shape from what a service already holds (``known``: tags, custom_fields,
    followers, ccs, links, requester_email), without reading the ticket again."""
    out = _ticket_row(t, known.get("requester_email"))
    out.update(
        tags=sorted(known.get("tags", ())),
        custom_fields=dict(known.get("custom_fields", {})),
        followers=sorted(known.get("followers", ())),
        ccs=sorted(known.get("ccs", ())),
        links=list(known.get("links", ())),
    )
    return out


def ticket_list_out(t: Ticket) -> dict[str, Any]:
    """A staff list row of a ticket loaded by ``queries.for_list`` (``requester_email``
    annotated) and ``queries.attach_tags`` (``tag_names``)."""
    out = _ticket_row(t, getattr(t, "requester_email", None) or "")
    del out["satisfaction_comment"]
    out["tags"] = getattr(t, "tag_names", [])
    return out


def _row_named(row: dict[str, Any], name: str) -> dict[str, Any] | None:
    pk = row[f"{name}_id"]
    return None if pk is None else {"id": pk, "name": row[f"{name}__name"]}


def ticket_list_row_out(
    row: dict[str, Any], tags: list[str], extra: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A staff list row from a ``queries.LIST_VALUES`` row (same shape as
    :func:`ticket_list_out`)."""
    assignee = None
    if row["assignee_id"] is not None:
        assignee = {
            "id": row["assignee_id"],
            "email": row["assignee__email"],
            "name": row["assignee__display_name"]
            or row["assignee__email"]
            or row["assignee__username"],
        }
    return {
        "id": row["id"],
        "reference": f"CL-{row['id']}",
        "subject": row["subject"],
        "status": row["status"],
        "severity": row["severity"],
        "priority": row["priority"],
        "channel": row["channel"],
        "requester": {
            "id": row["requester_id"],
            "name": row["requester__name"],
            "email": row["requester_email"] or "",
        },
        "organization": _row_named(row, "organization"),
        "assignee": assignee,
        "team": _row_named(row, "team"),
        "product_area": _row_named(row, "product_area"),
        "tags": tags,
        "satisfaction": row["satisfaction"],
        "merged_into": row["merged_into_id"],
        "external_id": row["external_id"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "solved_at": row["solved_at"],
        "closed_at": row["closed_at"],
        **{name: row.get(name) for name in extra},
    }


def customer_ticket_row_out(row: dict[str, Any]) -> dict[str, Any]:
    """A customer's list row from a ``queries.LIST_VALUES`` row (nothing internal)."""
    return {
        "id": row["id"],
        "reference": f"CL-{row['id']}",
        "subject": row["subject"],
        "status": row["status"],
        "severity": row["severity"],
        "requester": {
            "id": row["requester_id"],
            "name": row["requester__name"],
            "email": row["requester_email"] or "",
        },
        "organization": row["organization__name"],
        "satisfaction": row["satisfaction"],
        "satisfaction_comment": row["satisfaction_comment"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "solved_at": row["solved_at"],
        "closed_at": row["closed_at"],
    }


def customer_ticket_summary(t: Ticket) -> dict[str, Any]:
    """What a customer sees of a ticket in a list (nothing internal)."""
    requester = t.requester
    email = getattr(t, "requester_email", None)
    return {
        "id": t.pk,
        "reference": t.reference,
        "subject": t.subject,
        "status": t.status,
        "severity": t.severity,
        "requester": {
            "id": requester.pk,
            "name": requester.name,
            "email": requester.primary_email if email is None else email,
        },
        "organization": t.organization.name if t.organization_id else None,
        "satisfaction": t.satisfaction,
        "satisfaction_comment": t.satisfaction_comment,
        "created_at": t.created_at,
        "updated_at": t.updated_at,
        "solved_at": t.solved_at,
        "closed_at": t.closed_at,
    }


def customer_ticket_out(t: Ticket, public_messages: list[Message]) -> dict[str, Any]:
    """What a customer sees of one ticket: the summary and the public replies only
    (``public_messages`` must come from ``queries.visible_messages`` for the customer)."""
    out = customer_ticket_summary(t)
    out["messages"] = [customer_message_out(m) for m in public_messages]
    return out


# --- messages ---------------------------------------------------------------------------


class MessageIn(Schema):
    kind: str = Field("public", description="public or internal")
    body_text: str = ""
    body_html: str = ""
    attachments: list[AttachmentIn] = Field(default_factory=list)
    eta: datetime | None = Field(
        None,
        description="public staff replies on open tickets: the next step is promised by "
        "this time (future, with a UTC offset); see docs/eta.md",
    )
    actionable: bool | None = Field(
        None,
        description="public staff replies: whether this reply is the actionable response "
        "of the SLA (absent: every reply except the first bare acknowledgement); see "
        "docs/sla.md",
    )


class AttachmentOut(Schema):
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    url: str


class AuthorOut(Schema):
    role: str = Field(description="customer or staff")
    user_id: int | None
    contact_id: int | None
    name: str
    email: str


class MessageOut(Schema):
    id: int
    ticket_id: int
    kind: str
    author: AuthorOut | None
    channel: str
    body_text: str
    body_html: str
    created_at: datetime
    attachments: list[AttachmentOut]


class MessagePage(Schema):
    results: list[MessageOut]
    meta: PageMeta
    links: PageLinks


def attachment_out(a: Attachment) -> dict[str, Any]:
    return {
        "id": a.pk,
        "filename": a.filename,
        "content_type": a.content_type,
        "size": a.size,
        "sha256": a.sha256,
        "url": f"/api/v1/attachments/{a.pk}",
    }


def message_out(m: Message) -> dict[str, Any]:
    author: dict[str, Any] | None = None
    if m.author_contact_id is not None:
        author = {
            "role": "customer",
            "user_id": m.author_user_id,
            "contact_id": m.author_contact_id,
            "name": m.author_contact.name,
            "email": m.author_contact.primary_email,
        }
    elif m.author_user_id is not None:
        author = {
            "role": "staff",
            "user_id": m.author_user_id,
            "contact_id": None,
            "name": str(m.author_user),
            "email": m.author_user.email,
        }
    return {
        "id": m.pk,
        "ticket_id": m.ticket_id,
        "kind": m.kind,
        "author": author,
        "channel": m.channel,
        "body_text": m.body_text,
        "body_html": m.body_html,
        "created_at": m.created_at,
        "attachments": [attachment_out(a) for a in m.attachments.all()],
    }


class CustomerMessagePage(Schema):
    results: list[CustomerMessageOut]
    meta: PageMeta
    links: PageLinks


def customer_message_out(m: Message) -> dict[str, Any]:
    """A public message as a customer sees it: the author's role and name only (no staff
    email, user ids or channel). Refuses an internal note outright."""
    if m.kind != Message.Kind.PUBLIC:
        raise ValueError("an internal note is never serialized for a customer")
    author: dict[str, Any] | None = None
    if m.author_contact_id is not None:
        author = {"role": "customer", "name": m.author_contact.name}
    elif m.author_user_id is not None:
        # a staff member's display name; never their email address
        name = m.author_user.display_name or m.author_user.get_full_name() or "Support"
        author = {"role": "staff", "name": name}
    return {
        "id": m.pk,
        "ticket_id": m.ticket_id,
        "author": author,
        "body_text": m.body_text,
        "body_html": m.body_html,
        "created_at": m.created_at,
        "attachments": [
            {
                "id": a.pk,
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
                "url": f"/api/v1/attachments/{a.pk}",
            }
            for a in m.attachments.all()
        ],
    }


# --- timeline ---------------------------------------------------------------------------


class TimelineEventOut(Schema):
    id: int
    at: datetime
    type: str
    actor: UserRef | None
    actor_label: str
    field: str
    old: Any = None
    new: Any = None
    data: dict[str, Any]


class TimelinePage(Schema):
    results: list[TimelineEventOut]
    meta: PageMeta
    links: PageLinks


def timeline_out(e: AuditEvent) -> dict[str, Any]:
    return {
        "id": e.pk,
        "at": e.at,
        "type": e.type,
        "actor": _user_ref(e.actor),
        "actor_label": e.actor_label,
        "field": e.field,
        "old": e.old,
        "new": e.new,
        "data": e.data or {},
    }


# --- followers, CCs, links, merge ---------------------------------------------------------


class FollowerIn(Schema):
    user_id: int


class CcIn(Schema):
    contact_id: int


class LinkIn(Schema):
    target: int = Field(description="id of the other ticket")
    kind: str = Field(description="duplicate_of, incident_of or related")


class MergeIn(Schema):
    into: int = Field(description="id of the ticket that survives")
    force: bool = Field(False, description="allow merging across organizations")


# --- custom fields ----------------------------------------------------------------------


class CustomFieldIn(Schema):
    key: str
    label: str
    type: str = Field(description="text, number, choice or date")
    choices: list[str] = Field(default_factory=list)
    required_on_solve: bool = False
    active: bool = True


class CustomFieldPatch(Schema):
    key: str | None = None
    label: str | None = None
    type: str | None = None
    choices: list[str] | None = None
    required_on_solve: bool | None = None
    active: bool | None = None


class CustomFieldOut(Schema):
    id: int
    key: str
    label: str
    type: str
    choices: list[str]
    required_on_solve: bool
    active: bool


class CustomFieldPage(Schema):
    results: list[CustomFieldOut]
    meta: PageMeta
    links: PageLinks


def custom_field_out(cf: CustomField) -> dict[str, Any]:
    return {
        "id": cf.pk,
        "key": cf.key,
        "label": cf.label,
        "type": cf.type,
        "choices": list(cf.choices or []),
        "required_on_solve": cf.required_on_solve,
        "active": cf.active,
    }


# --- responses whose shape depends on who asks --------------------------------------------
# Staff shapes first: a staff dict validates against its own model and stops there; a
# customer dict lacks the staff-only fields, fails the first model and takes the second.

TicketResponse = Annotated[
    Union[TicketOut, CustomerTicketOut],  # noqa: UP007
    Field(union_mode="left_to_right"),
]
TicketPageResponse = Annotated[
    Union[TicketPage, CustomerTicketPage],  # noqa: UP007
    Field(union_mode="left_to_right"),
]
MessageResponse = Annotated[
    Union[MessageOut, CustomerMessageOut],  # noqa: UP007
    Field(union_mode="left_to_right"),
]
MessagePageResponse = Annotated[
    Union[MessagePage, CustomerMessagePage],  # noqa: UP007
    Field(union_mode="left_to_right"),
]
