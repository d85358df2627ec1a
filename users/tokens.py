"""The signed token in an address-confirmation link (django.core.signing).

It names the account, the address it was sent to and how many times that account's
address had been confirmed when it was sent (User.email_confirmations), and carries its
time: it expires after EMAIL_VERIFICATION_MAX_AGE, and it is good for that account's
current address only until the next confirmation. The count only ever rises, so a link
once used, or sent before any confirmation since, does nothing again, even after staff
clear the confirmation date. It is only ever accepted from that account signed in:
following the link proves the mailbox, signing in proves the password, and only both
together confirm the address.
"""

from typing import Any

from django.conf import settings
from django.core import signing

from users.models import User

SALT = "users.email-verification"


class InvalidVerificationToken(Exception):
    """Tampered with, expired, for another account, for an address changed since, or
    used (the address has been confirmed since it was sent)."""


def _state(user: User) -> dict[str, Any]:
    return {"id": user.pk, "email": user.email, "confirmations": user.email_confirmations}


def verification_token(user: User) -> str:
    return signing.dumps(_state(user), salt=SALT, compress=True)


def check_verification_token(token: str, user: User) -> None:
    """Raise InvalidVerificationToken unless `token` was made for `user` as it is now."""
    try:
        payload = signing.loads(token, salt=SALT, max_age=settings.EMAIL_VERIFICATION_MAX_AGE)
    except signing.BadSignature as error:
        raise InvalidVerificationToken(str(error)) from error
    if payload != _state(user):
        raise InvalidVerificationToken("The token is for another account or address, or used.")
