"""The outbox sweeper: a thread in every worker process that periodically enqueues
again the messages whose task was lost (see contact.services.messages_sweep).

It is Dramatiq middleware, so it runs wherever workers run: in `manage.py rundramatiq`
processes, and in the web process in the embedded mode. No one has to remember a command.
"""

import logging
import threading

import dramatiq
from django.conf import settings
from django.db import close_old_connections, connections
from dramatiq.brokers.stub import StubBroker

logger = logging.getLogger(__name__)


class OutboxSweeper(dramatiq.Middleware):
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        # The embedded mode's queue lived in the memory of a process that has stopped:
        # whatever is queued and due now has no task anywhere, so the first sweep comes at
        # once and takes all of it.
        embedded = isinstance(broker, StubBroker)
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(embedded,), name="outbox-sweeper", daemon=True
        )
        self._thread.start()

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self, embedded: bool) -> None:
        if embedded:
            self.sweep_once(queued_after=0)
        while not self._stop.wait(settings.MESSAGE_SWEEP_INTERVAL):
            self.sweep_once()

    @staticmethod
    def sweep_once(queued_after: float | None = None) -> None:
        from contact.services import messages_sweep

        close_old_connections()
        try:
            if swept := messages_sweep(queued_after=queued_after):
                logger.warning("Sweeper enqueued %d stranded message(s) again.", swept)
        except Exception:
            # The database may be down: the next round tries again.
            logger.exception("Sweeper round failed.")
        finally:
            connections.close_all()
