"""The envelope sender (return path) of each email the site sends.

With BOUNCE_ADDRESS set, a mail server that cannot deliver the email mails its bounce to
a VERP address derived from it, `bounces+m<id>-<signature>@example.org`: the email's
id and a signature of it, so that a bounce names its email by the address it was sent
to, without anything in the bounce having to be trusted. The From header stays
DEFAULT_FROM_EMAIL. Without BOUNCE_ADDRESS, the envelope sender is DEFAULT_FROM_EMAIL.
"""

import re

from django.conf import settings
from django.utils.crypto import constant_time_compare, salted_hmac

# Part of every signature already sent: a new value would void them all.
SALT = "contact.return_path"
# Hex, so a mail system that changes the address's case changes nothing; 64 bits.
SIGNATURE_LENGTH = 16
TAG = re.compile(rf"m(?P<id>[1-9][0-9]{{0,17}})-(?P<signature>[0-9a-f]{{{SIGNATURE_LENGTH}}})")


def return_path(email_id: int) -> str | None:
    """The VERP address of the email, or None without BOUNCE_ADDRESS."""
    address: str = settings.BOUNCE_ADDRESS
    if not address:
        return None
    local, _, domain = address.rpartition("@")
    return f"{local}+m{email_id}-{_signature(email_id)}@{domain}"


def email_named_by(address: str) -> int | None:
    """The id of the email whose return path `address` is, or None when it is not one
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
    email_id = int(match["id"])
    if not constant_time_compare(match["signature"], _signature(email_id)):
        return None
    return email_id


def tag_of(address: str) -> str | None:
    """The part of a return path that names its email (`m<id>-<signature>`), which
    also serves as the envelope id of a DSN request; None for any other address."""
    if email_named_by(address) is None:
        return None
    local = address.strip().strip("<>").rpartition("@")[0]
    return local.rpartition("+")[2].lower()


def email_named_by_tag(tag: str) -> int | None:
    """The email a DSN's Original-Envelope-Id names (the tag of its return path)."""
    if not settings.BOUNCE_ADDRESS:
        return None
    local, _, domain = settings.BOUNCE_ADDRESS.rpartition("@")
    return email_named_by(f"{local}+{tag.strip()}@{domain}")


def _signature(email_id: int) -> str:
    digest = salted_hmac(SALT, str(email_id), algorithm="sha256").hexdigest()
    return digest[:SIGNATURE_LENGTH]
