"""What the outbox puts on every email, whatever its kind, so that whatever is reported
about it finds its row: a Message-ID of its own, the return path that names it, and its
id as metadata for an email provider."""

from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMessage

from outbox.models import Email
from outbox.return_path import return_path
from outbox.smtp import through_provider

# The key of the email's id in the metadata an email provider keeps with the email and
# sends back with each of its reports.
METADATA_KEY = "site_email"


def stamp(message: EmailMessage, email: Email) -> EmailMessage:
    """`message`, as its kind rendered it, marked as `email`'s.

    Over SMTP, bounces come back to an address that names the email; a provider has its
    own return path and reports through its webhook instead, naming the email by its
    metadata. The From header stays the kind's.
    """
    message.extra_headers["Message-ID"] = message_id_header(email)
    envelope = None if through_provider() else return_path(email.pk)
    if envelope is not None:
        # Django's SMTP backend sends from `from_email`; the From header stays ours.
        message.extra_headers.setdefault("From", message.from_email)
        message.from_email = envelope
    else:
        # anymail reads its attributes off any EmailMessage.
        message.metadata = {METADATA_KEY: str(email.pk)}  # type: ignore[attr-defined]
    return message


def message_id_header(email: Email) -> str:
    """A Message-ID that is the same on every attempt for the same row, so a mail system
    that sees an attempt twice can tell it is one email."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"
    return f"<{email.kind}-{email.pk}.{email.created_at:%Y%m%d%H%M%S}@{domain}>"
