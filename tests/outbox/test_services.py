"""The outbox's lifecycle, whatever the kind of email: queueing, the claim, sending through
the kind's render, recording each attempt's outcome, retrying and sweeping. Messages to
the administrator and account emails stand for the kinds, as the apps register them."""

import logging
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from common import request_id
from outbox.envelope import message_id_header
from outbox.failures import DeliveryDeferred, DeliveryFailed, retry_delay
from outbox.models import Email, EmailEvent
from outbox.return_path import email_named_by, return_path
from outbox.services import (
    ATTEMPT_OUTCOMES,
    email_queue,
    email_send,
    emails_retry,
    emails_sweep,
)
from tests.conftest import awaiting_relay
from tests.contact.factories import make_message
from users.models import AccountEmailKind
from users.services import account_email_queue, password_reset_queue

pytestmark = pytest.mark.django_db


def send(email: Email) -> Email:
    """`email` after one run of email_send, as the database holds it."""
    email_send(email_id=email.pk)
    email.refresh_from_db()
    return email


def queued_message(user) -> Email:
    """The email of a new message to the administrator, queued."""
    return make_message(user).email


# ---------------------------------------------------------------- email_queue


def test_email_queue_saves_a_queued_email_to_every_recipient(user):
    email = email_queue(
        kind=AccountEmailKind.VERIFY_ADDRESS,
        to=["ann@example.org", "second@example.org"],
        user=user,
        language="ru",
    )

    email.refresh_from_db()
    assert (email.kind, email.status, email.attempts) == ("verify_address", "queued", 0)
    assert email.to == "ann@example.org, second@example.org"
    assert (email.user, email.language) == (user, "ru")
    assert awaiting_relay() == [email.pk]


def test_email_queue_writes_in_the_sites_language_under_the_request_that_asked(settings, caplog):
    settings.LANGUAGE_CODE = "ru"
    caplog.set_level(logging.INFO, logger="outbox.services")

    with request_id.request_id_as("req-42"):
        email = email_queue(kind="message", to=["admin@example.org"])

    assert (email.language, email.request_id, email.user) == ("ru", "req-42", None)
    [line] = [r for r in caplog.records if r.getMessage().startswith("email_queued")]
    assert line.getMessage() == f"email_queued email_id={email.pk} kind=message"
    assert (line.email_id, line.kind) == (email.pk, "message")


# ---------------------------------------------------------------- email_send


def test_every_kind_goes_out_marked_as_its_own_email(user, directory, smtp_sink, settings):
    settings.BOUNCE_ADDRESS = "bounces@example.org"
    message = queued_message(user)
    account = account_email_queue(user=user, kind=AccountEmailKind.VERIFY_ADDRESS, language="en")

    for email in (message, account):
        assert send(email).status == Email.Status.SENT

    to_admin, to_person = smtp_sink.received
    for received, email in ((to_admin, message), (to_person, account)):
        assert received.message["Message-ID"] == message_id_header(email)
        # Bounces come back to an address naming the email; the From header stays.
        assert received.mail_from == return_path(email.pk)
        assert email_named_by(received.mail_from) == email.pk
        assert received.message["From"] == "site@example.org"
    assert to_admin.message["Message-ID"].startswith(f"<message-{message.pk}.")
    assert to_person.message["Message-ID"].startswith(f"<verify_address-{account.pk}.")
    assert to_person.rcpt_tos == [user.email]


def test_a_sent_email_records_its_attempt_on_the_timeline(user, directory, smtp_sink):
    email = send(queued_message(user))

    assert (email.status, email.attempts, email.last_error) == ("sent", 1, "")
    assert email.sent_at is not None
    assert email.lease_expires_at is None
    [attempt] = email.events.all()
    assert (attempt.kind, attempt.event_type, attempt.status) == ("attempt", "sent", "sent")
    assert attempt.applied is True
    assert attempt.duration_ms is not None


def test_a_refused_connection_is_retried_then_sent(user, directory, smtp_sink):
    smtp_sink.stop()
    email = queued_message(user)

    with pytest.raises(DeliveryDeferred) as deferred:
        email_send(email_id=email.pk)
    email.refresh_from_db()
    assert email.status == Email.Status.QUEUED
    assert "ConnectionRefusedError" in email.last_error
    assert deferred.value.retry_in == retry_delay(1)

    smtp_sink.start()
    email = send(email)

    assert email.status == Email.Status.SENT
    assert email.attempts == 2
    assert email.last_error == ""
    assert len(smtp_sink.received) == 1
    assert [event.event_type for event in email.events.all()] == ["retry", "sent"]


