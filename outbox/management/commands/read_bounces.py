from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from outbox.bounce_reader import MailboxUnavailable, read_bounces


class Command(BaseCommand):
    help = (
        "Read the bounce mailbox (BOUNCE_IMAP_URL) once: record each bounce on its "
        "email's timeline and move it to the processed or the unmatched folder."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.BOUNCE_IMAP_URL:
            raise CommandError("BOUNCE_IMAP_URL is not set: there is no mailbox to read.")
        try:
            done = read_bounces()
        except MailboxUnavailable as error:
            raise CommandError(f"The bounce mailbox could not be read: {error}") from error
        self.stdout.write(f"Bounces: {done}")
