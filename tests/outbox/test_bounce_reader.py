"""The bounce reader against a real IMAP server (Dovecot on loopback): real bounces of
common mail servers dropped into the mailbox, a forged one, an auto-reply and a
stranger's mail; reading twice, two readers at once, a reader that died mid-batch, and
a server that goes away."""

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connections

from contact.bounce_reader import (
    LOCK,
    BounceReader,
    MailboxUnavailable,
    on_loopback,
    read_bounces,
)
from contact.bounces import read_bounce
from contact.models import DeliveryEvent, Message
from contact.return_path import return_path
from contact.services import message_bounce
from tests.conftest import wait_until
from tests.contact.factories import make_message
from tests.outbox.bounce_fixtures import KINDS, addressed, auto_reply
from tests.standins import imap

STRANGER = b"""From: someone@example.net
To: bounces@example.org
Subject: Hello
Message-ID: <stranger-1@example.net>

Not a bounce at all.
"""


def serving(settings, **options: bool) -> Iterator[imap.DovecotServer]:
    """A Dovecot of its own (imap.DovecotServer's `options`), as the bounce mailbox."""
    if not imap.available():
        reason = "needs Dovecot: sudo apt-get install dovecot-imapd"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    # Under /tmp with open permissions: Dovecot's own users must reach it.
    root = Path(tempfile.mkdtemp(prefix="dovecot-", dir="/tmp"))
    server = imap.DovecotServer(root, **options).start()
    settings.BOUNCE_ADDRESS = "bounces@example.org"
    settings.BOUNCE_IMAP_URL = server.url
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def mailbox(settings) -> Iterator[imap.DovecotServer]:
    yield from serving(settings)


def sent(user) -> Message:
    return make_message(user, status=Message.Status.SENT, attempts=1)


@pytest.mark.django_db
def test_each_bounce_lands_on_its_message_and_the_mailbox_is_sorted(mailbox, user):
    messages = {name: sent(user) for name in KINDS}
    replied = sent(user)
    mailbox.deliver(
        *(addressed(name, return_path(message.pk)) for name, message in messages.items()),
        addressed("postfix_01", return_path(replied.pk).replace("-", "-0", 1)),
        auto_reply(return_path(replied.pk)),
        STRANGER,
    )

    done = read_bounces()

    assert (done.read, done.applied, done.recorded, done.unmatched) == (11, 8, 1, 2)
    for name, message in messages.items():
        message.refresh_from_db()
        expected = Message.Status.DEFERRED if KINDS[name] == "deferred" else Message.Status.BOUNCED
        assert message.status == expected, name
        [report] = message.events.all()
        assert (report.kind, report.provider, report.event_type) == ("report", "", KINDS[name])
    replied.refresh_from_db()
    assert replied.status == Message.Status.SENT
    assert [event.event_type for event in replied.events.all()] == ["autoresponded"]
    assert mailbox.counts() == {"INBOX": 0, "Processed": 9, "Unmatched": 2}


@pytest.mark.django_db
def test_reading_again_or_the_same_bounce_twice_applies_it_once(mailbox, user):
    message = sent(user)
    bounce = addressed("exim_01", return_path(message.pk))
    mailbox.deliver(bounce)
    read_bounces()

    assert read_bounces().read == 0
    mailbox.deliver(bounce)
    again = read_bounces()

    assert (again.read, again.repeated) == (1, 1)
    assert message.events.count() == 1
    assert mailbox.counts() == {"INBOX": 0, "Processed": 2, "Unmatched": 0}


@pytest.mark.django_db
def test_a_bounce_recorded_by_a_reader_that_died_before_moving_it_is_moved_once(mailbox, user):
    # What a reader killed between recording a bounce and moving it leaves behind.
    message = sent(user)
    bounce = addressed("dsn_01", return_path(message.pk))
    message_bounce(bounce)
    mailbox.deliver(bounce)

    done = read_bounces()

    assert (done.read, done.repeated) == (1, 1)
    assert message.events.count() == 1
    assert mailbox.counts()["Processed"] == 1


@pytest.mark.django_db(transaction=True)
def test_two_readers_at_once_apply_each_bounce_exactly_once_and_move_it_once(mailbox, user):
    messages = [sent(user) for _ in range(30)]
    names = list(KINDS)
    mailbox.deliver(
        *(addressed(names[i % len(names)], return_path(m.pk)) for i, m in enumerate(messages))
    )
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            read_bounces()
        except BaseException as error:  # noqa: BLE001
            errors.append(error)
        finally:
            # Each thread's own database connection, which would outlive the test.
            connections.close_all()

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert DeliveryEvent.objects.count() == 30
    assert DeliveryEvent.objects.filter(applied=True).count() == 30
    assert mailbox.counts() == {"INBOX": 0, "Processed": 30, "Unmatched": 0}


@pytest.mark.django_db
def test_a_mailbox_that_went_away_is_read_when_it_is_back(mailbox, user):
    message = sent(user)
    mailbox.deliver(addressed("postfix_01", return_path(message.pk)))
    mailbox.stop()

    with pytest.raises(MailboxUnavailable):
        read_bounces()
    assert message.events.count() == 0
    mailbox.start()

    assert read_bounces().applied == 1
    message.refresh_from_db()
    assert message.status == Message.Status.BOUNCED


@pytest.mark.django_db
def test_the_command_reads_once_and_says_what_it_did(mailbox, user, settings):
    message = sent(user)
    mailbox.deliver(addressed("qmail_01", return_path(message.pk)), STRANGER)
    out = StringIO()

    call_command("read_bounces", stdout=out)

    assert out.getvalue().strip() == ("Bounces: read=2 applied=1 recorded=0 repeated=0 unmatched=1")
    settings.BOUNCE_IMAP_URL = ""
    with pytest.raises(CommandError, match="BOUNCE_IMAP_URL is not set"):
        call_command("read_bounces")


