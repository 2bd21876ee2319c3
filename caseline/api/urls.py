"""The /api/v1 NinjaAPI: routers of every app, one error envelope, OpenAPI document.

Every answer under /api/v1 is JSON, errors included: ``{"error": {"code", "message",
"fields"}}``. Besides the domain errors this module guards every operation generically
(no router needs to remember it):

- integers outside the 64-bit range: in the path -> 404 (no such object can exist), in
  the query or the JSON body -> 422 naming the field (the database cannot store them);
- NUL characters in any query value or JSON string -> 422 naming the field (PostgreSQL
  text cannot hold them);
- an unknown route -> 404 ``not_found``, a known route with another method -> 405
  ``method_not_allowed`` with ``Allow``;
- ``IntegrityError`` -> 409 ``conflict``, ``DataError`` / ``OverflowError`` -> 422, anything
  else -> 500 ``internal_error`` (logged with its traceback).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import DataError, IntegrityError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from pydantic import BaseModel

from caseline.errors import DomainError, NotFound, ValidationFailed, body

from .auth import AUTH, RateLimited

log = logging.getLogger("caseline.api")

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
JSON = "application/json; charset=utf-8"


def _json(status: int, code: str, message: str, fields=None) -> HttpResponse:
    return JsonResponse(body(code, message, fields), status=status, content_type=JSON)


# --- generic input guards ---------------------------------------------------------------


def _problem(value: Any, where: str, depth: int = 0) -> tuple[str, str] | None:
    """The first (field, reason) of ``value`` the database cannot take, or None."""
    if depth > 32:
        return None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            return where, "number out of range (64-bit integer)"
        return None
    if isinstance(value, str):
        if "\x00" in value:
            return where, "must not contain NUL characters"
        return None
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            found = _problem(getattr(value, name, None), _join(where, name), depth + 1)
            if found:
                return found
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _problem(key, where, depth + 1) or _problem(
                item, _join(where, str(key)), depth + 1
            )
            if found:
                return found
        return None
    if isinstance(value, (list, tuple, set, frozenset)):
        for i, item in enumerate(value):
            found = _problem(item, _join(where, str(i)), depth + 1)
            if found:
                return found
    return None


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


# Query parameters that carry free text: a long run of digits there is a search, not an id.
FREE_TEXT_PARAMS = frozenset({"q", "search", "text", "subject"})


def _out_of_range_literal(value: str) -> bool:
    digits = value.strip()
    if digits[:1] in "+-":
        digits = digits[1:]
    if len(digits) < 19 or not digits.isdigit():
        return False
    return not INT64_MIN <= int(value) <= INT64_MAX


def _check_raw(request: HttpRequest, path_params: dict[str, Any]) -> None:
    for value in path_params.values():
        if isinstance(value, str) and "\x00" in value:
            raise NotFound("not found")
    for key, values in request.GET.lists():
        if key not in FREE_TEXT_PARAMS and any(_out_of_range_literal(v) for v in values):
            # Filters typed as text (ids given as strings, "me"/"none" or an id...).
            raise ValidationFailed(
                f"{key}: number out of range (64-bit integer)",
                fields={key: "number out of range (64-bit integer)"},
            )
        if "\x00" in key:
            raise ValidationFailed(
                "query parameter names must not contain NUL characters",
                fields={key.replace("\x00", "\\x00"): "must not contain NUL characters"},
            )
        if any("\x00" in v for v in values):
            raise ValidationFailed(
                f"the query parameter {key!r} is not valid",
                fields={key: "must not contain NUL characters"},
            )


def _check_values(values: dict[str, Any], path_params: dict[str, Any], body_names) -> None:
    for name, value in values.items():
        if isinstance(value, HttpResponse | HttpRequest):
            continue
        if name in path_params:
            if _problem(value, name):
                raise NotFound("not found")
            continue
        # A body parameter reports its fields without the parameter's own name.
        found = _problem(value, "" if name in body_names else name)
        if found:
            field, reason = found
            field = field or name
            raise ValidationFailed(f"{field}: {reason}", fields={field: reason})


def _guard(operation) -> None:
    """Wrap one operation's input parsing with the checks above (idempotent)."""
    if getattr(operation, "_caseline_guarded", False):
        return
    original = operation._get_values
    body_names = {
        name
        for model in operation.models
        if getattr(model, "__ninja_param_source__", None) in ("body", "form", "file")
        for name in model.model_fields
    }

    def get_values(request, path_params, temporal_response):
        _check_raw(request, path_params)
        values = original(request, path_params, temporal_response)
        _check_values(values, path_params, body_names)
        return values

    operation._get_values = get_values
    operation._caseline_guarded = True


