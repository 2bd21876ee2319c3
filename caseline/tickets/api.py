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
from datetime import datetime
from typing import Any

import orjson
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from ninja import Router, Status
from ninja.renderers import JSONRenderer

from caseline.api.core import (
    MAX_LIMIT,
    actor,
    decode_cursor,
    encode_cursor,
    page,
    require,
    require_staff,
)
from caseline.errors import NotFound, PermissionDenied, ValidationFailed

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
    MessagePageResponse,
    MessageResponse,
    TicketIn,
    TicketOut,
    TicketPageResponse,
    TicketPatch,
    TicketResponse,
    TimelinePage,
    custom_field_out,
    customer_message_out,
    customer_ticket_out,
    customer_ticket_row_out,
    link_out,
    message_out,
    ticket_list_row_out,
    ticket_out,
    ticket_out_known,
    timeline_out,
)

router = Router()
_RENDERER = JSONRenderer()  # NinjaAPI's default renderer, as for every other answer
_CONTENT_TYPE = f"{_RENDERER.media_type}; charset={_RENDERER.charset}"

TAGS = ["tickets"]

# create_ticket's argument names -> this API's field names (for refusals of the service).
_API_FIELD_NAMES = {
    "team": "team_id",
    "organization": "organization_id",
    "assignee": "assignee_id",
    "ccs": "cc_ids",
    "product_area": "product_area_id",
}
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


def _customer_detail(user, ticket) -> dict[str, Any]:
    """The customer's view of ``ticket`` (visible to ``user``): no internal metadata,
    public messages only."""
    messages = list(queries.visible_messages(user, ticket).order_by("id"))
    return customer_ticket_out(ticket, messages)


def _detail(user, ticket_id: int) -> dict[str, Any]:
    if user.is_customer:
        ticket = queries.visible_tickets(user).select_related("requester", "organization")
        ticket = ticket.filter(pk=ticket_id).first()
        if ticket is None:
            raise NotFound(f"no ticket CL-{ticket_id}")
        return _customer_detail(user, ticket)
    return ticket_out(queries.get_ticket(user, ticket_id))


def _created(user, ticket) -> dict[str, Any]:
    """The answer to a create, from the objects the service holds (no second read of
    the ticket and its relations; followers may come from subscribers too: one query)."""
    if user.is_customer:
        return _customer_detail(user, ticket)
    known = dict(ticket.known_details)
    known["followers"] = queries.follower_ids(ticket)
    return ticket_out_known(ticket, known)


# --- tickets ----------------------------------------------------------------------------


