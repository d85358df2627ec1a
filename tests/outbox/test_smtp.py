import threading

import pytest
from django.core.mail import EmailMessage

from outbox import smtp
from outbox.failures import DeliveryDeferred, ServerUnreachable, is_permanent_send_error
from outbox.models import Email
from outbox.services import email_send
from outbox.smtp import send_email
from users.models import AccountEmailKind
from users.services import account_email_queue


def email(number: int) -> EmailMessage:
    return EmailMessage(f"Email {number}", "Hello", "site@example.org", ["admin@example.org"])


def test_emails_from_one_thread_share_a_connection(smtp_sink):
    for number in range(3):
        send_email(email(number))

    assert [received.message["Subject"] for received in smtp_sink.received] == [
        "Email 0",
        "Email 1",
        "Email 2",
    ]
    assert smtp_sink.connections() == 1


def test_with_keeping_off_each_email_opens_and_closes_its_own_connection(smtp_sink, settings):
    settings.EMAIL_KEEP_CONNECTION = False

    for number in range(3):
        send_email(email(number))

    assert len(smtp_sink.received) == 3
    assert smtp_sink.connections() == 3


def test_each_thread_has_a_connection_of_its_own(smtp_sink):
    send_email(email(0))
    other = threading.Thread(target=lambda: (send_email(email(1)), smtp.close_connection()))
    other.start()
    other.join()

    assert smtp_sink.connections() == 2


def test_a_connection_the_server_closed_is_replaced_before_use(smtp_sink):
    send_email(email(0))
    smtp_sink.stop()
    smtp_sink.start()

    send_email(email(1))

    assert len(smtp_sink.received) == 2
    assert smtp_sink.connections() == 2


def test_an_idle_connection_is_replaced(smtp_sink, monkeypatch):
    monkeypatch.setattr(smtp, "IDLE_SECONDS", 0)
    send_email(email(0))

    send_email(email(1))

    assert smtp_sink.connections() == 2


def test_a_connection_carries_its_quota_then_another_opens(smtp_sink, monkeypatch):
    monkeypatch.setattr(smtp, "EMAILS_PER_CONNECTION", 2)
    for number in range(3):
        send_email(email(number))

    assert smtp_sink.connections() == 2


def test_after_an_error_the_next_email_opens_a_fresh_connection(smtp_sink):
    send_email(email(0))
    smtp_sink.replies = ["451 Try again later"]
    with pytest.raises(Exception, match="Try again later"):
        send_email(email(1))

    send_email(email(2))

    assert [received.message["Subject"] for received in smtp_sink.received] == [
        "Email 0",
        "Email 2",
    ]
    assert smtp_sink.connections() == 2


def test_changed_settings_open_a_connection_to_the_new_server(smtp_sink, settings):
    send_email(email(0))
    other = type(smtp_sink)().start()
    settings.EMAIL_PORT = other.port
    try:
        send_email(email(1))
    finally:
        smtp.close_connection()
        other.stop()

    assert len(smtp_sink.received) == 1
    assert [received.message["Subject"] for received in other.received] == ["Email 1"]


def test_other_backends_are_closed_after_each_email(settings, tmp_path):
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = tmp_path

    send_email(email(0))

    [written] = tmp_path.iterdir()
    assert "Subject: Email 0" in written.read_text()
    # Nothing kept: the next email opens a file of its own.
    assert smtp._this_thread.kept is None


# ---------------------------------------------------------------- a server out of reach

UNKNOWN_HOST = "smtp.example.invalid"


@pytest.fixture
def unknown_host(settings) -> None:
    settings.EMAIL_BACKEND = "outbox.smtp.EmailBackend"
    settings.EMAIL_HOST = UNKNOWN_HOST
    settings.EMAIL_PORT = 587
    settings.EMAIL_TIMEOUT = 2


@pytest.mark.parametrize("use_ssl", [False, True], ids=["plain", "implicit-tls"])
def test_an_unknown_host_is_named_with_its_setting(unknown_host, settings, use_ssl):
    settings.EMAIL_USE_SSL = use_ssl

    with pytest.raises(ServerUnreachable) as unreachable:
        send_email(email(0))

    # The resolver's own words vary between machines ("Name or service not known").
    said = str(unreachable.value)
    assert said.startswith(f"Cannot reach the SMTP server EMAIL_HOST={UNKNOWN_HOST}:587: ")
    assert said.endswith("(gaierror)")
    assert "[Errno" not in said


def test_every_email_sent_through_djangos_backend_names_the_server(unknown_host):
    # The backend's own sessions name it, for an email sent by Django's API as well.
    with pytest.raises(ServerUnreachable, match=f"EMAIL_HOST={UNKNOWN_HOST}:587"):
        email(0).send()


def test_a_refused_connection_names_the_server_and_stays_transient(smtp_sink, settings):
    smtp_sink.stop()

    with pytest.raises(ServerUnreachable) as unreachable:
        send_email(email(0))

    assert str(unreachable.value) == (
        f"Cannot reach the SMTP server EMAIL_HOST=127.0.0.1:{smtp_sink.port}: "
        "Connection refused (ConnectionRefusedError)"
    )
    assert not is_permanent_send_error(unreachable.value)
    smtp_sink.start()


@pytest.mark.django_db
def test_an_unreachable_server_is_recorded_in_its_own_words_and_retried(unknown_host, user):
    email = account_email_queue(user=user, kind=AccountEmailKind.SIGN_UP_ATTEMPT, language="en")

    with pytest.raises(DeliveryDeferred):
        email_send(email_id=email.pk)

    email.refresh_from_db()
    assert (email.status, email.attempts) == (Email.Status.QUEUED, 1)
    assert email.last_error.startswith(
        f"Cannot reach the SMTP server EMAIL_HOST={UNKNOWN_HOST}:587: "
    )
    assert email.last_error.endswith("(gaierror)")
    [attempt] = email.events.all()
    assert (attempt.event_type, attempt.detail) == ("retry", email.last_error)
