"""The bounce reader against a real IMAP server (Dovecot on loopback): real bounces of
common mail servers dropped into the mailbox, a forged one, an auto-reply and a
stranger's mail; reading twice, two readers at once, a reader that died mid-batch, and
a server that goes away."""

import logging
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

from outbox.bounce_reader import (
    LOCK,
    BounceReader,
    MailboxUnavailable,
    on_loopback,
    read_bounces,
)
from outbox.bounces import read_bounce
from outbox.kinds import kind_choices
from outbox.models import Email, EmailEvent
from outbox.reports import email_bounce
from outbox.return_path import return_path
from outbox.services import email_send
from tests.conftest import wait_until
from tests.outbox.bounce_fixtures import KINDS, addressed, auto_reply
from tests.outbox.email_rows import sent_email
from tests.standins import imap
from users.models import AccountEmailKind
from users.services import account_email_queue

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


@pytest.mark.django_db
def test_each_bounce_lands_on_its_email_and_the_mailbox_is_sorted(mailbox):
    emails = {name: sent_email() for name in KINDS}
    replied = sent_email()
    mailbox.deliver(
        *(addressed(name, return_path(email.pk)) for name, email in emails.items()),
        addressed("postfix_01", return_path(replied.pk).replace("-", "-0", 1)),
        auto_reply(return_path(replied.pk)),
        STRANGER,
    )

    done = read_bounces()

    assert (done.read, done.applied, done.recorded, done.unmatched) == (11, 8, 1, 2)
    for name, email in emails.items():
        email.refresh_from_db()
        expected = Email.Status.DEFERRED if KINDS[name] == "deferred" else Email.Status.BOUNCED
        assert email.status == expected, name
        [report] = email.events.all()
        assert (report.kind, report.provider, report.event_type) == ("report", "", KINDS[name])
    replied.refresh_from_db()
    assert replied.status == Email.Status.SENT
    assert [event.event_type for event in replied.events.all()] == ["autoresponded"]
    assert mailbox.counts() == {"INBOX": 0, "Processed": 9, "Unmatched": 2}


@pytest.mark.django_db
def test_a_bounce_lands_on_its_email_whatever_its_kind(mailbox, unconfirmed_user, caplog):
    # Every email goes out from a return path that names it: an account's emails
    # bounce back to it as the administrator's do.
    kinds = [name for name, _ in kind_choices()]
    assert set(kinds) == {"message", *AccountEmailKind.values}
    emails = {
        kind: sent_email(kind=kind, user=None if kind == "message" else unconfirmed_user)
        for kind in kinds
    }
    mailbox.deliver(*(addressed("dsn_01", return_path(email.pk)) for email in emails.values()))

    with caplog.at_level(logging.ERROR, logger="outbox.failures"):
        done = read_bounces()

    assert (done.read, done.applied, done.unmatched) == (len(kinds), len(kinds), 0)
    for kind, email in emails.items():
        email.refresh_from_db()
        assert email.status == Email.Status.BOUNCED, kind
        assert email.events.get().event_type == "bounced"
    failures = [record for record in caplog.records if record.name == "outbox.failures"]
    assert {record.levelno for record in failures} == {logging.ERROR}
    logged = sorted(record.getMessage().partition(" reason=")[0] for record in failures)
    assert logged == sorted(
        f"email_failed email_id={email.pk} kind={kind}" for kind, email in emails.items()
    )
    assert unconfirmed_user.confirmation_undelivered


@pytest.mark.django_db
def test_a_bounced_confirmation_link_is_told_to_the_person(mailbox, smtp_sink, unconfirmed_user):
    # Sent as the site sends it, and bounced to the return path it went out from.
    email = account_email_queue(
        user=unconfirmed_user, kind=AccountEmailKind.VERIFY_ADDRESS, language="en"
    )
    email_send(email_id=email.pk)
    [received] = smtp_sink.received
    assert not unconfirmed_user.confirmation_undelivered
    mailbox.deliver(addressed("postfix_01", received.mail_from))

    assert read_bounces().applied == 1

    email.refresh_from_db()
    assert email.status == Email.Status.BOUNCED
    assert unconfirmed_user.confirmation_undelivered


