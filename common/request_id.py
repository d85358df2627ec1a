"""One id per web request, carried into the worker with each email it queues, so that
one email's whole story (the request, every attempt) is one `grep` away in the logs.

The middleware takes the id the proxy in front sent in X-Request-ID (when it looks like
one) or makes one, answers with it, and keeps it in a context variable for the request's
log lines; outbox.services.email_queue stores it on the row, and email_send puts it back
in the context while it works on that row. An id is believed from the proxy only
(common.client_ip.from_the_proxy, gunicorn's rule for the proxy's
X-Forwarded-Proto): any client could otherwise write another request's id into the logs
and onto its emails.
"""

import logging
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

from common.client_ip import from_the_proxy

HEADER = "X-Request-ID"
# What an id from the proxy may look like (64 fits Message.request_id); anything else is
# replaced, never logged. A letter or digit first, so that `grep <id>` takes no option.
WELL_FORMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{7,63}")

current: ContextVar[str] = ContextVar("request_id", default="")


@contextmanager
def request_id_as(value: str) -> Iterator[None]:
    """Log under `value` (a request's id) inside the block."""
    token = current.set(value)
    try:
        yield
    finally:
        current.reset(token)


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        offered = request.headers.get(HEADER, "")
        if WELL_FORMED.fullmatch(offered) and from_the_proxy(request):
            value = offered
        else:
            value = uuid.uuid4().hex
        with request_id_as(value):
            response = self.get_response(request)
        response[HEADER] = value
        return response


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every log record (`-` outside any request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current.get() or "-"
        return True
