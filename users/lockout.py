"""Password-guessing protection: the parts of django-axes made ours (the AXES_* and
SIGNIN_* settings, under "abuse limits").

Two limits, apart. An account is cooled off after AXES_FAILURE_LIMIT failures, whatever
addresses they came from (django-axes, AXES_LOCKOUT_PARAMETERS); a client address after
SIGNIN_FAILURES_PER_ADDRESS_PER_HOUR failures against any accounts, counted in the cache
as the site's other limits are, high enough that no office or proxy reaches it by
mistake. Every check of a password goes through authenticate() (users.forms), so both
limits hold wherever one is typed: signing in, to the admin too, changing the password
and deleting the account.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.models import AccessAttempt
from django.apps import AppConfig
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_logged_in
from django.core import checks
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy

from common.rate_limits import over_limit, refusal
from users.addresses import normalize_email

# The most failed sign-ins one account may see in an hour, whatever the settings say.
MAX_FAILURES_PER_ACCOUNT_PER_HOUR = 100
# The cache's name for the count of failures per client address.
ADDRESS_GROUP = "signin-failures"

ACCOUNT_LOCKED = gettext_lazy("Too many wrong passwords for this account.")
ADDRESS_LOCKED = gettext_lazy("Too many wrong passwords from your network.")
# A locked account's owner gets back in through their mailbox, lock or no lock.
RESET_HINT = gettext_lazy("A new password set through “Forgotten your password?” works at once.")


def lockout_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str:
    """The account a sign-in is for, in the one form addresses are compared in:
    "Ann@x.org", " ann@x.org" and "ａｎｎ@x.org" are one account, so they share one
    count of failures."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    return normalize_email(str(username))


def _address_rate() -> str:
    return f"{settings.SIGNIN_FAILURES_PER_ADDRESS_PER_HOUR}/h"


# django-axes ships no type information.
class LockoutHandler(AxesDatabaseHandler):  # type: ignore[misc]
    """django-axes' database handler, which cools an account off, with the limit per
    client address beside it."""

    def is_locked(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> bool:
        return bool(super().is_locked(request, credentials)) or address_wait(request) is not None

    def user_login_failed(
        self,
        sender: object,
        credentials: dict[str, Any],
        request: HttpRequest | None = None,
        **kwargs: Any,
    ) -> None:
        # A try the lockout refused checked no password: it counts against nothing.
        refused = bool(getattr(request, "axes_locked_out", False))
        super().user_login_failed(sender, credentials, request, **kwargs)
        if request is not None and not refused:
            over_limit(request, group=ADDRESS_GROUP, rate=_address_rate())


def password_is_theirs(request: HttpRequest, user: Any, password: str) -> bool:
    """Whether `password` is signed-in `user`'s, asked the way sign-in asks: through
    authenticate(), so a cooled-off account or address is refused before the password is
    looked at, and a wrong one counts against both as a failed sign-in does."""
    authenticated = authenticate(request, username=user.get_username(), password=password)
    return authenticated is not None and authenticated.pk == user.pk


def address_wait(request: HttpRequest) -> timedelta | None:
    """How long until the client's address may try a password again; None when it may."""
    return over_limit(request, group=ADDRESS_GROUP, rate=_address_rate(), count=False)


def account_lock_ends(username: str) -> datetime | None:
    """When the account's cool-off ends, by django-axes' own count (the failures of every
    record of the account whose last failure is within AXES_COOLOFF_TIME); None when the
    account is not cooled off."""
    cool_off: timedelta = settings.AXES_COOLOFF_TIME
    recent = (
        AccessAttempt.objects.filter(username=username, attempt_time__gte=timezone.now() - cool_off)
        .order_by("-attempt_time")
        .values_list("attempt_time", "failures_since_start")
    )
    failures = 0
    for attempt_time, since_start in recent:
        failures += since_start
        # Once this record's last failure is out of the window, too few are left in it.
        if failures >= settings.AXES_FAILURE_LIMIT:
            ends: datetime = attempt_time + cool_off
            return ends
    return None


def lockout_refusal(request: HttpRequest | None, username: str) -> str | None:
    """What a form says when the lockout refused the password it checked for `username`
    (or the failure just now started a cool-off): which limit, and when to try again.
    None when the lockout had no part in it."""
    if request is None or not getattr(request, "axes_locked_out", False):
        return None
    account_ends = account_lock_ends(normalize_email(username))
    account = account_ends - timezone.now() if account_ends else None
    address = address_wait(request)
    # Of the two, the one that ends last says when to try again.
    if address is not None and (account is None or address > account):
        return refusal(ADDRESS_LOCKED, address)
    return f"{refusal(ACCOUNT_LOCKED, account or timedelta(seconds=1))} {RESET_HINT}"


def forget_failures(*, user: Any) -> None:
    """End the account's cool-off: its failures go, and only its own (the counts of the
    addresses they came from stay)."""
    AccessAttempt.objects.filter(username=normalize_email(user.get_username())).delete()


@receiver(user_logged_in)
def forget_the_accounts_failures(
    sender: object, request: HttpRequest, user: Any, **kwargs: Any
) -> None:
    """A sign-in to an account proves that account's failures were its owner's. (django-axes'
    own reset on success, off in the settings, also deletes every failure from the
    client's address, whichever account it was against.)"""
    forget_failures(user=user)


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any
) -> HttpResponse:
    """The page the person was on, whose form already says why and for how long (each
    form that checks a password asks lockout_refusal): the site's sign-in, the admin's,
    the password change, the account's deletion. As it is for htmx, which swaps only 2xx
    answers; 429 otherwise."""
    # Only django-axes' asynchronous path passes no response; the site runs under WSGI.
    if original_response is None:
        return HttpResponse(status=429)
    if not getattr(request, "htmx", False):
        original_response.status_code = 429
    return original_response


@checks.register(checks.Tags.security)
def check_lockout_bounds(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    minutes = settings.AXES_COOLOFF_TIME.total_seconds() / 60
    per_hour = settings.AXES_FAILURE_LIMIT * 60 / minutes if minutes else float("inf")
    if per_hour <= MAX_FAILURES_PER_ACCOUNT_PER_HOUR:
        return []
    return [
        checks.Error(
            f"SIGNIN_FAILURE_LIMIT and SIGNIN_COOLOFF_MINUTES allow {per_hour:.0f} failed "
            f"sign-ins per account per hour; the most allowed is "
            f"{MAX_FAILURES_PER_ACCOUNT_PER_HOUR}.",
            hint="Lower SIGNIN_FAILURE_LIMIT or raise SIGNIN_COOLOFF_MINUTES.",
            id="users.E001",
        )
    ]
