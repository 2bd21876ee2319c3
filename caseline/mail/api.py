"""/api/v1/mail: mailboxes (admins), the inbound list and quarantine (admins), one
inbound message with its full text and raw download (staff), and the delivery state of a
ticket's outbound emails (staff).

Handlers parse input, check the permission, call one service or query, and return.
"""

from __future__ import annotations

from django.http import FileResponse, HttpRequest
from ninja import Router, Status

from caseline.accounts import roles
from caseline.api.core import actor, page, require
from caseline.errors import NotFound, PermissionDenied, ValidationFailed

from . import services
from .ingest import release
from .models import InboundMessage, Mailbox
from .outbound import deliveries
from .schemas import (
    DeliveryList,
    InboundDetailOut,
    InboundOut,
    InboundPage,
    MailboxIn,
    MailboxOut,
    MailboxPage,
    MailboxPatch,
    inbound_out,
    mailbox_out,
)

router = Router(tags=["mail"])


def require_admin(request: HttpRequest):
    """Mail administration is for the Admin role (mailbox passwords, quarantine)."""
    user = actor(request)
    if user.is_superuser or (
        not user.is_customer and user.groups.filter(name=roles.ADMIN).exists()
    ):
        return user
    raise PermissionDenied("your roles do not allow this (mail administration: admin)")


def require_ticket_reader(request: HttpRequest):
    user = require(request, "view_all_tickets")
    if user.is_customer:
        raise PermissionDenied("staff only")
    return user


@router.get("/mail/mailboxes", response=MailboxPage)
def list_mailboxes(request: HttpRequest, limit: int = 25, cursor: str | None = None):
    require_admin(request)
    return page(request, Mailbox.objects.all(), mailbox_out, limit=limit, cursor=cursor)


@router.post("/mail/mailboxes", response={201: MailboxOut})
def create_mailbox(request: HttpRequest, payload: MailboxIn):
    user = require_admin(request)
    box = services.create_mailbox(actor=user, **payload.dict())
    return Status(201, mailbox_out(box))


@router.get("/mail/mailboxes/{mailbox_id}", response=MailboxOut)
def get_mailbox(request: HttpRequest, mailbox_id: int):
    require_admin(request)
    return mailbox_out(services.get_mailbox(mailbox_id))


@router.patch("/mail/mailboxes/{mailbox_id}", response=MailboxOut)
def update_mailbox(request: HttpRequest, mailbox_id: int, payload: MailboxPatch):
    user = require_admin(request)
    fields = payload.dict(exclude_unset=True)
    for name in ("name", "address", "kind", "imap_security", "active"):
        if name in fields and fields[name] is None:
            raise ValidationFailed(f"{name} cannot be null", fields={name: "cannot be null"})
    return mailbox_out(services.update_mailbox(mailbox_id, actor=user, **fields))


@router.delete("/mail/mailboxes/{mailbox_id}", response={204: None})
def delete_mailbox(request: HttpRequest, mailbox_id: int):
    user = require_admin(request)
    services.delete_mailbox(mailbox_id, actor=user)
    return Status(204, None)


@router.get("/mail/inbound", response=InboundPage)
def list_inbound(
    request: HttpRequest,
    status: str | None = None,
    mailbox: int | None = None,
    limit: int = 25,
    cursor: str | None = None,
):
    """Every received message; ``?status=quarantined`` is the quarantine list."""
    require_admin(request)
    qs = InboundMessage.objects.all()
    if status:
        if status not in InboundMessage.Status.values:
            raise ValidationFailed(
                f"status must be one of {', '.join(InboundMessage.Status.values)}",
                fields={"status": "unknown status"},
            )
        qs = qs.filter(status=status)
    if mailbox is not None:
        qs = qs.filter(mailbox_id=mailbox)
    return page(request, qs, inbound_out, limit=limit, cursor=cursor)


def _inbound(inbound_id: int) -> InboundMessage:
    row = InboundMessage.objects.filter(pk=inbound_id).first()
    if row is None:
        raise NotFound(f"inbound message {inbound_id} not found")
    return row


@router.get("/mail/inbound/{inbound_id}", response=InboundDetailOut)
def get_inbound(request: HttpRequest, inbound_id: int):
    """One received message with its full text (quotes and signature kept)."""
    require_ticket_reader(request)
    return inbound_out(_inbound(inbound_id), detail=True)


@router.get("/mail/inbound/{inbound_id}/raw")
def download_raw(request: HttpRequest, inbound_id: int):
    """The original message exactly as received (message/rfc822)."""
    require_ticket_reader(request)
    row = _inbound(inbound_id)
    response = FileResponse(
        row.raw.open("rb"),
        as_attachment=True,
        filename=f"inbound-{row.pk}.eml",
        content_type="message/rfc822",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@router.post("/mail/inbound/{inbound_id}/release", response=InboundOut)
def release_inbound(request: HttpRequest, inbound_id: int):
    """Process a quarantined message again (the sender rate limit does not apply)."""
    user = require_admin(request)
    result = release(_inbound(inbound_id), actor=user)
    return inbound_out(result.inbound)


@router.get("/mail/tickets/{ticket_id}/deliveries", response=DeliveryList)
def ticket_deliveries(request: HttpRequest, ticket_id: int):
    """Delivery state of each public reply of the ticket that went out by email;
    a permanent failure shows here (status ``failed`` with the last error)."""
    require_ticket_reader(request)
    from caseline.tickets.models import Message, Ticket

    if not Ticket.objects.filter(pk=ticket_id).exists():
        raise NotFound(f"no ticket with id {ticket_id}")
    ids = list(Message.objects.filter(ticket_id=ticket_id).values_list("id", flat=True))
    states = deliveries(ids)
    return {
        "results": [
            {"message_id": mid, **{k: v for k, v in states[mid].items()}} for mid in sorted(states)
        ]
    }
