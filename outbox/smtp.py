"""Each worker thread's connection to the SMTP server, kept open from one email to the
next (EMAIL_KEEP_CONNECTION; docs/performance.md says what it gains).

A connection per email costs the worker and the server a TCP handshake (and a TLS one
with a real relay), the greeting, EHLO and QUIT. A kept connection is replaced before it
is used when the server has closed it (its socket has something to read: a 421 goodbye,
or the end of the stream), when it has been idle long enough for a server to drop it,
when it has carried its quota of emails, when the email settings changed, and after any
error.
"""

import select
import smtplib
import threading
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import dramatiq
from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.smtp import EmailBackend as SmtpEmailBackend

from outbox.failures import ServerUnreachable
from outbox.return_path import tag_of

# Longer idle than this and the connection is closed rather than reused: servers drop
# quiet clients (RFC 5321 asks them to wait 5 minutes; many wait less), and reusing one
# dropped without a word would fail the email's attempt.
IDLE_SECONDS = 30
# Emails over one connection before another is opened: some servers cap it (20 is the
# default of Microsoft Exchange's receive connectors).
EMAILS_PER_CONNECTION = 20
# The settings a connection was opened with; a change (a test's server, say) opens another.
CONNECTION_SETTINGS = (
    "EMAIL_BACKEND",
    "EMAIL_HOST",
    "EMAIL_PORT",
    "EMAIL_HOST_USER",
    "EMAIL_HOST_PASSWORD",
    "EMAIL_USE_TLS",
    "EMAIL_USE_SSL",
    "EMAIL_TIMEOUT",
)


@dataclass
class _KeptConnection:
    backend: BaseEmailBackend
    opened_with: tuple[object, ...]
    last_used: float
    emails_sent: int = 0

    def reusable(self) -> bool:
        return (
            self.opened_with == _connection_settings()
            and time.monotonic() - self.last_used < IDLE_SECONDS
            and self.emails_sent < EMAILS_PER_CONNECTION
            and not _server_has_spoken(self.backend)
        )


@dataclass(frozen=True)
class Receipt:
    """Who took an email and what they called it, for the email's timeline."""

    # anymail's name of the email provider ("Postmark"); blank for an SMTP server.
    provider: str
    # The provider's id of the email, which its reports name it by.
    message_id: str | None
    detail: str


class _AsksForDsn(smtplib.SMTP):
    """smtplib's SMTP session, asking the server for delivery status notifications
    (RFC 3461) on every email sent from a return path (outbox.return_path), when the
    server offers them: a report on failure, on delay and on success, with the return
    path's tag as the envelope id and only the headers of the email sent back."""

    def sendmail(  # type: ignore[override]
        self,
        from_addr: str,
        to_addrs: str | Sequence[str],
        msg: bytes | str,
        mail_options: Sequence[str] = (),
        rcpt_options: Sequence[str] = (),
    ) -> dict[str, tuple[int, bytes]]:
        self.ehlo_or_helo_if_needed()
        tag = tag_of(from_addr)
        if tag is not None and self.has_extn("dsn"):
            mail_options = [*mail_options, "RET=HDRS", f"ENVID={tag}"]
            rcpt_options = [*rcpt_options, "NOTIFY=SUCCESS,FAILURE,DELAY"]
        return super().sendmail(from_addr, to_addrs, msg, mail_options, rcpt_options)


class _NamesTheServer(smtplib.SMTP):
    """smtplib's SMTP session, whose failure to reach the server says which server and
    which setting named it: a bare "[Errno -2] Name or service not known" does neither.
    The site's backend opens every session here, for each kind of email it sends."""

    def connect(
        self,
        host: str = "localhost",
        port: int = 0,
        source_address: Any = None,
    ) -> tuple[int, bytes]:
        try:
            return super().connect(host, port, source_address)
        except smtplib.SMTPException:
            # The server answered (a refusing greeting, a dropped line): not a reach failure.
            raise
        except OSError as error:
            reason = error.strerror or str(error)
            raise ServerUnreachable(
                f"Cannot reach the SMTP server EMAIL_HOST={host}:{port or self.default_port}: "
                f"{reason} ({type(error).__name__})"
            ) from error


class DsnSMTP(_AsksForDsn, _NamesTheServer, smtplib.SMTP):
    pass


class DsnSMTPSSL(_AsksForDsn, _NamesTheServer, smtplib.SMTP_SSL):
    pass


