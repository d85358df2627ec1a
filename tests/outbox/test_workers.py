import atexit

import pytest
from django.utils import timezone

from contact.models import Message
from contact.services import message_create
from site_config.task_queue import start_embedded_worker
from tests.conftest import make_person, wait_until
from tests.contact.factories import make_message

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_embedded_worker_delivers_messages_in_process(broker, directory, smtp_sink):
    sender = make_person("ann@example.org", "x")
    worker = start_embedded_worker()
    assert worker is not None
    try:
        message = message_create(sender=sender, subject="Embedded", body="No Redis here")

        delivered = wait_until(
            lambda: Message.objects.get(pk=message.pk).status == Message.Status.SENT,
            timeout=10,
        )
    finally:
        worker.stop()
        # Stopped already; the process's own exit need not stop it again.
        atexit.unregister(worker.stop)

    assert delivered
    assert [r.message["Subject"] for r in smtp_sink.received] == [
        "Message from ann@example.org: Embedded"
    ]


def test_messages_left_queued_go_out_when_the_embedded_worker_starts(broker, directory, smtp_sink):
    # Handed to the in-process broker of a process that has stopped since.
    sender = make_person("bo@example.org", "x")
    left = make_message(sender, subject="Left behind", relayed_at=timezone.now())

    worker = start_embedded_worker()
    try:
        delivered = wait_until(
            lambda: Message.objects.get(pk=left.pk).status == Message.Status.SENT, timeout=10
        )
    finally:
        worker.stop()
        atexit.unregister(worker.stop)

    assert delivered
    assert [r.message["Subject"] for r in smtp_sink.received] == [
        "Message from bo@example.org: Left behind"
    ]
