"""Delivery status notifications (RFC 3461): asked for where the SMTP server offers
them, on every email sent from a return path, and their reports matched by the
envelope id they carry back."""

import logging
from collections.abc import Iterator

import pytest

from contact.services import message_create
from outbox.models import Email
from outbox.reports import email_bounce
from outbox.return_path import return_path, tag_of
from outbox.services import email_send
from outbox.smtp import close_connection
from tests.conftest import send_to
from tests.standins.smtp import SmtpSink
from users.services import password_reset_queue

pytestmark = pytest.mark.django_db


def sink_for(settings, *, dsn: bool) -> SmtpSink:
    settings.BOUNCE_ADDRESS = "bounces@example.org"
    return send_to(SmtpSink(dsn=dsn).start(), settings)


@pytest.fixture
def dsn_server(settings, directory) -> Iterator[SmtpSink]:
    sink = sink_for(settings, dsn=True)
    yield sink
    # The connection this thread kept to it goes with it.
    close_connection()
    sink.stop()


@pytest.fixture
def plain_server(settings, directory) -> Iterator[SmtpSink]:
    sink = sink_for(settings, dsn=False)
    yield sink
    # The connection this thread kept to it goes with it.
    close_connection()
    sink.stop()


def dsn_options(received) -> list[str]:
    # SIZE is smtplib's own, for any server that offers it.
    return [option for option in received.mail_options if not option.startswith("SIZE=")]


def delivered(user) -> Email:
    """The email of a message written by `user`, sent."""
    message = message_create(sender=user, subject="Invoice", body="Where is it?")
    email_send(email_id=message.email_id)
    return Email.objects.get(pk=message.email_id)


def test_a_server_offering_dsn_is_asked_for_every_report(dsn_server, user):
    email = delivered(user)

    [received] = dsn_server.received
    tag = tag_of(return_path(email.pk))
    assert dsn_options(received) == ["RET=HDRS", f"ENVID={tag.upper()}"]
    assert received.rcpt_options == ["NOTIFY=SUCCESS,FAILURE,DELAY"]
    assert email.status == Email.Status.SENT


def test_a_server_without_dsn_is_asked_nothing_and_takes_the_email(plain_server, user):
    email = delivered(user)

    [received] = plain_server.received
    assert (dsn_options(received), received.rcpt_options) == ([], [])
    assert email.status == Email.Status.SENT


def test_without_a_bounce_address_no_report_is_asked_for(dsn_server, user, settings):
    settings.BOUNCE_ADDRESS = ""

    delivered(user)

    [received] = dsn_server.received
    assert (dsn_options(received), received.rcpt_options) == ([], [])


REPORT = """From: MAILER-DAEMON@mx.example.net
To: bounces@example.org
Subject: Successful Mail Delivery Report
Message-ID: <dsn-{kind}@mx.example.net>
Date: Wed, 02 Dec 2026 14:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b"

--b
Content-Type: text/plain

This is the mail system at host mx.example.net.

--b
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
Original-Envelope-Id: {envid}

Final-Recipient: rfc822; admin@example.org
Original-Recipient: rfc822;admin@example.org
Action: {action}
Status: {status}
Diagnostic-Code: smtp; {diagnostic}

--b
Content-Type: text/rfc822-headers

Subject: Invoice

--b--
"""


@pytest.mark.parametrize(
    ("action", "status", "diagnostic", "expected"),
    [
        ("delivered", "2.0.0", "250 2.0.0 Ok: queued as 4ABC", Email.Status.DELIVERED),
        ("delayed", "4.4.1", "450 connection timed out", Email.Status.DEFERRED),
        ("failed", "5.1.1", "550 5.1.1 No such user", Email.Status.BOUNCED),
    ],
)
def test_a_report_sent_to_the_plain_address_is_matched_by_its_envelope_id(
    dsn_server, user, action, status, diagnostic, expected
):
    # Some servers mail the report to the bare address; the envelope id still names it.
    email = delivered(user)
    [envid] = [
        option.removeprefix("ENVID=")
        for option in dsn_server.received[0].mail_options
        if option.startswith("ENVID=")
    ]
    report = REPORT.format(
        kind=action, envid=envid, action=action, status=status, diagnostic=diagnostic
    )

    email_bounce(report.replace("\n", "\r\n").encode())

    email.refresh_from_db()
    assert email.status == expected
    assert email.events.get(kind="report").detail == f"{status}; smtp; {diagnostic}"


def test_a_report_with_a_forged_envelope_id_names_no_email(dsn_server, user):
    email = delivered(user)
    forged = REPORT.format(
        kind="forged",
        envid=f"m{email.pk}-0123456789abcdef",
        action="failed",
        status="5.1.1",
        diagnostic="550",
    )

    email_bounce(forged.encode())

    email.refresh_from_db()
    assert email.status == Email.Status.SENT


def test_a_report_mailed_to_the_return_path_of_a_password_reset_bounces_it(
    dsn_server, user, caplog
):
    # Every kind of email is sent from a return path naming it, not only the
    # administrator's: a reset to an address that no longer takes mail bounces too.
    email = password_reset_queue(address=user.email, language="en")
    email_send(email_id=email.pk)
    [received] = dsn_server.received
    assert received.rcpt_tos == [user.email]
    report = REPORT.format(
        kind="reset",
        envid="not-ours",
        action="failed",
        status="5.1.1",
        diagnostic="550 5.1.1 No such user",
    ).replace("To: bounces@example.org", f"To: {received.mail_from}")

    with caplog.at_level(logging.ERROR, logger="outbox.failures"):
        email_bounce(report.replace("\n", "\r\n").encode())

    email.refresh_from_db()
    assert (email.kind, email.status) == ("password_reset", Email.Status.BOUNCED)
    assert email.events.get(kind="report").detail == "5.1.1; smtp; 550 5.1.1 No such user"
    [failure] = [r for r in caplog.records if r.name == "outbox.failures"]
    assert failure.levelno == logging.ERROR
    assert failure.getMessage().startswith(
        f"email_failed email_id={email.pk} kind=password_reset reason="
    )
