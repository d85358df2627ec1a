from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OutboxConfig(AppConfig):
    name = "outbox"
    verbose_name = _("Emails")

    def ready(self) -> None:
        # tasks declares the actors, and so their queues, on the broker in every process,
        # the web process included, before any worker starts consuming; tracking connects
        # the email providers' reports (anymail's tracking signal); addresses registers
        # the checks of the sender's and the bounces' addresses.
        from outbox import addresses, tasks, tracking  # noqa: F401
