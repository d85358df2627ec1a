"""The cache backend used when REDIS_URL is set (CACHES["default"])."""

from typing import Any

import redis as redis_py
from django.core.cache.backends import redis


class RedisCacheClient(redis.RedisCacheClient):
    """Django's Redis cache client, keeping one redis-py client per connection pool.

    Django's own builds a new `redis.Redis` for every cache operation, and redis-py's
    constructor is not cheap. A delivery reads the cache once, for the sender's
    directory entry, and that read spent more on building its client than on Redis.
    redis-py's clients are safe to share between threads; the pool is what holds the
    connections, and it starts afresh in a forked process.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[redis_py.ConnectionPool, redis_py.Redis] = {}

    def get_client(self, key: str | None = None, *, write: bool = False) -> redis_py.Redis:
        pool = self._get_connection_pool(write)
        client = self._clients.get(pool)
        if client is None:
            # Two threads may both build one here; either is fine to keep.
            client = self._clients[pool] = self._client(connection_pool=pool)
        return client


class RedisCache(redis.RedisCache):
    """Django's RedisCache, with the client above."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient
