import json
import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from contact.models import Message
from contact.services import (
    MessageRateLimited,
    SenderUnconfirmed,
    message_create,
    message_email,
    messages_retry,
)
from outbox.failures import DeliveryFailed
from outbox.models import Email
from outbox.services import email_send
from tests.conftest import awaiting_relay, make_person, queued_message_ids
from tests.contact.factories import make_message
from tests.standins import directory as modes
from tests.standins.directory import USERS
from users.models import User

pytestmark = pytest.mark.django_db

LEANNE = USERS[0]


@pytest.fixture
def leanne(db) -> User:
    # Registered in lower case; the directory has "Sincere@april.biz".
    return make_person("sincere@april.biz", "x")


def deliver(message: Message) -> Message:
    """`message` after one attempt to send its email, as the database holds both."""
    email_send(email_id=message.email_id)
    return Message.objects.select_related("email").get(pk=message.pk)


# ---------------------------------------------------------------- message_create


def test_message_create_saves_the_message_with_its_email_queued_to_the_administrators(
    user, settings
):
    settings.ADMIN_EMAIL = "admin@example.org, Deputy <deputy@example.org>"

    message = message_create(sender=user, subject="Hi", body="Hello there")

    saved = Message.objects.select_related("email").get(pk=message.pk)
    assert (saved.subject, saved.body, saved.sender) == ("Hi", "Hello there", user)
    assert saved.sender_email == user.email
    assert saved.sender_email_confirmed is True
    email = saved.email
    assert (email.kind, email.status, email.attempts) == (Message.EMAIL_KIND, "queued", 0)
    assert email.to == "admin@example.org, Deputy <deputy@example.org>"
    assert email.user is None
    assert email.language == settings.LANGUAGE_CODE


def test_message_create_counts_no_further_than_the_limit(user, settings, django_assert_num_queries):
    settings.MESSAGES_PER_HOUR = 3

    with django_assert_num_queries(5) as captured:
        message_create(sender=user, subject="Hi", body="Hello there")

    count, *writes = (query["sql"] for query in captured.captured_queries)
    assert count.startswith("SELECT COUNT(*)") and "LIMIT 3" in count
    # The email and the message, in one transaction (a savepoint inside the test's).
    assert [sql.split()[0] for sql in writes] == ["SAVEPOINT", "INSERT", "INSERT", "RELEASE"]
    assert [sql.split()[2].strip('"') for sql in writes[1:3]] == [
        "outbox_email",
        "contact_message",
    ]


def test_message_create_refuses_past_the_hourly_limit_and_writes_nothing(user, settings):
    settings.MESSAGES_PER_HOUR = 2
    make_message(user, created_at=timezone.now() - timedelta(minutes=61))
    for _ in range(2):
        message_create(sender=user, subject="Hi", body="Hello there")

    with pytest.raises(MessageRateLimited) as limited:
        message_create(sender=user, subject="Hi", body="Hello there")

    assert Message.objects.filter(sender=user).count() == 3
    assert Email.objects.count() == 3
    assert timedelta(minutes=59) < limited.value.retry_in <= timedelta(hours=1)


def test_message_create_refuses_a_sender_whose_address_is_unconfirmed(unconfirmed_user):
    with pytest.raises(SenderUnconfirmed):
        message_create(sender=unconfirmed_user, subject="Hi", body="Hello there")

    assert not Message.objects.exists()
    assert not Email.objects.exists()


