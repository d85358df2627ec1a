import argparse
import re
from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from contact.models import Message
from contact.services import messages_retry

DURATION = re.compile(r"^(?P<amount>\d+)(?P<unit>[mhd])$")
UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def since(value: str) -> datetime:
    """A moment given as a duration back from now (30m, 6h, 2d) or an ISO 8601 date-time.

    Raises ArgumentTypeError, which argparse turns into its usage and one line (a
    CommandError under call_command), for anything else: a word, a date that does not
    exist, a duration reaching before year 1."""
    try:
        if match := DURATION.match(value):
            return timezone.now() - timedelta(**{UNITS[match["unit"]]: int(match["amount"])})
        moment = parse_datetime(value)
    except (ValueError, OverflowError):
        moment = None
    if moment is None:
        raise argparse.ArgumentTypeError(
            f"--since takes 30m, 6h, 2d or an ISO 8601 date-time, not {value!r}."
        )
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)


class Command(BaseCommand):
    help = (
        "Queue failed messages (and with --bounced, bounced ones) for a fresh round of "
        "delivery attempts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--since",
            type=since,
            help="only messages written since then: 30m, 6h, 2d, or an ISO 8601 date-time",
        )
        parser.add_argument(
            "--bounced",
            action="store_true",
            help="also the messages the email provider reported bounced or rejected, once "
            "what made them bounce (ADMIN_EMAIL, say) is fixed",
        )

    def handle(
        self, *args: Any, since: datetime | None = None, bounced: bool = False, **options: Any
    ) -> None:
        statuses = [Message.Status.FAILED, *([Message.Status.BOUNCED] if bounced else [])]
        chosen = Message.objects.filter(status__in=statuses)
        if since is not None:
            chosen = chosen.filter(created_at__gte=since)
        retried = messages_retry(message_ids=list(chosen.values_list("pk", flat=True)))
        kinds = "failed or bounced" if bounced else "failed"
        self.stdout.write(f"{retried} {kinds} message(s) queued for delivery again.")
