import json
from datetime import UTC, datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.urls import reverse
from django.utils import timezone

from contact.models import Message
from contact.services import (
    DeliveryDeferred,
    DeliveryFailed,
    MessageRateLimited,
    Report,
    message_create,
    message_deliver,
    message_report,
    messages_retry,
    messages_sweep,
    retry_delay,
)
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
    message_deliver(message_id=message.pk)
    message.refresh_from_db()
    return message


# ---------------------------------------------------------------- message_create


def test_message_create_saves_a_queued_row_from_the_sender(user):
    message = message_create(sender=user, subject="Hi", body="Hello there")

    assert message.status == Message.Status.QUEUED
    assert message.sender_email == user.email
    assert message.attempts == 0
    assert Message.objects.get(pk=message.pk).subject == "Hi"


def test_message_create_counts_no_further_than_the_limit(user, settings, django_assert_num_queries):
    settings.MESSAGES_PER_HOUR = 3

    with django_assert_num_queries(2) as captured:
        message_create(sender=user, subject="Hi", body="Hello there")

    count, insert = (query["sql"] for query in captured.captured_queries)
    assert count.startswith("SELECT COUNT(*)") and "LIMIT 3" in count
    assert insert.startswith("INSERT")


def test_message_create_refuses_past_the_hourly_limit_and_writes_nothing(user, settings):
    settings.MESSAGES_PER_HOUR = 2
    make_message(user, created_at=timezone.now() - timedelta(minutes=61))
    for _ in range(2):
        message_create(sender=user, subject="Hi", body="Hello there")

    with pytest.raises(MessageRateLimited):
        message_create(sender=user, subject="Hi", body="Hello there")

    assert Message.objects.filter(sender=user).count() == 3


