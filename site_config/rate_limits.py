"""The limits counted in the cache: per client address (sign-ups, live validation,
password resets) or per some other key (the address a reset is asked for, an account)."""

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.db import transaction
from django.http import HttpRequest
from django_ratelimit.core import is_ratelimited

logger = logging.getLogger(__name__)

# django-ratelimit's key: "ip", or a callable of (group, request) returning the key.
RateKey = str | Callable[[str, HttpRequest], str]


def over_limit(request: HttpRequest, *, group: str, rate: str, key: RateKey = "ip") -> bool:
    """Count this request against `rate` (django-ratelimit's "5/h") for its `key` (the
    client address unless told otherwise) in `group`, and say whether it is over.

    With the cache away (Redis down) the request is let through and the outage logged:
    an abuse limit must not turn an outage into errors for everyone.
    """
    try:
        with counted_atomically():
            return bool(is_ratelimited(request, group=group, key=key, rate=rate, increment=True))
    except redis.RedisError:
        logger.warning("Rate limit %r not counted: the cache is unavailable.", group, exc_info=True)
        return False


def counted_atomically() -> AbstractContextManager[object]:
    """Around a count in the database cache (the embedded mode), a transaction.

    The cache's increment reads the count and writes it back; on SQLite, whose
    transactions here begin IMMEDIATE (settings.DATABASES), one process at a time does
    so, and no two requests count the same number. Redis increments atomically itself.
    """
    if isinstance(caches[getattr(settings, "RATELIMIT_USE_CACHE", "default")], DatabaseCache):
        return transaction.atomic()
    return nullcontext()
