from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from contact.selectors import delivery_stats, message_counts


class Command(BaseCommand):
    help = "Messages by delivery status and age: the last hour, the last day, all time."

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        self.stdout.write(f"{'status':<10} {'last hour':>10} {'last day':>10} {'total':>8}  oldest")
        for stats in delivery_stats():
            oldest = "-"
            if stats.oldest is not None:
                minutes = int((now - stats.oldest).total_seconds() // 60)
                oldest = f"{minutes} min ago ({stats.oldest:%Y-%m-%d %H:%M %Z})"
            self.stdout.write(
                f"{stats.status:<10} {stats.last_hour:>10} {stats.last_day:>10} "
                f"{stats.total:>8}  {oldest}"
            )
        # The admin header's numbers, defined as there (contact.selectors.message_counts).
        counts = message_counts()
        self.stdout.write(
            f"Emails sent: {counts.sent} ({counts.not_delivered} not delivered), "
            f"waiting: {counts.waiting}"
        )
