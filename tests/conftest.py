import importlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator

import dramatiq
import pytest
import redis
from django.conf import settings as site_settings
from django.core.cache import cache, caches
from django.dispatch import receiver
from django.test.signals import setting_changed
from django.urls import clear_url_caches
from django.utils import timezone, translation
from dramatiq.brokers.stub import StubBroker

from outbox.smtp import close_connection
from tests.standins.directory import DirectoryStandIn
from tests.standins.smtp import SmtpSink, free_port
from users.models import User

# The stand-ins' and the HTTP client's own chatter would drown the site's log lines.
for chatty in ("mail.log", "httpx"):
    logging.getLogger(chatty).setLevel(logging.WARNING)

# A password that passes every AUTH_PASSWORD_VALIDATORS rule.
GOOD_PASSWORD = "plum-harbour-lantern-42"
HTMX = {"HTTP_HX_REQUEST": "true"}
# The Redis that tests which need one use; they empty its database.
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def wait_until(condition: Callable[[], object], *, timeout: float) -> bool:
    """Poll `condition` until it holds or `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


@receiver(setting_changed)
def provider_urls(*, setting: str, **kwargs: object) -> None:
    # The root URLconf mounts the tracking webhook of the provider EMAIL_BACKEND names,
    # as it loads: a test that switches provider loads it again, and so does the switch back.
    if setting != "EMAIL_BACKEND":
        return
    urlconf = sys.modules.get(site_settings.ROOT_URLCONF)
    if urlconf is not None:
        importlib.reload(urlconf)
    clear_url_caches()


@pytest.fixture(autouse=True)
def site_language() -> Iterator[None]:
    # A page asked in Russian leaves Russian active in the thread: each test starts as the
    # site does, whatever the one before it asked for.
    translation.activate(site_settings.LANGUAGE_CODE)
    yield
    translation.activate(site_settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Production hashing is slow by design; tests only need hashing to be correct.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def test_redis() -> Iterator[redis.Redis]:
    """A client of the test Redis (TEST_REDIS_URL), emptied before and after. Skipped
    where no Redis answers, failed instead under CI."""
    client = redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        reason = f"Redis not reachable at {TEST_REDIS_URL} ({error}); set TEST_REDIS_URL"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


MEMORY_CACHE = "django.core.cache.backends.locmem.LocMemCache"


@pytest.fixture(autouse=True)
def fresh_cache(settings):
    # The rate limits count in the cache, and {% cache %} keeps renderings; each test
    # starts from nothing. In this process's memory, so that a test without the database
    # can start clean too: the embedded mode's database cache has tests of its own
    # (tests/common/test_rate_limits.py, tests/system/test_embedded_limits.py).
    if settings.CACHES["default"]["BACKEND"].endswith("DatabaseCache"):
        settings.CACHES = {**settings.CACHES, "default": {"BACKEND": MEMORY_CACHE}}
    for cleared in (cache, caches["template_fragments"]):
        cleared.clear()
    yield
    for cleared in (cache, caches["template_fragments"]):
        cleared.clear()


@pytest.fixture(autouse=True)
def plain_static_files(settings):
    # Hashed static names come from the manifest `collectstatic` writes; tests run
    # without one, as `manage.py runserver` does.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def make_person(email: str, password: str = GOOD_PASSWORD, *, confirmed: bool = True) -> User:
    """An account, its address confirmed (as most people's are) unless told otherwise."""
    return User.objects.create_user(
        email=email, password=password, email_verified_at=timezone.now() if confirmed else None
    )


@pytest.fixture
def user(db) -> User:
    """Someone signed up and confirmed, who types their address in mixed case."""
    return make_person("Ann.Lee@example.org")


@pytest.fixture
def unconfirmed_user(db) -> User:
    """Someone signed up who has not followed the confirmation link yet."""
    return make_person("new.person@example.org", confirmed=False)


@pytest.fixture
def signed_in_key(client, user: User) -> str:
    """The session key of `user`, signed in through the test client."""
    client.force_login(user)
    return client.cookies["sessionid"].value


@pytest.fixture
def directory(settings) -> Iterator[DirectoryStandIn]:
    """The directory stand-in, with the site pointed at it and short deadlines."""
    stand_in = DirectoryStandIn().start()
    settings.USER_DIRECTORY_URL = stand_in.url
    settings.USER_DIRECTORY_CONNECT_TIMEOUT = 1.0
    settings.USER_DIRECTORY_TOTAL_TIMEOUT = 1.0
    yield stand_in
    stand_in.stop()


def send_to(sink: SmtpSink, settings) -> SmtpSink:
    """The site's email going to `sink`, from site@ to admin@example.org."""
    settings.EMAIL_BACKEND = "outbox.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = sink.port
    settings.EMAIL_TIMEOUT = 2
    settings.ADMIN_EMAIL = "admin@example.org"
    settings.DEFAULT_FROM_EMAIL = "site@example.org"
    return sink


@pytest.fixture
def smtp_sink(settings) -> Iterator[SmtpSink]:
    """A real SMTP server on loopback, with the site's email going to it."""
    sink = send_to(SmtpSink().start(), settings)
    yield sink
    # The connection this thread kept to it goes with it.
    close_connection()
    sink.stop()


@pytest.fixture
def fast_retries(settings) -> None:
    settings.MESSAGE_RETRY_BACKOFF = 0.01
    settings.MESSAGE_RETRY_BACKOFF_MAX = 0.05


@pytest.fixture
def broker() -> Iterator[StubBroker]:
    """The in-process broker the settings configure when REDIS_URL is unset."""
    broker = dramatiq.get_broker()
    assert isinstance(broker, StubBroker), "tests expect the embedded mode's broker"
    broker.flush_all()
    yield broker
    broker.flush_all()


def queued_message_ids(broker: StubBroker, queue: str = "email") -> list[int]:
    """The email ids waiting on a delivery queue (the default one unless told), left in
    place."""
    return [json.loads(raw)["args"][0] for raw in list(broker.queues[queue].queue)]


def awaiting_relay() -> list[int]:
    """The ids of the emails the relay will hand to the broker on its next round."""
    from outbox.models import Email

    waiting = Email.objects.filter(status=Email.Status.QUEUED, relayed_at__isnull=True)
    return sorted(waiting.values_list("pk", flat=True))


def caches_with_redis_away() -> dict:
    """The site's caches, with the default one on a Redis that nothing answers for."""
    return {
        **site_settings.CACHES,
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        },
    }
