"""The signed token in an address-confirmation link (django.core.signing).

It names the account and the address it was sent to, and carries its time: it expires
after EMAIL_VERIFICATION_MAX_AGE, and it is good for that account's current address
only while the address is unconfirmed, so once used it does nothing. It is only ever
accepted from that account signed in: following the link proves the mailbox, signing
in proves the password, and only both together confirm the address.
"""

from django.conf import settings
from django.core import signing

from users.models import User

SALT = "users.email-verification"


class InvalidVerificationToken(Exception):
    """Tampered with, expired, for another account, or for an address changed since."""


def verification_token(user: User) -> str:
    return signing.dumps({"id": user.pk, "email": user.email}, salt=SALT, compress=True)


def check_verification_token(token: str, user: User) -> None:
    """Raise InvalidVerificationToken unless `token` was made for `user` as it is now."""
    try:
        payload = signing.loads(token, salt=SALT, max_age=settings.EMAIL_VERIFICATION_MAX_AGE)
    except signing.BadSignature as error:
        raise InvalidVerificationToken(str(error)) from error
    if payload != {"id": user.pk, "email": user.email}:
        raise InvalidVerificationToken("The token is for another account or address.")
