"""Account emails in tests: sent for real, by the function the worker runs, to the SMTP
stand-in, and read back from it."""

from outbox.models import Email
from outbox.services import email_send
from tests.standins.smtp import SmtpSink
from users.models import AccountEmailKind


def deliver_account_emails() -> int:
    """Send every queued account email now, as the worker would; returns how many went
    out (a reset for an address without an account goes nowhere)."""
    queued = list(
        Email.objects.filter(
            kind__in=AccountEmailKind.values, status=Email.Status.QUEUED
        ).values_list("pk", flat=True)
    )
    for email_id in queued:
        email_send(email_id=email_id)
    return Email.objects.filter(pk__in=queued, status=Email.Status.SENT).count()


def emailed_link(sink: SmtpSink, *, to: str, path: str) -> str:
    """Deliver what is queued and return the link under `path` in the email to `to`."""
    deliver_account_emails()
    return sink.link(to=to, path=path, timeout=5)
