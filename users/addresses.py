"""What "the same address" means, in one place: every lookup, the unique constraint, the
sign-in lockout and the directory lookup compare addresses in this form."""

import unicodedata

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _


def normalize_email(address: str) -> str:
    """`address` in the one form the site stores and compares.

    Surrounding spaces go, compatibility characters become their plain forms (NFKC: a
    full-width "Ａ" is an "A", the Kelvin sign a "K"), and the whole address is lower
    case. Mail systems treat the local part's case as insignificant in practice; an
    address that differs from an account's only in these ways is that account's.
    Lower case, not case folding: folding turns "ß" into "ss", another mailbox.
    """
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", address.strip()).lower())


def is_plain(address: str) -> bool:
    """Whether `address` has no quoted local part and no control character.

    Django's EmailValidator accepts both (RFC 5322 allows `"a,b"@example.org`, and
    control characters inside the quotes), but such an address is the sender's
    Reply-To in every email to the administrator: the site takes only addresses that
    every mail system reads as they are.
    """
    local = address.rpartition("@")[0]
    return not local.startswith('"') and not any(
        unicodedata.category(character) == "Cc" for character in address
    )


def has_domain_name(address: str) -> bool:
    """Whether `address` is at a domain name with a dot.

    Django's EmailValidator also takes `localhost` (by name) and IP literals such as
    `[127.0.0.1]`: each names a host of whoever sends the mail, not anyone's mailbox,
    and would have the site's mail server deliver to itself or to an address of the
    sender's choosing.
    """
    domain = address.rpartition("@")[2]
    return "." in domain and not domain.startswith("[")


def validate_domain_name(address: str) -> None:
    """Refuse an address EmailValidator takes that has_domain_name does not: the one rule,
    for the model field (the admin, createsuperuser) and the forms that take a new or
    mailed address. A malformed address is left to EmailValidator's own message."""
    try:
        validate_email(address)
    except ValidationError:
        return
    if not has_domain_name(address):
        raise ValidationError(
            _("Use an address at a domain name, such as name@example.org."),
            code="no_domain_name",
        )
