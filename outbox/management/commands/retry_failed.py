import argparse
import re
from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from outbox.kinds import kind_choices
from outbox.models import Email
from outbox.services import emails_retry

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
        "Queue failed emails (and with --bounced, bounced ones) for a fresh round of "
        "delivery attempts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--since",
            type=since,
            help="only emails created since then: 30m, 6h, 2d, or an ISO 8601 date-time",
        )
        parser.add_argument(
            "--bounced",
            action="store_true",
            help="also the emails reported bounced or rejected, once what made them bounce "
            "(ADMIN_EMAIL, say) is fixed",
        )
        parser.add_argument(
            "--kind",
            choices=sorted(name for name, _ in kind_choices()),
            help="only emails of this kind",
        )

    def handle(
        self,
        *args: Any,
        since: datetime | None = None,
        bounced: bool = False,
        kind: str | None = None,
        **options: Any,
    ) -> None:
        statuses = [Email.Status.FAILED, *([Email.Status.BOUNCED] if bounced else [])]
        chosen = Email.objects.filter(status__in=statuses)
        if since is not None:
            chosen = chosen.filter(created_at__gte=since)
        if kind is not None:
            chosen = chosen.filter(kind=kind)
        retried = emails_retry(email_ids=list(chosen.values_list("pk", flat=True)))
        outcomes = "failed or bounced" if bounced else "failed"
        self.stdout.write(f"{retried} {outcomes} email(s) queued for delivery again.")
