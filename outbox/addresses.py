"""What makes an address one a mail program reads as it was meant, and the checks, at
every start, of the two addresses every email the site sends goes out with."""

from collections.abc import Sequence
from email import policy
from email.errors import HeaderParseError
from email.headerregistry import Address
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.core.exceptions import ValidationError
from django.core.mail import BadHeaderError
from django.core.mail.message import forbid_multi_line_headers
from django.core.validators import validate_email


def read_back(name: str, address: str, encoding: str | None = None) -> Address | None:
    """The one address a mail program reads in the `name` header Django writes from
    `address`; None for a control character or any other defect, or no or several."""
    try:
        _, written = forbid_multi_line_headers(name, address, encoding or settings.DEFAULT_CHARSET)
        header = policy.default.header_factory(name, written)
    except (BadHeaderError, HeaderParseError, IndexError):
        # The standard parser fails outright on some addresses: "admin@" is an IndexError.
        return None
    if header.defects or len(header.addresses) != 1:
        return None
    address_read: Address = header.addresses[0]
    return address_read


def valid_address(address: str) -> bool:
    """Whether `address` is one email address as a header gives it ("admin@example.org",
    "Site <site@example.org>"): read back as one, and valid as Django's EmailField has it."""
    read = read_back("To", address)
    return read is not None and valid_addr_spec(read.addr_spec)


def valid_addr_spec(address: str) -> bool:
    """Whether `address` is a plain address (no display name) as Django's EmailField has it."""
    try:
        validate_email(address)
    except ValidationError:
        return False
    return True


@checks.register()
def check_sender_addresses(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    # At every start, not only with --deploy: with an address that cannot be written,
    # every email fails at its first attempt, long after the start that could have said so.
    errors: list[checks.CheckMessage] = []
    if not valid_address(settings.DEFAULT_FROM_EMAIL):
        errors.append(
            checks.Error(
                f"DEFAULT_FROM_EMAIL is {settings.DEFAULT_FROM_EMAIL!r}, not one email "
                "address; every email the site sends is from it.",
                hint="Set DEFAULT_FROM_EMAIL to one address, such as site@example.org or "
                "Site <site@example.org>.",
                id="outbox.E001",
            )
        )
    if settings.BOUNCE_ADDRESS and not valid_addr_spec(settings.BOUNCE_ADDRESS):
        errors.append(
            checks.Error(
                f"BOUNCE_ADDRESS is {settings.BOUNCE_ADDRESS!r}, not a plain email address.",
                hint="Set BOUNCE_ADDRESS to a plain address such as bounces@example.org, or "
                "leave it empty.",
                id="outbox.E002",
            )
        )
    return errors
