"""Writing and delivering messages to the administrator.

Each status change of a Message happens in one function here: message_create
(queued), message_deliver (sending, then sent, failed, or queued again for a retry),
messages_retry (failed back to queued) and messages_sweep (abandoned sending back to
queued, or to failed when it was the last attempt).
"""

import logging
import smtplib
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import cache, partial
from typing import Any

from django.conf import settings
from django.core.mail import BadHeaderError
from django.db import (
    InterfaceError,
    OperationalError,
    connection,
    connections,
    router,
    transaction,
)
from django.db.models import Field
from django.utils import timezone

from contact.directory import DirectoryLookup, shared_directory_client, user_directory
from contact.emails import admin_email
from contact.models import Message
from contact.smtp import send_email
from site_config.postgresql import repeated_statement_cursor
from users.models import User

logger = logging.getLogger(__name__)

# Kept in last_error: enough to diagnose, small enough for the admin list.
ERROR_TEXT_MAX_LENGTH = 2000
# How long an attempt keeps trying to write its outcome while the database is away (a
# restart); MESSAGE_ATTEMPT_TIME_LIMIT leaves room for it.
OUTCOME_WRITE_RETRY_SECONDS = 20
# What every attempt writes back, whatever its outcome.
RECORDED_FIELDS = ["status", "last_error", "lease_expires_at", "directory_status", "directory_data"]


class DeliveryDeferred(Exception):
    """A transient failure with attempts left: the row is queued again, and the next
    attempt should come after `retry_in` seconds."""

    def __init__(self, reason: str, *, retry_in: float) -> None:
        super().__init__(reason)
        self.retry_in = retry_in


class DeliveryFailed(Exception):
    """The row has just been marked failed: the error is permanent, or the attempts are
    used up. Trying again cannot help."""


class MessageRateLimited(Exception):
    """The sender has written MESSAGES_PER_HOUR messages in the last hour already."""


# ---------------------------------------------------------------- writing


def message_create(*, sender: User, subject: str, body: str) -> Message:
    """Save a message as queued. The outbox relay (contact.relay) enqueues its delivery;
    in the embedded mode, which has none, it is enqueued once the row is committed.

    Raises MessageRateLimited when the sender has used up MESSAGES_PER_HOUR. The check
    and the insert are one statement with no lock, so submits from one person arriving
    at the same instant may each pass it: the limit can be overshot by that many, never
    by a steady flood. Locking the sender's row made it exact for three more database
    round trips on every submit.
    """
    message = Message(sender=sender, sender_email=sender.email, subject=subject, body=body)
    if not _insert_within_hourly_limit(message, limit=settings.MESSAGES_PER_HOUR):
        raise MessageRateLimited
    if not settings.MESSAGE_OUTBOX_RELAY:
        # The embedded mode has no relay. After commit (at once, unless a caller's
        # transaction is still open), so the worker never looks for a row it cannot
        # see yet.
        transaction.on_commit(partial(_enqueue_delivery, message.pk), using=message._state.db)
    return message


def _insert_within_hourly_limit(message: Message, *, limit: int) -> bool:
    """Insert `message` unless its sender has written `limit` messages in the hour before
    it; whether it was inserted (its primary key is then set).

    INSERT ... SELECT ... WHERE, which the ORM does not write: the limit's count (which
    stops at `limit` rows) and the insert in one statement and one round trip, where a
    sliced count() then create() took two. On this project's machine that took a submit
    from 6.0 to 5.0 ms of CPU in-process. PostgreSQL, and SQLite since 3.35.
    """
    database = router.db_for_write(Message)
    # The connection itself, not django.db.connection: that proxy looks the connection up
    # again on every attribute read, and the conversions below read it many times.
    db_connection = connections[database]
    statement, fields = _hourly_limit_insert(database)
    # What create() would send: each field's default and its conversion for the database.
    values = [
        field.get_db_prep_save(field.pre_save(message, True), db_connection) for field in fields
    ]
    since = db_connection.ops.adapt_datetimefield_value(message.created_at - timedelta(hours=1))
    with repeated_statement_cursor(db_connection) as cursor:
        cursor.execute(statement, [*values, message.sender_id, since, limit, limit])
        inserted = cursor.fetchone()
    if inserted is None:
        return False
    # As create() leaves it: saved, in this database.
    message.pk = inserted[0]
    message._state.adding = False
    message._state.db = database
    return True


