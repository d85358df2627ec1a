from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q, QuerySet, Sum
from django.utils import timezone

from contact.models import Message, MessageTally
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
    """The header's counts: exact, and one query over a few dozen rows however many
    messages there are."""
    by_status = message_counts_by_status()
    waiting = sum(by_status[status] for status in Message.IN_PROGRESS)
    return MessageCounts(
        sent=sum(by_status.values()) - waiting,
        not_delivered=sum(by_status[status] for status in Message.NOT_DELIVERED),
        waiting=waiting,
    )


def message_counts_by_status() -> dict[str, int]:
    """How many messages are in each status (every status present, 0 for none), from the
    tally the database keeps (see MessageTally)."""
    rows = MessageTally.objects.order_by().values("status").annotate(total=Sum("count"))
    counted = {row["status"]: row["total"] for row in rows}
    return {status: counted.get(status, 0) for status in Message.Status.values}


def oldest_waiting() -> dict[str, datetime | None]:
    """When the oldest message still queued, and the oldest still sending, was written:
    a query per status, each one step along the (status, created_at) index."""
    return {
        status: Message.objects.filter(status=status)
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
        for status in Message.IN_PROGRESS
    }


def messages_of(sender: User) -> QuerySet[Message]:
    """A person's own messages, newest first."""
    return Message.objects.filter(sender=sender).order_by("-created_at", "-pk")


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
