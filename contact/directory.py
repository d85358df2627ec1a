"""The external user directory (jsonplaceholder's `/users` in production).

The directory is a courtesy: whatever it does (errors, hangs, floods, nonsense), a
lookup ends within its deadline with a DirectoryLookup, never an exception, and the
email goes out either way.

What it says of an address (found or not) is kept in the cache for
USER_DIRECTORY_CACHE_SECONDS, so a frequent sender costs one request per period;
failures are not kept, so the next message asks again.
"""

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.conf import settings
from django.core.cache import BaseCache, cache

from contact.directory_data import storable
from contact.models import Message
from users.addresses import normalize_email

logger = logging.getLogger(__name__)

# What a user object must carry for us to trust the answer's shape.
REQUIRED_USER_KEYS = {"id", "email"}


@dataclass(frozen=True)
class DirectoryLookup:
    status: Message.DirectoryStatus
    # Every user object whose email matched, as the directory sent it.
    users: list[dict[str, Any]] = field(default_factory=list)
    # Why the directory was unavailable; empty otherwise.
    error: str = ""
    # Whether this came from the cache rather than from the directory just now.
    from_cache: bool = False


class DirectoryUnavailable(Exception):
    """The directory did not give a usable answer in time."""


class UserDirectory:
    """Looks a person up by email in the directory at `base_url`.

    The directory's own `?email=` filter is exact and case-sensitive ("Sincere@april.biz"
    is not "sincere@april.biz"), while the site stores addresses in its one normalised
    form; so the client reads the list and compares addresses in that form itself.
    """

    def __init__(
        self,
        client: httpx.Client,
        *,
        base_url: str,
        connect_timeout: float,
        total_timeout: float,
        max_bytes: int,
        cache: BaseCache | None = None,
        cache_seconds: float = 0,
    ) -> None:
        self.client = client
        self.base_url = base_url
        self.connect_timeout = connect_timeout
        # Deadline for the whole exchange, from connecting to the last byte.
        self.total_timeout = total_timeout
        # Answers larger than this are refused rather than read into memory.
        self.max_bytes = max_bytes
        # Where found and not-found answers are kept, and for how long; None: not kept.
        self.cache = cache if cache_seconds > 0 else None
        self.cache_seconds = cache_seconds

    def lookup(self, email: str) -> DirectoryLookup:
        # The site's one rule for "the same address" (users.addresses), on both sides.
        wanted = normalize_email(email)
        kept = self._kept(wanted)
        if kept is not None:
            return kept
        try:
            users = self._fetch_users()
        except DirectoryUnavailable as error:
            return DirectoryLookup(Message.DirectoryStatus.UNAVAILABLE, error=str(error))
        # Kept as the site can store, attach and show them, whatever the directory sent.
        matches = [storable(user) for user in users if normalize_email(user["email"]) == wanted]
        if matches:
            result = DirectoryLookup(Message.DirectoryStatus.FOUND, users=matches)
        else:
            result = DirectoryLookup(Message.DirectoryStatus.NOT_FOUND)
        self._keep(wanted, result)
        return result

    # The cache is a courtesy too: if it is away, the directory is asked.

    def _kept(self, address: str) -> DirectoryLookup | None:
        if self.cache is None:
            return None
        try:
            kept = self.cache.get(self._cache_key(address))
        except Exception:
            logger.warning("Directory cache unreadable; asking the directory.", exc_info=True)
            return None
        if kept is None:
            return None
        status, users = kept
        # Reduced on the way out too: whatever the cache holds, what is attached and
        # stored is what storable makes of it.
        users = [storable(user) for user in users]
        return DirectoryLookup(Message.DirectoryStatus(status), users=users, from_cache=True)

    def _keep(self, address: str, result: DirectoryLookup) -> None:
        if self.cache is None:
            return
        try:
            kept = (str(result.status), result.users)
            self.cache.set(self._cache_key(address), kept, timeout=self.cache_seconds)
        except Exception:
            logger.warning("Directory cache unwritable; not keeping the answer.", exc_info=True)

    @staticmethod
    def _cache_key(address: str) -> str:
        # Hashed: cache keys show up in tools and logs, and addresses are personal data.
        return "user-directory:" + hashlib.sha256(address.encode()).hexdigest()

    def _fetch_users(self) -> list[dict[str, Any]]:
        deadline = time.monotonic() + self.total_timeout
        timeout = httpx.Timeout(
            self.total_timeout, connect=min(self.connect_timeout, self.total_timeout)
        )
        try:
            with self.client.stream("GET", self.base_url, timeout=timeout) as response:
                if response.status_code != httpx.codes.OK:
                    raise DirectoryUnavailable(f"HTTP {response.status_code}")
                body = self._read_body(response, deadline)
        except httpx.TimeoutException as error:
            raise DirectoryUnavailable(f"no answer within {self.total_timeout} s") from error
        except httpx.HTTPError as error:
            raise DirectoryUnavailable(f"{type(error).__name__}: {error}") from error
        try:
            users = json.loads(body)
        except ValueError as error:
            raise DirectoryUnavailable(f"invalid JSON: {error}") from error
        except RecursionError as error:
            # Nesting deeper than the parser's stack: no user object is shaped like that.
            raise DirectoryUnavailable("invalid JSON: nested too deeply") from error
        if not isinstance(users, list) or not all(self._is_user(user) for user in users):
            raise DirectoryUnavailable("unexpected answer: not a list of user objects")
        return users

    def _read_body(self, response: httpx.Response, deadline: float) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise DirectoryUnavailable(f"answer of {declared} bytes is over {self.max_bytes}")
        # httpx bounds each wait, not their sum, so a server dripping a byte at a time
        # could hold us for ever. Each read gets only what is left of the deadline:
        # httpcore reads the request's "timeout" extension afresh for every read.
        read_timeouts = response.request.extensions["timeout"]
        body = bytearray()
        chunks = response.iter_bytes()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DirectoryUnavailable(f"no complete answer within {self.total_timeout} s")
            read_timeouts["read"] = remaining
            chunk = next(chunks, None)
            if chunk is None:
                return bytes(body)
            body += chunk
            if len(body) > self.max_bytes:
                raise DirectoryUnavailable(f"answer is over {self.max_bytes} bytes")

    @staticmethod
    def _is_user(user: Any) -> bool:
        return (
            isinstance(user, dict)
            and user.keys() >= REQUIRED_USER_KEYS
            and isinstance(user["email"], str)
        )


def user_directory(client: httpx.Client) -> UserDirectory:
    """The directory named in the settings, over `client`."""
    return UserDirectory(
        client,
        base_url=settings.USER_DIRECTORY_URL,
        connect_timeout=settings.USER_DIRECTORY_CONNECT_TIMEOUT,
        total_timeout=settings.USER_DIRECTORY_TOTAL_TIMEOUT,
        max_bytes=settings.USER_DIRECTORY_MAX_BYTES,
        cache=cache,
        cache_seconds=settings.USER_DIRECTORY_CACHE_SECONDS,
    )


def directory_http_client() -> httpx.Client:
    """The HTTP client lookups go through; UserDirectory bounds each request's waits."""
    return httpx.Client(follow_redirects=False, headers={"Accept": "application/json"})


_shared_client: httpx.Client | None = None
_shared_client_lock = threading.Lock()


def shared_directory_client() -> httpx.Client:
    """One client for every lookup of this process, from any thread (httpx clients are
    thread-safe): building one loads the CA bundle, tens of milliseconds, and its pool
    keeps the connection to the directory open from one message to the next."""
    global _shared_client
    with _shared_client_lock:
        if _shared_client is None:
            _shared_client = directory_http_client()
        return _shared_client