def test_message_create_leaves_the_message_to_the_relay(
    user, broker, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        message = message_create(sender=user, subject="Hi", body="Hello there")

    assert callbacks == []
    assert queued_message_ids(broker) == []
    assert awaiting_relay() == [message.pk]


# ---------------------------------------------------------------- message_deliver


def test_delivers_to_the_administrator_with_the_directory_entry_attached(
    leanne, directory, smtp_sink
):
    message = deliver(make_message(leanne))

    assert message.status == Message.Status.SENT
    assert message.attempts == 1
    assert message.sent_at is not None
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

    assert message.status == Message.Status.SENT
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

    assert message.status == Message.Status.SENT
    assert message.directory_status == Message.DirectoryStatus.UNAVAILABLE
    assert message.directory_data == []
    email = smtp_sink.received[0].message
    assert "directory unavailable" in email.get_body(("plain",)).get_content()
    assert list(email.iter_attachments()) == []


def test_a_refused_connection_is_retried_then_sent(user, directory, smtp_sink):
    smtp_sink.stop()
    message = make_message(user)

    with pytest.raises(DeliveryDeferred) as deferred:
        message_deliver(message_id=message.pk)
    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED
    assert "ConnectionRefusedError" in message.last_error
    assert deferred.value.retry_in == retry_delay(1)

    smtp_sink.start()
    message = deliver(message)

    assert message.status == Message.Status.SENT
    assert message.attempts == 2
    assert message.last_error == ""
    assert len(smtp_sink.received) == 1


def test_a_temporary_smtp_refusal_is_retried_then_sent(user, directory, smtp_sink):
    smtp_sink.replies = ["451 4.3.0 Try again later"]
    message = make_message(user)

    with pytest.raises(DeliveryDeferred):
        message_deliver(message_id=message.pk)
    message = deliver(message)

    assert message.status == Message.Status.SENT
    assert message.attempts == 2
    assert smtp_sink.attempts == ["451 4.3.0 Try again later", "250 Message accepted"]


def test_a_permanent_smtp_refusal_fails_at_once(user, directory, smtp_sink):
    smtp_sink.replies = ["550 5.1.1 Mailbox unavailable"]
    message = make_message(user)

    with pytest.raises(DeliveryFailed):
        message_deliver(message_id=message.pk)

    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert message.attempts == 1
    assert "550" in message.last_error
    assert "Mailbox unavailable" in message.last_error


def test_a_reply_to_that_cannot_be_written_fails_at_once_unsent(user, directory, smtp_sink):
    # An address from before sign-up refused such addresses, or typed into the admin.
    message = make_message(user, sender_email='"a\x01b"@example.org')

    with pytest.raises(DeliveryFailed):
        message_deliver(message_id=message.pk)

    message.refresh_from_db()
    assert (message.status, message.attempts) == (Message.Status.FAILED, 1)
    assert "Reply-To" in message.last_error
    assert smtp_sink.received == []


def test_running_out_of_attempts_fails_with_the_error_recorded(
    user, directory, smtp_sink, settings
):
    settings.MESSAGE_MAX_ATTEMPTS = 3
    smtp_sink.replies = ["451 4.3.0 Try again later"] * 3
    message = make_message(user)

    for _ in range(2):
        with pytest.raises(DeliveryDeferred):
            message_deliver(message_id=message.pk)
    with pytest.raises(DeliveryFailed):
        message_deliver(message_id=message.pk)

    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert message.attempts == 3
    assert "451" in message.last_error
    assert smtp_sink.received == []


@pytest.mark.parametrize("status", [Message.Status.SENT, Message.Status.SENDING])
def test_a_message_that_is_not_queued_is_left_alone(user, directory, smtp_sink, status):
    message = deliver(make_message(user, status=status, attempts=1))

    assert message.status == status
    assert message.attempts == 1
    assert smtp_sink.attempts == []


def test_retry_delay_doubles_up_to_the_cap(settings):
    settings.MESSAGE_RETRY_BACKOFF = 10
    settings.MESSAGE_RETRY_BACKOFF_MAX = 60

    assert [retry_delay(attempts) for attempts in range(1, 6)] == [10, 20, 40, 60, 60]


# ---------------------------------------------------------------- messages_retry


def test_messages_retry_requeues_failed_messages_only(user):
    relayed = timezone.now()
    failed = make_message(
        user, status=Message.Status.FAILED, attempts=5, last_error="550", relayed_at=relayed
    )
    sent = make_message(user, status=Message.Status.SENT, attempts=1, relayed_at=relayed)

    retried = messages_retry(message_ids=[failed.pk, sent.pk])

    assert retried == 1
    failed.refresh_from_db()
    sent.refresh_from_db()
    assert (failed.status, failed.attempts) == (Message.Status.QUEUED, 0)
    assert sent.status == Message.Status.SENT
    assert awaiting_relay() == [failed.pk]


# ---------------------------------------------------------------- leases and the sweeper


def test_a_message_in_flight_is_left_to_its_worker(user, smtp_sink):
    lease_ends = timezone.now() + timedelta(seconds=30)
    message = make_message(
        user, status=Message.Status.SENDING, attempts=1, lease_expires_at=lease_ends
    )

    message = deliver(message)

    assert (message.status, message.attempts) == (Message.Status.SENDING, 1)
    assert smtp_sink.attempts == []


def test_a_transient_failure_sets_when_the_next_attempt_is_due(user, smtp_sink, settings):
    settings.MESSAGE_RETRY_BACKOFF = 60
    smtp_sink.replies = ["451 4.3.0 Try again later"]
    message = make_message(user)

    with pytest.raises(DeliveryDeferred):
        message_deliver(message_id=message.pk)

    message.refresh_from_db()
    due_in = (message.next_attempt_at - timezone.now()).total_seconds()
    assert 55 < due_in <= 60


def test_the_sweeper_hands_back_a_message_whose_task_was_lost(user, settings):
    settings.MESSAGE_SWEEP_QUEUED_AFTER = 120
    now = timezone.now()
    stranded = make_message(user, next_attempt_at=now - timedelta(minutes=3), relayed_at=now)
    make_message(user, next_attempt_at=now - timedelta(minutes=1), relayed_at=now)

    assert messages_sweep() == 1
    assert awaiting_relay() == [stranded.pk]
    # Swept once per threshold: straight away again, nothing.
    assert messages_sweep() == 0


def test_the_sweeper_requeues_a_message_whose_worker_died(user, directory, smtp_sink):
    expired = timezone.now() - timedelta(seconds=1)
    message = make_message(
        user,
        status=Message.Status.SENDING,
        attempts=1,
        lease_expires_at=expired,
        relayed_at=expired,
    )

    assert messages_sweep() == 1
    assert awaiting_relay() == [message.pk]
    message = deliver(message)
    assert message.status == Message.Status.SENT
    assert message.attempts == 2
    assert message.lease_expires_at is None
    assert len(smtp_sink.received) == 1


def test_a_worker_dying_on_the_last_attempt_fails_the_message(user, settings):
    settings.MESSAGE_MAX_ATTEMPTS = 3
    expired = timezone.now() - timedelta(seconds=1)
    message = make_message(
        user, status=Message.Status.SENDING, attempts=3, lease_expires_at=expired
    )

    assert messages_sweep() == 0

    message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert message.attempts == 3
    assert "worker stopped" in message.last_error
    assert awaiting_relay() == []


def test_the_sweeper_leaves_a_live_lease_alone(user):
    lease_ends = timezone.now() + timedelta(seconds=30)
    message = make_message(user, status=Message.Status.SENDING, lease_expires_at=lease_ends)

    assert messages_sweep() == 0

    message.refresh_from_db()
    assert message.status == Message.Status.SENDING


# ---------------------------------------------------------------- the log


def test_each_attempt_logs_one_line_with_its_outcome_and_durations(
    user, directory, smtp_sink, caplog
):
    smtp_sink.replies = ["451 4.3.0 Try again later"]
    message = make_message(user)
    caplog.set_level("INFO", logger="contact.services")

    with pytest.raises(DeliveryDeferred):
        message_deliver(message_id=message.pk)
    deliver(message)

    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("delivery_")]
    assert len(lines) == 2
    first, second = (dict(field.split("=", 1) for field in line.split()[1:5]) for line in lines)
    assert first == {
        "message_id": str(message.pk),
        "attempt": "1",
        "outcome": "retry",
        "directory": "not_found",
    }
    assert second["outcome"] == "sent" and second["attempt"] == "2"
    assert "451" in lines[0] and "total_ms=" in lines[1]


