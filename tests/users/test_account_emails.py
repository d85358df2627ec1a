"""Account emails go out through the outbox, as every email does: a row the request
writes, handed to the broker by the relay on the account queue, rendered and sent by the
worker (outbox.services.email_send), retried after a transient failure and given up on
after a permanent one. A request never waits on SMTP."""

import json
import logging
from datetime import timedelta

import dramatiq
import pytest
from django.urls import reverse
from django.utils import timezone

from outbox.failures import DeliveryDeferred, DeliveryFailed
from outbox.kinds import QUEUE_ACCOUNT
from outbox.models import Email
from outbox.services import email_send, emails_relay
from outbox.sweeper import OutboxSweeper
from outbox.tasks import enqueue
from tests.conftest import GOOD_PASSWORD, HTMX, make_person, wait_until
from users.models import AccountEmailKind, User
from users.services import account_email_queue, password_reset_queue


def queue(user, kind=AccountEmailKind.VERIFY_ADDRESS) -> Email:
    return account_email_queue(user=user, kind=kind, language="en")


@pytest.mark.django_db
def test_a_sign_up_answers_without_touching_smtp(client, settings):
    # Nothing listens here: a request that tried to send would fail or hang.
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9
    data = {"email": "new@example.org", "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD}

    response = client.post(reverse("register"), data, **HTMX)

    assert response["HX-Redirect"] == "/accounts/register/done/"
    queued = Email.objects.get()
    assert (queued.kind, queued.status) == (AccountEmailKind.VERIFY_ADDRESS, Email.Status.QUEUED)
    assert (queued.user, queued.to) == (User.objects.get(), "new@example.org")


@pytest.mark.django_db
def test_the_relay_hands_each_queued_email_to_the_broker_once(unconfirmed_user):
    first, second = queue(unconfirmed_user), queue(unconfirmed_user)
    enqueued: list[tuple[int, str]] = []

    def take(email_id: int, kind: str) -> None:
        enqueued.append((email_id, kind))

    assert emails_relay(enqueue=take) == 2
    assert emails_relay(enqueue=take) == 0

    assert enqueued == [(first.pk, "verify_address"), (second.pk, "verify_address")]


@pytest.mark.django_db
def test_every_account_email_goes_on_the_account_queue(user, broker):
    # Someone waits for each link: never behind a backlog of messages to the administrator.
    for kind in AccountEmailKind:
        queue(user, kind=kind)

    emails_relay(enqueue=enqueue)

    on_account = [json.loads(raw)["args"][0] for raw in broker.queues[QUEUE_ACCOUNT].queue]
    assert sorted(on_account) == sorted(Email.objects.values_list("pk", flat=True))
    assert len(on_account) == len(AccountEmailKind)
    assert not broker.queues["email"].queue


@pytest.mark.django_db
def test_a_transient_failure_is_queued_again_and_then_sent(unconfirmed_user, smtp_sink):
    row = queue(unconfirmed_user)
    smtp_sink.replies = ["451 Try again later"]

    with pytest.raises(DeliveryDeferred, match="451"):
        email_send(email_id=row.pk)
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Email.Status.QUEUED, 1)
    assert "451" in row.last_error

    email_send(email_id=row.pk)

    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (Email.Status.SENT, 2, "")
    [sent] = smtp_sink.received
    assert sent.rcpt_tos == [unconfirmed_user.email]
    # Both attempts are on the email's timeline.
    assert list(row.events.values_list("event_type", flat=True)) == ["retry", "sent"]


@pytest.mark.django_db
def test_a_permanent_failure_is_not_tried_again_and_is_logged_as_an_error(
    unconfirmed_user, smtp_sink, caplog
):
    row = queue(unconfirmed_user)
    smtp_sink.replies = ["550 No such mailbox"]

    with caplog.at_level(logging.ERROR, logger="outbox.failures"), pytest.raises(DeliveryFailed):
        email_send(email_id=row.pk)
    email_send(email_id=row.pk)

    row.refresh_from_db()
    assert (row.status, row.attempts) == (Email.Status.FAILED, 1)
    assert "550" in row.last_error
    assert len(smtp_sink.attempts) == 1
    [failure] = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert failure.startswith(f"email_failed email_id={row.pk} kind=verify_address ")


@pytest.mark.django_db
def test_the_last_attempt_failing_fails_the_email(unconfirmed_user, smtp_sink, settings):
    settings.MESSAGE_MAX_ATTEMPTS = 2
    row = queue(unconfirmed_user)
    smtp_sink.replies = ["451 Try again later", "451 Still busy"]

    with pytest.raises(DeliveryDeferred):
        email_send(email_id=row.pk)
    with pytest.raises(DeliveryFailed, match="2 attempts used"):
        email_send(email_id=row.pk)

    row.refresh_from_db()
    assert (row.status, row.attempts) == (Email.Status.FAILED, 2)
    assert unconfirmed_user.confirmation_undelivered


