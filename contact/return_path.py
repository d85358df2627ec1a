"""The envelope sender (return path) of each email to the administrator.

With BOUNCE_ADDRESS set, a mail server that cannot deliver the email mails its bounce to
a VERP address derived from it, `bounces+m<id>-<signature>@example.org`: the message's
id and a signature of it, so that a bounce names its message by the address it was sent
to, without anything in the bounce having to be trusted. The From header stays
DEFAULT_FROM_EMAIL. Without BOUNCE_ADDRESS, the envelope sender is DEFAULT_FROM_EMAIL.
"""

import re

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac

SALT = "contact.return_path"
# Hex, so a mail system that changes the address's case changes nothing; 64 bits.
SIGNATURE_LENGTH = 16
TAG = re.compile(rf"m(?P<id>[1-9][0-9]{{0,17}})-(?P<signature>[0-9a-f]{{{SIGNATURE_LENGTH}}})")


def return_path(message_id: int) -> str | None:
    """The VERP address of the message, or None without BOUNCE_ADDRESS."""
    address: str = settings.BOUNCE_ADDRESS
    if not address:
        return None
    local, _, domain = address.rpartition("@")
    return f"{local}+m{message_id}-{_signature(message_id)}@{domain}"


def message_named_by(address: str) -> int | None:
    """The id of the message whose return path `address` is, or None when it is not one
    of ours or its signature does not hold (a forged or mangled address)."""
    if not settings.BOUNCE_ADDRESS:
        return None
    local, _, domain = address.strip().strip("<>").rpartition("@")
    base, _, tag = local.rpartition("+")
    bounce_local, _, bounce_domain = settings.BOUNCE_ADDRESS.rpartition("@")
    if base.lower() != bounce_local.lower() or domain.lower() != bounce_domain.lower():
        return None
    match = TAG.fullmatch(tag.lower())
    if match is None:
        return None
    message_id = int(match["id"])
    if not constant_time_compare(match["signature"], _signature(message_id)):
        return None
    return message_id


def tag_of(address: str) -> str | None:
    """The part of a return path that names its message (`m<id>-<signature>`), which
    also serves as the envelope id of a DSN request; None for any other address."""
    if message_named_by(address) is None:
        return None
    local = address.strip().strip("<>").rpartition("@")[0]
    return local.rpartition("+")[2].lower()


def message_named_by_tag(tag: str) -> int | None:
    """The message a DSN's Original-Envelope-Id names (the tag of its return path)."""
    if not settings.BOUNCE_ADDRESS:
        return None
    local, _, domain = settings.BOUNCE_ADDRESS.rpartition("@")
    return message_named_by(f"{local}+{tag.strip()}@{domain}")


def _signature(message_id: int) -> str:
    digest = salted_hmac(SALT, str(message_id), algorithm="sha256").hexdigest()
    return digest[:SIGNATURE_LENGTH]
