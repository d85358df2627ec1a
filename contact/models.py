from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from outbox.models import Email

SUBJECT_MAX_LENGTH = 150
BODY_MAX_LENGTH = 5000


class Message(models.Model):
    """A message to the administrator: what the person wrote, and what the directory knew
    of them when it was sent. Its delivery is its email's (outbox.Email, of kind
    "message"): status, attempts, timeline.
    """

    # The kind of email (outbox.kinds) a message goes to the administrator as.
    EMAIL_KIND = "message"

    class DirectoryStatus(models.TextChoices):
        FOUND = "found", _("Found")
        NOT_FOUND = "not_found", _("Not found")
        UNAVAILABLE = "unavailable", _("Unavailable")
        # The sender's address was not confirmed as theirs: nothing is looked up.
        UNCONFIRMED = "unconfirmed", _("Not looked up (address not confirmed)")

    # Kept when the account goes: the delivery record is the administrator's history.
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="messages",
        verbose_name=_("sender"),
    )
    # The address as it was when the message was written; replies go here.
    sender_email = models.EmailField(_("sender email"), max_length=254)
    # Whether that address was confirmed as the sender's when they wrote: only then is it
    # looked up in the directory and what is found attached.
    sender_email_confirmed = models.BooleanField(_("sender email confirmed"), default=False)
    subject = models.CharField(_("subject"), max_length=SUBJECT_MAX_LENGTH)
    body = models.TextField(_("message"), validators=[MaxLengthValidator(BODY_MAX_LENGTH)])
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    # The email that takes it to the administrator, and the record of its delivery.
    email = models.OneToOneField(
        Email,
        on_delete=models.PROTECT,
        related_name="message",
        verbose_name=pgettext_lazy("a sent email", "email"),
    )

    # Blank until the first attempt has asked the directory.
    directory_status = models.CharField(
        _("directory"), max_length=16, choices=DirectoryStatus, blank=True
    )
    # Every user object the directory returned for the sender's address.
    directory_data = models.JSONField(_("directory data"), default=list, blank=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["-created_at"], name="contact_msg_created"),
            # A person's recent messages: the hourly limit, and their own list.
            models.Index(fields=["sender", "-created_at"], name="contact_msg_sender_created"),
            models.Index(fields=["directory_status"], name="contact_msg_directory_status"),
        ]

    def __str__(self) -> str:
        return self.subject
