"""The email provider's tracking webhook (anymail's view, mounted under /anymail/).

Only the tracking URL of the provider EMAIL_BACKEND names exists, so every report passes
the checks of the provider the site sends through; any other provider's URL, and every
inbound one, is a 404. It is served only once ANYMAIL_WEBHOOK_SECRET is set: without it
anymail would take a report from anyone. A body anymail cannot read is the sender's
fault, so a 400 rather than a 500 (which a provider would post again and again); a
database that is away is a 503, which the provider retries later, so no report is lost.
"""

from collections.abc import Callable
from typing import Any

from anymail import urls as anymail_urls
from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseNotFound
from django.urls import URLPattern, URLResolver

from outbox.smtp import provider

WEBHOOK_NAMESPACE = "anymail"


def tracking_urlpatterns() -> list[URLPattern | URLResolver]:
    """anymail's tracking webhook of the provider email goes out through, and nothing
    else of anymail's; over SMTP, none."""
    through = provider()
    if through is None:
        return []
    # Mandrill posts tracking and inbound events to one view, named without "tracking".
    names = {f"{through}_tracking_webhook", f"{through}_webhook"}
    return [pattern for pattern in anymail_urls.urlpatterns if pattern.name in names]


class TrackingWebhookMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        if is_webhook(request) and not settings.ANYMAIL.get("WEBHOOK_SECRET"):
            return HttpResponseNotFound()
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_webhook(request):
            return None
        if isinstance(exception, OperationalError | InterfaceError):
            unavailable = HttpResponse("Try again later.", status=503, content_type="text/plain")
            unavailable["Retry-After"] = "60"
            return unavailable
        if isinstance(exception, SuspiciousOperation):
            # A wrong secret or signature: Django's own 400, logged as a security event.
            return None
        return HttpResponseBadRequest("The body is not a report this webhook reads.")


def is_webhook(request: HttpRequest) -> bool:
    match = request.resolver_match
    return match is not None and match.namespace == WEBHOOK_NAMESPACE
