from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from outbox.selectors import delivery_stats


class Command(BaseCommand):
    help = "Emails by kind and delivery status, and by age: the last hour, the last day, all time."

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        self.stdout.write(
            f"{'kind':<16} {'status':<10} {'last hour':>10} {'last day':>10} {'total':>8}  oldest"
        )
        for stats in delivery_stats():
            oldest = "-"
            if stats.oldest is not None:
                minutes = int((now - stats.oldest).total_seconds() // 60)
                oldest = f"{minutes} min ago ({stats.oldest:%Y-%m-%d %H:%M %Z})"
            self.stdout.write(
                f"{stats.kind:<16} {stats.status:<10} {stats.last_hour:>10} "
                f"{stats.last_day:>10} {stats.total:>8}  {oldest}"
            )
