from dataclasses import dataclass

from django.db.models import Count, Q

from contact.models import Message


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
