"""The task queue's worker side: the embedded mode's worker (with no REDIS_URL the broker
lives in the web process's memory, so its tasks must run there too, on a few worker
threads started here), and the base of the middleware that runs a thread of its own
beside every worker."""

import atexit
import logging
import threading

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


class BackgroundThreadMiddleware(dramatiq.Middleware):
    """Dramatiq middleware that runs `run` on a thread of its own in every worker
    process (`manage.py rundramatiq`'s, or the web process in the embedded mode): started
    once the worker has booted, told to stop (`self.stopping`) when it shuts down, and
    waited for up to 10 s."""

    thread_name: str

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def run(self, broker: dramatiq.Broker) -> None:
        """The thread's work; returns once `self.stopping` is set."""
        raise NotImplementedError

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self.stopping.clear()
        self._thread = threading.Thread(
            target=self.run, args=(broker,), name=self.thread_name, daemon=True
        )
        self._thread.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
