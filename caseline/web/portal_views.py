"""The customer portal (/portal/): sign-in by one-time link or password, the
organization's tickets, opening a ticket, replying, attachments, status and ETA.

Views parse the form, call one service or query and render. What a customer may see
is decided by ``caseline.tickets.queries`` (the same rules as the API's customer view)
and shaped by the customer serializers of ``caseline.tickets.schemas``: templates get
those dictionaries, never ticket rows, so internal notes and internal metadata (assignee,
team, priority, tags, custom fields...) cannot reach a customer's page. A ticket of
another organization is 404, exactly like one that does not exist.
"""

from __future__ import annotations

from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout, update_session_auth_hash
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from caseline.accounts import portal as portal_services
from caseline.accounts.models import ProductArea
from caseline.accounts.services import update_customer_user
from caseline.api import ratelimit
from caseline.errors import DomainError, NotFound, ValidationFailed
from caseline.eta import queries as eta_queries
from caseline.tickets import queries
from caseline.tickets import services as ticket_services
from caseline.tickets.models import Channel, Severity
from caseline.tickets.schemas import customer_ticket_out, customer_ticket_row_out
from caseline.tickets.states import OPEN_STATUSES, Status

from . import services as web_services
from .forms import SignInForm, client_ip

PAGE_SIZE = 25
MAX_FILES = 10
AUTH_BACKEND = "django.contrib.auth.backends.ModelBackend"

# Customer-facing names of the statuses (the agents' "pending" waits for the customer).
STATUS_LABELS = {
    Status.NEW: "Received",
    Status.OPEN: "In progress",
    Status.PENDING: "Waiting for your reply",
    Status.ON_HOLD: "On hold",
    Status.SOLVED: "Solved",
    Status.CLOSED: "Closed",
}
SEVERITY_HELP = {
    1: "Sev-1: production down, no workaround",
    2: "Sev-2: major function impaired",
    3: "Sev-3: partial impact, workaround exists",
    4: "Sev-4: question or minor issue",
}
FILTERS = {
    "open": ",".join(sorted(OPEN_STATUSES)),
    "solved": f"{Status.SOLVED},{Status.CLOSED}",
    "all": "",
}
FIELD_LABELS = {
    "subject": "Subject",
    "product_area": "Product area",
    "severity": "Severity",
    "body_text": "Message",
    "attachments": "Attachments",
    "status": "Status",
    "satisfaction": "Rating",
    "satisfaction_comment": "Comment",
    "current_password": "Current password",
    "password": "New password",
    "new_password2": "Repeat the new password",
}


# --- access -------------------------------------------------------------------------------


