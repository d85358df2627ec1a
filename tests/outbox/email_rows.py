"""Emails saved straight into the outbox, in the state a test needs them, of any kind."""

from django.conf import settings

from outbox.models import Email
from users.models import User


def email_row(*, kind: str = "message", user: User | None = None, **fields) -> Email:
    """A saved email of `kind`, queued unless told otherwise: to `user`'s address when it
    goes to an account, else to the administrator."""
    values = {
        "kind": kind,
        "to": user.email if user is not None else "admin@example.org",
        "user": user,
        "language": settings.LANGUAGE_CODE,
        **fields,
    }
    return Email.objects.create(**values)


def sent_email(*, kind: str = "message", user: User | None = None, **fields) -> Email:
    """An email the mail server or the provider took, after one attempt."""
    return email_row(kind=kind, user=user, **{"status": Email.Status.SENT, "attempts": 1, **fields})
