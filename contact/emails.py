"""The email the administrator receives for each message."""

import json
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.utils import translation

from contact.directory import DirectoryLookup
from contact.models import Message

DIRECTORY_ATTACHMENT_NAME = "directory-user.json"


def admin_email(message: Message, lookup: DirectoryLookup) -> EmailMessage:
    """The email for `message`: to ADMIN_EMAIL, replies to the sender, and everything the
    directory knows of the sender attached.

    Subject and body come from templates, in LANGUAGE_CODE. The sender's subject is the
    only text of theirs in a header, forced onto one line here and checked again by
    Django's header checks; the directory's data stays in the body and the attachment.
    """
    context = {
        "message": message,
        "lookup": lookup,
        "directory": Message.DirectoryStatus,
        "attachment_name": DIRECTORY_ATTACHMENT_NAME,
    }
    # In the site's language, whichever language the request or thread that asked is in.
    with translation.override(settings.LANGUAGE_CODE):
        subject = render_to_string("contact/email/subject.txt", context)
        body = render_to_string("contact/email/body.txt", context)
    email = EmailMessage(
        subject="".join(subject.splitlines()),
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[settings.ADMIN_EMAIL],
        reply_to=[message.sender_email],
        headers={"Message-ID": message_id_header(message)},
    )
    if lookup.users:
        attachment = json.dumps(lookup.users, indent=2, ensure_ascii=False) + "\n"
        email.attach(DIRECTORY_ATTACHMENT_NAME, attachment.encode(), "application/json")
    return email


def message_id_header(message: Message) -> str:
    """A Message-ID that is the same on every attempt for the same row, so a mail system
    that sees an attempt twice can tell it is one email."""
    domain = parseaddr(settings.DEFAULT_FROM_EMAIL)[1].rpartition("@")[2] or "localhost"
    return f"<message-{message.pk}.{message.created_at:%Y%m%d%H%M%S}@{domain}>"