class EmailBackend(SmtpEmailBackend):
    """Django's SMTP backend, whose sessions ask for delivery status notifications
    (DsnSMTP) and name the server they cannot reach. Django's backend passes no MAIL or
    RCPT parameters of its own; the session it opens is the one place to add them."""

    @property
    def connection_class(self) -> type[smtplib.SMTP]:
        return DsnSMTPSSL if self.use_ssl else DsnSMTP


def provider() -> str | None:
    """The provider email goes out through, as anymail names its backend's module and its
    webhooks' URLs ("postmark" for anymail.backends.postmark.EmailBackend); None over
    SMTP. The one reading of EMAIL_BACKEND that the return path, the polling, the deploy
    check and the tracking webhook's URL all follow."""
    module, _, _ = str(settings.EMAIL_BACKEND).rpartition(".")
    package, _, name = module.rpartition(".")
    return name if package == "anymail.backends" else None


def through_provider() -> bool:
    """Whether email goes out through a provider's API (an anymail backend), which has
    its own return path and reports through its webhook, rather than over SMTP."""
    return provider() is not None


_this_thread = threading.local()


def send_email(email: EmailMessage) -> Receipt:
    """Send `email` over this thread's connection, opened first if need be, and say who
    took it. Raises what the backend raises (smtplib's errors, OSError, anymail's); the
    connection is then closed."""
    if not settings.EMAIL_KEEP_CONNECTION:
        # Django's backend opens a connection for the email and closes it after.
        backend = get_connection()
        backend.send_messages([email])
        return receipt(email, backend)
    kept: _KeptConnection | None = getattr(_this_thread, "kept", None)
    if kept is None or not kept.reusable():
        close_connection()
        kept = _KeptConnection(get_connection(), _connection_settings(), time.monotonic())
        _this_thread.kept = kept
    try:
        kept.backend.open()
        kept.backend.send_messages([email])
    except BaseException:
        # Whatever state the session is in now, the next email starts a fresh one.
        close_connection()
        raise
    taken = receipt(email, kept.backend)
    if not isinstance(kept.backend, SmtpEmailBackend):
        # Files, the console, memory, a provider's API: no handshake to save.
        close_connection()
        return taken
    kept.emails_sent += 1
    kept.last_used = time.monotonic()
    return taken


def receipt(email: EmailMessage, backend: BaseEmailBackend) -> Receipt:
    """What the backend that sent `email` said of it: an anymail backend leaves the
    provider's answer on the email (`anymail_status`)."""
    status = getattr(email, "anymail_status", None)
    if status is not None and status.status is not None:
        provider = str(getattr(backend, "esp_name", ""))
        # One recipient, so one id (anymail gives a set only for several).
        message_id = status.message_id if isinstance(status.message_id, str) else None
        states = ", ".join(sorted(status.status))
        return Receipt(provider, message_id, f"Accepted by {provider} as {message_id} ({states}).")
    if isinstance(backend, SmtpEmailBackend):
        return Receipt("", None, f"Accepted by the mail server {backend.host}:{backend.port}.")
    return Receipt("", None, f"Handed to {type(backend).__module__}.")


def close_connection() -> None:
    """Close this thread's connection, if it has one; a failing goodbye changes nothing."""
    kept: _KeptConnection | None = getattr(_this_thread, "kept", None)
    _this_thread.kept = None
    if kept is not None:
        with suppress(smtplib.SMTPException, OSError):
            kept.backend.close()


def _connection_settings() -> tuple[object, ...]:
    return tuple(getattr(settings, name, None) for name in CONNECTION_SETTINGS)


def _server_has_spoken(backend: BaseEmailBackend) -> bool:
    """Whether an SMTP server sent something while no command was waiting for it: it
    only does so to say goodbye. Other backends (files, memory) have no socket."""
    sock = getattr(getattr(backend, "connection", None), "sock", None)
    if sock is None:
        return False
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


class SmtpConnectionsMiddleware(dramatiq.Middleware):
    """Closes each worker thread's connection as the thread stops, so the server hears a
    QUIT rather than a dropped socket (as django_dramatiq's DbConnectionsMiddleware does
    for the database's)."""

    def before_worker_thread_shutdown(
        self, broker: dramatiq.Broker, thread: dramatiq.worker.WorkerThread
    ) -> None:
        close_connection()
