"""The outbox relay: a thread in the worker that enqueues the delivery of every message
the web has written, so that a submit writes its row and nothing else.

A submit used to enqueue its delivery itself, once the row was committed: a round trip
to Redis that took 0.6 of a submit's 3.2 ms of CPU in the web process, and that the
person waiting for the answer did not need. The row is the outbox (see
contact.models.Message); the relay reads it a few times a second and enqueues each new
queued message, in order of primary key.

It remembers only the highest key it has read, and the keys below it that it has not
seen yet ("gaps"): a key is taken when its row is inserted, but becomes visible when
the row is committed, so a row can show up after one with a higher key. A gap is asked
for again on every round until its row appears or GAP_SECONDS pass (its insert was
rolled back, most likely; if not, the sweeper enqueues it later).

With the Redis broker only, in the worker processes: Dramatiq middleware, like the
sweeper, and like it importing the models only once it runs (the broker's middleware
is built before Django's apps are ready). Several processes elect one relay with a
PostgreSQL advisory lock, held by the relay's connection while it lives; on other
databases each process relays, and a message enqueued twice is delivered once
(message_deliver claims the row). A relay that starts, or takes over, enqueues again the
queued messages that are due and recent: it cannot know which of them the last relay
reached.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import dramatiq
from django.conf import settings
from django.db import DatabaseError, InterfaceError, connection
from django.db.models import Max, Min
from django.utils import timezone

from site_config.task_queue import WorkerThread

logger = logging.getLogger(__name__)

# How long a key below the highest read may stay unseen before the relay stops asking.
GAP_SECONDS = 10.0
# At most this many keys below a row just read are waited for: the keys of inserts
# still in flight, of which there are about as many as requests the web serves at once.
# A longer run of missing keys is keys that were never used (rolled back inserts, a
# table emptied), and waiting for all of them would hold a key per row ever written.
GAP_RUN = 64
# Seconds between rounds while the database or the broker is away.
FAILING_INTERVAL = 2.0
# Rows read per round; a full batch is followed at once by the next round.
BATCH = 500
# The advisory lock's key: one relay per database. Any constant that no other code uses.
ADVISORY_LOCK_KEY = 7_302_615_001


@dataclass
class RelayPosition:
    """How far the relay has read: every key up to `last_key` has been enqueued or is a
    gap, with the time it was first missed."""

    last_key: int
    gaps: dict[int, float] = field(default_factory=dict)


def relay_start(*, now: float | None = None) -> RelayPosition:
    """Where a relay that starts now begins: before the oldest message still waiting
    for its first attempt that the sweeper would not take yet, or after the last one;
    the keys just below that no row has yet are gaps (inserts still in flight)."""
    from contact.models import Message

    # The last key first: a row written after it is read by the rounds, whatever the
    # query below sees of it.
    last = Message.objects.aggregate(last=Max("pk"))["last"] or 0
    wall_clock = timezone.now()
    first_waiting = Message.objects.filter(
        status=Message.Status.QUEUED,
        attempts=0,
        next_attempt_at__lte=wall_clock,
        next_attempt_at__gt=wall_clock - timedelta(seconds=settings.MESSAGE_SWEEP_QUEUED_AFTER),
    ).aggregate(first=Min("pk"))["first"]
    start = last if first_waiting is None else first_waiting - 1
    below = range(max(1, start - GAP_RUN + 1), start + 1)
    present = set(Message.objects.filter(pk__in=below).values_list("pk", flat=True))
    now = time.monotonic() if now is None else now
    return RelayPosition(last_key=start, gaps={key: now for key in below if key not in present})


def relay_round(
    position: RelayPosition, enqueue: Callable[[int], None], *, now: float | None = None
) -> int:
    """Enqueue the messages written since `position` that wait for their first attempt,
    and those of its gaps that have appeared; moves `position` on and returns how many
    rows it read. (A queued message with attempts is waiting out a retry's backoff: its
    task is in the broker's delay queue.)

    `enqueue(message_id)` raises when the broker is down: the round stops there, and
    the next one starts again from that message.
    """
    from contact.models import Message

    def waiting_for_first_attempt(status: str, attempts: int) -> bool:
        return status == Message.Status.QUEUED and attempts == 0

    now = time.monotonic() if now is None else now
    read = ("pk", "status", "attempts")
    if position.gaps:
        appeared = Message.objects.filter(pk__in=list(position.gaps)).values_list(*read)
        for message_id, status, attempts in appeared:
            if waiting_for_first_attempt(status, attempts):
                enqueue(message_id)
            del position.gaps[message_id]
        for message_id, missed_at in list(position.gaps.items()):
            if now - missed_at > GAP_SECONDS:
                del position.gaps[message_id]
    rows = list(
        Message.objects.filter(pk__gt=position.last_key).order_by("pk").values_list(*read)[:BATCH]
    )
    for message_id, status, attempts in rows:
        if waiting_for_first_attempt(status, attempts):
            enqueue(message_id)
        for missing in range(max(position.last_key + 1, message_id - GAP_RUN), message_id):
            position.gaps[missing] = now
        position.last_key = message_id
    return len(rows)


class OutboxRelay(WorkerThread):
    """Runs the relay on a thread of each worker process, when MESSAGE_OUTBOX_RELAY is
    on (the Redis broker)."""

    thread_name = "outbox-relay"

    def wanted(self, broker: dramatiq.Broker) -> bool:
        return bool(settings.MESSAGE_OUTBOX_RELAY)

    def run(self, broker: dramatiq.Broker) -> None:
        from contact.services import enqueue_delivery

        position: RelayPosition | None = None
        # What is failing now ("database", "broker"), so that an outage is logged once
        # when it starts and once when it ends, not on every round.
        failing: str | None = None
        while not self.stopping.is_set():
            try:
                if position is None:
                    if not _elected():
                        self.stopping.wait(settings.MESSAGE_RELAY_INTERVAL * 10)
                        continue
                    position = relay_start()
                read = relay_round(position, enqueue_delivery)
            except (DatabaseError, InterfaceError):
                # The lock went with the connection (InterfaceError: one already closed):
                # once the database is back, whoever holds the lock starts where the
                # waiting rows say.
                position = None
                connection.close()
                failing = _log_failure(failing, "database")
            except Exception:
                # The round stopped at the message it could not enqueue, and the next
                # one starts there.
                failing = _log_failure(failing, "broker")
            else:
                if failing is not None:
                    logger.warning("Outbox relay: the %s is back; relaying again.", failing)
                    failing = None
                if read == BATCH:
                    continue
            self.stopping.wait(FAILING_INTERVAL if failing else settings.MESSAGE_RELAY_INTERVAL)
        connection.close()


def _log_failure(failing: str | None, part: str) -> str:
    if failing != part:
        logger.exception("Outbox relay: the %s is away; trying again every few seconds.", part)
    return part


def _elected() -> bool:
    """Whether this process relays: it holds the advisory lock (PostgreSQL), or the
    database has none to hold."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
        return bool(cursor.fetchone()[0])
