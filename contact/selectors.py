from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Q

from contact.models import Message
from users.models import User


@dataclass(frozen=True)
class MessageCounts:
    total: int
    failed: int


def message_counts() -> MessageCounts:
    """Every delivery record, and how many of them were not delivered, in one query."""
    counts = Message.objects.aggregate(
        total=Count("pk"), failed=Count("pk", filter=Q(status=Message.Status.FAILED))
    )
    return MessageCounts(total=counts["total"], failed=counts["failed"])


def messages_sent_since(sender: User, since: datetime) -> int:
    """How many messages `sender` has written since `since`, whatever became of them."""
    return Message.objects.filter(sender=sender, created_at__gte=since).count()
