"""The outbox relay: every queued email no relay has handed over is handed to the
broker once, oldest first, on its kind's queue, by relays that may run side by side."""

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone
from dramatiq.brokers.redis import RedisBroker

from contact.services import message_create
from outbox import kinds
from outbox.failures import BrokerUnavailable
from outbox.models import Email
from outbox.relay import OutboxRelay
from outbox.services import RELAY_BATCH, emails_relay
from outbox.tasks import ACTORS, enqueue
from tests.conftest import awaiting_relay, queued_message_ids, wait_until
from tests.contact.factories import make_message
from tests.standins.smtp import free_port
from users.models import AccountEmailKind
from users.services import account_email_queue

pytestmark = pytest.mark.django_db


class Enqueued(list):
    """The ids a round enqueued, in order, with the kinds in `kinds`; refuses `refuse` as a
    broker that is down would."""

    def __init__(self, refuse: int | None = None) -> None:
        super().__init__()
        self.refuse = refuse
        self.kinds: list[str] = []

    def __call__(self, email_id: int, kind: str) -> None:
        if email_id == self.refuse:
            raise ConnectionError("the broker is down")
        self.append(email_id)
        self.kinds.append(kind)


def relayed_ids() -> set[int]:
    return set(Email.objects.filter(relayed_at__isnull=False).values_list("pk", flat=True))


def queued_email(user) -> int:
    """The id of a new message's email, queued."""
    return make_message(user).email_id


def queued_emails(kind: str, count: int) -> list[int]:
    """The ids of `count` new emails of `kind`, queued, written in one statement."""
    written = Email.objects.bulk_create(
        Email(kind=kind, to="ann@example.org", language="en") for _ in range(count)
    )
    return [email.pk for email in written]


def test_each_new_email_is_relayed_once_in_key_order_whatever_its_kind(user):
    written = [
        queued_email(user),
        account_email_queue(user=user, kind=AccountEmailKind.VERIFY_ADDRESS, language="en").pk,
        queued_email(user),
    ]

    first, second = Enqueued(), Enqueued()
    assert emails_relay(enqueue=first) == 3
    assert emails_relay(enqueue=second) == 0

    assert first == written
    assert first.kinds == ["message", "verify_address", "message"]
    assert second == []
    assert relayed_ids() == set(written)


def test_only_queued_emails_no_relay_has_handed_over_are_relayed(user):
    make_message(user, status=Email.Status.SENT)
    make_message(user, status=Email.Status.FAILED)
    # Queued again after a transient failure: its retry waits in the broker.
    make_message(user, attempts=1, relayed_at=timezone.now())
    new = queued_email(user)

    enqueued = Enqueued()
    emails_relay(enqueue=enqueued)

    assert enqueued == [new]


def test_a_broker_that_is_down_stops_the_round_at_that_email(user):
    first, refused, third = (queued_email(user) for _ in range(3))

    down = Enqueued(refuse=refused)
    with pytest.raises(BrokerUnavailable, match="the broker is down"):
        emails_relay(enqueue=down)
    assert down == [first]
    assert relayed_ids() == {first}

    back = Enqueued()
    emails_relay(enqueue=back)
    assert back == [refused, third]


def test_with_redis_unreachable_the_email_waits_for_the_next_round(user, monkeypatch):
    # A real Redis broker on a port nothing listens on, as in production with Redis down.
    monkeypatch.setattr(
        ACTORS[kinds.QUEUE_DEFAULT],
        "broker",
        RedisBroker(url=f"redis://127.0.0.1:{free_port()}/0"),
    )
    message = message_create(sender=user, subject="Hi", body="Broker is down")

    with pytest.raises(BrokerUnavailable, match="ConnectionError"):
        emails_relay(enqueue=enqueue)

    assert awaiting_relay() == [message.email_id]


def test_a_round_takes_at_most_a_batch(db):
    queued_emails("message", RELAY_BATCH + 1)

    enqueued = Enqueued()
    assert emails_relay(enqueue=enqueued) == RELAY_BATCH
    assert emails_relay(enqueue=enqueued) == 1
    assert len(enqueued) == RELAY_BATCH + 1


