from __future__ import annotations

from django.http import HttpRequest, HttpResponse


class RateLimitHeadersMiddleware:
    """Adds X-RateLimit-* headers to API responses whose request was counted."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        verdict = getattr(request, "ratelimit", None)
        if verdict is not None and "X-RateLimit-Limit" not in response:
            response["X-RateLimit-Limit"] = str(verdict.limit)
            response["X-RateLimit-Remaining"] = str(verdict.remaining)
        return response
