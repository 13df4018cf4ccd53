"""The studio's URLs plus a trivial view, for benchmarks that compare against it."""

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.http import require_GET

from studio.urls import urlpatterns as studio_urlpatterns


@require_GET
def trivial(request: HttpRequest) -> HttpResponse:
    """Behind the same middleware and login as every page; touches the user like a page does."""
    return HttpResponse(f"hello {request.user.get_username()}", content_type="text/plain")


urlpatterns = [path("bench/trivial/", trivial, name="bench-trivial"), *studio_urlpatterns]
