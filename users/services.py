"""Writing accounts: sign-up, address confirmation, deletion, and the account emails
(queued here, relayed to the worker and sent by account_email_send).

Every account email is a row first (AccountEmail): a request writes it and returns, and
the relay beside the workers hands it on, as it does messages to the administrator.
"""

import logging
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from site_config.outbox import (
    DeliveryDeferred,
    DeliveryFailed,
    record_failed_attempt,
    relay,
    retry_delay,
)
from users.emails import account_email_message
from users.lockout import forget_failures
from users.models import AccountEmail, User

logger = logging.getLogger(__name__)

# Account emails one relay round takes at most.
RELAY_BATCH = 100
# An account is told of sign-ups with its address at most this often, however many come:
# the notice is for its owner, not a way to flood their mailbox.
SIGN_UP_NOTICE_INTERVAL = timedelta(hours=1)
# Seconds an attempt at an account email may take before another worker may take it over.
ATTEMPT_LEASE_SECONDS = 60


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
                kind=AccountEmail.Kind.VERIFY_ADDRESS,
                language=language,
            )
            return user
    except IntegrityError:
        # The unique constraint decides: the address is taken (or was, a moment ago).
        existing = User.objects.filter(email=email).first()
        if existing is None:
            raise
    recently = timezone.now() - SIGN_UP_NOTICE_INTERVAL
    already_told = existing.account_emails.filter(
        kind=AccountEmail.Kind.SIGN_UP_ATTEMPT, created_at__gte=recently
    ).exists()
    if existing.is_active and not already_told:
        account_email_queue(
            user=existing,
            kind=AccountEmail.Kind.SIGN_UP_ATTEMPT,
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
    """Delete the account. Its messages stay, with their delivery records, and no
    sender; its sessions end, since they name an account that is gone."""
    user.delete()


# ---------------------------------------------------------------- account emails


def account_email_queue(*, user: User, kind: AccountEmail.Kind, language: str) -> AccountEmail:
    """Queue an account email for `user`; the relay hands it to the worker."""
    return AccountEmail.objects.create(user=user, kind=kind, language=language)


def password_reset_queue(*, address: str, language: str) -> AccountEmail:
    """Queue a password reset for `address` (in users.addresses' form), whoever has it.

    The request writes this one row and looks nothing up, for an account's address and
    for any other alike, so that its time tells nothing; the worker finds the account
    when it sends (account_email_send), and an address without one gets nothing.
    """
    return AccountEmail.objects.create(
        address=address, kind=AccountEmail.Kind.PASSWORD_RESET, language=language
    )


def password_reset_account(address: str) -> User | None:
    """The account a reset for `address` goes to: Django's rule (PasswordResetForm), an
    active one with a usable password; None when there is none."""
    user = User.objects.filter(email=address, is_active=True).first()
    if user is None or not user.has_usable_password():
        return None
    return user


def account_emails_relay(*, enqueue: Callable[[int], object], limit: int = RELAY_BATCH) -> int:
    """Hand the queued account emails no relay has handed over yet to the broker."""
    awaiting = AccountEmail.objects.filter(
        status=AccountEmail.Status.QUEUED, relayed_at__isnull=True
    )
    return relay(awaiting, enqueue=enqueue, limit=limit)


def account_email_send(*, email_id: int) -> None:
    """Render and send one account email, and record the outcome.

    Does nothing unless the row is queued, so a duplicate task is harmless. Raises
    DeliveryDeferred after a transient failure with attempts left, DeliveryFailed once
    the row is marked failed. The email is rendered now, from the account as it is now:
    its links carry tokens that are never stored.
    """
    lease_ends = timezone.now() + timedelta(seconds=ATTEMPT_LEASE_SECONDS)
    claimed = AccountEmail.objects.filter(pk=email_id, status=AccountEmail.Status.QUEUED).update(
        status=AccountEmail.Status.SENDING, attempts=F("attempts") + 1, lease_expires_at=lease_ends
    )
    if not claimed:
        return
    row = AccountEmail.objects.select_related("user").get(pk=email_id)
    user = row.user or password_reset_account(row.address)
    if user is None:
        # Nobody to send to; nor is an address that is nobody's kept.
        row.delete()
        logger.info("account_email id=%s kind=%s outcome=no_account", email_id, row.kind)
        return
    if row.user is None:
        row.user = user
        row.save(update_fields=["user"])
    started = time.monotonic()
    try:
        account_email_message(row, user).send()
    except Exception as error:
        _record_failure(row, error)
    else:
        row.status = AccountEmail.Status.SENT
        row.sent_at = timezone.now()
        row.last_error = ""
        row.lease_expires_at = None
        row.save(update_fields=["status", "sent_at", "last_error", "lease_expires_at"])
    finally:
        logger.info(
            "account_email id=%s kind=%s attempt=%s outcome=%s total_ms=%d",
            row.pk,
            row.kind,
            row.attempts,
            row.status,
            (time.monotonic() - started) * 1000,
        )


def _record_failure(row: AccountEmail, error: Exception) -> None:
    record_failed_attempt(row, error)
    row.save(update_fields=["status", "last_error", "lease_expires_at", "next_attempt_at"])
    if row.status == AccountEmail.Status.FAILED:
        raise DeliveryFailed(row.last_error) from error
    raise DeliveryDeferred(row.last_error, retry_in=retry_delay(row.attempts)) from error


def account_emails_sweep(*, queued_after: float | None = None) -> int:
    """Hand back to the relay the account emails whose task was lost: queued ones well
    past their due time, and sending ones whose worker died (failed instead, when that
    was their last attempt). Returns how many went back."""
    if queued_after is None:
        queued_after = settings.MESSAGE_SWEEP_QUEUED_AFTER
    now = timezone.now()
    abandoned = AccountEmail.objects.filter(
        status=AccountEmail.Status.SENDING, lease_expires_at__lt=now
    )
    abandoned.filter(attempts__gte=settings.MESSAGE_MAX_ATTEMPTS).update(
        status=AccountEmail.Status.FAILED,
        lease_expires_at=None,
        last_error="The worker stopped during the last allowed attempt.",
    )
    swept = abandoned.update(
        status=AccountEmail.Status.QUEUED,
        lease_expires_at=None,
        next_attempt_at=now,
        relayed_at=None,
    )
    swept += AccountEmail.objects.filter(
        status=AccountEmail.Status.QUEUED,
        next_attempt_at__lte=now - timedelta(seconds=queued_after),
        relayed_at__isnull=False,
    ).update(relayed_at=None, next_attempt_at=now)
    return swept