def test_a_temporary_smtp_refusal_is_retried_then_sent(user, directory, smtp_sink):
    smtp_sink.replies = ["451 4.3.0 Try again later"]
    email = queued_message(user)

    with pytest.raises(DeliveryDeferred):
        email_send(email_id=email.pk)
    email = send(email)

    assert email.status == Email.Status.SENT
    assert email.attempts == 2
    assert smtp_sink.attempts == ["451 4.3.0 Try again later", "250 Message accepted"]


def test_a_permanent_smtp_refusal_fails_at_once_and_is_logged_as_an_error(
    user, directory, smtp_sink, caplog
):
    smtp_sink.replies = ["550 5.1.1 Mailbox unavailable"]
    email = queued_message(user)

    with caplog.at_level(logging.ERROR, logger="outbox.failures"), pytest.raises(DeliveryFailed):
        email_send(email_id=email.pk)

    email.refresh_from_db()
    assert email.status == Email.Status.FAILED
    assert email.attempts == 1
    assert "550" in email.last_error
    assert "Mailbox unavailable" in email.last_error
    [failure] = [r for r in caplog.records if r.name == "outbox.failures"]
    assert failure.levelno == logging.ERROR
    assert failure.getMessage().startswith(f"email_failed email_id={email.pk} kind=message ")
    assert 'reason="permanent error: SMTPDataError: (550' in failure.getMessage()
    assert (failure.email_id, failure.kind) == (email.pk, "message")


def test_an_email_its_kind_cannot_write_fails_at_once_unsent(user, directory, smtp_sink):
    # A sender's address no header can hold (sign-up refuses it; the admin does not):
    # the render refuses the Reply-To, and would on every attempt.
    email = make_message(user, sender_email='"a\x01b"@example.org').email

    with pytest.raises(DeliveryFailed):
        email_send(email_id=email.pk)

    email.refresh_from_db()
    assert (email.status, email.attempts) == (Email.Status.FAILED, 1)
    assert "Reply-To" in email.last_error
    assert smtp_sink.received == []


def test_an_email_of_a_kind_no_app_registers_fails_at_once(db, smtp_sink):
    email = Email.objects.create(kind="retired_kind", to="ann@example.org", language="en")

    with pytest.raises(DeliveryFailed):
        email_send(email_id=email.pk)

    email.refresh_from_db()
    assert (email.status, email.attempts) == (Email.Status.FAILED, 1)
    assert "UnknownKind" in email.last_error and "retired_kind" in email.last_error
    assert smtp_sink.attempts == []


def test_an_email_with_nobody_to_send_it_to_is_dropped(db, smtp_sink, caplog):
    # A password reset for an address no account has: nothing is sent, and the address
    # of nobody is not kept.
    email = password_reset_queue(address="nobody@example.org", language="en")
    caplog.set_level(logging.INFO, logger="outbox.services")

    email_send(email_id=email.pk)

    assert not Email.objects.filter(pk=email.pk).exists()
    assert smtp_sink.attempts == []
    assert f"email_dropped email_id={email.pk} kind=password_reset reason=no_recipient" in [
        r.getMessage() for r in caplog.records
    ]


def test_running_out_of_attempts_fails_with_the_error_recorded(
    user, directory, smtp_sink, settings
):
    settings.MESSAGE_MAX_ATTEMPTS = 3
    smtp_sink.replies = ["451 4.3.0 Try again later"] * 3
    email = queued_message(user)

    for _ in range(2):
        with pytest.raises(DeliveryDeferred):
            email_send(email_id=email.pk)
    with pytest.raises(DeliveryFailed, match="3 attempts used"):
        email_send(email_id=email.pk)

    email.refresh_from_db()
    assert email.status == Email.Status.FAILED
    assert email.attempts == 3
    assert "451" in email.last_error
    assert smtp_sink.received == []
    assert [event.event_type for event in email.events.all()] == ["retry", "retry", "failed"]


@pytest.mark.parametrize("status", [Email.Status.SENT, Email.Status.SENDING, Email.Status.FAILED])
def test_an_email_that_is_not_queued_is_left_alone(user, directory, smtp_sink, status):
    # A duplicate task, or one for an email another worker holds: the claim does nothing.
    email = send(make_message(user, status=status, attempts=1).email)

    assert email.status == status
    assert email.attempts == 1
    assert smtp_sink.attempts == []
    assert not email.events.exists()


def test_an_email_in_flight_is_left_to_its_worker(user, smtp_sink):
    lease_ends = timezone.now() + timedelta(seconds=30)
    email = make_message(
        user, status=Email.Status.SENDING, attempts=1, lease_expires_at=lease_ends
    ).email

    email = send(email)

    assert (email.status, email.attempts) == (Email.Status.SENDING, 1)
    assert smtp_sink.attempts == []


