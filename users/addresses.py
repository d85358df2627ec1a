"""What "the same address" means, in one place: every lookup, the unique constraint, the
sign-in lockout and the directory lookup compare addresses in this form."""

import unicodedata


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
