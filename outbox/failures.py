"""How a failed send is judged: transient (tried again after a backoff) or permanent, and
how its error is told."""

import logging
import smtplib

from anymail.exceptions import AnymailAPIError, AnymailConfigurationError, AnymailError
from django.conf import settings
from django.core.mail import BadHeaderError

from outbox.kinds import UnknownKind

logger = logging.getLogger(__name__)


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


# Kept in last_error: enough to diagnose, small enough for the admin list.
ERROR_TEXT_MAX_LENGTH = 2000


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
    if isinstance(error, UnknownKind):
        # No app renders the email's kind: it cannot be sent, now or later.
        return True
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


def log_failure(email_id: int, kind: str, reason: str) -> None:
    """An error, so that it reaches someone: an email that will never arrive."""
    logger.error(
        "email_failed email_id=%s kind=%s reason=%r",
        email_id,
        kind,
        reason,
        extra={"email_id": email_id, "kind": kind},
    )