@router.post("/tickets", response={201: TicketResponse}, tags=TAGS)
def create_ticket(request: HttpRequest, payload: TicketIn):
    """Open a ticket. Staff (create_ticket) name the requester by contact id or
    {email, name}; a customer opens a ticket as themselves (web or api channel, no team,
    organization, assignee, priority, tags, CCs or external id) and gets the customer
    view back."""
    user = actor(request)
    data = payload.dict()
    requester = data["requester"]
    if data["requester_id"] is not None:
        if requester is not None and requester != data["requester_id"]:
            raise ValidationFailed(
                "the ticket is not valid",
                fields={"requester_id": "give either requester or requester_id"},
            )
        requester = data["requester_id"]
    if not user.is_customer:
        require(request, "create_ticket")
    attachments = _decode_attachments(payload.attachments)
    try:
        ticket = services.create_ticket(
            actor=user,
            requester=requester,
            subject=data["subject"],
            body_text=data["body_text"],
            body_html=data["body_html"],
            channel=data["channel"] or (None if user.is_customer else Channel.API),
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
    except PermissionDenied as exc:
        exc.fields = {_API_FIELD_NAMES.get(k, k): v for k, v in exc.fields.items()}
        raise
    return _render(request, _created(user, ticket), 201)


@router.get("/tickets", response=TicketPageResponse, tags=TAGS)
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
    breached: str | None = None,
    due_within: str | None = None,
    order: str | None = None,
    limit: int = 25,
    cursor: str | None = None,
):
    """Visible tickets, newest first. ``status`` takes a comma list; ``assignee`` takes
    "me", "none" or an id. Staff get the queue rows (followers, CCs, custom fields and
    links are on the detail); customers their view of each ticket.

    SLA (staff only): ``breached=true`` keeps tickets whose running clock is past due,
    ``due_within=N`` those due in the next N minutes; ``order=deadline`` lists the earliest
    next deadline first (tickets with no running clock last). Staff rows carry
    ``next_deadline``."""
    user = actor(request)
    core = {
        "status": status,
        "team": team,
        "assignee": assignee,
        "organization": organization,
        "requester": requester,
        "severity": severity,
        "product_area": product_area,
        "tag": tag,
        "updated_since": updated_since,
    }
    extensions = {"breached": breached, "due_within": due_within}
    if all(v in (None, "") for v in extensions.values()) and order in (None, "", "-id", "newest"):
        # the common queue request: SQL compiled once per filter shape (queries.list_page)
        return _render_list(_fast_page(request, user, core, limit, cursor))
    qs = queries.list_tickets(user, core)
    unknown = [
        k for k, v in extensions.items() if v not in (None, "") and k not in queries.LIST_FILTERS
    ]
    if unknown:
        raise ValidationFailed(
            "invalid filter", fields={k: "not available on this installation" for k in unknown}
        )
    qs = queries.apply_list_extensions(qs, user, extensions)
    sort = None
    if order not in (None, "", "-id", "newest"):
        sort = queries.LIST_ORDERS.get(str(order))
        if sort is None or user.is_customer:
            choices = (
                ", ".join(["newest", *queries.LIST_ORDERS]) if not user.is_customer else "newest"
            )
            raise ValidationFailed("invalid order", fields={"order": f"one of {choices}"})
    return _render(request, _ticket_page(request, qs, user.is_customer, limit, cursor, sort))


def _json_datetime(value: Any) -> str:
    """A datetime as Django's (and so ninja's) JSON encoder writes it."""
    if type(value) is datetime:
        text = value.isoformat()
        if value.microsecond:
            text = text[:23] + text[26:]
        if text.endswith("+00:00"):
            text = text[:-6] + "Z"
        return text
    return _RENDERER.encoder_class().default(value)


def _render_list(data: dict[str, Any]) -> HttpResponse:
    """The list page as JSON with orjson (the same JSON values as ``_render``: datetimes
    as Django writes them; only the whitespace differs). Encoding the page was a fifth of
    a list request."""
    content = orjson.dumps(data, default=_json_datetime, option=orjson.OPT_PASSTHROUGH_DATETIME)
    return HttpResponse(content, status=200, content_type=_CONTENT_TYPE)


def _fast_page(request: HttpRequest, user, filters: dict[str, Any], limit: int, cursor):
    """A newest-first page with the core filters only: the same answer as
    :func:`_ticket_page`, read through ``queries.list_page``."""
    shape, values = queries.parse_list_filters(user, filters)  # filter errors come first
    queries.check_limit(limit, MAX_LIMIT)
    after = decode_cursor(cursor)["id"] if cursor else None
    customer = user.is_customer
    rows, extra = queries.list_page(shape, values, customer=customer, after=after, limit=limit)
    return _page_body(request, rows, customer, limit, extra, None)


def _render(request: HttpRequest, data: Any, status: int = 200):
    """Render a body these handlers built from the serializers in schemas.py. The
    declared response models document it (OpenAPI) and the tests check the shapes;
    skipping ninja's re-validation of every row is a large part of a list request."""
    content = _RENDERER.render(request, data, response_status=status)
    return HttpResponse(content, status=status, content_type=_CONTENT_TYPE)