def test_one_round_hands_every_kind_to_its_own_queue(user, broker):
    # A full batch, half of it account emails written after the messages: none waits a
    # round behind the messages.
    half = RELAY_BATCH // 2
    messages = queued_emails("message", half)
    accounts = queued_emails("verify_address", RELAY_BATCH - half)

    assert emails_relay(enqueue=enqueue) == RELAY_BATCH

    assert queued_message_ids(broker) == messages
    assert queued_message_ids(broker, kinds.QUEUE_ACCOUNT) == accounts
    assert awaiting_relay() == []


@pytest.mark.django_db(transaction=True)
def test_relays_side_by_side_take_different_emails_without_waiting(user):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time and no row locks")
    first, *rest = (queued_email(user) for _ in range(4))
    holding = threading.Event()
    release = threading.Event()
    slow: list[int] = []

    def enqueue_slowly(email_id: int, kind: str) -> None:
        slow.append(email_id)
        holding.set()
        release.wait(30)

    def slow_relay() -> None:
        try:
            emails_relay(enqueue=enqueue_slowly, limit=1)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_relay)
    thread.start()
    try:
        assert holding.wait(10)
        # The first relay holds its row's lock until it commits; the second skips it.
        other = Enqueued()
        assert emails_relay(enqueue=other) == len(rest)
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
    account = account_email_queue(user=user, kind=AccountEmailKind.PASSWORD_RESET, language="en")

    assert wait_until(lambda: queued_message_ids(broker) == [message.email_id], timeout=10)
    assert wait_until(
        lambda: queued_message_ids(broker, kinds.QUEUE_ACCOUNT) == [account.pk], timeout=10
    )


@pytest.mark.django_db(transaction=True)
def test_after_a_full_batch_the_next_round_comes_at_once(user, broker, settings):
    # Account emails behind a full batch of messages go out in the round straight after
    # it, not one interval later.
    settings.MESSAGE_RELAY_INTERVAL = 60
    messages = queued_emails("message", RELAY_BATCH)
    accounts = queued_emails("sign_up_attempt", 3)

    with relay_running(broker):
        assert wait_until(
            lambda: queued_message_ids(broker, kinds.QUEUE_ACCOUNT) == accounts, timeout=10
        )

    assert queued_message_ids(broker) == messages


@pytest.mark.django_db(transaction=True)
def test_a_broker_outage_is_logged_once_and_the_email_relayed_after_it(
    user, broker, monkeypatch, caplog
):
    attempts = []

    def broker_down(email_id: int) -> None:
        attempts.append(email_id)
        raise ConnectionError("Redis is away")

    monkeypatch.setattr("outbox.relay.FAILING_INTERVAL", 0.02)
    monkeypatch.setattr(ACTORS[kinds.QUEUE_DEFAULT], "send", broker_down)
    message = message_create(sender=user, subject="Hello", body="Hi")
    with caplog.at_level(logging.WARNING, logger="outbox.relay"), relay_running(broker):
        assert wait_until(lambda: len(attempts) >= 5, timeout=10)
        monkeypatch.undo()
        assert wait_until(lambda: queued_message_ids(broker) == [message.email_id], timeout=10)

    logged = [r.getMessage() for r in caplog.records if r.name == "outbox.relay"]
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
    real_relay = emails_relay

    def database_away_three_times(**kwargs) -> int:
        if len(failed_rounds) < 3:
            failed_rounds.append(1)
            raise fault("the connection is gone")
        return real_relay(**kwargs)

    monkeypatch.setattr("outbox.relay.FAILING_INTERVAL", 0.02)
    monkeypatch.setattr("outbox.services.emails_relay", database_away_three_times)
    message = message_create(sender=user, subject="Hello", body="Hi")
    with caplog.at_level(logging.WARNING, logger="outbox.relay"), relay_running(broker):
        assert wait_until(lambda: queued_message_ids(broker) == [message.email_id], timeout=10)

    assert len(failed_rounds) == 3
    assert [r.getMessage() for r in caplog.records if r.name == "outbox.relay"] == [
        "Outbox relay: the database is away; trying again every few seconds.",
        "Outbox relay: the database is back; relaying again.",
    ]
