"""The outbox relay: a thread beside every worker that hands the emails the web has
queued to the broker (outbox.services.emails_relay), so that a request writes its row
and nothing else, and a broker that is away costs a request nothing.

It is Dramatiq middleware, like the sweeper, so it runs wherever workers run: in
`manage.py rundramatiq` processes, and in the web process in the embedded mode. Relays
side by side take different rows and never wait on each other; nothing is held between
rounds, so a connection pooler in transaction mode suits it.
"""

import logging

import dramatiq
from django.conf import settings
from django.db import DatabaseError, InterfaceError, close_old_connections, connection

from outbox.workers import BackgroundThreadMiddleware

logger = logging.getLogger(__name__)

# Seconds between rounds while the database or the broker is away.
FAILING_INTERVAL = 2.0


class OutboxRelay(BackgroundThreadMiddleware):
    thread_name = "outbox-relay"

    def run(self, broker: dramatiq.Broker) -> None:
        # Imported once running: the broker's middleware is built before Django's apps.
        from outbox.failures import BrokerUnavailable
        from outbox.services import RELAY_BATCH, emails_relay
        from outbox.tasks import enqueue

        # What is failing now ("database", "broker"), so that an outage is logged once
        # when it starts and once when it ends, not on every round.
        failing: str | None = None
        while not self.stopping.is_set():
            close_old_connections()
            try:
                relayed = emails_relay(enqueue=enqueue)
            except (DatabaseError, InterfaceError):
                # InterfaceError: a connection already closed, which is not a DatabaseError.
                connection.close()
                failing = _log_failure(failing, "database")
            except BrokerUnavailable:
                failing = _log_failure(failing, "broker")
            else:
                if failing is not None:
                    logger.warning("Outbox relay: the %s is back; relaying again.", failing)
                    failing = None
                if relayed == RELAY_BATCH:
                    continue
            self.stopping.wait(FAILING_INTERVAL if failing else settings.MESSAGE_RELAY_INTERVAL)
        connection.close()


def _log_failure(failing: str | None, part: str) -> str:
    if failing != part:
        logger.exception("Outbox relay: the %s is away; trying again every few seconds.", part)
    return part
