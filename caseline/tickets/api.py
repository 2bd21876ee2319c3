"""/api/v1 endpoints of the tickets domain: tickets, messages, attachments, followers,
CCs, links, merge, timeline and custom field definitions.

Handlers parse input, check the permission, call one service or query, and return.
A ticket that the caller may not see answers 404, never 403, so customers learn nothing
about other organizations' tickets. Customers never see internal notes (nor their
attachments) and cannot read timelines.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from django.conf import settings
from django.http import FileResponse, HttpRequest
from ninja import Router, Status

from caseline.api.core import actor, page, require, require_staff
from caseline.errors import PermissionDenied, ValidationFailed

from . import queries, services
from .models import Channel, Message
from .schemas import (
    CcIn,
    CustomFieldIn,
    CustomFieldOut,
    CustomFieldPage,
    CustomFieldPatch,
    FollowerIn,
    LinkIn,
    LinkOut,
    MergeIn,
    MessageIn,
    MessageOut,
    MessagePage,
    TicketIn,
    TicketOut,
    TicketPage,
    TicketPatch,
    TimelinePage,
    custom_field_out,
    link_out,
    message_out,
    ticket_out,
    timeline_out,
)

router = Router()

TAGS = ["tickets"]

# Fields a customer may not set when opening a ticket (agents decide these).
_CUSTOMER_CREATE_REFUSED = (
    "team_id",
    "organization_id",
    "assignee_id",
    "priority",
    "tags",
    "cc_ids",
    "external_id",
)
_RENAMES = {
    "product_area_id": "product_area",
    "team_id": "team",
    "assignee_id": "assignee",
    "organization_id": "organization",
}


def _decode_attachments(items: list[Any]) -> list[tuple[str, str, bytes]]:
    limit = settings.ATTACHMENT_MAX_BYTES
    errors: dict[str, str] = {}
    out: list[tuple[str, str, bytes]] = []
    for i, item in enumerate(items or []):
        raw = "".join(item.content_base64.split())
        # Refuse an oversized file before decoding it.
        if len(raw) * 3 // 4 - raw[-2:].count("=") > limit:
            errors[f"attachments.{i}"] = f"{item.filename} is over the limit of {limit} bytes"
            continue
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            errors[f"attachments.{i}.content_base64"] = "not valid base64"
            continue
        out.append((item.filename, item.content_type, data))
    if errors:
        raise ValidationFailed("an attachment is not valid", fields=errors)
    return out


def _detail(user, ticket_id: int) -> dict[str, Any]:
    return ticket_out(queries.get_ticket(user, ticket_id))


# --- tickets ----------------------------------------------------------------------------


@router.post("/tickets", response={201: TicketOut}, tags=TAGS)
def create_ticket(request: HttpRequest, payload: TicketIn):
    """Open a ticket. Staff (create_ticket) name the requester by contact id or
    {email, name}; a customer opens a ticket as themselves."""
    user = actor(request)
    given = payload.dict(exclude_unset=True)
    data = payload.dict()
    requester = data["requester"]
    if data["requester_id"] is not None:
        if requester is not None and requester != data["requester_id"]:
            raise ValidationFailed(
                "the ticket is not valid",
                fields={"requester_id": "give either requester or requester_id"},
            )
        requester = data["requester_id"]
    attachments = _decode_attachments(payload.attachments)
    if user.is_customer:
        contact = user.contact
        refused = [
            k for k in _CUSTOMER_CREATE_REFUSED if k in given and given[k] not in (None, "", [])
        ]
        if refused or contact is None:
            raise PermissionDenied(
                "customers cannot set these fields", fields={k: "staff only" for k in refused}
            )
        if requester is not None:
            if isinstance(requester, dict):
                mine = {e.email.lower() for e in contact.emails.all()}
                same = str(requester.get("email", "")).strip().lower() in mine
            else:
                same = requester == contact.pk
            if not same:
                raise PermissionDenied(
                    "customers open tickets as themselves",
                    fields={"requester": "must be you"},
                )
        channel = data["channel"] or Channel.WEB
        if channel not in (Channel.WEB, Channel.API):
            raise ValidationFailed(
                "the ticket is not valid", fields={"channel": "customers use web or api"}
            )
        ticket = services.create_ticket(
            actor=user,
            requester=contact,
            subject=data["subject"],
            body_text=data["body_text"],
            body_html=data["body_html"],
            channel=channel,
            severity=data["severity"],
            product_area=data["product_area_id"],
            custom_fields=data["custom_fields"],
            attachments=attachments,
        )
        return Status(201, _detail(user, ticket.pk))
    require(request, "create_ticket")
    ticket = services.create_ticket(
        actor=user,
        requester=requester,
        subject=data["subject"],
        body_text=data["body_text"],
        body_html=data["body_html"],
        channel=data["channel"] or Channel.API,
        severity=data["severity"],
        priority=data["priority"],
        product_area=data["product_area_id"],
        team=data["team_id"],
        organization=data["organization_id"],
        assignee=data["assignee_id"],
        tags=data["tags"],
        custom_fields=data["custom_fields"],
        ccs=data["cc_ids"],
        attachments=attachments,
        external_id=data["external_id"],
    )
    return Status(201, _detail(user, ticket.pk))


@router.get("/tickets", response=TicketPage, tags=TAGS)
def list_tickets(
    request: HttpRequest,
    status: str | None = None,
    team: str | None = None,
    assignee: str | None = None,
    organization: str | None = None,
    requester: str | None = None,
    severity: str | None = None,
    product_area: str | None = None,
    tag: str | None = None,
    updated_since: str | None = None,
    limit: int = 25,
    cursor: str | None = None,
):
    """Visible tickets, newest first. ``status`` takes a comma list; ``assignee`` takes
    "me", "none" or an id."""
    user = actor(request)
    qs = queries.list_tickets(
        user,
        {
            "status": status,
            "team": team,
            "assignee": assignee,
            "organization": organization,
            "requester": requester,
            "severity": severity,
            "product_area": product_area,
            "tag": tag,
            "updated_since": updated_since,
        },
    )
    return page(request, qs, ticket_out, limit=limit, cursor=cursor)


@router.get("/tickets/{ticket_id}", response=TicketOut, tags=TAGS)
def get_ticket(request: HttpRequest, ticket_id: int):
    return _detail(actor(request), ticket_id)


@router.patch("/tickets/{ticket_id}", response=TicketOut, tags=TAGS)
def update_ticket(request: HttpRequest, ticket_id: int, payload: TicketPatch):
    """Change fields (update_ticket). Customers may only mark their ticket solved and
    rate it (satisfaction)."""
    user = actor(request)
    if not user.is_customer:
        require(request, "update_ticket")
    ticket = queries.visible_ticket(user, ticket_id)
    fields = {_RENAMES.get(k, k): v for k, v in payload.dict(exclude_unset=True).items()}
    services.update_ticket(ticket, actor=user, **fields)
    return _detail(user, ticket_id)


@router.get("/tickets/{ticket_id}/timeline", response=TimelinePage, tags=TAGS)
def ticket_timeline(
    request: HttpRequest, ticket_id: int, limit: int = 50, cursor: str | None = None
):
    """The audit timeline (staff only): who changed which field, when, from what to what."""
    user = require_staff(request)
    ticket = queries.visible_ticket(user, ticket_id)
    return page(
        request,
        queries.timeline(ticket),
        timeline_out,
        limit=limit,
        cursor=cursor,
        descending=False,
    )


# --- messages and attachments -----------------------------------------------------------


@router.get("/tickets/{ticket_id}/messages", response=MessagePage, tags=TAGS)
def list_messages(request: HttpRequest, ticket_id: int, limit: int = 50, cursor: str | None = None):
    """The conversation, oldest first (customers see public replies only)."""
    user = actor(request)
    ticket = queries.visible_ticket(user, ticket_id)
    return page(
        request,
        queries.visible_messages(user, ticket),
        message_out,
        limit=limit,
        cursor=cursor,
        descending=False,
    )


@router.post("/tickets/{ticket_id}/messages", response={201: MessageOut}, tags=TAGS)
def add_message(request: HttpRequest, ticket_id: int, payload: MessageIn):
    """Add a public reply (reply_ticket; customers on their visible tickets) or an
    internal note (add_internal_note). Attachments are base64 in JSON."""
    user = actor(request)
    if not user.is_customer:
        require(
            request,
            "add_internal_note" if payload.kind == Message.Kind.INTERNAL else "reply_ticket",
        )
    ticket = queries.visible_ticket(user, ticket_id)
    if user.is_customer and payload.kind == Message.Kind.INTERNAL:
        raise PermissionDenied("customers cannot write internal notes", fields={"kind": "public"})
    message = services.add_message(
        ticket,
        actor=user,
        kind=payload.kind,
        body_text=payload.body_text,
        body_html=payload.body_html,
        attachments=_decode_attachments(payload.attachments),
        channel=Channel.WEB if user.is_customer else Channel.API,
    )
    row = queries.visible_messages(user, ticket).get(pk=message.pk)
    return Status(201, message_out(row))


@router.get("/attachments/{attachment_id}", tags=TAGS)
def download_attachment(request: HttpRequest, attachment_id: int):
    """The file, if its ticket and message are visible to you (404 otherwise)."""
    attachment = queries.visible_attachment(actor(request), attachment_id)
    response = FileResponse(
        attachment.file.open("rb"),
        as_attachment=True,
        filename=attachment.filename,
        content_type=attachment.content_type or "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


# --- followers and CCs ------------------------------------------------------------------


@router.post("/tickets/{ticket_id}/followers", response=TicketOut, tags=TAGS)
def add_follower(request: HttpRequest, ticket_id: int, payload: FollowerIn):
    user = require(request, "update_ticket")
    ticket = queries.visible_ticket(user, ticket_id)
    services.add_follower(ticket, payload.user_id, actor=user)
    return _detail(user, ticket_id)


@router.delete("/tickets/{ticket_id}/followers", response=TicketOut, tags=TAGS)
def remove_follower(request: HttpRequest, ticket_id: int, payload: FollowerIn):
    user = require(request, "update_ticket")
    ticket = queries.visible_ticket(user, ticket_id)
    services.remove_follower(ticket, payload.user_id, actor=user)
    return _detail(user, ticket_id)


@router.delete("/tickets/{ticket_id}/followers/{user_id}", response=TicketOut, tags=TAGS)
def remove_follower_by_path(request: HttpRequest, ticket_id: int, user_id: int):
    user = require(request, "update_ticket")
    ticket = queries.visible_ticket(user, ticket_id)
    services.remove_follower(ticket, user_id, actor=user)
    return _detail(user, ticket_id)


@router.post("/tickets/{ticket_id}/ccs", response=TicketOut, tags=TAGS)
def add_cc(request: HttpRequest, ticket_id: int, payload: CcIn):
    user = require(request, "update_ticket")
    ticket = queries.visible_ticket(user, ticket_id)
    services.add_cc(ticket, payload.contact_id, actor=user)
    return _detail(user, ticket_id)


@router.delete("/tickets/{ticket_id}/ccs", response=TicketOut, tags=TAGS)
def remove_cc(request: HttpRequest, ticket_id: int, payload: CcIn):
    user = require(request, "update_ticket")
    ticket = queries.visible_ticket(user, ticket_id)
    services.remove_cc(ticket, payload.contact_id, actor=user)
    return _detail(user, ticket_id)


@router.delete("/tickets/{ticket_id}/ccs/{contact_id}", response=TicketOut, tags=TAGS)
def remove_cc_by_path(request: HttpRequest, ticket_id: int, contact_id: int):
    user = require(request, "update_ticket")
    ticket = queries.visible_ticket(user, ticket_id)
    services.remove_cc(ticket, contact_id, actor=user)
    return _detail(user, ticket_id)


# --- links and merge --------------------------------------------------------------------


@router.post("/tickets/{ticket_id}/links", response={201: LinkOut}, tags=TAGS)
def link_ticket(request: HttpRequest, ticket_id: int, payload: LinkIn):
    """Link this ticket to another (duplicate_of, incident_of = this ticket is an
    incident of the target problem, related). Needs merge_ticket."""
    user = require(request, "merge_ticket")
    ticket = queries.visible_ticket(user, ticket_id)
    target = queries.visible_tickets(user).filter(pk=payload.target).first()
    if target is None:
        raise ValidationFailed(
            "the link is not valid", fields={"target": f"no ticket CL-{payload.target}"}
        )
    link = services.link_tickets(ticket, target, payload.kind, actor=user)
    return Status(201, link_out(link))


@router.post("/tickets/{ticket_id}/merge", response=TicketOut, tags=TAGS)
def merge_ticket(request: HttpRequest, ticket_id: int, payload: MergeIn):
    """Merge this ticket into ``into``; returns this (now closed) ticket."""
    user = require(request, "merge_ticket")
    ticket = queries.visible_ticket(user, ticket_id)
    if (
        ticket.pk != payload.into
        and not queries.visible_tickets(user).filter(pk=payload.into).exists()
    ):
        raise ValidationFailed(
            "the merge is not valid", fields={"into": f"no ticket CL-{payload.into}"}
        )
    services.merge_tickets(ticket, payload.into, actor=user, force=payload.force)
    return _detail(user, ticket_id)


# --- custom fields ----------------------------------------------------------------------


@router.get("/custom-fields", response=CustomFieldPage, tags=["custom fields"])
def list_custom_fields(
    request: HttpRequest, active: bool | None = None, limit: int = 100, cursor: str | None = None
):
    require_staff(request)
    return page(
        request,
        queries.custom_fields(active=active),
        custom_field_out,
        limit=limit,
        cursor=cursor,
        descending=False,
    )


@router.post("/custom-fields", response={201: CustomFieldOut}, tags=["custom fields"])
def create_custom_field(request: HttpRequest, payload: CustomFieldIn):
    user = require(request, "manage_custom_fields")
    cf = services.create_custom_field(actor=user, **payload.dict())
    return Status(201, custom_field_out(cf))


@router.get("/custom-fields/{field_id}", response=CustomFieldOut, tags=["custom fields"])
def get_custom_field(request: HttpRequest, field_id: int):
    require_staff(request)
    return custom_field_out(queries.get_custom_field(field_id))


@router.patch("/custom-fields/{field_id}", response=CustomFieldOut, tags=["custom fields"])
def update_custom_field(request: HttpRequest, field_id: int, payload: CustomFieldPatch):
    user = require(request, "manage_custom_fields")
    cf = queries.get_custom_field(field_id)
    fields = payload.dict(exclude_unset=True)
    return custom_field_out(services.update_custom_field(cf, actor=user, **fields))
