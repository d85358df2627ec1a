"""The delivery actor end to end: message_create enqueues on commit, a broker (the
in-process one, and a real Redis one) carries the task, a Dramatiq worker runs it
against real SMTP and directory stand-ins."""

import json
from collections.abc import Iterator

import dramatiq
import pytest
from django.conf import settings
from django_dramatiq.utils import load_middleware
from dramatiq.brokers.redis import RedisBroker

from contact.models import Message
from contact.services import message_create
from contact.tasks import deliver_message
from tests.conftest import make_person, wait_until
from tests.standins.directory import USERS
from users.models import User

# The worker runs on its own threads and database connection: rows must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def leanne() -> User:
    return make_person("sincere@april.biz", "x")


@pytest.fixture(params=["in-process", "redis"])
def delivery_broker(request, broker) -> Iterator[dramatiq.Broker]:
    """The broker the delivery actor sends through: the embedded mode's, or Redis with
    the middleware the settings give production."""
    if request.param == "in-process":
        yield broker
        return
    client = request.getfixturevalue("test_redis")
    middleware = [load_middleware(path) for path in settings.DRAMATIQ_BROKER["MIDDLEWARE"]]
    redis_broker = RedisBroker(client=client, middleware=middleware)
    redis_broker.declare_actor(deliver_message)
    in_process = deliver_message.broker
    deliver_message.broker = redis_broker
    yield redis_broker
    deliver_message.broker = in_process
    redis_broker.close()


@pytest.fixture
def delivery_worker(delivery_broker) -> Iterator[dramatiq.Worker]:
    worker = dramatiq.Worker(delivery_broker, worker_timeout=50)
    worker.start()
    yield worker
    worker.stop()


def delivered(*messages: Message, timeout: float = 20) -> bool:
    """Wait until every message has reached a final status."""
    final = {Message.Status.SENT, Message.Status.FAILED}
    ids = [message.pk for message in messages]
    return wait_until(
        lambda: set(Message.objects.filter(pk__in=ids).values_list("status", flat=True)) <= final,
        timeout=timeout,
    )


def test_a_created_message_is_delivered_by_the_worker(
    leanne, directory, smtp_sink, delivery_worker
):
    message = message_create(sender=leanne, subject="Hello", body="From the worker")

    assert delivered(message)

    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.directory_status == Message.DirectoryStatus.FOUND
    [received] = smtp_sink.received
    [attachment] = list(received.message.iter_attachments())
    assert json.loads(attachment.get_content()) == [USERS[0]]


def test_a_transient_failure_is_retried_by_the_broker(
    leanne, directory, smtp_sink, delivery_worker, fast_retries
):
    smtp_sink.replies = ["421 4.7.0 Too busy", "451 4.3.0 Try again later"]

    message = message_create(sender=leanne, subject="Hello", body="Third time lucky")
    assert delivered(message)

    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.attempts == 3
    assert len(smtp_sink.received) == 1


def test_a_permanent_failure_is_not_retried(leanne, directory, smtp_sink, delivery_worker):
    smtp_sink.replies = ["554 5.7.1 Rejected"]

    message = message_create(sender=leanne, subject="Hello", body="Never delivered")
    assert delivered(message)

    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert message.attempts == 1
    assert smtp_sink.attempts == ["554 5.7.1 Rejected"]


def test_a_duplicate_task_sends_one_email(leanne, directory, smtp_sink, delivery_worker, settings):
    # The duplicate may find the message in flight and look again when the lease ends.
    settings.MESSAGE_ATTEMPT_TIME_LIMIT = 2
    message = message_create(sender=leanne, subject="Hello", body="Only once")
    deliver_message.send(message.pk)

    assert delivered(message)

    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.attempts == 1
    assert len(smtp_sink.received) == 1
