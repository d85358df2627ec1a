"""Delivery status notifications (RFC 3461): asked for where the SMTP server offers
them, on every email sent from a return path, and their reports matched by the
envelope id they carry back."""

from collections.abc import Iterator

import pytest

from contact.models import Message
from contact.return_path import return_path, tag_of
from contact.services import message_bounce, message_create, message_deliver
from tests.conftest import send_to
from tests.standins.smtp import SmtpSink

pytestmark = pytest.mark.django_db


def sink_for(settings, *, dsn: bool) -> SmtpSink:
    settings.BOUNCE_ADDRESS = "bounces@example.org"
    return send_to(SmtpSink(dsn=dsn).start(), settings)


@pytest.fixture
def dsn_server(settings, directory) -> Iterator[SmtpSink]:
    sink = sink_for(settings, dsn=True)
    yield sink
    sink.stop()


@pytest.fixture
def plain_server(settings, directory) -> Iterator[SmtpSink]:
    sink = sink_for(settings, dsn=False)
    yield sink
    sink.stop()


def dsn_options(received) -> list[str]:
    # SIZE is smtplib's own, for any server that offers it.
    return [option for option in received.mail_options if not option.startswith("SIZE=")]


def delivered(user) -> Message:
    message = message_create(sender=user, subject="Invoice", body="Where is it?")
    message_deliver(message_id=message.pk)
    message.refresh_from_db()
    return message


def test_a_server_offering_dsn_is_asked_for_every_report(dsn_server, user):
    message = delivered(user)

    [received] = dsn_server.received
    tag = tag_of(return_path(message.pk))
    assert dsn_options(received) == ["RET=HDRS", f"ENVID={tag.upper()}"]
    assert received.rcpt_options == ["NOTIFY=SUCCESS,FAILURE,DELAY"]
    assert message.status == Message.Status.SENT


def test_a_server_without_dsn_is_asked_nothing_and_takes_the_email(plain_server, user):
    message = delivered(user)

    [received] = plain_server.received
    assert (dsn_options(received), received.rcpt_options) == ([], [])
    assert message.status == Message.Status.SENT


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
        ("delivered", "2.0.0", "250 2.0.0 Ok: queued as 4ABC", Message.Status.DELIVERED),
        ("delayed", "4.4.1", "450 connection timed out", Message.Status.DEFERRED),
        ("failed", "5.1.1", "550 5.1.1 No such user", Message.Status.BOUNCED),
    ],
)
def test_a_report_sent_to_the_plain_address_is_matched_by_its_envelope_id(
    dsn_server, user, action, status, diagnostic, expected
):
    # Some servers mail the report to the bare address; the envelope id still names it.
    message = delivered(user)
    [envid] = [
        option.removeprefix("ENVID=")
        for option in dsn_server.received[0].mail_options
        if option.startswith("ENVID=")
    ]
    report = REPORT.format(
        kind=action, envid=envid, action=action, status=status, diagnostic=diagnostic
    )

    message_bounce(report.replace("\n", "\r\n").encode())

    message.refresh_from_db()
    assert message.status == expected
    assert message.events.get(kind="report").detail == f"{status}; smtp; {diagnostic}"


def test_a_report_with_a_forged_envelope_id_names_no_message(dsn_server, user):
    message = delivered(user)
    forged = REPORT.format(
        kind="forged",
        envid=f"m{message.pk}-0123456789abcdef",
        action="failed",
        status="5.1.1",
        diagnostic="550",
    )

    message_bounce(forged.encode())

    message.refresh_from_db()
    assert message.status == Message.Status.SENT
