from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ContactConfig(AppConfig):
    name = "contact"
    verbose_name = _("Messages to the administrator")

    def ready(self) -> None:
        from contact.models import Message
        from contact.services import message_email
        from outbox.kinds import EmailKind, register

        register(
            EmailKind(Message.EMAIL_KIND, _("Message to the administrator"), render=message_email)
        )
