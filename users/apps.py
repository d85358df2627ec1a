from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class UsersConfig(AppConfig):
    name = "users"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        # Registers the system check on the sign-in lockout's bounds, and its reset at
        # each sign-in.
        from users import lockout  # noqa: F401
