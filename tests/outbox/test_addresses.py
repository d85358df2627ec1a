import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from outbox.addresses import check_sender_addresses, valid_address


@pytest.mark.parametrize("sender", ["", "site", "site@example.org, other@example.org"])
def test_the_check_refuses_a_from_address_that_is_not_one(settings, sender):
    settings.DEFAULT_FROM_EMAIL = sender

    [error] = check_sender_addresses(None)

    assert error.id == "outbox.E001"
    assert error.msg.startswith(f"DEFAULT_FROM_EMAIL is {sender!r}")


@pytest.mark.parametrize("bounces", ["<bounces@example.org>", "bounces@example,org"])
def test_the_check_refuses_a_bounce_address_that_is_not_plain(settings, bounces):
    settings.BOUNCE_ADDRESS = bounces

    [error] = check_sender_addresses(None)

    assert error.id == "outbox.E002"


def test_the_check_runs_with_every_command_not_only_deploy(settings):
    settings.DEFAULT_FROM_EMAIL = "site"

    assert check_sender_addresses in checks.registry.registry.get_checks()
    with pytest.raises(SystemCheckError, match="DEFAULT_FROM_EMAIL is 'site'"):
        call_command("check")


def test_the_checks_take_the_sites_addresses(settings):
    settings.DEFAULT_FROM_EMAIL = "Site <site@example.org>"
    settings.BOUNCE_ADDRESS = "bounces@example.org"

    assert check_sender_addresses(None) == []


@pytest.mark.parametrize(
    ("address", "one"),
    [
        ("ann@example.org", True),
        ("Ann <ann@example.org>", True),
        ("ann@example.org, bo@example.org", False),
        ("ann@\nBcc: eve@example.org", False),
        ("admin@", False),
    ],
)
def test_an_address_is_one_when_a_mail_program_reads_back_one(address, one):
    assert valid_address(address) is one
