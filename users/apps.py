from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "users"
    verbose_name = "Accounts"

    def ready(self) -> None:
        # Registers the system check on the sign-in lockout's bounds, and its reset at
        # each sign-in.
        from users import lockout  # noqa: F401
