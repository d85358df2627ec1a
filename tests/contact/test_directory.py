import json
import threading

import httpx
import pytest
from django.core.cache.backends.redis import RedisCache

from contact.directory import (
    UserDirectory,
    directory_http_client,
    shared_directory_client,
    user_directory,
)
from contact.models import Message
from tests.standins import directory as modes
from tests.standins.directory import USERS
from tests.standins.smtp import free_port

LEANNE = next(user for user in USERS if user["email"] == "Sincere@april.biz")


def lookup(email: str):
    with directory_http_client() as client:
        return user_directory(client).lookup(email)


def test_finds_a_user_registered_in_another_case(directory):
    result = lookup("sincere@APRIL.biz")

    assert result.status == Message.DirectoryStatus.FOUND
    assert result.users == [LEANNE]


def test_an_unknown_email_is_not_found(directory):
    result = lookup("nobody@example.org")

    assert result.status == Message.DirectoryStatus.NOT_FOUND
    assert result.users == []
    assert result.error == ""


def test_the_stand_in_filters_by_exact_case_like_the_real_service(directory):
    exact = httpx.get(directory.url, params={"email": "Sincere@april.biz"}).json()
    other_case = httpx.get(directory.url, params={"email": "sincere@april.biz"}).json()

    assert exact == [LEANNE]
    assert other_case == []
    assert len(httpx.get(directory.url).json()) == 10


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        (modes.SERVER_ERROR, "HTTP 500"),
        (modes.HANG, "no answer within 1.0 s"),
        (modes.INVALID_JSON, "invalid JSON"),
        (modes.NOT_A_LIST, "unexpected answer"),
        (modes.OVERSIZED, "over 1048576 bytes"),
        (modes.SLOW_DRIP, "within 1.0 s"),
    ],
)
def test_a_misbehaving_directory_is_unavailable_within_the_deadline(directory, mode, error):
    directory.mode = mode

    result = lookup(LEANNE["email"])

    assert result.status == Message.DirectoryStatus.UNAVAILABLE
    assert error in result.error
    assert result.users == []
    # One request and no second wait: how long it took is make bench's to say.
    assert len(directory.requests) == 1


def test_a_refused_connection_is_unavailable(settings):
    settings.USER_DIRECTORY_URL = f"http://127.0.0.1:{free_port()}/users"

    result = lookup(LEANNE["email"])

    assert result.status == Message.DirectoryStatus.UNAVAILABLE
    assert "ConnectError" in result.error


def directory_answering(response: httpx.Response, *, max_bytes: int) -> UserDirectory:
    """A directory whose server always gives `response`, through httpx's own test
    transport: for answers the stand-in has no reason to produce."""
    client = httpx.Client(transport=httpx.MockTransport(lambda request: response))
    return UserDirectory(
        client,
        base_url="http://directory.test/users",
        connect_timeout=1,
        total_timeout=1,
        max_bytes=max_bytes,
    )


def test_a_declared_oversized_answer_is_refused_before_reading_it():
    oversized = httpx.Response(200, headers={"Content-Length": "5000"}, content=b"[" * 5000)

    result = directory_answering(oversized, max_bytes=1000).lookup("a@example.org")

    assert result.status == Message.DirectoryStatus.UNAVAILABLE
    assert result.error == "answer of 5000 bytes is over 1000"


def test_every_matching_user_is_kept():
    twins = [{**LEANNE, "id": 1}, {**LEANNE, "id": 11, "email": "SINCERE@april.biz"}]
    answer = httpx.Response(200, content=json.dumps([*twins, USERS[1]]).encode())

    result = directory_answering(answer, max_bytes=100_000).lookup("sincere@april.biz")

    assert result.status == Message.DirectoryStatus.FOUND
    assert result.users == twins


# ---------------------------------------------------------------- the cache


@pytest.fixture
def kept_for_a_while(settings):
    settings.USER_DIRECTORY_CACHE_SECONDS = 300


def test_a_frequent_sender_costs_one_request_per_period(directory, kept_for_a_while):
    first = lookup(LEANNE["email"])
    again = [lookup(address) for address in ["sincere@april.biz", "SINCERE@APRIL.BIZ"]]

    assert len(directory.requests) == 1
    assert first.from_cache is False
    assert [result.from_cache for result in again] == [True, True]
    assert all(result.users == [LEANNE] for result in [first, *again])


def test_not_found_is_kept_too(directory, kept_for_a_while):
    lookup("nobody@example.org")
    result = lookup("nobody@example.org")

    assert result.status == Message.DirectoryStatus.NOT_FOUND
    assert len(directory.requests) == 1


def test_each_address_is_kept_apart(directory, kept_for_a_while):
    lookup(LEANNE["email"])
    other = lookup("nobody@example.org")

    assert other.status == Message.DirectoryStatus.NOT_FOUND
    assert len(directory.requests) == 2


def test_a_failure_is_not_kept(directory, kept_for_a_while):
    directory.mode = modes.SERVER_ERROR
    failed = lookup(LEANNE["email"])
    directory.mode = modes.NORMAL
    recovered = lookup(LEANNE["email"])

    assert failed.status == Message.DirectoryStatus.UNAVAILABLE
    assert recovered.status == Message.DirectoryStatus.FOUND
    assert len(directory.requests) == 2


def test_zero_seconds_asks_for_every_message(directory, settings):
    settings.USER_DIRECTORY_CACHE_SECONDS = 0
    lookup(LEANNE["email"])
    lookup(LEANNE["email"])

    assert len(directory.requests) == 2


def test_an_unreachable_cache_only_costs_a_request(directory, caplog):
    # A real Redis cache on a port where nothing listens.
    away = RedisCache(f"redis://127.0.0.1:{free_port()}/0", {})
    with directory_http_client() as client:
        directory_client = UserDirectory(
            client,
            base_url=directory.url,
            connect_timeout=1,
            total_timeout=1,
            max_bytes=1024 * 1024,
            cache=away,
            cache_seconds=300,
        )
        results = [directory_client.lookup(LEANNE["email"]) for _ in range(2)]

    assert [result.users for result in results] == [[LEANNE], [LEANNE]]
    assert len(directory.requests) == 2
    assert "Directory cache unreadable" in caplog.text


def test_every_lookup_of_a_process_shares_one_client(directory):
    clients: list[httpx.Client] = []
    threads = [
        threading.Thread(target=lambda: clients.append(shared_directory_client())) for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({id(client) for client in clients}) == 1
    result = user_directory(clients[0]).lookup(LEANNE["email"])
    assert result.status == Message.DirectoryStatus.FOUND