@pytest.mark.django_db
def test_a_second_task_for_a_sent_email_sends_nothing(unconfirmed_user, smtp_sink):
    row = queue(unconfirmed_user)

    email_send(email_id=row.pk)
    email_send(email_id=row.pk)

    assert len(smtp_sink.received) == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Email.Status.SENT, 1)


@pytest.mark.django_db
def test_an_account_email_carries_the_id_that_names_its_row(unconfirmed_user, smtp_sink):
    row = queue(unconfirmed_user)

    email_send(email_id=row.pk)

    [sent] = smtp_sink.received
    assert sent.message["Message-ID"].startswith(f"<verify_address-{row.pk}.")


@pytest.mark.django_db
def test_no_token_is_stored_with_the_email(unconfirmed_user, smtp_sink):
    row = queue(unconfirmed_user, kind=AccountEmailKind.PASSWORD_RESET)

    email_send(email_id=row.pk)

    link = smtp_sink.link(to=unconfirmed_user.email, path="/accounts/password/reset/")
    token = link.rstrip("/").rsplit("/", 1)[1]
    stored = [
        *Email.objects.filter(pk=row.pk).values().get().values(),
        *(value for event in row.events.values() for value in event.values()),
    ]
    assert not any(token in str(value) for value in stored)


@pytest.mark.django_db
def test_a_reset_goes_to_the_account_the_address_has_when_it_is_sent(client, smtp_sink):
    # Asked for before the account existed: the request looked nothing up.
    row = password_reset_queue(address="late@example.org", language="en")
    assert row.user is None
    person = make_person("late@example.org")

    email_send(email_id=row.pk)

    row.refresh_from_db()
    assert (row.status, row.user, row.to) == (Email.Status.SENT, person, person.email)
    [sent] = smtp_sink.received
    assert sent.rcpt_tos == [person.email]


@pytest.mark.django_db
def test_a_reset_that_failed_keeps_the_account_it_found(user, smtp_sink):
    row = password_reset_queue(address=user.email, language="en")
    smtp_sink.replies = ["550 No such mailbox"]

    with pytest.raises(DeliveryFailed):
        email_send(email_id=row.pk)

    row.refresh_from_db()
    # So staff find it on the account's page.
    assert (row.status, row.user) == (Email.Status.FAILED, user)
    assert list(user.emails.all()) == [row]


@pytest.mark.django_db
@pytest.mark.parametrize("account", ["none", "inactive", "no-password"])
def test_a_reset_for_an_address_without_an_account_is_deleted_unsent(smtp_sink, caplog, account):
    if account == "inactive":
        User.objects.filter(pk=make_person("nobody@example.org").pk).update(is_active=False)
    elif account == "no-password":
        User.objects.create_user(email="nobody@example.org")
    row = password_reset_queue(address="nobody@example.org", language="en")

    with caplog.at_level(logging.INFO, logger="outbox.services"):
        email_send(email_id=row.pk)

    assert not Email.objects.filter(pk=row.pk).exists()
    assert smtp_sink.attempts == []
    assert f"email_dropped email_id={row.pk} kind=password_reset" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_the_sweeper_hands_back_emails_whose_task_or_worker_was_lost(unconfirmed_user):
    lost_task = queue(unconfirmed_user)
    lost_worker = queue(unconfirmed_user)
    long_ago = timezone.now() - timedelta(hours=1)
    Email.objects.filter(pk=lost_task.pk).update(relayed_at=long_ago, next_attempt_at=long_ago)
    Email.objects.filter(pk=lost_worker.pk).update(
        status=Email.Status.SENDING,
        relayed_at=long_ago,
        lease_expires_at=long_ago,
        attempts=1,
    )

    OutboxSweeper.sweep_once()

    enqueued: list[int] = []
    emails_relay(enqueue=lambda email_id, kind: enqueued.append(email_id))
    assert enqueued == [lost_task.pk, lost_worker.pk]


@pytest.mark.django_db(transaction=True)
def test_the_worker_sends_what_a_sign_up_queued(client, broker, smtp_sink):
    data = {"email": "New@Example.org", "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD}
    client.post(reverse("register"), data, **HTMX)
    # Relayed before the worker starts: a booted worker runs a relay thread of its own,
    # which would race this call for the row.
    assert emails_relay(enqueue=enqueue) == 1
    worker = dramatiq.Worker(broker, worker_timeout=50)
    worker.start()
    try:
        assert wait_until(lambda: smtp_sink.received, timeout=10)
        assert wait_until(lambda: Email.objects.get().status == Email.Status.SENT, timeout=10)
    finally:
        worker.stop()

    [sent] = smtp_sink.received
    assert sent.rcpt_tos == ["new@example.org"]
    assert sent.message["Subject"] == "Confirm your email address"
    assert "/accounts/confirm/" in sent.message.get_body(("plain",)).get_content()
