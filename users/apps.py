from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class UsersConfig(AppConfig):
    name = "users"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from outbox.kinds import QUEUE_ACCOUNT, EmailKind, register

        # Registers the system check on the sign-in lockout's bounds, and its reset at
        # each sign-in.
        from users import lockout  # noqa: F401
        from users.emails import account_email
        from users.models import AccountEmailKind

        # The account emails, on a queue of their own: someone is waiting for each link.
        for kind in AccountEmailKind:
            register(EmailKind(kind.value, kind.label, render=account_email, queue=QUEUE_ACCOUNT))
