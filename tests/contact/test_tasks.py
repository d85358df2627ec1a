"""The delivery actor end to end: message_create enqueues on commit, the in-process
broker carries the task, a Dramatiq worker runs it against real SMTP and directory
stand-ins."""

import json

import pytest

from contact.models import Message
from contact.services import message_create
from contact.tasks import deliver_message
from tests.standins.directory import USERS
from users.models import User

# The worker runs on its own threads and database connection: rows must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def leanne() -> User:
    return User.objects.create_user(email="sincere@april.biz", password="x")


def drain(broker, worker) -> None:
    # fail_fast=False: a message the actor failed on purpose is an outcome, not an error.
    broker.join("email", fail_fast=False, timeout=20_000)
    worker.join()


def test_a_created_message_is_delivered_by_the_worker(leanne, directory, smtp_sink, broker, worker):
    message = message_create(sender=leanne, subject="Hello", body="From the worker")

    drain(broker, worker)

    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.directory_status == Message.DirectoryStatus.FOUND
    [received] = smtp_sink.received
    [attachment] = list(received.message.iter_attachments())
    assert json.loads(attachment.get_content()) == [USERS[0]]


def test_a_transient_failure_is_retried_by_the_broker(
    leanne, directory, smtp_sink, broker, worker, fast_retries
):
    smtp_sink.replies = ["421 4.7.0 Too busy", "451 4.3.0 Try again later"]

    message = message_create(sender=leanne, subject="Hello", body="Third time lucky")
    drain(broker, worker)

    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.attempts == 3
    assert len(smtp_sink.received) == 1


def test_a_permanent_failure_is_not_retried(leanne, directory, smtp_sink, broker, worker):
    smtp_sink.replies = ["554 5.7.1 Rejected"]

    message = message_create(sender=leanne, subject="Hello", body="Never delivered")
    drain(broker, worker)

    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert message.attempts == 1
    assert smtp_sink.attempts == ["554 5.7.1 Rejected"]
    assert broker.dead_letters, "Dramatiq should record the message as failed too"


def test_a_duplicate_task_sends_one_email(leanne, directory, smtp_sink, broker, worker, settings):
    # The duplicate may find the message in flight and look again when the lease ends.
    settings.MESSAGE_ATTEMPT_TIME_LIMIT = 2
    message = message_create(sender=leanne, subject="Hello", body="Only once")
    deliver_message.send(message.pk)

    drain(broker, worker)

    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.attempts == 1
    assert len(smtp_sink.received) == 1
