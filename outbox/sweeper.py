"""The outbox sweeper: a thread beside every worker that periodically hands back to the
relay the emails whose task was lost (outbox.services.emails_sweep).

It is Dramatiq middleware, so it runs wherever workers run: in `manage.py rundramatiq`
processes, and in the web process in the embedded mode. No one has to remember a command.
"""

import logging

import dramatiq
from django.conf import settings
from django.db import close_old_connections, connections
from dramatiq.brokers.stub import StubBroker

from outbox.workers import BackgroundThreadMiddleware

logger = logging.getLogger(__name__)


class OutboxSweeper(BackgroundThreadMiddleware):
    thread_name = "outbox-sweeper"

    def run(self, broker: dramatiq.Broker) -> None:
        # The embedded mode's queue lived in the memory of a process that has stopped:
        # whatever is queued and due now has no task anywhere, so the first sweep comes at
        # once and takes all of it.
        if isinstance(broker, StubBroker):
            self.sweep_once(queued_after=0)
        while not self.stopping.wait(settings.MESSAGE_SWEEP_INTERVAL):
            self.sweep_once()

    @staticmethod
    def sweep_once(queued_after: float | None = None) -> None:
        from outbox.services import emails_sweep

        close_old_connections()
        try:
            if swept := emails_sweep(queued_after=queued_after):
                logger.warning("Sweeper handed %d stranded email(s) back to the relay.", swept)
        except Exception:
            # The database may be down: the next round tries again.
            logger.exception("Sweeper round failed.")
        finally:
            connections.close_all()
