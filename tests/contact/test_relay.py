"""The outbox relay (contact.relay): every message the web writes is enqueued once, in
key order, including rows that become visible after a higher key."""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone

from contact.models import Message
from contact.relay import (
    BATCH,
    GAP_RUN,
    GAP_SECONDS,
    OutboxRelay,
    RelayPosition,
    _elected,
    relay_round,
    relay_start,
)
from contact.services import message_create
from contact.tasks import deliver_message
from tests.conftest import queued_message_ids, wait_until
from tests.contact.factories import make_message

pytestmark = pytest.mark.django_db


class Enqueued(list):
    """The ids a round enqueued, in order; refuses `refuse` as a broker that is down would."""

    def __init__(self, refuse: int | None = None) -> None:
        super().__init__()
        self.refuse = refuse

    def __call__(self, message_id: int) -> None:
        if message_id == self.refuse:
            raise ConnectionError("the broker is down")
        self.append(message_id)


def test_each_new_message_is_enqueued_once_in_key_order(user):
    position = relay_start()
    written = [make_message(user).pk for _ in range(3)]

    first, second = Enqueued(), Enqueued()
    relay_round(position, first)
    relay_round(position, second)

    assert first == written
    assert second == []
    assert position.last_key == written[-1]


def test_messages_past_their_first_attempt_are_read_but_not_enqueued(user):
    position = relay_start()
    sent = make_message(user, status=Message.Status.SENT).pk
    # Queued again after a transient failure: its retry waits in the broker.
    backing_off = make_message(user, attempts=1, next_attempt_at=timezone.now()).pk
    new = make_message(user).pk

    enqueued = Enqueued()
    relay_round(position, enqueued)

    assert enqueued == [new]
    assert position.last_key == max(sent, backing_off, new)


def after_the_last_message() -> RelayPosition:
    """A relay that has read every row there is, and waits for no key."""
    return RelayPosition(last_key=relay_start().last_key)


def test_a_row_committed_after_a_higher_key_is_enqueued_when_it_appears(user):
    position = after_the_last_message()
    base = position.last_key
    # Key base + 1 was taken by an insert that has not committed yet.
    later = make_message(user, pk=base + 2).pk

    before = Enqueued()
    relay_round(position, before, now=100.0)
    assert before == [later]
    assert position.gaps == {base + 1: 100.0}

    earlier = make_message(user, pk=base + 1).pk
    after = Enqueued()
    relay_round(position, after, now=101.0)

    assert after == [earlier]
    assert position.gaps == {}


def test_a_gap_is_given_up_after_its_time(user):
    position = after_the_last_message()
    make_message(user, pk=position.last_key + 2)
    relay_round(position, Enqueued(), now=100.0)
    assert position.gaps

    relay_round(position, Enqueued(), now=100.0 + GAP_SECONDS / 2)
    assert position.gaps
    relay_round(position, Enqueued(), now=100.0 + GAP_SECONDS + 1)
    assert position.gaps == {}


def test_only_a_short_run_of_missing_keys_is_waited_for(user):
    position = RelayPosition(last_key=0)
    # As after a table was emptied: the keys before it were used once and are gone.
    far = make_message(user, pk=GAP_RUN * 100).pk

    relay_round(position, Enqueued(), now=100.0)

    assert sorted(position.gaps) == list(range(far - GAP_RUN, far))


def test_a_broker_that_is_down_stops_the_round_at_that_message(user):
    position = relay_start()
    first, refused, third = (make_message(user).pk for _ in range(3))

    down = Enqueued(refuse=refused)
    with pytest.raises(ConnectionError):
        relay_round(position, down)
    assert down == [first]
    assert position.last_key == first

    back = Enqueued()
    relay_round(position, back)
    assert back == [refused, third]


def test_a_round_reads_at_most_a_batch(user):
    position = RelayPosition(last_key=0)
    Message.objects.bulk_create(
        Message(sender=user, sender_email=user.email, subject=str(n), body="b")
        for n in range(BATCH + 1)
    )

    enqueued = Enqueued()
    assert relay_round(position, enqueued) == BATCH
    assert len(enqueued) == BATCH
    assert relay_round(position, enqueued) == 1


def test_a_relay_starts_at_the_oldest_message_waiting_for_its_first_attempt(user, settings):
    now = timezone.now()
    # The sweeper's: queued longer than MESSAGE_SWEEP_QUEUED_AFTER.
    stranded = make_message(
        user, next_attempt_at=now - timedelta(seconds=settings.MESSAGE_SWEEP_QUEUED_AFTER + 1)
    )
    waiting = make_message(user)
    make_message(user, status=Message.Status.SENT)

    assert relay_start().last_key == waiting.pk - 1
    assert stranded.pk < waiting.pk


