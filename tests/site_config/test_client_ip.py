from django.core.checks import run_checks

from site_config.client_ip import client_ip


def test_without_a_proxy_header_the_peer_address_counts(rf, settings):
    settings.CLIENT_IP_HEADER = ""
    request = rf.get("/", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR="198.51.100.1")

    assert client_ip(request) == "192.0.2.1"


def test_behind_a_proxy_the_last_forwarded_address_counts(rf, settings):
    settings.CLIENT_IP_HEADER = "HTTP_X_FORWARDED_FOR"
    # The client wrote the first entry itself; our proxy appended the second.
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="203.0.113.66, 198.51.100.1")

    assert client_ip(request) == "198.51.100.1"


def test_a_missing_proxy_header_falls_back_to_the_peer(rf, settings):
    settings.CLIENT_IP_HEADER = "HTTP_X_REAL_IP"

    assert client_ip(rf.get("/", REMOTE_ADDR="192.0.2.9")) == "192.0.2.9"


def warnings_of_the_check(settings, **values) -> list[str]:
    for name, value in values.items():
        setattr(settings, name, value)
    return [
        message.id for message in run_checks(tags=["security"]) if message.id == "site_config.W001"
    ]


def test_a_client_ip_header_without_a_proxy_is_warned_of(settings):
    assert warnings_of_the_check(
        settings, CLIENT_IP_HEADER="HTTP_X_FORWARDED_FOR", BEHIND_HTTPS_PROXY=False
    ) == ["site_config.W001"]


def test_a_client_ip_header_behind_a_proxy_or_none_at_all_is_fine(settings):
    assert (
        warnings_of_the_check(settings, CLIENT_IP_HEADER="HTTP_X_REAL_IP", BEHIND_HTTPS_PROXY=True)
        == []
    )
    assert warnings_of_the_check(settings, CLIENT_IP_HEADER="", BEHIND_HTTPS_PROXY=False) == []
