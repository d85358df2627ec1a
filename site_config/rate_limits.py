"""The limits counted per client address in the cache (sign-ups, live validation)."""

import logging

import redis
from django.http import HttpRequest
from django_ratelimit.core import is_ratelimited

logger = logging.getLogger(__name__)


def over_limit(request: HttpRequest, *, group: str, rate: str) -> bool:
    """Count this request against `rate` (django-ratelimit's "5/h") for its client
    address in `group`, and say whether it is over.

    With the cache away (Redis down) the request is let through and the outage logged:
    an abuse limit must not turn an outage into errors for everyone.
    """
    try:
        return bool(is_ratelimited(request, group=group, key="ip", rate=rate, increment=True))
    except redis.RedisError:
        logger.warning("Rate limit %r not counted: the cache is unavailable.", group, exc_info=True)
        return False