def test_a_relay_with_nothing_waiting_starts_after_the_last_message(user):
    last = make_message(user, status=Message.Status.SENT)

    assert relay_start().last_key == last.pk


def test_a_relay_waits_for_missing_keys_just_below_where_it_starts(user):
    # Keys 1 to 3 are taken; 2 by an insert still in flight when the relay starts.
    make_message(user, pk=1, status=Message.Status.SENT)
    make_message(user, pk=3, status=Message.Status.SENT)

    position = relay_start(now=100.0)
    assert position == RelayPosition(last_key=3, gaps={2: 100.0})

    make_message(user, pk=2)
    enqueued = Enqueued()
    relay_round(position, enqueued, now=101.0)
    assert enqueued == [2]


def test_with_the_relay_a_submit_enqueues_nothing_itself(
    user, broker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        message_create(sender=user, subject="Hello", body="Hi")

    assert callbacks == []
    assert queued_message_ids(broker) == []


@contextmanager
def relay_running(broker) -> Iterator[None]:
    relay = OutboxRelay()
    relay.after_worker_boot(broker, worker=None)
    try:
        yield
    finally:
        relay.before_worker_shutdown(broker, worker=None)


@pytest.fixture(autouse=True)
def relay_settings(settings) -> None:
    settings.MESSAGE_OUTBOX_RELAY = True
    settings.MESSAGE_RELAY_INTERVAL = 0.02


@pytest.fixture
def relay_thread(broker) -> Iterator[None]:
    with relay_running(broker):
        yield


@pytest.mark.django_db(transaction=True)
def test_the_worker_relays_what_the_web_commits(user, broker, relay_thread):
    message = message_create(sender=user, subject="Hello", body="Hi")

    assert wait_until(lambda: queued_message_ids(broker) == [message.pk], timeout=10)


@pytest.mark.django_db(transaction=True)
def test_a_broker_outage_is_logged_once_and_the_message_relayed_after_it(
    user, broker, monkeypatch, caplog
):
    attempts = []

    def broker_down(message_id: int) -> None:
        attempts.append(message_id)
        raise ConnectionError("Redis is away")

    monkeypatch.setattr("contact.relay.FAILING_INTERVAL", 0.02)
    monkeypatch.setattr(deliver_message, "send", broker_down)
    message = message_create(sender=user, subject="Hello", body="Hi")
    with caplog.at_level(logging.WARNING, logger="contact.relay"), relay_running(broker):
        assert wait_until(lambda: len(attempts) >= 5, timeout=10)
        monkeypatch.undo()
        assert wait_until(lambda: queued_message_ids(broker) == [message.pk], timeout=10)

    logged = [record.getMessage() for record in caplog.records]
    assert logged == [
        "Outbox relay: the broker is away; trying again every few seconds.",
        "Outbox relay: the broker is back; relaying again.",
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("fault", [OperationalError, InterfaceError])
def test_a_lost_database_is_logged_once_and_the_relay_starts_over(
    user, broker, monkeypatch, caplog, fault
):
    starts = []
    rounds = []

    def start_counted(**kwargs) -> RelayPosition:
        starts.append(1)
        return relay_start(**kwargs)

    def database_away(position, enqueue, **kwargs) -> int:
        rounds.append(1)
        raise fault("the connection is gone")

    monkeypatch.setattr("contact.relay.FAILING_INTERVAL", 0.02)
    monkeypatch.setattr("contact.relay.relay_start", start_counted)
    monkeypatch.setattr("contact.relay.relay_round", database_away)
    with caplog.at_level(logging.WARNING, logger="contact.relay"), relay_running(broker):
        assert wait_until(lambda: len(rounds) >= 3, timeout=10)
        monkeypatch.setattr("contact.relay.relay_round", relay_round)
        message = message_create(sender=user, subject="Hello", body="Hi")
        assert wait_until(lambda: queued_message_ids(broker) == [message.pk], timeout=10)

    # A start after every failure: the lock may have gone with the connection.
    assert len(starts) >= 4
    assert [record.getMessage() for record in caplog.records] == [
        "Outbox relay: the database is away; trying again every few seconds.",
        "Outbox relay: the database is back; relaying again.",
    ]


@pytest.mark.django_db(transaction=True)
def test_one_relay_per_postgresql_database():
    if connection.vendor != "postgresql":
        pytest.skip("the advisory lock is PostgreSQL's")

    def elected_elsewhere() -> bool:
        # Another thread has a connection of its own, as another process would.
        answer = []
        thread = threading.Thread(target=lambda: answer.append(_elected_then_close()))
        thread.start()
        thread.join()
        return answer[0]

    assert _elected()
    assert not elected_elsewhere()
    # The lock goes with the connection that holds it.
    connection.close()
    assert elected_elsewhere()


def _elected_then_close() -> bool:
    try:
        return _elected()
    finally:
        connection.close()