# ---------------------------------------------------------------- reports across a retry


def bounce_report(message: Message, event_type: str, event_id: str, **fields) -> Report:
    # As the bounce reader makes it: named by the return path, no provider's id.
    return Report(
        provider="",
        event_type=event_type,
        event_id=event_id,
        provider_message_id=None,
        site_message_id=str(message.pk),
        occurred_at=fields.get("occurred_at"),
        detail="",
    )


def test_a_report_kept_before_a_retry_is_not_applied_to_the_send_after_it(
    user, smtp_sink, directory
):
    message = make_message(user, status=Message.Status.SENT, attempts=1)
    message_report(bounce_report(message, "bounced", "b-1"))
    # Late, and weaker than the bounce: kept on the timeline, unapplied.
    message_report(bounce_report(message, "deferred", "d-1"))
    assert messages_retry(message_ids=[message.pk]) == 1

    assert deliver(message).status == Message.Status.SENT
    assert message.events.get(provider_event_id="d-1").applied is False
    assert [event.kind for event in message.events.all()] == [
        "report",
        "report",
        "retry",
        "attempt",
    ]


@pytest.mark.parametrize(
    "occurred_at",
    [
        datetime(9999, 12, 31, 23, 59, tzinfo=dt_timezone(timedelta(hours=-12))),
        datetime(1, 1, 1, tzinfo=dt_timezone(timedelta(hours=14))),
        datetime(1, 1, 1),
        datetime(2000, 1, 1, tzinfo=UTC),
    ],
    ids=["year-9999", "year-1", "naive-year-1", "long-ago"],
)
def test_a_report_time_out_of_reason_is_kept_as_the_time_it_came(
    user, client, occurred_at, django_user_model
):
    message = make_message(user, status=Message.Status.SENT, attempts=1)
    before = timezone.now()

    message_report(bounce_report(message, "bounced", "b-1", occurred_at=occurred_at))

    report = message.events.get()
    assert before <= report.occurred_at <= timezone.now()
    staff = django_user_model.objects.create_superuser("staff@example.org", "x")
    client.force_login(staff)
    page = client.get(reverse("admin:contact_message_change", args=[message.pk]))
    assert page.status_code == 200
    client.force_login(user)
    assert client.get(reverse("message-list")).status_code == 200
    assert client.get(reverse("message-detail", args=[message.pk])).status_code == 200


def test_a_retry_keeps_what_the_directory_found_when_it_is_unavailable(
    leanne, directory, smtp_sink, settings
):
    settings.USER_DIRECTORY_CACHE_SECONDS = 0
    smtp_sink.replies = ["550 5.1.1 Mailbox unavailable"]
    message = make_message(leanne)
    with pytest.raises(DeliveryFailed):
        message_deliver(message_id=message.pk)
    assert messages_retry(message_ids=[message.pk]) == 1
    directory.mode = modes.SERVER_ERROR

    message = deliver(message)

    assert message.status == Message.Status.SENT
    assert message.directory_status == Message.DirectoryStatus.FOUND
    assert message.directory_data == [LEANNE]
    email = smtp_sink.received[-1].message
    [attachment] = list(email.iter_attachments())
    assert json.loads(attachment.get_content()) == [LEANNE]
    assert "Name: Leanne Graham" in email.get_body(("plain",)).get_content()
