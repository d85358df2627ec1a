from django.apps import AppConfig


class CommonConfig(AppConfig):
    name = "common"

    def ready(self) -> None:
        # Registers the system check on where the limits and the sign-in lockout read the
        # client's address (CLIENT_IP_HEADER).
        from common import client_ip  # noqa: F401