def test_a_transient_failure_sets_when_the_next_attempt_is_due(user, smtp_sink, settings):
    settings.MESSAGE_RETRY_BACKOFF = 60
    smtp_sink.replies = ["451 4.3.0 Try again later"]
    email = queued_message(user)

    with pytest.raises(DeliveryDeferred):
        email_send(email_id=email.pk)

    email.refresh_from_db()
    due_in = (email.next_attempt_at - timezone.now()).total_seconds()
    assert 55 < due_in <= 60


def test_retry_delay_doubles_up_to_the_cap(settings):
    settings.MESSAGE_RETRY_BACKOFF = 10
    settings.MESSAGE_RETRY_BACKOFF_MAX = 60

    assert [retry_delay(attempts) for attempts in range(1, 6)] == [10, 20, 40, 60, 60]


def test_each_attempt_logs_one_line_with_its_outcome(user, directory, smtp_sink, caplog):
    smtp_sink.replies = ["451 4.3.0 Try again later"]
    email = queued_message(user)
    caplog.set_level(logging.INFO, logger="outbox.services")

    with pytest.raises(DeliveryDeferred):
        email_send(email_id=email.pk)
    send(email)

    records = [r for r in caplog.records if r.getMessage().startswith("delivery_attempt")]
    lines = [r.getMessage() for r in records]
    assert len(lines) == 2
    first, second = (dict(field.split("=", 1) for field in line.split()[1:5]) for line in lines)
    assert first == {
        "email_id": str(email.pk),
        "kind": "message",
        "attempt": "1",
        "outcome": "retry",
    }
    assert second["outcome"] == "sent" and second["attempt"] == "2"
    assert "451" in lines[0] and "total_ms=" in lines[1]
    assert lines[1].endswith("error=''")
    # The same facts as fields of their own, for a JSON log line.
    assert [(r.email_id, r.kind, r.attempt, r.outcome) for r in records] == [
        (email.pk, "message", 1, "retry"),
        (email.pk, "message", 2, "sent"),
    ]


def test_the_timeline_and_the_log_name_each_outcome_alike():
    assert ATTEMPT_OUTCOMES == {"sent": "sent", "queued": "retry", "failed": "failed"}


# ---------------------------------------------------------------- writing the outcome


@pytest.mark.django_db(transaction=True)
def test_an_outcome_is_written_through_a_database_hiccup(
    user, directory, smtp_sink, monkeypatch, caplog
):
    email = queued_message(user)
    save = EmailEvent.save
    refused: list[int] = []

    def away_once(event, *args, **kwargs):
        if not refused:
            refused.append(event.email_id)
            raise OperationalError("server closed the connection unexpectedly")
        return save(event, *args, **kwargs)

    monkeypatch.setattr(EmailEvent, "save", away_once)
    monkeypatch.setattr("outbox.services.time.sleep", lambda seconds: None)

    with caplog.at_level(logging.WARNING, logger="outbox.services"):
        email = send(email)

    assert refused == [email.pk]
    assert email.status == Email.Status.SENT
    # The email and its timeline were written together, once.
    assert [event.event_type for event in email.events.all()] == ["sent"]
    assert len(smtp_sink.received) == 1
    assert f"Database unavailable; retrying the outcome of email {email.pk}." in [
        r.getMessage() for r in caplog.records
    ]


@pytest.mark.django_db(transaction=True)
def test_an_outcome_that_cannot_be_written_leaves_the_email_to_its_lease(
    user, directory, smtp_sink, monkeypatch
):
    email = queued_message(user)

    def away(event, *args, **kwargs):
        raise OperationalError("the database is gone")

    monkeypatch.setattr(EmailEvent, "save", away)
    monkeypatch.setattr("outbox.services.OUTCOME_WRITE_RETRY_SECONDS", 0)
    monkeypatch.setattr("outbox.services.time.sleep", lambda seconds: None)

    with pytest.raises(OperationalError):
        email_send(email_id=email.pk)

    # Sent, but not recorded: still sending until its lease ends, when the sweeper hands
    # it back (sent again rather than perhaps never).
    email.refresh_from_db()
    assert (email.status, email.attempts) == (Email.Status.SENDING, 1)
    assert email.lease_expires_at is not None
    assert not email.events.exists()


# ---------------------------------------------------------------- emails_retry


