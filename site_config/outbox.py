"""What every outbox of the site shares (messages to the administrator, account emails):
the relay that hands waiting rows to the broker, and how a failed send is judged."""

import smtplib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from anymail.exceptions import AnymailAPIError, AnymailConfigurationError, AnymailError
from django.conf import settings
from django.core.mail import BadHeaderError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class OutboxStatus(models.TextChoices):
    """Where an outbox row is: every outbox (Message, AccountEmail) moves through these."""

    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class DeliveryDeferred(Exception):
    """A transient failure with attempts left: the row is queued again, and the next
    attempt should come after `retry_in` seconds."""

    def __init__(self, reason: str, *, retry_in: float) -> None:
        super().__init__(reason)
        self.retry_in = retry_in


class DeliveryFailed(Exception):
    """The row has just been marked failed: the error is permanent, or the attempts are
    used up. Trying again cannot help."""


class BrokerUnavailable(Exception):
    """The broker refused a task; the relay round stopped there."""


class ServerUnreachable(ConnectionError):
    """The mail server could not be reached: its name did not resolve, or the connection
    was refused, timed out or failed its TLS handshake. Its message names the server, the
    setting that named it and the original error's class; transient, as any connection
    failure is."""


def relay(awaiting: models.QuerySet[Any], *, enqueue: Callable[[int], object], limit: int) -> int:
    """Hand the rows of `awaiting` (queued, not relayed yet) to the broker, oldest first,
    and stamp their `relayed_at`; returns how many.

    The rows are locked with SKIP LOCKED, so relays running side by side each take
    others and none waits. A relay that dies between a send and the commit leaves its
    rows unstamped, and they are sent again: the task's claim makes the second one do
    nothing. Raises BrokerUnavailable when `enqueue` fails; what was sent before it is
    stamped, the rest waits for the next round.
    """
    # Most rounds find nothing: they ask without a transaction, which on SQLite would take
    # the write lock from every other writer a few times a second.
    if not awaiting.exists():
        return 0
    with transaction.atomic():
        waiting = list(
            awaiting.select_for_update(skip_locked=True)
            .order_by("pk")
            .values_list("pk", flat=True)[:limit]
        )
        relayed: list[int] = []
        refused: Exception | None = None
        for row_id in waiting:
            try:
                enqueue(row_id)
            except Exception as error:
                refused = error
                break
            relayed.append(row_id)
        if relayed:
            awaiting.model._default_manager.filter(pk__in=relayed).update(relayed_at=timezone.now())
    if refused is not None:
        raise BrokerUnavailable(f"{type(refused).__name__}: {refused}") from refused
    return len(relayed)


# Kept in last_error: enough to diagnose, small enough for the admin list.
ERROR_TEXT_MAX_LENGTH = 2000


def record_failed_attempt(row: Any, error: Exception) -> bool:
    """Write onto an outbox row (not saved yet) how its attempt failed: the error, no
    lease, and failed for good when the error is permanent or the attempts are used up,
    else queued again after the backoff. Returns whether the error was permanent."""
    row.last_error = error_text(error)[:ERROR_TEXT_MAX_LENGTH]
    row.lease_expires_at = None
    permanent = is_permanent_send_error(error)
    if permanent or row.attempts >= settings.MESSAGE_MAX_ATTEMPTS:
        row.status = OutboxStatus.FAILED
    else:
        row.status = OutboxStatus.QUEUED
        row.next_attempt_at = timezone.now() + timedelta(seconds=retry_delay(row.attempts))
    return permanent


def error_text(error: Exception) -> str:
    """A failed send as the row, the log and the admin tell it: the error's class and
    message, or only the message of a ServerUnreachable, which names the class itself."""
    if isinstance(error, ServerUnreachable):
        return str(error)
    return f"{type(error).__name__}: {error}"


def is_permanent_send_error(error: Exception) -> bool:
    """Whether sending again could not succeed: the server refused for good (5xx,
    including bad credentials), or the email itself is malformed. An unreachable server
    (an unknown name, a refused connection), dropped connections, timeouts and 4xx
    answers are transient.

    A provider's API (anymail) is judged by its HTTP answer: a 4xx but 429 is for good,
    a 5xx, a 429 or no answer at all is transient. Its refusal of the recipient, of the
    email's content or of the site's settings holds on every attempt too.
    """
    if isinstance(error, AnymailAPIError):
        code = error.status_code
        return code is not None and 400 <= code < 500 and code != 429
    if isinstance(error, AnymailError | AnymailConfigurationError):
        return True
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(500 <= code < 600 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return 500 <= error.smtp_code < 600
    return isinstance(error, BadHeaderError | smtplib.SMTPNotSupportedError)


def retry_delay(attempts: int) -> float:
    """Seconds to wait after `attempts` attempts: exponential, capped."""
    backoff: float = settings.MESSAGE_RETRY_BACKOFF * 2 ** (attempts - 1)
    return min(backoff, float(settings.MESSAGE_RETRY_BACKOFF_MAX))
