"""The embedded mode's worker. With no REDIS_URL the broker lives in the web process's
memory, so its tasks must run there too: on a few worker threads started here."""

import atexit
import logging

import dramatiq
from django.conf import settings
from dramatiq.brokers.stub import StubBroker

logger = logging.getLogger(__name__)


def start_embedded_worker() -> dramatiq.Worker | None:
    """Start worker threads on the in-process broker; with a real broker, do nothing
    (`manage.py rundramatiq` runs the workers then)."""
    broker = dramatiq.get_broker()
    if not isinstance(broker, StubBroker):
        return None
    worker = dramatiq.Worker(broker, worker_threads=settings.EMBEDDED_WORKER_THREADS)
    worker.start()
    atexit.register(worker.stop)
    logger.info(
        "Embedded mode: %d worker threads deliver email inside this process.",
        settings.EMBEDDED_WORKER_THREADS,
    )
    return worker
