"""The client's address, as the rate limits and the sign-in lockout see it, and the rule
for believing what the proxy in front says of a request (its address here, its id in
common.request_id)."""

import ipaddress
from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.http import HttpRequest


def from_the_proxy(request: HttpRequest) -> bool:
    """Whether the peer is the proxy in front: BEHIND_HTTPS_PROXY is on and the peer's
    address is in FORWARDED_ALLOW_IPS, the addresses gunicorn believes the proxy's own
    headers from (its forwarded_allow_ips). Any other peer writes what it likes."""
    if not settings.BEHIND_HTTPS_PROXY:
        return False
    allowed: list[str] = settings.FORWARDED_ALLOW_IPS
    if "*" in allowed:
        return True
    try:
        peer = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(peer in ipaddress.ip_network(entry, strict=False) for entry in allowed)


def client_ip(request: HttpRequest) -> str:
    """The peer's address; from the proxy in front (from_the_proxy), the address it
    reports in CLIENT_IP_HEADER. For X-Forwarded-For that is the last entry, the one our
    own proxy appended: entries before it come from the client and prove nothing. A
    report that is no address counts as none."""
    remote_address: str = request.META.get("REMOTE_ADDR", "")
    if not (settings.CLIENT_IP_HEADER and from_the_proxy(request)):
        return remote_address
    reported: str = request.META.get(settings.CLIENT_IP_HEADER, "")
    address = reported.split(",")[-1].strip()
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return remote_address


@checks.register(checks.Tags.security)
def check_client_ip_header(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """CLIENT_IP_HEADER is believed only from the proxy in front (BEHIND_HTTPS_PROXY):
    set without it, the header is never read, and the setting says something untrue
    (docs/security.md)."""
    if not settings.CLIENT_IP_HEADER or settings.BEHIND_HTTPS_PROXY:
        return []
    return [
        checks.Warning(
            f"CLIENT_IP_HEADER is {settings.CLIENT_IP_HEADER!r} but BEHIND_HTTPS_PROXY is "
            "off: the header is believed only from the proxy in front, so it is ignored "
            "and every client counts by the address it connects from.",
            hint="Set BEHIND_HTTPS_PROXY=true and the proxy's address in "
            "FORWARDED_ALLOW_IPS behind a proxy that overwrites the header, or unset "
            'CLIENT_IP_HEADER (docs/security.md, "The client\'s address").',
            id="common.W001",
        )
    ]
