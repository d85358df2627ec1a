"""The limits counted in the cache, and what a person who meets a limit is told: when to
try again, from the window that counts them. In the embedded mode's database cache: one
count for every process, each increment inside a transaction (on SQLite, one writer at a
time)."""

import math
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from django_ratelimit import core

from common.rate_limits import over_limit, try_again_in
from tests.conftest import GOOD_PASSWORD, HTMX
from tests.contact.factories import make_message

pytestmark = pytest.mark.django_db

DATABASE_CACHE = {
    "BACKEND": "django.core.cache.backends.db.DatabaseCache",
    "LOCATION": "site_cache",
}


@pytest.fixture
def database_cache(settings):
    settings.CACHES = {**settings.CACHES, "default": DATABASE_CACHE}


def test_the_database_cache_counts_the_limit(rf, database_cache):
    request = rf.post("/", REMOTE_ADDR="192.0.2.7")

    answers = [over_limit(request, group="probe", rate="3/m") is not None for _ in range(5)]

    assert answers == [False, False, False, True, True]
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM site_cache")
        assert cursor.fetchone()[0] == 1


def test_each_count_is_read_and_written_in_one_transaction(rf, database_cache):
    request = rf.post("/", REMOTE_ADDR="192.0.2.7")

    with CaptureQueriesContext(connection) as queries:
        over_limit(request, group="probe", rate="3/m")

    statements = [query["sql"].split()[0].upper() for query in queries]
    # Inside the test's own transaction, the block is a savepoint around the cache's work.
    assert statements[0] == "SAVEPOINT" and statements[-1] == "RELEASE"
    assert "SELECT" in statements and "INSERT" in statements


# ---------------------------------------------------------------- when to try again

# A fixed moment, so that each window's end is known (django-ratelimit reads time.time()).
NOW = 1_900_000_000


@pytest.fixture
def frozen_clock(monkeypatch):
    monkeypatch.setattr(core, "time", SimpleNamespace(time=lambda: NOW))


def minutes_left(value: str, period: int) -> int:
    """The minutes until the window of `value` (a client address, a key) ends."""
    return math.ceil((core._get_window(value, period) - NOW) / 60)


def test_over_the_limit_says_how_long_until_its_window_ends(rf, frozen_clock):
    request = rf.post("/", REMOTE_ADDR="192.0.2.7")
    for _ in range(3):
        assert over_limit(request, group="probe", rate="3/h") is None

    wait = over_limit(request, group="probe", rate="3/h")

    assert wait == timedelta(seconds=core._get_window("192.0.2.7", 3600) - NOW)
    assert timedelta(0) < wait <= timedelta(hours=1)


def test_asking_without_counting_counts_nothing(rf):
    request = rf.post("/", REMOTE_ADDR="192.0.2.7")
    over_limit(request, group="probe", rate="2/h")

    assert over_limit(request, group="probe", rate="2/h", count=False) is None
    assert over_limit(request, group="probe", rate="2/h", count=False) is None
    over_limit(request, group="probe", rate="2/h")
    assert over_limit(request, group="probe", rate="2/h", count=False) is not None


@pytest.mark.parametrize(
    ("seconds", "english", "russian"),
    [
        (1, "Try again in 1 second.", "Попробуйте снова через 1 секунду."),
        (40, "Try again in 40 seconds.", "Попробуйте снова через 40 секунд."),
        (60, "Try again in 1 minute.", "Попробуйте снова через 1 минуту."),
        (61, "Try again in 2 minutes.", "Попробуйте снова через 2 минуты."),
        (12 * 60, "Try again in 12 minutes.", "Попробуйте снова через 12 минут."),
    ],
)
def test_the_wait_is_said_in_whole_units_rounded_up(seconds, english, russian):
    wait = timedelta(seconds=seconds)

    assert try_again_in(wait) == english
    with translation.override("ru"):
        assert try_again_in(wait) == russian


def test_a_limited_sign_up_says_when_to_try_again(client, settings, frozen_clock):
    settings.SIGNUPS_PER_HOUR = 1
    data = {"email": "ann@example.org", "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD}
    client.post(reverse("register"), data, REMOTE_ADDR="192.0.2.1", **HTMX)

    answer = client.post(reverse("register"), data, REMOTE_ADDR="192.0.2.1", **HTMX)

    minutes = minutes_left("192.0.2.1", 3600)
    assert f"Too many sign-up attempts from your network. Try again in {minutes} minutes." in (
        answer.content.decode()
    )


def test_a_limited_reset_says_when_to_try_again(client, settings, frozen_clock):
    settings.PASSWORD_RESETS_PER_HOUR = 1
    client.post(reverse("password_reset"), {"email": "a@example.org"}, REMOTE_ADDR="192.0.2.1")

    answer = client.post(
        reverse("password_reset"), {"email": "b@example.org"}, REMOTE_ADDR="192.0.2.1"
    )

    minutes = minutes_left("192.0.2.1", 3600)
    assert answer.status_code == 429
    assert (
        f"Too many password reset requests from your network. Try again in {minutes} minutes."
        in answer.content.decode()
    )


def test_a_reset_limited_for_its_address_says_where_the_links_are(client, settings, frozen_clock):
    settings.PASSWORD_RESETS_PER_HOUR = 1
    client.post(reverse("password_reset"), {"email": "a@example.org"}, REMOTE_ADDR="192.0.2.1")

    answer = client.post(
        reverse("password_reset"), {"email": "A@example.org"}, REMOTE_ADDR="198.51.100.1"
    ).content.decode()

    minutes = minutes_left("a@example.org", 3600)
    assert "Too many password reset requests for this address." in answer
    assert "the newest one works" in answer
    assert f"Try again in {minutes} minutes." in answer


def test_a_limited_confirmation_link_says_when_to_try_again(
    client, unconfirmed_user, settings, frozen_clock
):
    settings.CONFIRMATION_RESENDS_PER_HOUR = 1
    client.force_login(unconfirmed_user)
    client.post(reverse("email-confirm-resend"), **HTMX)

    answer = client.post(reverse("email-confirm-resend"), **HTMX).content.decode()

    minutes = minutes_left(str(unconfirmed_user.pk), 3600)
    assert "You have asked for 1 new link in the last hour. Please use the newest one." in answer
    assert f"Try again in {minutes} minutes." in answer


def test_the_hourly_message_limit_says_when_the_next_message_may_go(client, user, settings):
    settings.MESSAGES_PER_HOUR = 2
    now = timezone.now()
    make_message(user, created_at=now - timedelta(minutes=30))
    # The older of the two: when it is an hour old, one message of the last hour is left.
    make_message(user, created_at=now - timedelta(minutes=48, seconds=30))
    client.force_login(user)

    answer = client.post(reverse("message-new"), {"subject": "Hi", "body": "Again"}, **HTMX)

    assert (
        "You have sent 2 messages in the last hour. Try again in 12 minutes."
        in answer.content.decode()
    )
