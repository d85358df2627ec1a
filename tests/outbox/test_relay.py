"""The outbox relay: every queued message no relay has handed over is handed to the
broker once, oldest first, by relays that may run side by side."""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone
from dramatiq.brokers.redis import RedisBroker

from contact.models import Message
from contact.relay import OutboxRelay
from contact.services import RELAY_BATCH, message_create, messages_relay
from contact.tasks import deliver_message
from site_config.outbox import BrokerUnavailable
from tests.conftest import awaiting_relay, queued_message_ids, wait_until
from tests.contact.factories import make_message
from tests.standins.smtp import free_port

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


def relayed_ids() -> set[int]:
    return set(Message.objects.filter(relayed_at__isnull=False).values_list("pk", flat=True))


def test_each_new_message_is_relayed_once_in_key_order(user):
    written = [make_message(user).pk for _ in range(3)]

    first, second = Enqueued(), Enqueued()
    assert messages_relay(enqueue=first) == 3
    assert messages_relay(enqueue=second) == 0

    assert first == written
    assert second == []
    assert relayed_ids() == set(written)


def test_only_queued_messages_no_relay_has_handed_over_are_relayed(user):
    make_message(user, status=Message.Status.SENT)
    make_message(user, status=Message.Status.FAILED)
    # Queued again after a transient failure: its retry waits in the broker.
    make_message(user, attempts=1, relayed_at=timezone.now())
    new = make_message(user).pk

    enqueued = Enqueued()
    messages_relay(enqueue=enqueued)

    assert enqueued == [new]


def test_a_broker_that_is_down_stops_the_round_at_that_message(user):
    first, refused, third = (make_message(user).pk for _ in range(3))

    down = Enqueued(refuse=refused)
    with pytest.raises(BrokerUnavailable, match="the broker is down"):
        messages_relay(enqueue=down)
    assert down == [first]
    assert relayed_ids() == {first}

    back = Enqueued()
    messages_relay(enqueue=back)
    assert back == [refused, third]


def test_with_redis_unreachable_the_message_waits_for_the_next_round(user, monkeypatch):
    # A real Redis broker on a port nothing listens on, as in production with Redis down.
    monkeypatch.setattr(
        deliver_message, "broker", RedisBroker(url=f"redis://127.0.0.1:{free_port()}/0")
    )
    message = message_create(sender=user, subject="Hi", body="Broker is down")

    with pytest.raises(BrokerUnavailable, match="ConnectionError"):
        messages_relay(enqueue=deliver_message.send)

    assert awaiting_relay() == [message.pk]


def test_a_round_takes_at_most_a_batch(user):
    Message.objects.bulk_create(
        Message(sender=user, sender_email=user.email, subject=str(n), body="b")
        for n in range(RELAY_BATCH + 1)
    )

    enqueued = Enqueued()
    assert messages_relay(enqueue=enqueued) == RELAY_BATCH
    assert messages_relay(enqueue=enqueued) == 1
    assert len(enqueued) == RELAY_BATCH + 1


@pytest.mark.django_db(transaction=True)
def test_relays_side_by_side_take_different_messages_without_waiting(user):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time and no row locks")
    first, *rest = (make_message(user).pk for _ in range(4))
    holding = threading.Event()
    release = threading.Event()
    slow: list[int] = []

    def enqueue_slowly(message_id: int) -> None:
        slow.append(message_id)
        holding.set()
        release.wait(30)

    def slow_relay() -> None:
        try:
            messages_relay(enqueue=enqueue_slowly, limit=1)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_relay)
    thread.start()
    try:
        assert holding.wait(10)
        # The first relay holds its row's lock until it commits; the second skips it.
        other = Enqueued()
        assert messages_relay(enqueue=other) == len(rest)
        # Done while the first is still at work: it did not wait for the lock.
        assert thread.is_alive()
    finally:
        release.set()
        thread.join()

    assert slow == [first]
    assert other == rest
    assert relayed_ids() == {first, *rest}


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

    logged = [r.getMessage() for r in caplog.records if r.name == "contact.relay"]
    assert logged == [
        "Outbox relay: the broker is away; trying again every few seconds.",
        "Outbox relay: the broker is back; relaying again.",
    ]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("fault", [OperationalError, InterfaceError])
def test_a_lost_database_is_logged_once_and_the_relay_goes_on_after_it(
    user, broker, monkeypatch, caplog, fault
):
    failed_rounds = []
    real_relay = messages_relay

    def database_away_three_times(**kwargs) -> int:
        if len(failed_rounds) < 3:
            failed_rounds.append(1)
            raise fault("the connection is gone")
        return real_relay(**kwargs)

    monkeypatch.setattr("contact.relay.FAILING_INTERVAL", 0.02)
    monkeypatch.setattr("contact.services.messages_relay", database_away_three_times)
    message = message_create(sender=user, subject="Hello", body="Hi")
    with caplog.at_level(logging.WARNING, logger="contact.relay"), relay_running(broker):
        assert wait_until(lambda: queued_message_ids(broker) == [message.pk], timeout=10)

    assert len(failed_rounds) == 3
    assert [r.getMessage() for r in caplog.records if r.name == "contact.relay"] == [
        "Outbox relay: the database is away; trying again every few seconds.",
        "Outbox relay: the database is back; relaying again.",
    ]
