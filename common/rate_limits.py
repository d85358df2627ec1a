"""The limits counted in the cache: per client address (sign-ups, live validation,
password resets, failed sign-ins) or per some other key (the address a reset is asked for,
an account), and the words every limit's message ends with: when to try again."""

import logging
import math
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta

import redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.db import transaction
from django.http import HttpRequest
from django.utils.functional import Promise
from django.utils.translation import ngettext
from django_ratelimit.core import get_usage

logger = logging.getLogger(__name__)

# django-ratelimit's key: "ip", or a callable of (group, request) returning the key.
RateKey = str | Callable[[str, HttpRequest], str]


def over_limit(
    request: HttpRequest, *, group: str, rate: str, key: RateKey = "ip", count: bool = True
) -> timedelta | None:
    """Count this request against `rate` (django-ratelimit's "5/h") for its `key` (the
    client address unless told otherwise) in `group`; when it is over, return how long
    until the window that counts it ends (at least a second), else None. With
    `count=False` only ask whether this request would be over, and count nothing.

    With the cache away (Redis down) the request is let through and the outage logged:
    an abuse limit must not turn an outage into errors for everyone.
    """
    try:
        with counted_atomically():
            usage = get_usage(request, group=group, key=key, rate=rate, increment=count)
    except redis.RedisError:
        logger.warning("Rate limit %r not counted: the cache is unavailable.", group, exc_info=True)
        return None
    if usage is None:
        return None
    # Counted, this request is in `count`; asked about, it would be the next one.
    over = usage["count"] > usage["limit"] if count else usage["count"] >= usage["limit"]
    if not over:
        return None
    return timedelta(seconds=max(usage["time_left"], 1))


def counted_atomically() -> AbstractContextManager[object]:
    """Around a count in the database cache (the embedded mode), a transaction.

    The cache's increment reads the count and writes it back; on SQLite, whose
    transactions here begin IMMEDIATE (settings.DATABASES), one process at a time does
    so, and no two requests count the same number. Redis increments atomically itself.
    """
    if isinstance(caches[getattr(settings, "RATELIMIT_USE_CACHE", "default")], DatabaseCache):
        return transaction.atomic()
    return nullcontext()


def try_again_in(wait: timedelta) -> str:
    """The sentence every limit's message ends with, "Try again in 12 minutes.", in the
    person's language: seconds under a minute, whole minutes (rounded up) beyond."""
    seconds = math.ceil(wait.total_seconds())
    if seconds < 60:
        return ngettext(
            "Try again in %(count)d second.", "Try again in %(count)d seconds.", seconds
        ) % {"count": seconds}
    minutes = math.ceil(seconds / 60)
    return ngettext(
        "Try again in %(count)d minute.", "Try again in %(count)d minutes.", minutes
    ) % {"count": minutes}


def refusal(reason: str | Promise, wait: timedelta) -> str:
    """A limit's message: why, then when to try again."""
    return f"{reason} {try_again_in(wait)}"
