"""The agent's ticket page, ``/t/<id>`` (URL name ``ticket``), and its htmx actions.

Views parse the request, call one function of ``ticket_page`` / ``services`` / ``macros``
/ ``presence``, and render. A refusal of a service (an illegal status change, a bad ETA,
...) is shown where the agent acted, with the service's reason and its HTTP status (the
page configures htmx to swap 4xx answers); nothing was changed. Without htmx (plain form
posts) every action redirects back to the page with a flash message.

Permissions: the page and the presence heartbeat need ``view_all_tickets``; field actions
``update_ticket``; a public reply ``reply_ticket``; an internal note ``add_internal_note``.
Customers get 403 (their view is the portal); a ticket that does not exist is 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from caseline.errors import DomainError, NotFound, ValidationFailed
from caseline.tickets import macros, presence, queries, services
from caseline.tickets.models import Message, Presence, Priority, Severity
from caseline.tickets.states import Status
from caseline.timesource import now

from . import panels, ticket_page
from .auth import staff_required
from .formparse import local_datetime

UPDATE = "accounts.update_ticket"


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _ticket(request: HttpRequest, ticket_id: int):
    try:
        return queries.visible_ticket(request.user, ticket_id)
    except NotFound as exc:
        raise Http404(exc.message) from None


def _page_url(ticket_id: int, anchor: str = "") -> str:
    return reverse("ticket", args=[ticket_id]) + (f"#{anchor}" if anchor else "")


# --- the page ---------------------------------------------------------------------------------


def _context(request: HttpRequest, ticket_id: int, **extra: Any) -> dict[str, Any]:
    try:
        data = ticket_page.load(request.user, ticket_id)
    except NotFound as exc:
        raise Http404(exc.message) from None
    user = request.user
    return {
        "page": data,
        "t": data.ticket,
        "nav_active": "queues",
        "severities": Severity.choices,
        "priorities": Priority.choices,
        "all_statuses": Status.choices,
        "stay_statuses": [(s, Status(s).label) for s in ("pending", "on_hold", "solved")],
        "can_update": user.has_perm(UPDATE),
        "can_reply": user.has_perm("accounts.reply_ticket"),
        "can_note": user.has_perm("accounts.add_internal_note"),
        "heartbeat_seconds": presence.HEARTBEAT_SECONDS,
        "now": now(),
        "attachment_limit": settings.ATTACHMENT_MAX_BYTES,
        "draft": extra.pop("draft", None) or ticket_page.Draft(),
        "composer_errors": extra.pop("composer_errors", None),
        "panels": panels.panels_for("ticket", user, ticket_id),
        **extra,
    }


@require_GET
@staff_required
def ticket(request: HttpRequest, ticket_id: int) -> HttpResponse:
    ctx = _context(request, ticket_id)
    presence.heartbeat(ticket_id, request.user, Presence.State.VIEWING)
    return render(request, "tickets/ticket.html", ctx)


def _side(request: HttpRequest, ticket_id: int, *, error: str = "", status: int = 200):
    """After a field action: the side panel (and the header) again, with the refusal."""
    if not _is_htmx(request):
        if error:
            flash.error(request, error)
        return redirect(_page_url(ticket_id))
    ctx = _context(request, ticket_id, side_error=error, oob=True)
    return render(request, "tickets/ticket_side.html", ctx, status=status)


def _act(request: HttpRequest, ticket_id: int, call) -> HttpResponse:
    ticket = _ticket(request, ticket_id)
    try:
        call(ticket)
    except DomainError as exc:
        return _side(request, ticket_id, error=exc.message, status=exc.status)
    return _side(request, ticket_id)


# --- field actions (side panel) -----------------------------------------------------------------


@require_POST
@staff_required(perm=UPDATE)
def set_status(request: HttpRequest, ticket_id: int) -> HttpResponse:
    value = request.POST.get("status", "")
    return _act(
        request,
        ticket_id,
        lambda t: services.update_ticket(t, actor=request.user, status=value),
    )


@require_POST
@staff_required(perm=UPDATE)
def assign(request: HttpRequest, ticket_id: int) -> HttpResponse:
    raw = request.POST.get("assignee", "").strip()
    value: Any = request.user.pk if raw == "me" else (raw or None)
    return _act(
        request,
        ticket_id,
        lambda t: services.update_ticket(t, actor=request.user, assignee=value),
    )


@require_POST
@staff_required(perm=UPDATE)
def set_fields(request: HttpRequest, ticket_id: int) -> HttpResponse:
    changes: dict[str, Any] = {}
    if "severity" in request.POST:
        raw = request.POST["severity"].strip()
        changes["severity"] = int(raw) if raw.isdigit() else raw  # the service says why not
    if "priority" in request.POST:
        changes["priority"] = request.POST["priority"]
    return _act(
        request, ticket_id, lambda t: services.update_ticket(t, actor=request.user, **changes)
    )


@require_POST
@staff_required(perm=UPDATE)
def tags(request: HttpRequest, ticket_id: int) -> HttpResponse:
    add = request.POST.get("add", "").replace(",", " ").split()
    remove = [v for v in request.POST.getlist("remove") if v.strip()]
    return _act(
        request,
        ticket_id,
        lambda t: services.change_tags(t, actor=request.user, add=add, remove=remove),
    )


@require_POST
@staff_required(perm=UPDATE)
def followers(request: HttpRequest, ticket_id: int) -> HttpResponse:
    raw_add = request.POST.get("add", "").strip()
    raw_remove = request.POST.get("remove", "").strip()

    def change(t):
        if raw_add:
            who = request.user.pk if raw_add == "me" else raw_add
            services.add_follower(t, who, actor=request.user)
        if raw_remove:
            who = request.user.pk if raw_remove == "me" else raw_remove
            services.remove_follower(t, who, actor=request.user)

    return _act(request, ticket_id, change)


# --- composer -------------------------------------------------------------------------------------


def _parse_eta(raw: str) -> datetime | None:
    """``datetime-local`` input (the viewer's time zone) or ISO 8601 with an offset."""
    return local_datetime(raw, "eta")


def _parse_draft(request: HttpRequest, *, with_files: bool) -> ticket_page.Draft:
    post = request.POST
    kind = post.get("kind", Message.Kind.PUBLIC)
    if kind not in Message.Kind.values:
        raise ValidationFailed("unknown message kind", fields={"kind": "public or internal"})
    files: list[tuple[str, str, bytes]] = []
    if with_files:
        limit = settings.ATTACHMENT_MAX_BYTES
        errors = {}
        for i, f in enumerate(request.FILES.getlist("attachments")):
            if f.size > limit:
                errors[f"attachments.{i}"] = f"{f.name} is over the limit of {limit} bytes"
                continue
            files.append((f.name, f.content_type or "application/octet-stream", f.read()))
        if errors:
            raise ValidationFailed("an attachment is not valid", fields=errors)
    source = post.get("inline_source", "").strip()
    then = post.get("then_status", "").strip()
    if then and then not in Status.values:
        raise ValidationFailed("unknown status", fields={"then_status": "unknown status"})
    return ticket_page.Draft(
        kind=kind,
        body=post.get("body", ""),
        inline=post.get("mode") == "inline",
        inline_source=int(source) if source.isdigit() else None,
        inline_answers=tuple(post.getlist("inline_answer")),
        inline_intro=post.get("inline_intro", ""),
        inline_outro=post.get("inline_outro", ""),
        attachments=tuple(files),
        eta=_parse_eta(post.get("eta", "")) if kind == Message.Kind.PUBLIC else None,
        then_status=then,
    )


def _composer_error(request, ticket_id, draft, exc: DomainError) -> HttpResponse:
    errors = {"message": exc.message, "fields": exc.fields}
    if not _is_htmx(request):
        ctx = _context(request, ticket_id, draft=draft, composer_errors=errors)
        return render(request, "tickets/ticket.html", ctx, status=exc.status)
    ctx = _context(request, ticket_id, draft=draft, composer_errors=errors)
    return render(request, "tickets/ticket_composer.html", ctx, status=exc.status)


@require_POST
@staff_required
def reply(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """Send the composer: a public reply (reply_ticket) or an internal note
    (add_internal_note), with attachments, an ETA and a status afterwards."""
    ticket = _ticket(request, ticket_id)
    draft = ticket_page.Draft(body=request.POST.get("body", ""))
    try:
        draft = _parse_draft(request, with_files=True)
        perm = (
            "accounts.add_internal_note"
            if draft.kind == Message.Kind.INTERNAL
            else "accounts.reply_ticket"
        )
        if not request.user.has_perm(perm):
            raise DjangoPermissionDenied
        message = ticket_page.send(ticket, draft, actor=request.user)
    except DomainError as exc:
        return _composer_error(request, ticket_id, draft, exc)
    flash.success(
        request, "Internal note added." if message.kind == Message.Kind.INTERNAL else "Reply sent."
    )
    # a query string, so that the browser loads the page again (a changed #fragment alone
    # only scrolls)
    url = reverse("ticket", args=[ticket_id]) + f"?sent={message.pk}#m{message.pk}"
    if _is_htmx(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


@require_POST
@staff_required
def reply_check(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """The reply checker's findings for the composer's current draft (debounced htmx
    call). Never blocks sending; a draft it cannot read gives no findings."""
    ticket = _ticket(request, ticket_id)
    try:
        draft = _parse_draft(request, with_files=False)
    except DomainError:
        draft = ticket_page.Draft(body=request.POST.get("body", ""))
    result = None
    if draft.kind == Message.Kind.PUBLIC and (
        draft.body.strip() or any(a.strip() for a in draft.inline_answers)
    ):
        result = ticket_page.check_draft(ticket, draft)
    return render(request, "tickets/ticket_check.html", {"check": result, "t": ticket})


@require_POST
@staff_required(perm=UPDATE)
def apply_macro(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """Run a macro's actions and put its text into the composer (appended to the draft)."""
    ticket = _ticket(request, ticket_id)
    current = request.POST.get("body", "")
    raw = request.POST.get("macro", "")
    try:
        if not raw.isdigit():
            raise ValidationFailed("choose a macro", fields={"macro": "required"})
        applied = macros.apply_macro(ticket, int(raw), actor=request.user)
    except DomainError as exc:
        if not _is_htmx(request):
            flash.error(request, exc.message)
            return redirect(_page_url(ticket_id))
        ctx = _context(request, ticket_id, draft=ticket_page.Draft(body=current))
        ctx["macro_error"] = exc.message
        return render(request, "tickets/ticket_macro_result.html", ctx, status=exc.status)
    body = (current.rstrip() + "\n\n" + applied.body).strip() if current.strip() else applied.body
    if not _is_htmx(request):
        flash.success(request, f"Macro “{applied.macro.name}” applied.")
        return redirect(_page_url(ticket_id))
    ctx = _context(request, ticket_id, draft=ticket_page.Draft(body=body), oob=True)
    ctx["macro_applied"] = applied
    return render(request, "tickets/ticket_macro_result.html", ctx)


# --- presence and folded text ------------------------------------------------------------------------


@require_POST
@staff_required
def heartbeat(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """Presence heartbeat (every few seconds): I am viewing / typing; who else is?"""
    _ticket(request, ticket_id)
    state = request.POST.get("state", Presence.State.VIEWING)
    if state == "gone":
        presence.leave(ticket_id, request.user)
        return HttpResponse(status=204)
    try:
        presence.heartbeat(ticket_id, request.user, state)
    except DomainError as exc:
        return HttpResponse(exc.message, status=exc.status)
    viewers = presence.others(ticket_id, request.user)
    return render(request, "tickets/ticket_presence.html", {"viewers": viewers})


@require_GET
@staff_required
def quoted(request: HttpRequest, ticket_id: int, message_id: int) -> HttpResponse:
    """The folded quoted text (and signature) of an email message."""
    try:
        row = ticket_page.quoted_text(request.user, ticket_id, message_id)
    except NotFound as exc:
        raise Http404(exc.message) from None
    return render(request, "tickets/ticket_quoted.html", {"row": row})