def _ticket_page(
    request: HttpRequest,
    qs,
    customer: bool,
    limit: int,
    cursor: str | None,
    sort: queries.ListOrder | None = None,
):
    """One page of the ticket list: keyset on id like ``core.page``, but keeping the
    queryset's index-friendly order (``queries.list_order``), reading plain rows
    (``queries.LIST_VALUES``, no model instances) and the page's tags in one query.
    With ``sort`` (a registered order, e.g. by SLA deadline) the keyset is (key, id),
    ascending, rows without a key last."""
    queries.check_limit(limit, MAX_LIMIT)
    after = decode_cursor(cursor) if cursor else None
    extra: tuple[str, ...] = ()
    if not customer:
        for annotate in queries.LIST_COLUMNS.values():
            qs = annotate(qs)
        extra = tuple(queries.LIST_COLUMNS)
    if sort is not None and sort.key not in extra:
        qs = sort.annotate(qs)
    qs = queries.keyset(qs, sort, after)
    values = queries.LIST_VALUES + extra
    if sort is not None and sort.key not in values:
        values += (sort.key,)
    rows = list(qs.values(*values)[: limit + 1])
    return _page_body(request, rows, customer, limit, extra, sort)


def _page_body(request, rows, customer: bool, limit: int, extra, sort) -> dict[str, Any]:
    """The page's body from up to ``limit + 1`` list rows."""
    has_more = len(rows) > limit
    rows = rows[:limit]
    if customer:
        results = [customer_ticket_row_out(r) for r in rows]
    else:
        tags = queries.tag_names([r["id"] for r in rows])
        results = [ticket_list_row_out(r, tags[r["id"]], extra) for r in rows]
    next_cursor = None
    if has_more and rows:
        next_cursor = encode_cursor(queries.keyset_position(rows[-1], sort))
    next_link = None
    if next_cursor:
        params = request.GET.copy()
        params["cursor"] = next_cursor
        next_link = request.build_absolute_uri(f"{request.path}?{params.urlencode()}")
    return {
        "results": results,
        "meta": {"has_more": has_more, "next_cursor": next_cursor},
        "links": {"next": next_link},
    }


@router.get("/tickets/{ticket_id}", response=TicketResponse, tags=TAGS)
def get_ticket(request: HttpRequest, ticket_id: int):
    return _detail(actor(request), ticket_id)


@router.patch("/tickets/{ticket_id}", response=TicketResponse, tags=TAGS)
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


@router.get("/tickets/{ticket_id}/messages", response=MessagePageResponse, tags=TAGS)
def list_messages(request: HttpRequest, ticket_id: int, limit: int = 50, cursor: str | None = None):
    """The conversation, oldest first (customers see public replies only)."""
    user = actor(request)
    ticket = queries.visible_ticket(user, ticket_id)
    return page(
        request,
        queries.visible_messages(user, ticket),
        customer_message_out if user.is_customer else message_out,
        limit=limit,
        cursor=cursor,
        descending=False,
    )


@router.post("/tickets/{ticket_id}/messages", response={201: MessageResponse}, tags=TAGS)
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
    attachments = _decode_attachments(payload.attachments)
    from caseline.eta.services import reply  # the composer's use-case (one transaction)

    message = reply(
        ticket,
        actor=user,
        eta=payload.eta,
        kind=payload.kind,
        body_text=payload.body_text,
        body_html=payload.body_html,
        attachments=attachments,
        channel=Channel.WEB if user.is_customer else Channel.API,
        actionable=payload.actionable,
    )
    row = queries.visible_messages(user, ticket).get(pk=message.pk)
    return Status(201, customer_message_out(row) if user.is_customer else message_out(row))


@router.get("/attachments/{attachment_id}", tags=TAGS)
def download_attachment(request: HttpRequest, attachment_id: int):
    """The file, if its ticket and message are visible to you (404 otherwise)."""
    return queries.attachment_response(queries.visible_attachment(actor(request), attachment_id))


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
