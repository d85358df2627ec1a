"""Sign-in brute-force protection: the parts of django-axes made ours (settings in
site_config/settings.py, "abuse limits")."""

from collections.abc import Sequence
from typing import Any

from axes.models import AccessAttempt
from django.apps import AppConfig
from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.core import checks
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import ngettext

from users.addresses import normalize_email

# The most failed sign-ins one account may see in an hour, whatever the settings say.
MAX_FAILURES_PER_ACCOUNT_PER_HOUR = 100


def locked_out_message(minutes: int) -> str:
    return ngettext(
        "Too many failed sign-in attempts for this account or from your network. "
        "Try again in %(minutes)d minute.",
        "Too many failed sign-in attempts for this account or from your network. "
        "Try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}


def lockout_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str:
    """The account a sign-in is for, in the one form addresses are compared in:
    "Ann@x.org", " ann@x.org" and "ａｎｎ@x.org" are one account, so they share one
    count of failures."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    return normalize_email(str(username))


@receiver(user_logged_in)
def forget_the_accounts_failures(
    sender: object, request: HttpRequest, user: Any, **kwargs: Any
) -> None:
    """A sign-in to an account proves that account's failures were its owner's: they go,
    and only they. (django-axes' own reset on success, off in the settings, also deletes
    every failure from the client's address, whichever account it was against.)"""
    username = lockout_username(request, {"username": user.get_username()})
    AccessAttempt.objects.filter(username=username).delete()


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any
) -> HttpResponse:
    """The sign-in form again, with the lockout said in it: in place for htmx (200, as
    htmx swaps nothing else in), as a 429 page otherwise."""
    from users.forms import SignInForm

    form = SignInForm(request, data=request.POST or None, check_credentials=False)
    form.is_valid()
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    form.add_error(None, locked_out_message(minutes))
    if getattr(request, "htmx", False):
        return render(request, "partials/login_form.html", {"form": form})
    return render(request, "users/login.html", {"form": form}, status=429)


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
