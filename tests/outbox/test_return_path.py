"""The envelope sender that names its email (VERP), signed so that a bounce mailed
to it can be matched without trusting the bounce."""

import pytest

from contact.services import message_create
from outbox.models import Email
from outbox.return_path import email_named_by, return_path
from outbox.services import email_send
from users.models import AccountEmailKind
from users.services import account_email_queue

BOUNCES = "bounces@example.org"


@pytest.fixture
def bounce_address(settings):
    settings.BOUNCE_ADDRESS = BOUNCES


def test_the_return_path_names_its_email_and_reads_back(bounce_address):
    address = return_path(4711)

    assert address is not None
    assert address.startswith("bounces+m4711-") and address.endswith("@example.org")
    assert email_named_by(address) == 4711
    # Mail systems may change the case, or keep the angle brackets of the envelope.
    assert email_named_by(address.upper()) == 4711
    assert email_named_by(f"<{address}>") == 4711


def test_an_altered_return_path_names_no_email(bounce_address):
    address = return_path(4711)
    assert address is not None
    tag = address.split("+")[1].split("@")[0]
    signature = tag.split("-")[1]
    forged = [
        address.replace("m4711-", "m4712-"),
        address.replace(signature, "0" * len(signature)),
        address.replace(signature, signature[:-1]),
        address.replace("@example.org", "@example.net"),
        address.replace("bounces+", "other+"),
        "bounces@example.org",
        "bounces+@example.org",
        "bounces+m0-0000000000000000@example.org",
        f"bounces+m{'9' * 40}-{signature}@example.org",
        "",
        "not an address",
    ]

    assert [email_named_by(address) for address in forged] == [None] * len(forged)


def test_without_a_bounce_address_there_is_no_return_path(settings):
    settings.BOUNCE_ADDRESS = ""

    assert return_path(1) is None
    assert email_named_by("bounces+m1-0123456789abcdef@example.org") is None


def test_over_smtp_the_envelope_names_the_email_and_from_stays_the_sites(
    bounce_address, smtp_sink, directory, user
):
    message = message_create(sender=user, subject="Invoice", body="Where is it?")

    email_send(email_id=message.email_id)

    [received] = smtp_sink.received
    assert email_named_by(received.mail_from) == message.email_id
    assert received.message["From"] == "site@example.org"
    assert received.message["Reply-To"] == user.email
    assert Email.objects.get(pk=message.email_id).status == Email.Status.SENT


@pytest.mark.parametrize("kind", list(AccountEmailKind))
def test_an_account_email_is_sent_from_a_return_path_naming_it_too(
    bounce_address, smtp_sink, user, kind
):
    email = account_email_queue(user=user, kind=kind, language="en")

    email_send(email_id=email.pk)

    [received] = smtp_sink.received
    assert received.rcpt_tos == [user.email]
    assert email_named_by(received.mail_from) == email.pk
    assert received.message["From"] == "site@example.org"


def test_without_a_bounce_address_the_envelope_is_the_sites_address(
    settings, smtp_sink, directory, user
):
    settings.BOUNCE_ADDRESS = ""
    message = message_create(sender=user, subject="Invoice", body="Where is it?")

    email_send(email_id=message.email_id)

    [received] = smtp_sink.received
    assert received.mail_from == "site@example.org"
    assert received.message["From"] == "site@example.org"
