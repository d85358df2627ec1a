"""Account emails go out through the worker, as messages do: a row the request writes,
handed to the broker by the relay, sent by the actor, retried after a transient failure
and given up on after a permanent one. A request never waits on SMTP."""

from datetime import timedelta

import dramatiq
import pytest
from django.urls import reverse
from django.utils import timezone

from contact.sweeper import OutboxSweeper
from tests.conftest import GOOD_PASSWORD, HTMX, wait_until
from users.models import AccountEmail
from users.services import account_email_queue, account_email_send, account_emails_relay
from users.tasks import send_account_email


def queue(user, kind=AccountEmail.Kind.VERIFY_ADDRESS) -> AccountEmail:
    return account_email_queue(user=user, kind=kind, language="en")


@pytest.mark.django_db
def test_a_sign_up_answers_without_touching_smtp(client, settings):
    # Nothing listens here: a request that tried to send would fail or hang.
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9
    data = {"email": "new@example.org", "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD}

    response = client.post(reverse("register"), data, **HTMX)

    assert response["HX-Redirect"] == "/accounts/register/done/"
    assert AccountEmail.objects.get().status == AccountEmail.Status.QUEUED


@pytest.mark.django_db
def test_the_relay_hands_each_queued_email_to_the_broker_once(unconfirmed_user):
    first, second = queue(unconfirmed_user), queue(unconfirmed_user)
    enqueued: list[int] = []

    assert account_emails_relay(enqueue=enqueued.append) == 2
    assert account_emails_relay(enqueue=enqueued.append) == 0

    assert enqueued == [first.pk, second.pk]


@pytest.mark.django_db
def test_a_transient_failure_is_queued_again_and_then_sent(unconfirmed_user, smtp_sink):
    row = queue(unconfirmed_user)
    smtp_sink.replies = ["451 Try again later"]

    with pytest.raises(Exception, match="451"):
        account_email_send(email_id=row.pk)
    row.refresh_from_db()
    assert (row.status, row.attempts) == (AccountEmail.Status.QUEUED, 1)
    assert "451" in row.last_error

    account_email_send(email_id=row.pk)

    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (AccountEmail.Status.SENT, 2, "")
    [sent] = smtp_sink.received
    assert sent.rcpt_tos == [unconfirmed_user.email]


@pytest.mark.django_db
def test_a_permanent_failure_is_not_tried_again(unconfirmed_user, smtp_sink):
    from site_config.outbox import DeliveryFailed

    row = queue(unconfirmed_user)
    smtp_sink.replies = ["550 No such mailbox"]

    with pytest.raises(DeliveryFailed):
        account_email_send(email_id=row.pk)
    account_email_send(email_id=row.pk)

    row.refresh_from_db()
    assert (row.status, row.attempts) == (AccountEmail.Status.FAILED, 1)
    assert len(smtp_sink.attempts) == 1


@pytest.mark.django_db
def test_a_second_task_for_a_sent_email_sends_nothing(unconfirmed_user, smtp_sink):
    row = queue(unconfirmed_user)

    account_email_send(email_id=row.pk)
    account_email_send(email_id=row.pk)

    assert len(smtp_sink.received) == 1


@pytest.mark.django_db
def test_no_token_is_stored_with_the_email(unconfirmed_user, smtp_sink):
    row = queue(unconfirmed_user, kind=AccountEmail.Kind.PASSWORD_RESET)

    account_email_send(email_id=row.pk)

    link = smtp_sink.link(to=unconfirmed_user.email, path="/accounts/password/reset/")
    token = link.rstrip("/").rsplit("/", 1)[1]
    stored = AccountEmail.objects.filter(pk=row.pk).values().get()
    assert not any(token in str(value) for value in stored.values())


@pytest.mark.django_db(transaction=True)
def test_the_sweeper_hands_back_emails_whose_task_or_worker_was_lost(unconfirmed_user, settings):
    lost_task = queue(unconfirmed_user)
    lost_worker = queue(unconfirmed_user)
    long_ago = timezone.now() - timedelta(hours=1)
    AccountEmail.objects.filter(pk=lost_task.pk).update(
        relayed_at=long_ago, next_attempt_at=long_ago
    )
    AccountEmail.objects.filter(pk=lost_worker.pk).update(
        status=AccountEmail.Status.SENDING,
        relayed_at=long_ago,
        lease_expires_at=long_ago,
        attempts=1,
    )

    OutboxSweeper.sweep_once()

    enqueued: list[int] = []
    account_emails_relay(enqueue=enqueued.append)
    assert enqueued == [lost_task.pk, lost_worker.pk]


@pytest.mark.django_db(transaction=True)
def test_the_worker_sends_what_a_sign_up_queued(client, broker, smtp_sink):
    data = {"email": "New@Example.org", "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD}
    client.post(reverse("register"), data, **HTMX)
    # Relayed before the worker starts: a booted worker runs a relay thread of its own,
    # which would race this call for the row.
    assert account_emails_relay(enqueue=send_account_email.send) == 1
    worker = dramatiq.Worker(broker, worker_timeout=50)
    worker.start()
    try:
        assert wait_until(lambda: smtp_sink.received, timeout=10)
    finally:
        worker.stop()

    [sent] = smtp_sink.received
    assert sent.rcpt_tos == ["new@example.org"]
    assert sent.message["Subject"] == "Confirm your email address"
    assert "/accounts/confirm/" in sent.message.get_body(("plain",)).get_content()
    assert AccountEmail.objects.get().status == AccountEmail.Status.SENT
