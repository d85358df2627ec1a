"""The worker side of the task queue (outbox/workers.py): the embedded mode's worker
threads in the web process, and the base of the threads that run beside every worker."""

import atexit
import threading
from unittest import mock

import dramatiq
import pytest
from django.utils import timezone

from contact.services import message_create
from outbox.models import Email
from outbox.workers import BackgroundThreadMiddleware, start_embedded_worker
from tests.conftest import make_person, wait_until
from tests.contact.factories import make_message
from users.models import AccountEmailKind
from users.services import account_email_queue


def status_of(email_id: int) -> str:
    return Email.objects.values_list("status", flat=True).get(pk=email_id)


@pytest.mark.django_db(transaction=True)
def test_the_embedded_worker_delivers_messages_in_process(broker, directory, smtp_sink):
    sender = make_person("ann@example.org", "x")
    worker = start_embedded_worker()
    assert worker is not None
    try:
        message = message_create(sender=sender, subject="Embedded", body="No Redis here")

        delivered = wait_until(lambda: status_of(message.email_id) == Email.Status.SENT, timeout=10)
    finally:
        worker.stop()
        # Stopped already; the process's own exit need not stop it again.
        atexit.unregister(worker.stop)

    assert delivered
    assert [r.message["Subject"] for r in smtp_sink.received] == [
        "Message from ann@example.org: Embedded"
    ]


@pytest.mark.django_db(transaction=True)
def test_the_embedded_worker_sends_account_emails_too(broker, smtp_sink):
    person = make_person("new@example.org", "x", confirmed=False)
    worker = start_embedded_worker()
    assert worker is not None
    try:
        # On the account queue, which the same worker threads consume.
        sent = account_email_queue(user=person, kind=AccountEmailKind.VERIFY_ADDRESS, language="en")

        delivered = wait_until(lambda: status_of(sent.pk) == Email.Status.SENT, timeout=10)
    finally:
        worker.stop()
        atexit.unregister(worker.stop)

    assert delivered
    assert [r.rcpt_tos for r in smtp_sink.received] == [["new@example.org"]]


@pytest.mark.django_db(transaction=True)
def test_emails_left_queued_go_out_when_the_embedded_worker_starts(broker, directory, smtp_sink):
    # Handed to the in-process broker of a process that has stopped since.
    sender = make_person("bo@example.org", "x")
    left = make_message(sender, subject="Left behind")
    link = account_email_queue(user=sender, kind=AccountEmailKind.PASSWORD_RESET, language="en")
    Email.objects.update(relayed_at=timezone.now())

    worker = start_embedded_worker()
    try:
        delivered = wait_until(
            lambda: {status_of(left.email_id), status_of(link.pk)} == {Email.Status.SENT},
            timeout=10,
        )
    finally:
        worker.stop()
        atexit.unregister(worker.stop)

    assert delivered
    assert sorted(r.message["Subject"] for r in smtp_sink.received) == [
        "Message from bo@example.org: Left behind",
        "Set a new password",
    ]


def test_with_a_real_broker_the_web_process_starts_no_worker():
    # `manage.py rundramatiq` runs the workers then.
    with mock.patch("outbox.workers.dramatiq.get_broker", return_value=mock.Mock()):
        assert start_embedded_worker() is None


class Beside(BackgroundThreadMiddleware):
    thread_name = "beside-the-worker"

    def __init__(self) -> None:
        super().__init__()
        self.started = threading.Event()
        self.ran_on: list[str] = []

    def run(self, broker: dramatiq.Broker) -> None:
        self.ran_on.append(threading.current_thread().name)
        self.started.set()
        self.stopping.wait()


def test_a_background_thread_runs_while_the_worker_does(broker):
    beside = Beside()
    worker = dramatiq.Worker(broker, worker_timeout=50)

    beside.after_worker_boot(broker, worker)
    assert beside.started.wait(timeout=5)
    thread = beside._thread
    assert thread is not None and thread.is_alive() and thread.daemon
    beside.before_worker_shutdown(broker, worker)

    assert not thread.is_alive()
    assert beside.ran_on == ["beside-the-worker"]
