"""Writing messages to the administrator, and the email that takes each one there.

message_create saves a message with its email, queued in the outbox (outbox.services),
which sends it as every other email; message_email renders that email in the worker, at
each attempt, looking the sender up in the directory first.
"""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from contact.directory import DirectoryLookup, shared_directory_client, user_directory
from contact.emails import admin_addresses, admin_email
from contact.models import Message
from outbox.models import Email
from outbox.services import email_queue, emails_retry
from users.models import User

logger = logging.getLogger(__name__)

# What MESSAGES_PER_HOUR counts over.
MESSAGE_WINDOW = timedelta(hours=1)


class MessageRateLimited(Exception):
    """The sender has written MESSAGES_PER_HOUR messages in the last hour already, and
    may write again `retry_in` from now."""

    def __init__(self, retry_in: timedelta) -> None:
        super().__init__(f"may write again in {retry_in}")
        self.retry_in = retry_in


class SenderUnconfirmed(Exception):
    """The sender has not confirmed their address yet: they cannot write."""


# ---------------------------------------------------------------- writing


def message_create(*, sender: User, subject: str, body: str) -> Message:
    """Save a message with its email, queued: the outbox relays and sends it.

    Raises SenderUnconfirmed unless the sender's address is confirmed, and
    MessageRateLimited when the sender has used up MESSAGES_PER_HOUR. The count
    and the insert take no lock, so submits from one person arriving at the same instant
    may each pass the check: the limit can be overshot by that many, never by a steady
    flood.
    """
    if not sender.email_verified:
        raise SenderUnconfirmed
    limit = settings.MESSAGES_PER_HOUR
    now = timezone.now()
    recent = Message.objects.filter(sender=sender, created_at__gte=now - MESSAGE_WINDOW)
    # Sliced, so the count stops at the limit however many there are.
    if recent[:limit].count() >= limit:
        raise MessageRateLimited(_next_message_in(recent, now=now, limit=limit))
    with transaction.atomic():
        email = email_queue(kind=Message.EMAIL_KIND, to=admin_addresses())
        message = Message.objects.create(
            sender=sender,
            sender_email=sender.email,
            sender_email_confirmed=True,
            subject=subject,
            body=body,
            email=email,
        )
    logger.info(
        "message_queued message_id=%s email_id=%s user_id=%s",
        message.pk,
        email.pk,
        sender.pk,
        extra={"message_id": message.pk, "email_id": email.pk, "user_id": sender.pk},
    )
    return message


def _next_message_in(recent: QuerySet[Message], *, now: datetime, limit: int) -> timedelta:
    """How long until the limit-th newest of `recent` leaves the window, at least a
    second."""
    newest = recent.order_by("-created_at").values_list("created_at", flat=True)
    edge = newest[limit - 1 : limit].first()
    if edge is None:
        return timedelta(seconds=1)
    return max(edge + MESSAGE_WINDOW - now, timedelta(seconds=1))


def messages_retry(*, message_ids: list[int]) -> int:
    """Queue the emails of messages that did not reach the administrator for a fresh
    round of attempts (outbox.services.emails_retry); returns how many."""
    from_messages = Message.objects.filter(pk__in=message_ids).values_list("email_id", flat=True)
    return emails_retry(email_ids=list(from_messages))


def message_email(email: Email) -> EmailMessage | None:
    """The email of a message, rendered for an attempt: the sender looked up in the
    directory (when their address was confirmed), what was found kept on the message and
    attached, to every address in ADMIN_EMAIL. None once staff deleted the message: there
    is nothing left to send."""
    message = Message.objects.filter(email=email).first()
    if message is None:
        return None
    if message.sender_email_confirmed:
        # The directory never raises: whatever it does, the email goes out.
        lookup = user_directory(shared_directory_client()).lookup(message.sender_email)
    else:
        # Anyone could have typed that address: what the directory holds on its owner
        # is not this sender's to attach.
        lookup = DirectoryLookup(Message.DirectoryStatus.UNCONFIRMED)
    if lookup.status == Message.DirectoryStatus.UNAVAILABLE and message.directory_data:
        # A directory away now says nothing new of the sender: what an earlier attempt
        # found stays on the record and goes with the email again.
        lookup = DirectoryLookup(
            Message.DirectoryStatus.FOUND, users=message.directory_data, from_cache=True
        )
    message.directory_status = lookup.status
    message.directory_data = lookup.users
    message.save(update_fields=["directory_status", "directory_data"])
    logger.info(
        "directory_lookup message_id=%s email_id=%s directory=%s directory_cached=%s",
        message.pk,
        email.pk,
        lookup.status,
        str(lookup.from_cache).lower(),
        extra={"message_id": message.pk, "email_id": email.pk},
    )
    return admin_email(message, lookup)
