"""The application's Prometheus metrics at /metrics: the emails of each kind in each
status, and the age of the oldest one still waiting, read from the database at each
scrape, so whichever web process answers gives the same figures; and the web's request
counts and latency (site_config.request_metrics), summed over its processes.

The worker's own metrics (tasks processed, failed, retried, in progress, durations) come
from Dramatiq's Prometheus middleware on the worker's port: see the task queue settings.
"""

import os
import secrets
from collections.abc import Iterator

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from outbox.kinds import kind_choices
from outbox.models import Email
from outbox.selectors import email_counts_by_kind, oldest_waiting
from site_config import request_metrics


class DeliveryCollector(Collector):
    """Three small queries per scrape, whatever the number of emails."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        by_status = GaugeMetricFamily(
            "site_emails", "Emails by kind and delivery status.", labels=["kind", "status"]
        )
        counted = email_counts_by_kind()
        # Every kind and status, 0 for none, so each series exists before its first email.
        kinds = [name for name, _ in kind_choices()]
        for kind in sorted({*kinds, *(kind for kind, _ in counted)}):
            for status in Email.Status.values:
                by_status.add_metric([kind, status], counted.get((kind, status), 0))
        yield by_status
        waited = GaugeMetricFamily(
            "site_emails_oldest_waiting_seconds",
            "Age of the oldest email still queued or sending (0 when none is).",
            labels=["status"],
        )
        now = timezone.now()
        for status, created in oldest_waiting().items():
            waited.add_metric([status], (now - created).total_seconds() if created else 0.0)
        yield waited


def exposition() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DeliveryCollector())
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Every gunicorn worker's request figures, from the files they write.
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(request_metrics.registry)
    return generate_latest(registry)


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if not settings.METRICS_TOKEN:
        raise Http404("Metrics are off: set METRICS_TOKEN.")
    if not _bearer_token_matches(request, settings.METRICS_TOKEN):
        response = HttpResponse("A valid bearer token is required.\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)


def _bearer_token_matches(request: HttpRequest, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # Constant time, so the token cannot be guessed a character at a time; bytes, as a
    # header may carry characters compare_digest refuses in a str.
    return scheme.lower() == "bearer" and secrets.compare_digest(
        given.strip().encode(), token.encode()
    )
