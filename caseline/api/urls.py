"""The /api/v1 NinjaAPI: routers of every app, one error envelope, OpenAPI document."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from caseline.errors import DomainError, body

from .core import AUTH, RateLimited

api = NinjaAPI(
    title="Caseline API",
    version="1",
    urls_namespace="api-v1",
    auth=AUTH,
    docs_url="/docs",
    description=(
        "Tickets, accounts and configuration of Caseline. Authenticate with "
        "`Authorization: Bearer <token>`. Lists use cursor pagination "
        "(`meta.next_cursor`, `links.next`). Every error is "
        '`{"error": {"code", "message", "fields"}}`.'
    ),
)


def _error(request: HttpRequest, status: int, code: str, message: str, fields=None) -> HttpResponse:
    return api.create_response(request, body(code, message, fields), status=status)


@api.exception_handler(DomainError)
def domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
    response = _error(request, exc.status, exc.code, exc.message, exc.fields)
    if isinstance(exc, RateLimited):
        response["Retry-After"] = str(exc.retry_after)
        response["X-RateLimit-Limit"] = str(exc.limit)
        response["X-RateLimit-Remaining"] = "0"
    return response


@api.exception_handler(NinjaValidationError)
def validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    fields: dict[str, str] = {}
    for err in exc.errors:
        loc = [
            str(p)
            for p in err.get("loc", ())
            if p not in ("body", "query", "path", "payload", "form")
        ]
        fields[".".join(loc) or "body"] = err.get("msg", "invalid")
    return _error(request, 422, "validation_error", "the request is not valid", fields)


@api.exception_handler(AuthenticationError)
def auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(request, 401, "unauthenticated", "a valid API token or session is required")


@api.exception_handler(Http404)
def not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, 404, "not_found", str(exc) or "not found")


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return _error(request, exc.status_code, "http_error", str(exc))


def _mount() -> None:
    from caseline.accounts.api import router as accounts_router
    from caseline.notify.api import router as notify_router
    from caseline.tickets.api import router as tickets_router
    from caseline.tickets.triage_api import router as triage_router

    api.add_router("/", accounts_router)
    api.add_router("/", tickets_router)
    api.add_router("/", notify_router)
    api.add_router("/", triage_router)


_mount()
