from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone

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


def messages_of(sender: User) -> QuerySet[Message]:
    """A person's own messages, newest first."""
    return Message.objects.filter(sender=sender).order_by("-created_at", "-pk")


def messages_sent_since(sender: User, since: datetime) -> int:
    """How many messages `sender` has written since `since`, whatever became of them."""
    return Message.objects.filter(sender=sender, created_at__gte=since).count()


@dataclass(frozen=True)
class StatusStats:
    status: str
    last_hour: int
    last_day: int
    total: int
    oldest: datetime | None


def delivery_stats() -> list[StatusStats]:
    """Per status, how many messages were written in the last hour, the last day and
    ever, and when the oldest was written: one query."""
    now = timezone.now()
    rows = (
        Message.objects.order_by()
        .values("status")
        .annotate(
            last_hour=Count("pk", filter=Q(created_at__gte=now - timedelta(hours=1))),
            last_day=Count("pk", filter=Q(created_at__gte=now - timedelta(days=1))),
            total=Count("pk"),
            oldest=Min("created_at"),
        )
    )
    by_status = {row.pop("status"): row for row in rows}
    empty = {"last_hour": 0, "last_day": 0, "total": 0, "oldest": None}
    return [
        StatusStats(status=status, **by_status.get(status, empty))
        for status in Message.Status.values
    ]
