"""Agent workspace: the organization list, the organization page, the contact page and the
contact merge action. Views parse input, call the read paths (``queries`` here, the
ticket facts in ``caseline.tickets.directory``) or one service, and render.

Refusals answer like the queues: a JSON {"error": {code, message, fields}} with its 4xx
status; a merge refused from a plain (non-htmx) form re-renders the contact page with the
reason instead, at the same status.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from caseline.accounts import queries, services
from caseline.errors import DomainError, ValidationFailed, body
from caseline.tickets import directory

from .auth import staff_required

DIRECTORY = "accounts.view_directory"
LIST_LIMIT = 50
PEOPLE_LIMIT = 50


def _error(exc: DomainError) -> JsonResponse:
    return JsonResponse(body(exc.code, exc.message, exc.fields), status=exc.status)


def _ticket_url(ticket_id: int) -> str:
    return reverse("ticket", args=[ticket_id])


def _with(request: HttpRequest, **params: str | None) -> str:
    """This page's URL with ``params`` set (None: removed)."""
    query = request.GET.copy()
    for key, value in params.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    encoded = query.urlencode()
    return f"{request.path}?{encoded}" if encoded else request.path


def _int_param(request: HttpRequest, name: str, errors: dict[str, str]) -> int | None:
    raw = (request.GET.get(name) or "").strip()
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        errors[name] = "must be an id"
        return None


def _ticket_sections(request: HttpRequest, **scope: int) -> dict[str, Any]:
    """Open tickets (next deadline first) and solved/closed ones (newest first), each
    with its own keyset cursor (?open=…, ?done=…)."""
    user = request.user
    open_page = directory.open_page(user, cursor=request.GET.get("open") or None, **scope)
    done_page = directory.done_page(user, cursor=request.GET.get("done") or None, **scope)
    for page in (open_page, done_page):
        for row in page.rows:
            row["url"] = _ticket_url(row["id"])
    return {
        "open_rows": open_page.rows,
        "open_next": _with(request, open=open_page.next_cursor) if open_page.next_cursor else None,
        "open_first": _with(request, open=None) if request.GET.get("open") else None,
        "done_rows": done_page.rows,
        "done_next": _with(request, done=done_page.next_cursor) if done_page.next_cursor else None,
        "done_first": _with(request, done=None) if request.GET.get("done") else None,
    }


@staff_required(perm=DIRECTORY)
@require_GET
def organizations(request: HttpRequest) -> HttpResponse:
    """/organizations/?q=&tier=&region=&stage=&am=<user id>&cursor= — by name, keyset."""
    g = request.GET
    errors: dict[str, str] = {}
    account_team = _int_param(request, "am", errors)
    try:
        if errors:
            raise ValidationFailed("invalid filter", fields=errors)
        qs = queries.organizations(
            tier=g.get("tier") or None,
            region=g.get("region") or None,
            lifecycle_stage=g.get("stage") or None,
            q=g.get("q") or None,
            account_team_member=account_team,
        )
        page = queries.name_page(qs, g.get("cursor") or None, LIST_LIMIT)
    except DomainError as exc:
        return _error(exc)
    filters = {k: g.get(k, "") for k in ("q", "tier", "region", "stage", "am")}
    context = {
        "nav_active": "organizations",
        "rows": page.rows,
        "filters": filters,
        "filtered": any(filters.values()),
        "choices": queries.organization_filter_choices(),
        "next_url": _with(request, cursor=page.next_cursor) if page.next_cursor else None,
        "first_url": _with(request, cursor=None) if g.get("cursor") else None,
    }
    return render(request, "accounts/organizations.html", context)


@staff_required(perm=DIRECTORY)
@require_GET
def organization(request: HttpRequest, org_id: int) -> HttpResponse:
    """Facts, people (keyset ?people=), tickets (open first) and counts."""
    try:
        org = queries.organization_detail(org_id)
        people = queries.name_page(
            queries.contacts(organization=org.pk), request.GET.get("people") or None, PEOPLE_LIMIT
        )
        counts = directory.counts(request.user, organization=org.pk)
        sections = _ticket_sections(request, organization=org.pk)
    except DomainError as exc:
        return _error(exc)
    context = {
        "nav_active": "organizations",
        "org": org,
        "people": people.rows,
        "people_next": _with(request, people=people.next_cursor) if people.next_cursor else None,
        "people_first": _with(request, people=None) if request.GET.get("people") else None,
        "counts": counts,
        "sev1_days": directory.SEV1_WINDOW_DAYS,
        **sections,
    }
    return render(request, "accounts/organization.html", context)


def _contact_context(request: HttpRequest, contact_id: int) -> dict[str, Any]:
    contact = queries.contact_detail(contact_id)
    can_merge = request.user.has_perm("accounts.manage_contacts") and not contact.merged_into_id
    return {
        "nav_active": "organizations",
        "contact": contact,
        "can_merge": can_merge,
        "candidates": queries.merge_candidates(contact) if can_merge else [],
        **_ticket_sections(request, requester=contact.pk),
    }


@staff_required(perm=DIRECTORY)
@require_GET
def contact(request: HttpRequest, contact_id: int) -> HttpResponse:
    """Emails, phone, title, organization, tickets, merge note and merge form."""
    try:
        context = _contact_context(request, contact_id)
    except DomainError as exc:
        return _error(exc)
    return render(request, "accounts/contact.html", context)


@staff_required(perm="accounts.manage_contacts")
@require_POST
def contact_merge(request: HttpRequest, contact_id: int) -> HttpResponse:
    """Merge this contact into ``into`` (a contact id, "#12" accepted) through
    ``services.merge_contacts``; then to the surviving contact's page."""
    raw = (request.POST.get("into") or "").strip().lstrip("#")
    try:
        if not raw.isdigit():
            raise ValidationFailed(
                "choose the contact to keep", fields={"into": "must be a contact id"}
            )
        target = services.merge_contacts(contact_id, int(raw), actor=request.user)
    except DomainError as exc:
        if request.headers.get("HX-Request"):
            return _error(exc)
        try:
            context = _contact_context(request, contact_id)
        except DomainError as missing:
            return _error(missing)
        context.update(merge_error=exc.message, merge_fields=exc.fields, merge_into=raw)
        return render(request, "accounts/contact.html", context, status=exc.status)
    messages.success(request, f"Contact #{contact_id} merged into {target.name} (#{target.pk}).")
    url = reverse("contact", args=[target.pk])
    if request.headers.get("HX-Request"):
        return HttpResponse(status=204, headers={"HX-Redirect": url})
    return redirect(url)
