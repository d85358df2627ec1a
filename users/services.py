"""Writing accounts: sign-up, address confirmation, deletion, and queueing the emails
about them (the outbox sends them, as it sends every email).
"""

import logging
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from outbox.models import Email
from outbox.services import email_queue
from users.lockout import forget_failures
from users.models import AccountEmailKind, User

logger = logging.getLogger(__name__)

# An account is told of sign-ups with its address at most this often, however many come:
# the notice is for its owner, not a way to flood their mailbox.
SIGN_UP_NOTICE_INTERVAL = timedelta(hours=1)


# ---------------------------------------------------------------- accounts


def user_sign_up(*, email: str, password: str, language: str) -> User | None:
    """Sign up `email`, which the form has normalised; returns the new account, or None
    when the address already had one.

    Either way the answer the person sees is the same, and so is its cost (create_user
    hashes the password before the insert that finds the address taken). A new account
    is sent the link that confirms its address; the owner of an existing one is told
    that someone tried, with links to sign in and to reset the password. The new account
    is not signed in: that would tell the two apart.
    """
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password)
            account_email_queue(
                user=user,
                kind=AccountEmailKind.VERIFY_ADDRESS,
                language=language,
            )
            return user
    except IntegrityError:
        # The unique constraint decides: the address is taken (or was, a moment ago).
        existing = User.objects.filter(email=email).first()
        if existing is None:
            raise
    recently = timezone.now() - SIGN_UP_NOTICE_INTERVAL
    already_told = existing.emails.filter(
        kind=AccountEmailKind.SIGN_UP_ATTEMPT, created_at__gte=recently
    ).exists()
    if existing.is_active and not already_told:
        account_email_queue(
            user=existing,
            kind=AccountEmailKind.SIGN_UP_ATTEMPT,
            language=language,
        )
    return None


def user_confirm_email(*, user: User) -> bool:
    """Mark `user`'s address as confirmed, which ends every confirmation link sent so far
    (users.tokens); False when it already was."""
    now = timezone.now()
    confirmed = User.objects.filter(pk=user.pk, email_verified_at__isnull=True).update(
        email_verified_at=now, email_confirmations=F("email_confirmations") + 1
    )
    if confirmed:
        user.refresh_from_db(fields=["email_verified_at", "email_confirmations"])
    return bool(confirmed)


def user_password_reset(*, user: User) -> None:
    """Record that `user` set a new password through the link emailed to their address:
    the address is theirs, and the account's cool-off for wrong passwords ends. The reset
    is how its owner gets back in, whoever guessed at it."""
    user_confirm_email(user=user)
    forget_failures(user=user)


def user_delete(*, user: User) -> None:
    """Delete the account, and the emails sent to it. Its messages stay, with their
    delivery records, and no sender; its sessions end, since they name an account that
    is gone."""
    user.delete()


# ---------------------------------------------------------------- account emails


def account_email_queue(*, user: User, kind: AccountEmailKind, language: str) -> Email:
    """Queue an account email for `user` in the outbox, which sends it."""
    return email_queue(kind=kind, to=[user.email], user=user, language=language)


def password_reset_queue(*, address: str, language: str) -> Email:
    """Queue a password reset for `address` (in users.addresses' form), whoever has it.

    The request writes this one row and looks nothing up, for an account's address and
    for any other alike, so that its time tells nothing; the worker finds the account
    when it renders the email (users.emails), and an address without one gets nothing.
    """
    return email_queue(kind=AccountEmailKind.PASSWORD_RESET, to=[address], language=language)


def password_reset_account(address: str) -> User | None:
    """The account a reset for `address` goes to: Django's rule (PasswordResetForm), an
    active one with a usable password; None when there is none."""
    user = User.objects.filter(email=address, is_active=True).first()
    if user is None or not user.has_usable_password():
        return None
    return user
