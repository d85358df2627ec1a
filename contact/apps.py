from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ContactConfig(AppConfig):
    name = "contact"
    verbose_name = _("Messages to the administrator")

    def ready(self) -> None:
        # tasks declares the delivery actor, and so its queue, on the broker in every
        # process, the web process included, before any worker starts consuming; tracking
        # connects the email provider's reports (anymail's tracking signal).
        from contact import tasks, tracking  # noqa: F401
