"""The delivery actors end to end: the web queues an email, the relay beside the worker
hands it to its kind's queue, a broker (the in-process one, and a real Redis one) carries
the task, and a Dramatiq worker runs it against real SMTP and directory stand-ins."""

import json
from collections.abc import Iterator

import dramatiq
import pytest
from django.conf import settings
from django_dramatiq.utils import load_middleware
from dramatiq.brokers.redis import RedisBroker

from contact.models import Message
from contact.services import message_create
from outbox import kinds
from outbox.models import Email
from outbox.tasks import ACTORS, enqueue
from tests.conftest import make_person, wait_until
from tests.standins.directory import USERS
from users.models import AccountEmailKind, User
from users.services import account_email_queue

# The worker runs on its own threads and database connection: rows must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def leanne() -> User:
    return make_person("sincere@april.biz", "x")


@pytest.fixture(params=["in-process", "redis"])
def delivery_broker(request, broker) -> Iterator[dramatiq.Broker]:
    """The broker the delivery actors send through: the embedded mode's, or Redis with
    the middleware the settings give production."""
    if request.param == "in-process":
        yield broker
        return
    client = request.getfixturevalue("test_redis")
    middleware = [load_middleware(path) for path in settings.DRAMATIQ_BROKER["MIDDLEWARE"]]
    redis_broker = RedisBroker(client=client, middleware=middleware)
    in_process = {queue: actor.broker for queue, actor in ACTORS.items()}
    for actor in ACTORS.values():
        redis_broker.declare_actor(actor)
        actor.broker = redis_broker
    yield redis_broker
    for queue, actor in ACTORS.items():
        actor.broker = in_process[queue]
    redis_broker.close()


@pytest.fixture
def delivery_worker(delivery_broker) -> Iterator[dramatiq.Worker]:
    worker = dramatiq.Worker(delivery_broker, worker_timeout=50)
    worker.start()
    yield worker
    worker.stop()


def delivered(*emails: Email, timeout: float = 20) -> bool:
    """Wait until every email has reached a final status."""
    final = {Email.Status.SENT, Email.Status.FAILED}
    ids = [email.pk for email in emails]
    return wait_until(
        lambda: set(Email.objects.filter(pk__in=ids).values_list("status", flat=True)) <= final,
        timeout=timeout,
    )


def test_a_created_message_is_delivered_by_the_worker(
    leanne, directory, smtp_sink, delivery_worker
):
    message = message_create(sender=leanne, subject="Hello", body="From the worker")

    assert delivered(message.email)

    message = Message.objects.select_related("email").get(pk=message.pk)
    assert message.email.status == Email.Status.SENT
    assert message.directory_status == Message.DirectoryStatus.FOUND
    [received] = smtp_sink.received
    [attachment] = list(received.message.iter_attachments())
    assert json.loads(attachment.get_content()) == [USERS[0]]


def test_an_account_email_is_delivered_by_the_worker_of_its_own_queue(
    leanne, smtp_sink, delivery_worker
):
    email = account_email_queue(user=leanne, kind=AccountEmailKind.VERIFY_ADDRESS, language="en")

    assert delivered(email)

    email.refresh_from_db()
    assert (email.status, email.attempts) == (Email.Status.SENT, 1)
    [received] = smtp_sink.received
    assert received.rcpt_tos == [leanne.email]


def test_each_kind_is_sent_by_the_actor_of_its_queue():
    assert {queue: actor.queue_name for queue, actor in ACTORS.items()} == {
        kinds.QUEUE_DEFAULT: "email",
        kinds.QUEUE_ACCOUNT: "account",
    }
    assert ACTORS[kinds.queue_of(Message.EMAIL_KIND)].actor_name == "send_email"
    for kind in AccountEmailKind:
        assert ACTORS[kinds.queue_of(kind)].actor_name == "send_account_email"
    # A kind no app registers goes on the default queue, whose worker records it failed.
    assert kinds.queue_of("retired_kind") == kinds.QUEUE_DEFAULT


def test_a_transient_failure_is_retried_by_the_broker(
    leanne, directory, smtp_sink, delivery_worker, fast_retries
):
    smtp_sink.replies = ["421 4.7.0 Too busy", "451 4.3.0 Try again later"]

    message = message_create(sender=leanne, subject="Hello", body="Third time lucky")
    assert delivered(message.email)

    email = Email.objects.get(pk=message.email_id)
    assert email.status == Email.Status.SENT
    assert email.attempts == 3
    assert len(smtp_sink.received) == 1


def test_a_permanent_failure_is_not_retried(leanne, directory, smtp_sink, delivery_worker):
    smtp_sink.replies = ["554 5.7.1 Rejected"]

    message = message_create(sender=leanne, subject="Hello", body="Never delivered")
    assert delivered(message.email)

    email = Email.objects.get(pk=message.email_id)
    assert email.status == Email.Status.FAILED
    assert email.attempts == 1
    assert smtp_sink.attempts == ["554 5.7.1 Rejected"]


def test_a_duplicate_task_sends_one_email(leanne, directory, smtp_sink, delivery_worker, settings):
    # The duplicate may find the email in flight and look again when the lease ends.
    settings.MESSAGE_ATTEMPT_TIME_LIMIT = 2
    message = message_create(sender=leanne, subject="Hello", body="Only once")
    enqueue(message.email_id, Message.EMAIL_KIND)

    assert delivered(message.email)

    email = Email.objects.get(pk=message.email_id)
    assert email.status == Email.Status.SENT
    assert email.attempts == 1
    assert len(smtp_sink.received) == 1
