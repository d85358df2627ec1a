"""The client's address, as the rate limits and the sign-in lockout see it."""

from django.conf import settings
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
