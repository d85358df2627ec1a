"""Probes for process managers and load balancers.

/healthz: the process answers; it touches nothing, so a slow database cannot get a
healthy process restarted. /readyz: the parts a request needs (the database, the broker)
answer; 503 names the part that does not, and nothing more: the probe is public, and an
error's text names hosts, ports and databases. The log has the error for operators.
"""

import logging

import dramatiq
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from dramatiq.brokers.redis import RedisBroker

logger = logging.getLogger(__name__)

READY = "ok"
UNAVAILABLE = "unavailable"


@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok\n", content_type="text/plain")


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _check_database(), "broker": _check_broker()}
    ready = all(outcome == READY for outcome in checks.values())
    return JsonResponse(checks, status=200 if ready else 503)


def _check_database() -> str:
    # Django's own check of a connection, the one CONN_HEALTH_CHECKS runs.
    try:
        connection.ensure_connection()
        usable = connection.is_usable()
    except Exception:
        logger.warning("Not ready: the database is unavailable.", exc_info=True)
        return UNAVAILABLE
    if not usable:
        logger.warning("Not ready: the database connection does not answer.")
        return UNAVAILABLE
    return READY


def _check_broker() -> str:
    broker = dramatiq.get_broker()
    # The embedded mode's broker lives in this process: if we answer, so does it.
    if not isinstance(broker, RedisBroker):
        return READY
    try:
        broker.client.ping()
    except Exception:
        logger.warning("Not ready: the broker (Redis) is unavailable.", exc_info=True)
        return UNAVAILABLE
    return READY
