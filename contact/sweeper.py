"""The outbox sweeper: a thread beside every worker that periodically hands back to the
relay the messages and account emails whose task was lost (see
contact.services.messages_sweep and users.services.account_emails_sweep).

It is Dramatiq middleware, so it runs wherever workers run: in `manage.py rundramatiq`
processes, and in the web process in the embedded mode. No one has to remember a command.
"""

import logging

import dramatiq
from django.conf import settings
from django.db import close_old_connections, connections
from dramatiq.brokers.stub import StubBroker

from site_config.task_queue import WorkerThread

logger = logging.getLogger(__name__)


class OutboxSweeper(WorkerThread):
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
        from contact.services import messages_sweep
        from users.services import account_emails_sweep

        close_old_connections()
        try:
            if swept := messages_sweep(queued_after=queued_after):
                logger.warning("Sweeper handed %d stranded message(s) back to the relay.", swept)
            if swept := account_emails_sweep(queued_after=queued_after):
                logger.warning("Sweeper handed %d stranded account email(s) back.", swept)
        except Exception:
            # The database may be down: the next round tries again.
            logger.exception("Sweeper round failed.")
        finally:
            connections.close_all()