def test_message_create_leaves_the_message_to_the_relay(
    user, broker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        message = message_create(sender=user, subject="Hi", body="Hello there")

    assert callbacks == []
    assert queued_message_ids(broker) == []
    assert awaiting_relay() == [message.email_id]


def test_message_create_logs_the_message_with_its_email(user, caplog):
    caplog.set_level(logging.INFO, logger="contact.services")

    message = message_create(sender=user, subject="Hi", body="Hello there")

    [line] = [r for r in caplog.records if r.name == "contact.services"]
    assert line.getMessage() == (
        f"message_queued message_id={message.pk} email_id={message.email_id} user_id={user.pk}"
    )
    assert (line.message_id, line.email_id, line.user_id) == (
        message.pk,
        message.email_id,
        user.pk,
    )


# ---------------------------------------------------------------- message_email


def test_the_email_of_a_message_is_its_admin_email(user, directory, settings):
    settings.ADMIN_EMAIL = "admin@example.org"
    message = make_message(user)

    email = message_email(message.email)

    assert email.to == ["admin@example.org"]
    assert email.reply_to == [user.email]
    assert email.subject == f"Message from {user.email}: Question about my order"


def test_delivers_to_the_administrator_with_the_directory_entry_attached(
    leanne, directory, smtp_sink
):
    message = deliver(make_message(leanne))

    assert message.email.status == Email.Status.SENT
    assert message.email.attempts == 1
    assert message.email.sent_at is not None
    assert message.directory_status == Message.DirectoryStatus.FOUND
    assert message.directory_data == [LEANNE]
    [received] = smtp_sink.received
    assert received.rcpt_tos == ["admin@example.org"]
    assert received.mail_from == "site@example.org"
    email = received.message
    assert email["To"] == "admin@example.org"
    assert email["From"] == "site@example.org"
    assert email["Reply-To"] == "sincere@april.biz"
    assert email["Subject"] == "Message from sincere@april.biz: Question about my order"
    assert "where is my parcel?" in email.get_body(("plain",)).get_content()
    [attachment] = list(email.iter_attachments())
    assert attachment.get_filename() == "directory-user.json"
    assert json.loads(attachment.get_content()) == [LEANNE]


def test_a_frequent_sender_is_looked_up_once_and_attached_every_time(
    leanne, directory, smtp_sink, settings
):
    settings.USER_DIRECTORY_CACHE_SECONDS = 300

    messages = [deliver(make_message(leanne)) for _ in range(3)]

    assert len(directory.requests) == 1
    assert [message.directory_data for message in messages] == [[LEANNE]] * 3
    attached = [
        json.loads(next(received.message.iter_attachments()).get_content())
        for received in smtp_sink.received
    ]
    assert attached == [[LEANNE]] * 3


def test_unknown_email_sends_without_attachment(user, directory, smtp_sink):
    message = deliver(make_message(user))

    assert message.email.status == Email.Status.SENT
    assert message.directory_status == Message.DirectoryStatus.NOT_FOUND
    email = smtp_sink.received[0].message
    assert list(email.iter_attachments()) == []
    assert "not found" in email.get_body(("plain",)).get_content()


@pytest.mark.parametrize(
    "mode",
    [
        modes.SERVER_ERROR,
        modes.HANG,
        modes.INVALID_JSON,
        modes.NOT_A_LIST,
        modes.OVERSIZED,
    ],
)
def test_a_failing_directory_never_stops_the_email(leanne, directory, smtp_sink, mode):
    directory.mode = mode

    message = deliver(make_message(leanne))

    assert message.email.status == Email.Status.SENT
    assert message.directory_status == Message.DirectoryStatus.UNAVAILABLE
    assert message.directory_data == []
    email = smtp_sink.received[0].message
    assert "directory unavailable" in email.get_body(("plain",)).get_content()
    assert list(email.iter_attachments()) == []


def test_each_lookup_logs_one_line_with_what_the_directory_said(
    leanne, directory, smtp_sink, settings, caplog
):
    settings.USER_DIRECTORY_CACHE_SECONDS = 300
    first, second = make_message(leanne), make_message(leanne)
    caplog.set_level(logging.INFO, logger="contact.services")

    deliver(first)
    deliver(second)

    records = [r for r in caplog.records if r.getMessage().startswith("directory_lookup")]
    assert [r.getMessage() for r in records] == [
        f"directory_lookup message_id={first.pk} email_id={first.email_id} directory=found "
        "directory_cached=false",
        f"directory_lookup message_id={second.pk} email_id={second.email_id} directory=found "
        "directory_cached=true",
    ]
    assert [(r.message_id, r.email_id) for r in records] == [
        (first.pk, first.email_id),
        (second.pk, second.email_id),
    ]


# ---------------------------------------------------------------- messages_retry


def test_messages_retry_queues_the_emails_of_the_messages_that_did_not_arrive(user):
    relayed = timezone.now()
    failed = make_message(
        user, status=Email.Status.FAILED, attempts=5, last_error="550", relayed_at=relayed
    )
    bounced = make_message(user, status=Email.Status.BOUNCED, attempts=1, relayed_at=relayed)
    sent = make_message(user, status=Email.Status.SENT, attempts=1, relayed_at=relayed)

    retried = messages_retry(message_ids=[failed.pk, bounced.pk, sent.pk])

    assert retried == 2
    failed.email.refresh_from_db()
    sent.email.refresh_from_db()
    assert (failed.email.status, failed.email.attempts) == (Email.Status.QUEUED, 0)
    assert sent.email.status == Email.Status.SENT
    assert awaiting_relay() == sorted([failed.email_id, bounced.email_id])


def test_messages_retry_retries_a_messages_own_email_and_no_other(user):
    # A message's id is not its email's: here it is the id of an account email.
    other = Email.objects.create(
        kind="verify_address", to=user.email, language="en", status=Email.Status.FAILED
    )
    message = make_message(user, id=other.pk, status=Email.Status.FAILED)
    assert message.email_id != other.pk

    assert messages_retry(message_ids=[message.pk]) == 1

    other.refresh_from_db()
    assert other.status == Email.Status.FAILED
    assert awaiting_relay() == [message.email_id]


def test_a_retry_keeps_what_the_directory_found_when_it_is_unavailable(
    leanne, directory, smtp_sink, settings
):
    settings.USER_DIRECTORY_CACHE_SECONDS = 0
    smtp_sink.replies = ["550 5.1.1 Mailbox unavailable"]
    message = make_message(leanne)
    with pytest.raises(DeliveryFailed):
        email_send(email_id=message.email_id)
    assert messages_retry(message_ids=[message.pk]) == 1
    directory.mode = modes.SERVER_ERROR

    message = deliver(message)

    assert message.email.status == Email.Status.SENT
    assert message.directory_status == Message.DirectoryStatus.FOUND
    assert message.directory_data == [LEANNE]
    email = smtp_sink.received[-1].message
    [attachment] = list(email.iter_attachments())
    assert json.loads(attachment.get_content()) == [LEANNE]
    assert "Name: Leanne Graham" in email.get_body(("plain",)).get_content()


def test_the_email_of_a_message_staff_deleted_is_dropped_unsent(user, smtp_sink):
    message = message_create(sender=user, subject="Never mind", body="Sorry")
    email_id = message.email_id
    message.delete()

    email_send(email_id=email_id)

    assert not Email.objects.filter(pk=email_id).exists()
    assert smtp_sink.received == []
