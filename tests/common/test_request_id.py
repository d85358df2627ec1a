"""Every answer carries a request id. One sent in X-Request-ID is kept only from the proxy
in front (BEHIND_HTTPS_PROXY on, the peer in FORWARDED_ALLOW_IPS) and only when it is
well formed; any other is replaced by a new one."""

import re

import pytest
from django.urls import reverse

from common.request_id import HEADER

NEW_ID = re.compile(r"[0-9a-f]{32}")


def answered_id(client, offered: str | None = None, *, peer: str = "127.0.0.1") -> str:
    headers = {} if offered is None else {HEADER: offered}
    return client.get(reverse("healthz"), headers=headers, REMOTE_ADDR=peer)[HEADER]


@pytest.fixture
def behind_proxy(settings):
    settings.BEHIND_HTTPS_PROXY = True
    settings.FORWARDED_ALLOW_IPS = ["127.0.0.1", "::1"]


def test_every_answer_carries_a_new_id(client):
    assert NEW_ID.fullmatch(answered_id(client))


def test_a_client_without_a_proxy_in_front_cannot_name_its_id(client):
    assert NEW_ID.fullmatch(answered_id(client, "edge-1234abcd"))


def test_the_proxy_in_front_names_the_id(client, behind_proxy):
    assert answered_id(client, "edge-1234abcd") == "edge-1234abcd"
    assert answered_id(client, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", peer="::1") == (
        "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    )


def test_a_client_that_is_not_the_proxy_cannot_name_its_id(client, behind_proxy):
    assert NEW_ID.fullmatch(answered_id(client, "edge-1234abcd", peer="203.0.113.9"))


def test_the_proxy_may_be_named_by_its_network_or_as_any(client, behind_proxy, settings):
    settings.FORWARDED_ALLOW_IPS = ["10.0.0.0/8"]
    assert answered_id(client, "edge-1234abcd", peer="10.1.2.3") == "edge-1234abcd"
    assert NEW_ID.fullmatch(answered_id(client, "edge-1234abcd", peer="127.0.0.1"))

    settings.FORWARDED_ALLOW_IPS = ["*"]
    assert answered_id(client, "edge-1234abcd", peer="203.0.113.9") == "edge-1234abcd"


@pytest.mark.parametrize(
    "offered",
    [
        "bad id\nwith a newline",
        "id with spaces",
        "id\x1b[31mred",
        'id"quoted"',
        "short",
        "x" * 65,
        "-starts-with-a-dash",
        "ид-запроса-1234",
    ],
)
def test_a_malformed_id_from_the_proxy_is_replaced(client, behind_proxy, offered):
    assert NEW_ID.fullmatch(answered_id(client, offered))