@cache
def _hourly_limit_insert(database: str) -> "tuple[str, tuple[Field[Any, Any], ...]]":
    """_insert_within_hourly_limit's statement in `database`'s dialect, and the fields
    whose values it takes first, in order: the same for every submit, so built once."""
    quote = connections[database].ops.quote_name
    meta = Message._meta
    table = quote(meta.db_table)
    fields = tuple(field for field in meta.concrete_fields if not field.primary_key)
    column = {field.name: quote(field.column) for field in fields}
    statement = (
        f"INSERT INTO {table} ({', '.join(column.values())}) "
        f"SELECT {', '.join(['%s'] * len(fields))} "
        f"WHERE (SELECT COUNT(*) FROM (SELECT 1 FROM {table} "
        f"WHERE {column['sender']} = %s AND {column['created_at']} >= %s LIMIT %s) AS recent) "
        f"< %s "
        f"RETURNING {quote(meta.pk.column)}"
    )
    return statement, fields


def messages_retry(*, message_ids: Iterable[int]) -> int:
    """Queue failed messages for a fresh round of attempts; returns how many."""
    retried = 0
    for message_id in message_ids:
        # Conditional, so a message that is not failed (any more) is left alone.
        if Message.objects.filter(pk=message_id, status=Message.Status.FAILED).update(
            status=Message.Status.QUEUED, attempts=0, next_attempt_at=timezone.now()
        ):
            transaction.on_commit(partial(_enqueue_delivery, message_id))
            retried += 1
    return retried


def messages_sweep(*, queued_after: float | None = None) -> int:
    """Enqueue again what lost its task; returns how many messages.

    Two kinds of message are stranded: queued ones well past their due time (the broker
    was down when they were enqueued, or lost its memory: the embedded mode's queue dies
    with its process), and sending ones whose lease ran out (their worker died). The
    latter go back to queued first, or to failed if that was their last attempt. Each
    row is taken by a conditional update, so sweepers running side by side in several
    worker processes enqueue each message once. `queued_after` overrides
    MESSAGE_SWEEP_QUEUED_AFTER (0: every queued message that is due).
    """
    if queued_after is None:
        queued_after = settings.MESSAGE_SWEEP_QUEUED_AFTER
    now = timezone.now()
    overdue = now - timedelta(seconds=queued_after)
    _fail_abandoned_last_attempts(now)
    abandoned = Message.objects.filter(status=Message.Status.SENDING, lease_expires_at__lt=now)
    abandoned.update(status=Message.Status.QUEUED, lease_expires_at=None, next_attempt_at=overdue)
    swept = 0
    stranded = Message.objects.filter(status=Message.Status.QUEUED, next_attempt_at__lte=overdue)
    for message_id, due in stranded.values_list("pk", "next_attempt_at"):
        # Moving the due time forward marks the row as swept until the threshold passes
        # again; only the sweeper whose update lands enqueues it.
        if Message.objects.filter(
            pk=message_id, status=Message.Status.QUEUED, next_attempt_at=due
        ).update(next_attempt_at=now):
            transaction.on_commit(partial(_enqueue_delivery, message_id))
            swept += 1
    return swept


def _fail_abandoned_last_attempts(now: datetime) -> None:
    """A worker that died during a message's last allowed attempt used that attempt up."""
    Message.objects.filter(
        status=Message.Status.SENDING,
        lease_expires_at__lt=now,
        attempts__gte=settings.MESSAGE_MAX_ATTEMPTS,
    ).update(
        status=Message.Status.FAILED,
        lease_expires_at=None,
        last_error="The worker stopped during the last allowed attempt.",
    )


def enqueue_delivery(message_id: int) -> None:
    """Enqueue the task that delivers the message; raises when the broker is down."""
    # The actor module imports this one, so it is imported here, when first needed.
    from contact.tasks import deliver_message

    deliver_message.send(message_id)


def _enqueue_delivery(message_id: int) -> None:
    try:
        enqueue_delivery(message_id)
    except Exception:
        # The broker being down must not turn a saved message into a server error for
        # the person who wrote it: the row is committed and stays queued.
        logger.exception("Could not enqueue message %s; it stays queued.", message_id)


# ---------------------------------------------------------------- delivering


def message_deliver(*, message_id: int) -> None:
    """Deliver one message: look the sender up in the directory, email the administrator
    with what was found, and record the outcome on the row.

    Does nothing for a message that is not queued, so a duplicate task is harmless.
    Raises DeliveryDeferred after a transient failure with attempts left, and
    DeliveryFailed once the row is marked failed.
    """
    message = _claim(message_id)
    if message is None:
        return
    started = time.monotonic()
    # The directory never raises: whatever it does, the email goes out.
    lookup = user_directory(shared_directory_client()).lookup(message.sender_email)
    looked_up = time.monotonic()
    message.directory_status = lookup.status
    message.directory_data = lookup.users
    try:
        send_email(admin_email(message, lookup))
    except Exception as error:
        try:
            _record_failure(message, error)
        finally:
            _log_attempt(message, lookup, started, looked_up)
    else:
        # Between the server accepting the email and the row saying so lies only this
        # write. A worker killed inside that window leaves the row sending; when its
        # lease ends the email is sent again (the same Message-ID lets mail systems
        # tell): at least once, rather than perhaps never.
        _record_sent(message)
        _log_attempt(message, lookup, started, looked_up)