def test_emails_retry_queues_failed_and_bounced_emails_only(user):
    relayed = timezone.now()
    failed = make_message(
        user, status=Email.Status.FAILED, attempts=5, last_error="550", relayed_at=relayed
    ).email
    bounced = make_message(user, status=Email.Status.BOUNCED, attempts=1, relayed_at=relayed)
    sent = make_message(user, status=Email.Status.SENT, attempts=1, relayed_at=relayed).email
    delivered = make_message(user, status=Email.Status.DELIVERED, relayed_at=relayed).email

    retried = emails_retry(email_ids=[failed.pk, bounced.email_id, sent.pk, delivered.pk])

    assert retried == 2
    for email in (failed, sent, delivered):
        email.refresh_from_db()
    assert (failed.status, failed.attempts) == (Email.Status.QUEUED, 0)
    assert sent.status == Email.Status.SENT
    assert delivered.status == Email.Status.DELIVERED
    assert awaiting_relay() == sorted([failed.pk, bounced.email_id])
    [line] = failed.events.all()
    assert (line.kind, line.status, line.applied) == ("retry", "queued", True)
    assert not sent.events.exists()


def test_emails_retry_counts_an_email_named_twice_once(user):
    failed = make_message(user, status=Email.Status.FAILED, attempts=5).email

    assert emails_retry(email_ids=[failed.pk, failed.pk]) == 1
    assert emails_retry(email_ids=[failed.pk]) == 0
    assert failed.events.count() == 1


def test_a_retried_email_goes_out_under_the_same_message_id(user, directory, smtp_sink):
    email = send(queued_message(user))
    Email.objects.filter(pk=email.pk).update(status=Email.Status.BOUNCED)

    assert emails_retry(email_ids=[email.pk]) == 1
    email = send(email)

    assert (email.status, email.attempts) == (Email.Status.SENT, 1)
    first, second = smtp_sink.received
    # A mail system that sees both can tell they are one email.
    assert first.message["Message-ID"] == second.message["Message-ID"]
    assert [event.kind for event in email.events.all()] == ["attempt", "retry", "attempt"]


# ---------------------------------------------------------------- emails_sweep


def test_the_sweeper_hands_back_an_email_whose_task_was_lost(user, settings):
    settings.MESSAGE_SWEEP_QUEUED_AFTER = 120
    now = timezone.now()
    stranded = make_message(user, next_attempt_at=now - timedelta(minutes=3), relayed_at=now)
    make_message(user, next_attempt_at=now - timedelta(minutes=1), relayed_at=now)

    assert emails_sweep() == 1
    assert awaiting_relay() == [stranded.email_id]
    # Swept once per threshold: straight away again, nothing.
    assert emails_sweep() == 0


def test_the_sweeper_takes_every_due_email_when_told_to_wait_for_none(user, settings):
    settings.MESSAGE_SWEEP_QUEUED_AFTER = 120
    now = timezone.now()
    due = make_message(user, next_attempt_at=now - timedelta(seconds=1), relayed_at=now)
    make_message(user, next_attempt_at=now + timedelta(minutes=1), relayed_at=now)

    assert emails_sweep(queued_after=0) == 1
    assert awaiting_relay() == [due.email_id]


def test_the_sweeper_requeues_an_email_whose_worker_died(user, directory, smtp_sink):
    expired = timezone.now() - timedelta(seconds=1)
    email = make_message(
        user,
        status=Email.Status.SENDING,
        attempts=1,
        lease_expires_at=expired,
        relayed_at=expired,
    ).email

    assert emails_sweep() == 1
    assert awaiting_relay() == [email.pk]
    email = send(email)
    assert email.status == Email.Status.SENT
    assert email.attempts == 2
    assert email.lease_expires_at is None
    assert len(smtp_sink.received) == 1


def test_a_worker_dying_on_the_last_attempt_fails_the_email(user, settings, caplog):
    settings.MESSAGE_MAX_ATTEMPTS = 3
    expired = timezone.now() - timedelta(seconds=1)
    account = account_email_queue(user=user, kind=AccountEmailKind.PASSWORD_RESET, language="en")
    Email.objects.filter(pk=account.pk).update(
        status=Email.Status.SENDING, attempts=3, lease_expires_at=expired
    )

    with caplog.at_level(logging.ERROR, logger="outbox.failures"):
        assert emails_sweep() == 0

    account.refresh_from_db()
    assert account.status == Email.Status.FAILED
    assert account.attempts == 3
    assert "worker stopped" in account.last_error
    assert awaiting_relay() == []
    [failure] = [r.getMessage() for r in caplog.records if r.name == "outbox.failures"]
    assert failure.startswith(f"email_failed email_id={account.pk} kind=password_reset ")


def test_the_sweeper_leaves_a_live_lease_alone(user):
    lease_ends = timezone.now() + timedelta(seconds=30)
    email = make_message(user, status=Email.Status.SENDING, lease_expires_at=lease_ends).email

    assert emails_sweep() == 0

    email.refresh_from_db()
    assert email.status == Email.Status.SENDING
