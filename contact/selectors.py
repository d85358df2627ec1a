from dataclasses import dataclass

from django.db.models import QuerySet

from contact.models import Message
from outbox.models import Email
from outbox.selectors import email_counts
from users.models import User


@dataclass(frozen=True)
class MessageCounts:
    """The admin header's numbers (docs/delivery.md defines them for staff)."""

    # Every message whose attempts are over: it went out (sent, deferred, delivered,
    # complained), or it definitely did not (failed, bounced).
    sent: int
    # Of those, the ones that did not reach the administrator: failed or bounced.
    not_delivered: int
    # Not out yet: queued or being sent now.
    waiting: int


def message_counts() -> MessageCounts:
    """The header's counts, of the emails that take messages to the administrator:
    exact, and one query over a few dozen rows however many there are."""
    by_status = email_counts(kind=Message.EMAIL_KIND)
    waiting = sum(by_status[status] for status in Email.IN_PROGRESS)
    return MessageCounts(
        sent=sum(by_status.values()) - waiting,
        not_delivered=sum(by_status[status] for status in Email.NOT_DELIVERED),
        waiting=waiting,
    )


def messages_of(sender: User) -> QuerySet[Message]:
    """A person's own messages, newest first, each with its email."""
    return (
        Message.objects.filter(sender=sender).select_related("email").order_by("-created_at", "-pk")
    )
