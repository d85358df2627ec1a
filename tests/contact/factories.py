from django.conf import settings

from contact.emails import admin_addresses
from contact.models import Message
from outbox.models import Email
from users.models import User

# The delivery record is the email's: these keywords of make_message go to it.
EMAIL_FIELDS = {
    "status",
    "attempts",
    "last_error",
    "next_attempt_at",
    "sent_at",
    "lease_expires_at",
    "relayed_at",
    "provider_message_id",
    "request_id",
    "language",
    "to",
}


def make_message(sender: User, **fields) -> Message:
    """A saved message written by `sender`, with its email queued to the administrators
    as message_create queues it, unless told otherwise.

    The email's fields (status=, attempts=, relayed_at=, ...; EMAIL_FIELDS) are set on the
    email; created_at= is set on both, as they are written together; the rest go to the
    message.
    """
    on_email = {name: fields.pop(name) for name in EMAIL_FIELDS & fields.keys()}
    if "created_at" in fields:
        on_email["created_at"] = fields["created_at"]
    email = Email.objects.create(
        **{
            "kind": Message.EMAIL_KIND,
            "to": ", ".join(admin_addresses()),
            "language": settings.LANGUAGE_CODE,
            **on_email,
        }
    )
    values = {
        "sender": sender,
        "sender_email": sender.email,
        "sender_email_confirmed": sender.email_verified,
        "subject": "Question about my order",
        "body": "Hello,\nwhere is my parcel?\n",
        "email": email,
        **fields,
    }
    return Message.objects.create(**values)