def customer_required(view):
    """Signed-in customers only: anonymous -> the portal's sign-in page (with ?next=),
    staff and customers without a contact -> 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("portal:login"))
        if not user.is_customer or not user.contact_id:
            raise PermissionDenied("the customer portal is for customer accounts")
        return view(request, *args, **kwargs)

    return wrapper


def _ip(request: HttpRequest) -> str:
    return client_ip(request)


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("portal:tickets")


def _field_errors(exc: DomainError) -> dict[str, str]:
    """Service field errors keyed by form field ("attachments.0" -> "attachments")."""
    out: dict[str, str] = {}
    for key, message in (exc.fields or {}).items():
        name = str(key).split(".", 1)[0]
        out.setdefault(name, str(message))
    if not out:
        out["__all__"] = exc.message
    return out


def _error_list(errors: dict[str, str]) -> list[str]:
    return [
        f"{FIELD_LABELS.get(k, k.replace('_', ' ').capitalize())}: {v}" if k != "__all__" else v
        for k, v in errors.items()
    ]


def _uploads(request: HttpRequest, errors: dict[str, str]) -> list[tuple[str, str, bytes]]:
    """The uploaded files as the services take them. A file over the limit is refused
    here by its size, before it is read into memory (the service applies the same
    limit to what it is given)."""
    files = request.FILES.getlist("attachments")
    limit = settings.ATTACHMENT_MAX_BYTES
    if len(files) > MAX_FILES:
        errors["attachments"] = f"at most {MAX_FILES} files at once"
        return []
    out = []
    for f in files:
        if f.size > limit:
            errors["attachments"] = f"{f.name} is {f.size} bytes; the limit is {limit} bytes"
            continue
        out.append((f.name, f.content_type or "application/octet-stream", f.read()))
    return out


def _absolute(request: HttpRequest, path: str) -> str:
    """``path`` on PORTAL_BASE_URL when set, else on the request's (ALLOWED_HOSTS-checked)
    host: a sign-in link must never point at a host an attacker put in the request."""
    base = getattr(settings, "PORTAL_BASE_URL", "")
    return f"{base}{path}" if base else request.build_absolute_uri(path)


def _base_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    user = request.user
    org = None
    if getattr(user, "is_authenticated", False) and getattr(user, "contact_id", None):
        contact = user.contact
        org = contact.organization.name if contact.organization_id else None
    return {"portal_org": org, **extra}


# --- sign-in ------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    """Both ways in: the password form (with the workspace's lockout) and the request
    for a one-time link (posted to :func:`request_link`)."""
    user = request.user
    if user.is_authenticated and user.is_customer and request.method == "GET":
        return redirect(_next_url(request))
    form = SignInForm(request, data=request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            signed = form.get_user()
            if not signed.is_customer or not signed.contact_id:
                form.add_error(
                    None,
                    "This is the customer portal. Staff sign in to the workspace at "
                    f"{reverse('login')}.",
                )
                status = 403
            else:
                login(request, signed)
                portal_services.record_password_sign_in(signed, ip=_ip(request))
                return redirect(_next_url(request))
        else:
            status = 401
    return render(
        request,
        "portal/login.html",
        _base_context(
            request, form=form, next=request.POST.get("next") or request.GET.get("next", "")
        ),
        status=status,
    )


@require_POST
def request_link(request: HttpRequest) -> HttpResponse:
    """Email a sign-in link. The answer is the same whether or not the address is known
    (and whether or not the per-address limit dropped it); only a malformed address or
    too many requests from one client address get an error."""
    address = (request.POST.get("email") or "").strip()
    per_minute = int(getattr(settings, "PORTAL_LINK_REQUESTS_PER_MINUTE", 10))
    verdict = ratelimit.check(f"portal-link:{_ip(request)}", limit=per_minute)
    context = _base_context(
        request, form=SignInForm(request), link_email=address, next=request.POST.get("next", "")
    )
    if not verdict.allowed:
        context["link_error"] = (
            f"Too many sign-in link requests from your network. Try again in "
            f"{verdict.retry_after} seconds."
        )
        response = render(request, "portal/login.html", context, status=429)
        response["Retry-After"] = str(verdict.retry_after)
        return response
    try:
        portal_services.request_link(
            address,
            link_url=lambda secret: _absolute(request, reverse("portal:use_link", args=[secret])),
            ip=_ip(request),
        )
    except ValidationFailed:
        context["link_error"] = "Enter a valid email address."
        return render(request, "portal/login.html", context, status=422)
    request.session["portal_link_email"] = portal_services.normalize(address)
    return redirect("portal:link_sent")


def link_sent(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "portal/link_sent.html",
        _base_context(
            request,
            email=request.session.get("portal_link_email", ""),
            minutes=portal_services.link_minutes(),
        ),
    )


@require_http_methods(["GET", "POST"])
def use_link(request: HttpRequest, secret: str) -> HttpResponse:
    """GET shows a button (mail scanners that fetch links must not spend them); POST
    exchanges the link for a session."""
    if request.method == "GET":
        link = portal_services.find_link(secret)
        problem = portal_services.link_problem(link)
        if problem is not None:
            return _link_refused(request, problem)
        return render(request, "portal/use_link.html", _base_context(request, email=link.email))
    try:
        user = portal_services.consume_link(secret, ip=_ip(request))
    except portal_services.LinkRefused as exc:
        return _link_refused(request, exc)
    login(request, user, backend=AUTH_BACKEND)
    messages.success(request, f"Signed in as {user.email}.")
    return redirect("portal:tickets")


def _link_refused(request: HttpRequest, exc: portal_services.LinkRefused) -> HttpResponse:
    status = 404 if exc.reason == "invalid" else 410
    return render(
        request,
        "portal/link_refused.html",
        _base_context(request, reason=exc.reason, message=exc.message),
        status=status,
    )


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("portal:login")


# --- tickets ------------------------------------------------------------------------------


@customer_required
def tickets(request: HttpRequest) -> HttpResponse:
    """The organization's tickets, newest first, 25 a page (keyset: ?before=<id>)."""
    user = request.user
    show = request.GET.get("show", "open")
    if show not in FILTERS:
        show = "open"
    scope = "mine" if request.GET.get("scope") == "mine" else "org"
    filters: dict[str, Any] = {"status": FILTERS[show]}
    if scope == "mine":
        filters["requester"] = user.contact_id
    qs = queries.list_tickets(user, filters)
    before = request.GET.get("before", "")
    if before.isdigit():
        qs = qs.filter(id__lt=int(before))
    rows = list(qs.values(*queries.LIST_VALUES)[: PAGE_SIZE + 1])
    has_more = len(rows) > PAGE_SIZE
    results = [customer_ticket_row_out(r) for r in rows[:PAGE_SIZE]]
    etas = eta_queries.pending_due([r["id"] for r in results])
    for r in results:
        r["status_label"] = STATUS_LABELS.get(r["status"], r["status"])
        r["eta"] = etas.get(r["id"])
    return render(
        request,
        "portal/tickets.html",
        _base_context(
            request,
            portal_active="tickets",
            filter_choices=[("open", "Open"), ("solved", "Solved"), ("all", "All")],
            tickets=results,
            show=show,
            scope=scope,
            next_before=results[-1]["id"] if has_more and results else None,
            paged=bool(before),
        ),
    )


def _new_ticket_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return _base_context(
        request,
        product_areas=list(ProductArea.objects.order_by("name").values("id", "name")),
        severities=[(v, SEVERITY_HELP[v]) for v in Severity.values],
        max_mb=settings.ATTACHMENT_MAX_BYTES / (1024 * 1024),
        portal_active="new",
        **extra,
    )


@customer_required
@require_http_methods(["GET", "POST"])
def new_ticket(request: HttpRequest) -> HttpResponse:
    """Open a ticket (create_ticket with channel web; the customer rules are the
    service's). On bad input the form comes back with every problem and nothing stored."""
    if request.method == "GET":
        return render(
            request,
            "portal/new_ticket.html",
            _new_ticket_context(request, values={"severity": "3"}),
        )
    values = {
        "subject": request.POST.get("subject", ""),
        "product_area": request.POST.get("product_area", "").strip(),
        "severity": request.POST.get("severity", "").strip(),
        "body_text": request.POST.get("body_text", ""),
    }
    errors: dict[str, str] = {}
    files = _uploads(request, errors)
    severity: Any = values["severity"] or None
    if isinstance(severity, str) and severity.isdigit():
        severity = int(severity)
    if not errors:
        try:
            ticket = ticket_services.create_ticket(
                actor=request.user,
                subject=values["subject"],
                body_text=values["body_text"],
                channel=Channel.WEB,
                severity=severity,
                product_area=values["product_area"] or None,
                attachments=files,
            )
        except DomainError as exc:
            errors = _field_errors(exc)
        else:
            messages.success(request, f"Ticket {ticket.reference} received. We will reply here.")
            return redirect("portal:ticket", ticket_id=ticket.pk)
    return render(
        request,
        "portal/new_ticket.html",
        _new_ticket_context(request, values=values, errors=errors, error_list=_error_list(errors)),
        status=422,
    )


def _ticket_context(request: HttpRequest, ticket_id: int, **extra: Any) -> dict[str, Any]:
    user = request.user
    ticket = (
        queries.visible_tickets(user)
        .select_related("requester", "organization")
        .filter(pk=ticket_id)
        .first()
    )
    if ticket is None:
        raise Http404(f"no ticket CL-{ticket_id}")
    public = list(queries.visible_messages(user, ticket).order_by("id"))
    data = customer_ticket_out(ticket, public)
    data["status_label"] = STATUS_LABELS.get(data["status"], data["status"])
    eta = eta_queries.pending_due([ticket.pk]).get(ticket.pk)
    return _base_context(
        request,
        t=data,
        eta=eta,
        is_open=data["status"] in OPEN_STATUSES,
        can_reply=data["status"] != Status.CLOSED,
        can_rate=data["status"] in (Status.SOLVED, Status.CLOSED),
        max_mb=settings.ATTACHMENT_MAX_BYTES / (1024 * 1024),
        portal_active="tickets",
        **extra,
    )


@customer_required
def ticket(request: HttpRequest, ticket_id: int) -> HttpResponse:
    return render(request, "portal/ticket.html", _ticket_context(request, ticket_id))


def _visible_or_404(request: HttpRequest, ticket_id: int):
    try:
        return queries.visible_ticket(request.user, ticket_id)
    except NotFound:
        raise Http404(f"no ticket CL-{ticket_id}") from None


@customer_required
@require_POST
def reply(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """A public reply (add_message as the customer; a pending or solved ticket opens)."""
    t = _visible_or_404(request, ticket_id)
    body = request.POST.get("body_text", "")
    errors: dict[str, str] = {}
    files = _uploads(request, errors)
    if not errors:
        try:
            ticket_services.add_message(
                t, actor=request.user, body_text=body, attachments=files, channel=Channel.WEB
            )
        except DomainError as exc:
            errors = _field_errors(exc)
        else:
            messages.success(request, "Reply sent.")
            return redirect(reverse("portal:ticket", args=[t.pk]) + "#latest")
    context = _ticket_context(
        request, t.pk, reply_text=body, errors=errors, error_list=_error_list(errors)
    )
    return render(request, "portal/ticket.html", context, status=422)


@customer_required
@require_POST
def solve(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """The customer marks their ticket solved (update_ticket; the only status they set)."""
    t = _visible_or_404(request, ticket_id)
    try:
        ticket_services.update_ticket(t, actor=request.user, status=Status.SOLVED)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{t.reference} is marked solved. Thank you!")
    return redirect("portal:ticket", ticket_id=t.pk)


@customer_required
@require_POST
def rate(request: HttpRequest, ticket_id: int) -> HttpResponse:
    """Rate the support on a solved ticket (good / bad, optional comment)."""
    t = _visible_or_404(request, ticket_id)
    try:
        ticket_services.update_ticket(
            t,
            actor=request.user,
            satisfaction=request.POST.get("satisfaction", ""),
            satisfaction_comment=request.POST.get("satisfaction_comment", ""),
        )
    except DomainError as exc:
        errors = _field_errors(exc)
        messages.error(request, "; ".join(_error_list(errors)))
    else:
        messages.success(request, "Thank you for your rating.")
    return redirect("portal:ticket", ticket_id=t.pk)


@customer_required
def attachment(request: HttpRequest, attachment_id: int) -> FileResponse:
    """A file of a public message on a visible ticket (404 otherwise)."""
    try:
        found = queries.visible_attachment(request.user, attachment_id)
    except NotFound:
        raise Http404(f"no attachment {attachment_id}") from None
    return queries.attachment_response(found)


# --- account ------------------------------------------------------------------------------


@customer_required
@require_http_methods(["GET", "POST"])
def account(request: HttpRequest) -> HttpResponse:
    """The customer's login: set or change the password (update_customer_user). A login
    made by a sign-in link has no password yet and sets one without the current one."""
    user = request.user
    errors: dict[str, str] = {}
    if request.method == "POST":
        new = request.POST.get("new_password1", "")
        ip = _ip(request)
        needs_current = user.has_usable_password()
        # The current password is checked with the sign-in lockout: a borrowed session
        # cannot be used to guess it.
        until = web_services.locked_until(user.username, ip) if needs_current else None
        if until is not None:
            errors["current_password"] = (
                f"too many wrong attempts; try again after {until:%H:%M} UTC"
            )
        elif needs_current and not user.check_password(request.POST.get("current_password", "")):
            web_services.record_login_failure(user.username, ip)
            errors["current_password"] = "is not your current password"
        elif new != request.POST.get("new_password2", ""):
            errors["new_password2"] = "the two passwords differ"
        elif not new:
            errors["password"] = "required"
        else:
            try:
                update_customer_user(user.pk, actor=user, password=new)
            except DomainError as exc:
                errors = _field_errors(exc)
            else:
                web_services.clear_login_failures(user.username, ip)
                user.refresh_from_db()
                update_session_auth_hash(request, user)
                messages.success(request, "Your password is set.")
                return redirect("portal:account")
    return render(
        request,
        "portal/account.html",
        _base_context(
            request,
            portal_active="account",
            has_password=user.has_usable_password(),
            errors=errors,
            error_list=_error_list(errors),
        ),
        status=422 if errors else 200,
    )