@pytest.mark.django_db
def test_reading_again_or_the_same_bounce_twice_applies_it_once(mailbox):
    email = sent_email()
    bounce = addressed("exim_01", return_path(email.pk))
    mailbox.deliver(bounce)
    read_bounces()

    assert read_bounces().read == 0
    mailbox.deliver(bounce)
    again = read_bounces()

    assert (again.read, again.repeated) == (1, 1)
    assert email.events.count() == 1
    assert mailbox.counts() == {"INBOX": 0, "Processed": 2, "Unmatched": 0}


@pytest.mark.django_db
def test_a_bounce_recorded_by_a_reader_that_died_before_moving_it_is_moved_once(mailbox):
    # What a reader killed between recording a bounce and moving it leaves behind.
    email = sent_email()
    bounce = addressed("dsn_01", return_path(email.pk))
    email_bounce(bounce)
    mailbox.deliver(bounce)

    done = read_bounces()

    assert (done.read, done.repeated) == (1, 1)
    assert email.events.count() == 1
    assert mailbox.counts()["Processed"] == 1


@pytest.mark.django_db(transaction=True)
def test_two_readers_at_once_apply_each_bounce_exactly_once_and_move_it_once(mailbox):
    emails = [sent_email() for _ in range(30)]
    names = list(KINDS)
    mailbox.deliver(
        *(addressed(names[i % len(names)], return_path(m.pk)) for i, m in enumerate(emails))
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
    assert EmailEvent.objects.count() == 30
    assert EmailEvent.objects.filter(applied=True).count() == 30
    assert mailbox.counts() == {"INBOX": 0, "Processed": 30, "Unmatched": 0}


@pytest.mark.django_db
def test_a_mailbox_that_went_away_is_read_when_it_is_back(mailbox):
    email = sent_email()
    mailbox.deliver(addressed("postfix_01", return_path(email.pk)))
    mailbox.stop()

    with pytest.raises(MailboxUnavailable):
        read_bounces()
    assert email.events.count() == 0
    mailbox.start()

    assert read_bounces().applied == 1
    email.refresh_from_db()
    assert email.status == Email.Status.BOUNCED


@pytest.mark.django_db
def test_the_command_reads_once_and_says_what_it_did(mailbox, settings):
    email = sent_email()
    mailbox.deliver(addressed("qmail_01", return_path(email.pk)), STRANGER)
    out = StringIO()

    call_command("read_bounces", stdout=out)

    assert out.getvalue().strip() == ("Bounces: read=2 applied=1 recorded=0 repeated=0 unmatched=1")
    settings.BOUNCE_IMAP_URL = ""
    with pytest.raises(CommandError, match="BOUNCE_IMAP_URL is not set"):
        call_command("read_bounces")


@pytest.mark.django_db(transaction=True)
def test_the_reader_beside_the_worker_reads_the_mailbox_on_its_own(mailbox, settings):
    settings.BOUNCE_READ_INTERVAL = 0.1
    email = sent_email()
    mailbox.deliver(addressed("simple_17", return_path(email.pk)))
    reader = BounceReader()

    reader.after_worker_boot(broker=None, worker=None)  # type: ignore[arg-type]
    try:
        assert wait_until(lambda: mailbox.counts()["INBOX"] == 0, timeout=10)
    finally:
        reader.before_worker_shutdown(broker=None, worker=None)  # type: ignore[arg-type]

    email.refresh_from_db()
    assert email.status == Email.Status.BOUNCED


@pytest.mark.django_db
def test_a_round_under_way_elsewhere_leaves_the_mailbox_to_it(mailbox):
    email = sent_email()
    mailbox.deliver(addressed("postfix_01", return_path(email.pk)))
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
def test_an_imaps_mailbox_is_read_over_verified_tls_only(tls_mailbox, monkeypatch):
    email = sent_email()
    tls_mailbox.deliver(addressed("exim_01", return_path(email.pk)))

    # A certificate no authority the site trusts has signed: refused, nothing read.
    with pytest.raises(MailboxUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        read_bounces()
    assert tls_mailbox.counts()["INBOX"] == 1
    # Trusted (as an operator's own CA would be, through OpenSSL's SSL_CERT_FILE):
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_mailbox.certificate))

    assert read_bounces().applied == 1
    assert tls_mailbox.counts()["INBOX"] == 0