# How an attempt ended, as its log line says it: the row's status after the attempt.
ATTEMPT_OUTCOMES: dict[str, str] = {
    Message.Status.SENT: "sent",
    Message.Status.QUEUED: "retry",
    Message.Status.FAILED: "failed",
}


def _log_attempt(
    message: Message, lookup: DirectoryLookup, started: float, looked_up: float
) -> None:
    """One line per attempt, in key=value form for log search: which message, which
    attempt, how it went, what the directory said, and where the time went."""
    now = time.monotonic()
    outcome = ATTEMPT_OUTCOMES.get(message.status, message.status)
    logger.info(
        "delivery_attempt message_id=%s attempt=%s outcome=%s directory=%s "
        "directory_cached=%s directory_ms=%d smtp_ms=%d total_ms=%d error=%r",
        message.pk,
        message.attempts,
        outcome,
        message.directory_status,
        str(lookup.from_cache).lower(),
        (looked_up - started) * 1000,
        (now - looked_up) * 1000,
        (now - started) * 1000,
        message.last_error if outcome != "sent" else "",
    )


def _claim(message_id: int) -> Message | None:
    """Move a queued message to sending, count the attempt and take a lease, in one
    conditional update: of two workers holding the same task only one goes on, and a
    task for a message already sent, failed or in flight does nothing."""
    lease_ends = timezone.now() + timedelta(seconds=settings.MESSAGE_ATTEMPT_TIME_LIMIT)
    # UPDATE ... RETURNING, which the ORM does not write: the claim and the row it took
    # in one round trip (PostgreSQL, and SQLite since 3.35).
    claimed = Message.objects.raw(
        f"UPDATE {Message._meta.db_table} "
        "SET status = %s, attempts = attempts + 1, lease_expires_at = %s "
        "WHERE id = %s AND status = %s RETURNING *",
        [
            Message.Status.SENDING,
            connection.ops.adapt_datetimefield_value(lease_ends),
            message_id,
            Message.Status.QUEUED,
        ],
    )
    for message in claimed:
        return message
    logger.info("Message %s is not queued; nothing to deliver.", message_id)
    return None


def _record_sent(message: Message) -> None:
    message.status = Message.Status.SENT
    message.sent_at = timezone.now()
    message.last_error = ""
    message.lease_expires_at = None
    _save_outcome(message, [*RECORDED_FIELDS, "sent_at"])


def _record_failure(message: Message, error: Exception) -> None:
    message.last_error = f"{type(error).__name__}: {error}"[:ERROR_TEXT_MAX_LENGTH]
    permanent = is_permanent_send_error(error)
    retry_in = retry_delay(message.attempts)
    if permanent or message.attempts >= settings.MESSAGE_MAX_ATTEMPTS:
        message.status = Message.Status.FAILED
    else:
        message.status = Message.Status.QUEUED
        message.next_attempt_at = timezone.now() + timedelta(seconds=retry_in)
    message.lease_expires_at = None
    _save_outcome(message, [*RECORDED_FIELDS, "next_attempt_at"])
    if message.status == Message.Status.FAILED:
        reason = "permanent error" if permanent else f"{message.attempts} attempts used"
        raise DeliveryFailed(f"{reason}: {message.last_error}") from error
    raise DeliveryDeferred(message.last_error, retry_in=retry_in) from error


def _save_outcome(message: Message, fields: list[str]) -> None:
    """Write an attempt's outcome, through a database restart if need be: once an email
    is out, losing its record would send it again."""
    deadline = time.monotonic() + OUTCOME_WRITE_RETRY_SECONDS
    while True:
        try:
            message.save(update_fields=fields)
            return
        except (OperationalError, InterfaceError):
            if time.monotonic() > deadline:
                raise
            logger.warning("Database unavailable; retrying the outcome of message %s.", message.pk)
            connection.close()
            time.sleep(1)


def is_permanent_send_error(error: Exception) -> bool:
    """Whether sending again could not succeed: the server refused for good (5xx,
    including bad credentials), or the email itself is malformed. Refused or dropped
    connections, timeouts and 4xx answers are transient."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(500 <= code < 600 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return 500 <= error.smtp_code < 600
    return isinstance(error, BadHeaderError | smtplib.SMTPNotSupportedError)


def retry_delay(attempts: int) -> float:
    """Seconds to wait after `attempts` attempts: exponential, capped."""
    backoff: float = settings.MESSAGE_RETRY_BACKOFF * 2 ** (attempts - 1)
    return min(backoff, float(settings.MESSAGE_RETRY_BACKOFF_MAX))
