"""Refusing a request body larger than anything the studio accepts, before it is read.

The proxy in front of production caps bodies too (docs/deploy.md); this holds without one
(`make run`, a misconfigured proxy) and answers the same way everywhere: 413, nothing read.
Within the cap, Django's DATA_UPLOAD_MAX_MEMORY_SIZE bounds what a non-file body may hold in
memory, and the upload handler stops storing a file past its field's limit.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


class RequestSizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.STUDIO_MAX_REQUEST_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if limit and length > limit:
            return _too_large(request, limit)
        return self.get_response(request)


def _too_large(request: HttpRequest, limit: int) -> HttpResponse:
    message = f"The request is larger than the studio accepts ({limit // (1024 * 1024)} MB)."
    if request.path.startswith("/v1/"):
        error = {"message": message, "type": "invalid_request_error", "param": None}
        response: HttpResponse = JsonResponse({"error": {**error, "code": "body_too_large"}})
    else:
        response = HttpResponse(message, content_type="text/plain; charset=utf-8")
    response.status_code = 413
    response["Connection"] = "close"  # the unread body must not be taken for a next request
    return response
