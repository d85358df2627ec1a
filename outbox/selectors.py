"""Reading the outbox: how many emails of each kind are in each status (from the tally
the database keeps, EmailTally), the oldest still waiting, and the recent failures."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Min, Q, Sum
from django.utils import timezone

from outbox.models import Email, EmailEvent, EmailTally

# How far back the admin index looks for emails that did not get through.
RECENT_FAILURES = timedelta(hours=24)


def email_counts(*, kind: str | None = None) -> dict[str, int]:
    """How many emails (of `kind`, or of every kind) are in each status: every status
    present, 0 for none. Exact, and one query over a few dozen rows however many emails
    there are."""
    tally = EmailTally.objects.order_by()
    if kind is not None:
        tally = tally.filter(kind=kind)
    rows = tally.values("status").annotate(total=Sum("count"))
    counted = {row["status"]: row["total"] for row in rows}
    return {status: counted.get(status, 0) for status in Email.Status.values}


def email_counts_by_kind() -> dict[tuple[str, str], int]:
    """How many emails of each kind are in each status, for the metrics: the pairs that
    have any."""
    rows = EmailTally.objects.order_by().values("kind", "status").annotate(total=Sum("count"))
    return {(row["kind"], row["status"]): row["total"] for row in rows if row["total"]}


def recent_failures(*, now: datetime | None = None) -> int:
    """How many emails did not get through (failed or bounced) in the last
    RECENT_FAILURES, by when their timeline says it happened, and are still not
    delivered: a retried one that went out since is not counted."""
    since = (now or timezone.now()) - RECENT_FAILURES
    failed = EmailEvent.objects.filter(
        status__in=Email.NOT_DELIVERED, applied=True, occurred_at__gte=since
    ).values("email_id")
    return Email.objects.filter(pk__in=failed, status__in=Email.NOT_DELIVERED).count()


def oldest_waiting(*, kind: str | None = None) -> dict[str, datetime | None]:
    """When the oldest email still queued, and the oldest still sending, was created."""
    emails = Email.objects.all() if kind is None else Email.objects.filter(kind=kind)
    return {
        status: emails.filter(status=status)
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
        for status in Email.IN_PROGRESS
    }


@dataclass(frozen=True)
class StatusStats:
    kind: str
    status: str
    last_hour: int
    last_day: int
    total: int
    oldest: datetime | None


def delivery_stats() -> list[StatusStats]:
    """Per kind and status, how many emails were created in the last hour, the last day
    and ever, and when the oldest was: one query."""
    now = timezone.now()
    rows = (
        Email.objects.order_by("kind", "status")
        .values("kind", "status")
        .annotate(
            last_hour=Count("pk", filter=Q(created_at__gte=now - timedelta(hours=1))),
            last_day=Count("pk", filter=Q(created_at__gte=now - timedelta(days=1))),
            total=Count("pk"),
            oldest=Min("created_at"),
        )
    )
    return [StatusStats(**row) for row in rows]
