"""The client's address, as the rate limits and the sign-in lockout see it."""

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The peer's address; behind a proxy, the address the proxy reports in
    CLIENT_IP_HEADER. For X-Forwarded-For that is the last entry, the one our own proxy
    appended: entries before it come from the client and prove nothing."""
    if settings.CLIENT_IP_HEADER:
        reported: str = request.META.get(settings.CLIENT_IP_HEADER, "")
        if address := reported.split(",")[-1].strip():
            return address
    remote_address: str = request.META.get("REMOTE_ADDR", "")
    return remote_address


@checks.register(checks.Tags.security)
def check_client_ip_header(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """A client address read from a header is only as good as the proxy that sets it:
    without one in front (BEHIND_HTTPS_PROXY), every client picks its own, and with it
    a fresh set of sign-up, validation and sign-in limits (docs/security.md)."""
    if not settings.CLIENT_IP_HEADER or settings.BEHIND_HTTPS_PROXY:
        return []
    return [
        checks.Warning(
            f"CLIENT_IP_HEADER is {settings.CLIENT_IP_HEADER!r} but BEHIND_HTTPS_PROXY is "
            "off: without a proxy in front that sets that header, any client can write "
            "its own address there and escape the rate limits and the sign-in lockout.",
            hint="Unset CLIENT_IP_HEADER, or set BEHIND_HTTPS_PROXY=true behind a proxy "
            'that overwrites the header (docs/security.md, "The client\'s address").',
            id="site_config.W001",
        )
    ]