@pytest.mark.django_db(transaction=True)
def test_the_reader_beside_the_worker_reads_the_mailbox_on_its_own(mailbox, user, settings):
    settings.BOUNCE_READ_INTERVAL = 0.1
    message = sent(user)
    mailbox.deliver(addressed("simple_17", return_path(message.pk)))
    reader = BounceReader()

    reader.after_worker_boot(broker=None, worker=None)  # type: ignore[arg-type]
    try:
        assert wait_until(lambda: mailbox.counts()["INBOX"] == 0, timeout=10)
    finally:
        reader.before_worker_shutdown(broker=None, worker=None)  # type: ignore[arg-type]

    message.refresh_from_db()
    assert message.status == Message.Status.BOUNCED


@pytest.mark.django_db
def test_a_round_under_way_elsewhere_leaves_the_mailbox_to_it(mailbox, user):
    message = sent(user)
    mailbox.deliver(addressed("postfix_01", return_path(message.pk)))
    cache.add(LOCK, "held by another reader", timeout=60)

    assert read_bounces().read == 0
    assert mailbox.counts()["INBOX"] == 1
    cache.delete(LOCK)
    assert read_bounces().applied == 1


@pytest.fixture
def tls_mailbox(settings) -> Iterator[imap.DovecotServer]:
    yield from serving(settings, tls=True)


@pytest.fixture
def starttls_mailbox(settings) -> Iterator[imap.DovecotServer]:
    yield from serving(settings, starttls=True)


@pytest.mark.django_db
def test_an_imaps_mailbox_is_read_over_verified_tls_only(tls_mailbox, user, monkeypatch):
    message = sent(user)
    tls_mailbox.deliver(addressed("exim_01", return_path(message.pk)))

    # A certificate no authority the site trusts has signed: refused, nothing read.
    with pytest.raises(MailboxUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        read_bounces()
    assert tls_mailbox.counts()["INBOX"] == 1
    # Trusted (as an operator's own CA would be, through OpenSSL's SSL_CERT_FILE):
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_mailbox.certificate))

    assert read_bounces().applied == 1
    assert tls_mailbox.counts()["INBOX"] == 0


@pytest.mark.django_db
def test_a_mail_no_parser_can_read_is_kept_unmatched_and_the_rest_is_read(mailbox, user):
    message = sent(user)
    mailbox.deliver(b"X: \r\n\r\n", addressed("postfix_01", return_path(message.pk)))

    done = read_bounces()

    assert (done.read, done.applied, done.unmatched) == (2, 1, 1)
    assert mailbox.counts() == {"INBOX": 0, "Processed": 1, "Unmatched": 1}


@pytest.mark.django_db
def test_a_wrong_password_is_a_mailbox_unavailable_and_reads_nothing(mailbox, user, settings):
    message = sent(user)
    mailbox.deliver(addressed("postfix_01", return_path(message.pk)))
    settings.BOUNCE_IMAP_URL = mailbox.url.replace(imap.PASSWORD, "not-the-password")

    with pytest.raises(MailboxUnavailable, match="AUTHENTICATIONFAILED|Authentication failed"):
        read_bounces()

    assert mailbox.counts()["INBOX"] == 1
    assert message.events.count() == 0


@pytest.mark.django_db
def test_a_mail_over_the_size_bound_is_set_aside_unfetched_and_the_rest_is_read(
    mailbox, user, settings, monkeypatch
):
    message = sent(user)
    settings.BOUNCE_MAIL_MAX_BYTES = 64 * 1024
    oversized = addressed("postfix_01", return_path(message.pk)) + b"x" * 64 * 1024
    mailbox.deliver(oversized, addressed("postfix_01", return_path(message.pk)))
    read = []
    monkeypatch.setattr(
        "contact.services.read_bounce", lambda raw: read.append(len(raw)) or read_bounce(raw)
    )

    done = read_bounces()

    assert (done.read, done.applied, done.unmatched) == (2, 1, 1)
    assert mailbox.counts() == {"INBOX": 0, "Processed": 1, "Unmatched": 1}
    # Only the bounce within the bound was fetched and read.
    assert len(read) == 1 and read[0] < 64 * 1024


@pytest.fixture
def off_loopback(monkeypatch) -> None:
    # No second machine here: the server on 127.0.0.1 stands for one across a network.
    monkeypatch.setattr("contact.bounce_reader.on_loopback", lambda host: False)


@pytest.mark.django_db
def test_imap_off_loopback_signs_in_only_after_starttls(
    off_loopback, starttls_mailbox, user, monkeypatch
):
    message = sent(user)
    starttls_mailbox.deliver(addressed("exim_01", return_path(message.pk)))
    monkeypatch.setenv("SSL_CERT_FILE", str(starttls_mailbox.certificate))

    # The server signs no one in before STARTTLS (ssl = required): read all the same.
    assert read_bounces().applied == 1
    assert starttls_mailbox.counts()["INBOX"] == 0


@pytest.mark.django_db
def test_imap_off_loopback_without_starttls_sends_no_password(off_loopback, mailbox, user):
    message = sent(user)
    mailbox.deliver(addressed("exim_01", return_path(message.pk)))

    with pytest.raises(MailboxUnavailable, match="TLS not supported"):
        read_bounces()

    assert mailbox.counts()["INBOX"] == 1
    assert message.events.count() == 0


def test_which_hosts_are_this_machine():
    assert [on_loopback(host) for host in ("localhost", "127.0.0.1", "127.3.4.5", "::1")] == [
        True
    ] * 4
    assert not any(on_loopback(host) for host in ("imap.example.org", "10.0.0.1", "::ffff:1"))
