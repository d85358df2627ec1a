"""Request counts and latency by view and status, for /metrics beside the delivery
gauges (site_config.metrics).

Under gunicorn every worker process counts its own requests into prometheus_client's
multiprocess files (PROMETHEUS_MULTIPROC_DIR, set by site_config/gunicorn.py), and
/metrics sums them, so whichever process answers the scrape gives the whole figures.
"""

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from prometheus_client import CollectorRegistry, Counter, Histogram

# The methods counted by name; anything else is "other", so no client can mint labels.
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
# From a cached page to a sign-in's password hash.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

registry = CollectorRegistry(auto_describe=False)
REQUESTS = Counter(
    "http_requests",
    "Requests answered, by view (its URL name), method and status.",
    ["view", "method", "status"],
    registry=registry,
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Seconds from the request's arrival to its answer, by view.",
    ["view"],
    buckets=BUCKETS,
    registry=registry,
)


def view_label(request: HttpRequest) -> str:
    # The URL name, never the path: the number of views is fixed, the paths are not.
    match = request.resolver_match
    return (match.view_name or "unnamed") if match else "unresolved"


class RequestMetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        view = view_label(request)
        method = request.method if request.method in METHODS else "other"
        REQUESTS.labels(view, method, str(response.status_code)).inc()
        LATENCY.labels(view).observe(time.perf_counter() - started)
        return response