@pytest.mark.django_db
def test_a_mail_no_parser_can_read_is_kept_unmatched_and_the_rest_is_read(mailbox):
    email = sent_email()
    mailbox.deliver(b"X: \r\n\r\n", addressed("postfix_01", return_path(email.pk)))

    done = read_bounces()

    assert (done.read, done.applied, done.unmatched) == (2, 1, 1)
    assert mailbox.counts() == {"INBOX": 0, "Processed": 1, "Unmatched": 1}


@pytest.mark.django_db
def test_a_wrong_password_is_a_mailbox_unavailable_and_reads_nothing(mailbox, settings):
    email = sent_email()
    mailbox.deliver(addressed("postfix_01", return_path(email.pk)))
    settings.BOUNCE_IMAP_URL = mailbox.url.replace(imap.PASSWORD, "not-the-password")

    with pytest.raises(MailboxUnavailable, match="AUTHENTICATIONFAILED|Authentication failed"):
        read_bounces()

    assert mailbox.counts()["INBOX"] == 1
    assert email.events.count() == 0


@pytest.mark.django_db
def test_a_mail_over_the_size_bound_is_set_aside_unfetched_and_the_rest_is_read(
    mailbox, settings, monkeypatch
):
    email = sent_email()
    settings.BOUNCE_MAIL_MAX_BYTES = 64 * 1024
    oversized = addressed("postfix_01", return_path(email.pk)) + b"x" * 64 * 1024
    mailbox.deliver(oversized, addressed("postfix_01", return_path(email.pk)))
    read = []
    monkeypatch.setattr(
        "outbox.reports.read_bounce", lambda raw: read.append(len(raw)) or read_bounce(raw)
    )

    done = read_bounces()

    assert (done.read, done.applied, done.unmatched) == (2, 1, 1)
    assert mailbox.counts() == {"INBOX": 0, "Processed": 1, "Unmatched": 1}
    # Only the bounce within the bound was fetched and read.
    assert len(read) == 1 and read[0] < 64 * 1024


@pytest.fixture
def off_loopback(monkeypatch) -> None:
    # No second machine here: the server on 127.0.0.1 stands for one across a network.
    monkeypatch.setattr("outbox.bounce_reader.on_loopback", lambda host: False)


@pytest.mark.django_db
def test_imap_off_loopback_signs_in_only_after_starttls(
    off_loopback, starttls_mailbox, monkeypatch
):
    email = sent_email()
    starttls_mailbox.deliver(addressed("exim_01", return_path(email.pk)))
    monkeypatch.setenv("SSL_CERT_FILE", str(starttls_mailbox.certificate))

    # The server signs no one in before STARTTLS (ssl = required): read all the same.
    assert read_bounces().applied == 1
    assert starttls_mailbox.counts()["INBOX"] == 0


@pytest.mark.django_db
def test_imap_off_loopback_without_starttls_sends_no_password(off_loopback, mailbox):
    email = sent_email()
    mailbox.deliver(addressed("exim_01", return_path(email.pk)))

    with pytest.raises(MailboxUnavailable, match="TLS not supported"):
        read_bounces()

    assert mailbox.counts()["INBOX"] == 1
    assert email.events.count() == 0


def test_which_hosts_are_this_machine():
    assert [on_loopback(host) for host in ("localhost", "127.0.0.1", "127.3.4.5", "::1")] == [
        True
    ] * 4
    assert not any(on_loopback(host) for host in ("imap.example.org", "10.0.0.1", "::ffff:1"))