def _not_allowed_for(path_view):
    def not_allowed() -> HttpResponse:
        allowed = sorted({m for op in path_view.operations for m in op.methods})
        response = _json(
            405,
            "method_not_allowed",
            f"this endpoint answers {', '.join(allowed)}",
            {"method": f"allowed: {', '.join(allowed)}"},
        )
        response["Allow"] = ", ".join(allowed)
        return response

    return not_allowed


@csrf_exempt
def unknown_route(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    return _json(404, "not_found", f"no API endpoint at {request.path}")


class CaselineAPI(NinjaAPI):
    """NinjaAPI whose every operation is guarded and whose URL list ends in a JSON 404."""

    def _get_urls(self):
        for bound in self._get_bound_routers():
            for path_view in bound.path_operations.values():
                path_view._not_allowed = _not_allowed_for(path_view)
                for operation in path_view.operations:
                    _guard(operation)
        urls = [p for p in super()._get_urls() if getattr(p, "name", None) != "api-root"]
        # "api-root" names the prefix (the OpenAPI document is built from it).
        urls.append(path("", unknown_route, name="api-root"))
        urls.append(re_path(r"^.*$", unknown_route, name="api-unknown"))
        return urls


api = CaselineAPI(
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


_HTTP_CODES = {
    400: "bad_request",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
}


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return _error(request, exc.status_code, code, str(exc))


@api.exception_handler(IntegrityError)
def integrity_error(request: HttpRequest, exc: IntegrityError) -> HttpResponse:
    log.warning("%s %s: integrity error: %s", request.method, request.path, exc)
    return _error(
        request,
        409,
        "conflict",
        "the request conflicts with existing data (another change may have happened at "
        "the same time); reload and try again",
    )


@api.exception_handler(DataError)
def data_error(request: HttpRequest, exc: DataError) -> HttpResponse:
    log.warning("%s %s: data error: %s", request.method, request.path, exc)
    return _error(request, 422, "validation_error", "a value of the request cannot be stored")


@api.exception_handler(OverflowError)
def overflow_error(request: HttpRequest, exc: OverflowError) -> HttpResponse:
    log.warning("%s %s: overflow: %s", request.method, request.path, exc)
    return _error(request, 422, "validation_error", "a number of the request is out of range")


@api.exception_handler(Exception)
def internal_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    log.error("%s %s: unhandled error", request.method, request.path, exc_info=exc)
    return _error(
        request,
        500,
        "internal_error",
        "internal server error; it was logged, please report it if it persists",
    )


def _mount() -> None:
    from caseline.accounts.api import router as accounts_router
    from caseline.escalations.api import router as escalations_router
    from caseline.escalations.calls_api import router as escalation_calls_router
    from caseline.escalations.handoffs_api import router as handoffs_router
    from caseline.escalations.summaries_api import router as escalation_summaries_router
    from caseline.eta.api import router as eta_router
    from caseline.incidents.api import router as incidents_router
    from caseline.incidents.broadcasts_api import router as broadcasts_router
    from caseline.incidents.detection_api import router as detection_router
    from caseline.learning.api import router as learning_router
    from caseline.mail.api import router as mail_router
    from caseline.notify.api import router as notify_router
    from caseline.oncall.api import router as oncall_router
    from caseline.search.api import router as search_router
    from caseline.sla.api import router as sla_router
    from caseline.tickets.api import router as tickets_router
    from caseline.tickets.replycheck_api import router as replycheck_router
    from caseline.tickets.triage_api import router as triage_router

    api.add_router("/", accounts_router)
    api.add_router("/", tickets_router)
    api.add_router("/", replycheck_router)
    api.add_router("/", notify_router)
    api.add_router("/", triage_router)
    api.add_router("/", mail_router)
    api.add_router("/", oncall_router)
    api.add_router("/", eta_router)
    api.add_router("/", escalations_router)
    api.add_router("/", handoffs_router)
    api.add_router("/", escalation_summaries_router)
    api.add_router("/", escalation_calls_router)
    api.add_router("/", incidents_router)
    api.add_router("/", detection_router)
    api.add_router("/", broadcasts_router)
    api.add_router("/", learning_router)
    api.add_router("/", sla_router)
    api.add_router("/", search_router)


_mount()
