import pytest
from django.core.checks import run_checks

from common.client_ip import client_ip


@pytest.fixture
def behind_proxy(settings):
    """A proxy at 10.0.0.2 in front, reporting the client's address in X-Forwarded-For."""
    settings.BEHIND_HTTPS_PROXY = True
    settings.FORWARDED_ALLOW_IPS = ["10.0.0.2"]
    settings.CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"


def test_without_a_proxy_header_the_peer_address_counts(rf, settings):
    settings.CLIENT_IP_HEADER = ""
    request = rf.get("/", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="198.51.100.1")

    assert client_ip(request) == "192.0.2.1"


def test_behind_a_proxy_the_last_forwarded_address_counts(rf, behind_proxy):
    # The client wrote the first entry itself; our proxy appended the second.
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.66, 198.51.100.1")

    assert client_ip(request) == "198.51.100.1"


def test_a_missing_proxy_header_falls_back_to_the_peer(rf, behind_proxy, settings):
    settings.CLIENT_IP_HEADER = "HTTP_X_REAL_IP"

    assert client_ip(rf.get("/", REMOTE_ADDR="10.0.0.2")) == "10.0.0.2"


def test_a_peer_that_is_not_the_proxy_cannot_name_its_address(rf, behind_proxy):
    # It reached gunicorn past the proxy, or the proxy is not where FORWARDED_ALLOW_IPS says.
    request = rf.get("/", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="198.51.100.1")

    assert client_ip(request) == "192.0.2.1"


def test_without_a_proxy_in_front_the_header_is_not_read(rf, behind_proxy, settings):
    settings.BEHIND_HTTPS_PROXY = False

    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.1")

    assert client_ip(request) == "10.0.0.2"


def test_the_proxy_may_be_named_by_its_network_or_as_any(rf, behind_proxy, settings):
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.1")

    settings.FORWARDED_ALLOW_IPS = ["10.0.0.0/24"]
    assert client_ip(request) == "198.51.100.1"
    settings.FORWARDED_ALLOW_IPS = ["*"]
    assert client_ip(request) == "198.51.100.1"


@pytest.mark.parametrize("reported", ["unknown", "198.51.100.1:4431", "", "  ,  "])
def test_a_report_that_is_no_address_counts_as_none(rf, behind_proxy, reported):
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=reported)

    assert client_ip(request) == "10.0.0.2"


def test_the_sign_in_lockout_and_the_rate_limits_read_it(settings):
    assert settings.AXES_CLIENT_IP_CALLABLE == "common.client_ip.client_ip"
    assert settings.RATELIMIT_IP_META_KEY == "common.client_ip.client_ip"


def warnings_of_the_check(settings, **values) -> list[str]:
    for name, value in values.items():
        setattr(settings, name, value)
    return [message.id for message in run_checks(tags=["security"]) if message.id == "common.W001"]


def test_a_client_ip_header_without_a_proxy_is_warned_of(settings):
    assert warnings_of_the_check(
        settings, CLIENT_IP_HEADER="HTTP_X_FORWARDED_FOR", BEHIND_HTTPS_PROXY=False
    ) == ["common.W001"]


def test_a_client_ip_header_behind_a_proxy_or_none_at_all_is_fine(settings):
    assert (
        warnings_of_the_check(settings, CLIENT_IP_HEADER="HTTP_X_REAL_IP", BEHIND_HTTPS_PROXY=True)
        == []
    )
    assert warnings_of_the_check(settings, CLIENT_IP_HEADER="", BEHIND_HTTPS_PROXY=False) == []
