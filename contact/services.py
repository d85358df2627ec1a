"""Writing and delivering messages to the administrator.

Each status change of a Message happens in one function here: message_create
(queued), message_deliver (sending, then sent, failed, or queued again for a retry),
messages_retry (failed or bounced back to queued), messages_sweep (abandoned sending
back to queued, or to failed when it was the last attempt) and message_report (sent on
to deferred, delivered, complained or bounced, as the email provider reports, or as a
bounce mailed back says: message_bounce).
messages_relay is the one place that hands messages to the broker.
"""

import enum
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from common import request_id
from contact.bounces import read_bounce
from contact.directory import DirectoryLookup, shared_directory_client, user_directory
from contact.emails import admin_email, message_id_header
from contact.models import DeliveryEvent, Message
from contact.smtp import Receipt, send_email
from site_config.outbox import (
    ERROR_TEXT_MAX_LENGTH,
    DeliveryDeferred,
    DeliveryFailed,
    record_failed_attempt,
    relay,
    retry_delay,
)
from users.models import User

logger = logging.getLogger(__name__)

# How long an attempt keeps trying to write its outcome while the database is away (a
# restart); MESSAGE_ATTEMPT_TIME_LIMIT leaves room for it.
OUTCOME_WRITE_RETRY_SECONDS = 20
# What every attempt writes back, whatever its outcome.
RECORDED_FIELDS = ["status", "last_error", "lease_expires_at", "directory_status", "directory_data"]
# Messages one relay round takes at most; a full round is followed at once by the next.
RELAY_BATCH = 500
# What MESSAGES_PER_HOUR counts over.
MESSAGE_WINDOW = timedelta(hours=1)


class MessageRateLimited(Exception):
    """The sender has written MESSAGES_PER_HOUR messages in the last hour already, and
    may write again `retry_in` from now."""

    def __init__(self, retry_in: timedelta) -> None:
        super().__init__(f"may write again in {retry_in}")
        self.retry_in = retry_in


class SenderUnconfirmed(Exception):
    """The sender has not confirmed their address yet: they cannot write."""


# ---------------------------------------------------------------- writing


def message_create(*, sender: User, subject: str, body: str) -> Message:
    """Save a message as queued; the relay (messages_relay) hands it to the broker.

    Raises SenderUnconfirmed unless the sender's address is confirmed, and
    MessageRateLimited when the sender has used up MESSAGES_PER_HOUR. The count
    and the insert take no lock, so submits from one person arriving at the same instant
    may each pass the check: the limit can be overshot by that many, never by a steady
    flood.
    """
    if not sender.email_verified:
        raise SenderUnconfirmed
    limit = settings.MESSAGES_PER_HOUR
    now = timezone.now()
    recent = Message.objects.filter(sender=sender, created_at__gte=now - MESSAGE_WINDOW)
    # Sliced, so the count stops at the limit however many there are.
    if recent[:limit].count() >= limit:
        raise MessageRateLimited(_next_message_in(recent, now=now, limit=limit))
    message = Message.objects.create(
        sender=sender,
        sender_email=sender.email,
        sender_email_confirmed=True,
        subject=subject,
        body=body,
        request_id=request_id.current.get() or None,
    )
    logger.info(
        "message_queued message_id=%s user_id=%s",
        message.pk,
        sender.pk,
        extra={"message_id": message.pk, "user_id": sender.pk},
    )
    return message


def _next_message_in(recent: QuerySet[Message], *, now: datetime, limit: int) -> timedelta:
    """How long until the limit-th newest of `recent` leaves the window, at least a
    second."""
    newest = recent.order_by("-created_at").values_list("created_at", flat=True)
    edge = newest[limit - 1 : limit].first()
    if edge is None:
        return timedelta(seconds=1)
    return max(edge + MESSAGE_WINDOW - now, timedelta(seconds=1))


def messages_relay(*, enqueue: Callable[[int], object], limit: int = RELAY_BATCH) -> int:
    """Hand the queued messages that no relay has handed over yet to the broker
    (site_config.outbox.relay); returns how many."""
    awaiting = Message.objects.filter(status=Message.Status.QUEUED, relayed_at__isnull=True)
    return relay(awaiting, enqueue=enqueue, limit=limit)


def messages_retry(*, message_ids: Iterable[int]) -> int:
    """Queue messages that did not reach the administrator (failed, or bounced after the
    provider took them) for a fresh round of attempts; returns how many.

    Each goes on its timeline as queued again: the reports recorded before that line
    are about the sends before it, and none of them is applied to a send after it."""
    now = timezone.now()
    with transaction.atomic():
        # Locked and filtered, so a message that was delivered (or is on its way) is
        # left alone, and counted once.
        retried = list(
            Message.objects.select_for_update()
            .filter(pk__in=list(message_ids), status__in=Message.NOT_DELIVERED)
            .values_list("pk", flat=True)
        )
        Message.objects.filter(pk__in=retried).update(
            status=Message.Status.QUEUED, attempts=0, next_attempt_at=now, relayed_at=None
        )
        DeliveryEvent.objects.bulk_create(
            DeliveryEvent(
                message_id=message_id,
                kind=DeliveryEvent.Kind.RETRY,
                occurred_at=now,
                event_type="retry",
                status=Message.Status.QUEUED,
                applied=True,
            )
            for message_id in retried
        )
    return len(retried)


def messages_sweep(*, queued_after: float | None = None) -> int:
    """Hand back to the relay what lost its task; returns how many messages.

    Two kinds of message are stranded: queued ones well past their due time (the broker
    lost their task: the embedded mode's queue dies with its process, a Redis may lose
    its memory), and sending ones whose lease ran out (their worker died). The latter go
    back to queued first, or to failed if that was their last attempt. Clearing
    `relayed_at` is all it takes: the relay enqueues them on its next round, and
    sweepers side by side change nothing more than one would. `queued_after` overrides
    MESSAGE_SWEEP_QUEUED_AFTER (0: every queued message that is due).
    """
    if queued_after is None:
        queued_after = settings.MESSAGE_SWEEP_QUEUED_AFTER
    now = timezone.now()
    overdue = now - timedelta(seconds=queued_after)
    _fail_abandoned_last_attempts(now)
    abandoned = Message.objects.filter(status=Message.Status.SENDING, lease_expires_at__lt=now)
    swept = abandoned.update(
        status=Message.Status.QUEUED, lease_expires_at=None, next_attempt_at=now, relayed_at=None
    )
    # The due time moves to now, so the threshold runs afresh once the relay has handed
    # the message over again.
    swept += Message.objects.filter(
        status=Message.Status.QUEUED, next_attempt_at__lte=overdue, relayed_at__isnull=False
    ).update(relayed_at=None, next_attempt_at=now)
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
    # The attempt's log lines carry the id of the request that wrote the message.
    with request_id.request_id_as(message.request_id or ""):
        _deliver(message)


def _deliver(message: Message) -> None:
    started_at = timezone.now()
    started = time.monotonic()
    if message.sender_email_confirmed is True:
        # The directory never raises: whatever it does, the email goes out.
        lookup = user_directory(shared_directory_client()).lookup(message.sender_email)
    else:
        # Anyone could have typed that address: what the directory holds on its owner
        # is not this sender's to attach.
        lookup = DirectoryLookup(Message.DirectoryStatus.UNCONFIRMED)
    looked_up = time.monotonic()
    if lookup.status == Message.DirectoryStatus.UNAVAILABLE and message.directory_data:
        # A directory away now says nothing new of the sender: what an earlier attempt
        # found stays on the record and goes with the email again.
        lookup = DirectoryLookup(
            Message.DirectoryStatus.FOUND, users=message.directory_data, from_cache=True
        )
    message.directory_status = lookup.status
    message.directory_data = lookup.users
    try:
        taken = send_email(admin_email(message, lookup))
    except Exception as error:
        try:
            _record_failure(message, error, _Attempt(started_at, started))
        finally:
            _log_attempt(message, lookup, started, looked_up)
    else:
        # Between the server accepting the email and the row saying so lies only this
        # write. A worker killed inside that window leaves the row sending; when its
        # lease ends the email is sent again (the same Message-ID lets mail systems
        # tell): at least once, rather than perhaps never.
        _record_sent(message, taken, _Attempt(started_at, started))
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
        # The same facts as fields of their own in a JSON log line.
        extra={"message_id": message.pk, "attempt": message.attempts, "outcome": outcome},
    )


def _claim(message_id: int) -> Message | None:
    """Move a queued message to sending, count the attempt and take a lease, in one
    conditional update: of two workers holding the same task only one goes on, and a
    task for a message already sent, failed or in flight does nothing."""
    lease_ends = timezone.now() + timedelta(seconds=settings.MESSAGE_ATTEMPT_TIME_LIMIT)
    claimed = Message.objects.filter(pk=message_id, status=Message.Status.QUEUED).update(
        status=Message.Status.SENDING, attempts=F("attempts") + 1, lease_expires_at=lease_ends
    )
    if not claimed:
        logger.info("Message %s is not queued; nothing to deliver.", message_id)
        return None
    return Message.objects.get(pk=message_id)


@dataclass(frozen=True)
class _Attempt:
    started_at: datetime
    started: float

    def event(self, message: Message, detail: str, receipt: Receipt | None = None) -> DeliveryEvent:
        """The attempt's entry on the message's timeline, as the attempt left the message."""
        return DeliveryEvent(
            message=message,
            kind=DeliveryEvent.Kind.ATTEMPT,
            occurred_at=self.started_at,
            event_type=ATTEMPT_OUTCOMES.get(message.status, message.status),
            status=message.status,
            applied=True,
            duration_ms=round((time.monotonic() - self.started) * 1000),
            detail=detail,
            provider=receipt.provider if receipt else "",
            provider_message_id=(receipt.message_id or "") if receipt else "",
        )


def _record_sent(message: Message, receipt: Receipt, attempt: _Attempt) -> None:
    message.status = Message.Status.SENT
    message.sent_at = timezone.now()
    message.last_error = ""
    message.lease_expires_at = None
    message.provider_message_id = receipt.message_id
    fields = [*RECORDED_FIELDS, "sent_at", "provider_message_id"]
    _save_outcome(message, fields, attempt.event(message, receipt.detail, receipt))
    _apply_waiting_reports(message)


def _record_failure(message: Message, error: Exception, attempt: _Attempt) -> None:
    permanent = record_failed_attempt(message, error)
    _save_outcome(
        message, [*RECORDED_FIELDS, "next_attempt_at"], attempt.event(message, message.last_error)
    )
    if message.status == Message.Status.FAILED:
        reason = "permanent error" if permanent else f"{message.attempts} attempts used"
        # An error, so that it reaches someone: a message that will never arrive.
        logger.error(
            "delivery_failed message_id=%s reason=%r",
            message.pk,
            f"{reason}: {message.last_error}",
            extra={"message_id": message.pk},
        )
        raise DeliveryFailed(f"{reason}: {message.last_error}") from error
    raise DeliveryDeferred(message.last_error, retry_in=retry_delay(message.attempts)) from error


def _save_outcome(message: Message, fields: list[str], event: DeliveryEvent) -> None:
    """Write an attempt's outcome and its entry on the timeline, together, through a
    database restart if need be: once an email is out, losing its record would send it
    again."""
    deadline = time.monotonic() + OUTCOME_WRITE_RETRY_SECONDS
    while True:
        try:
            with transaction.atomic():
                message.save(update_fields=fields)
                event.save()
            return
        except (OperationalError, InterfaceError):
            if time.monotonic() > deadline:
                raise
            logger.warning("Database unavailable; retrying the outcome of message %s.", message.pk)
            connection.close()
            time.sleep(1)


# ---------------------------------------------------------------- provider reports


@dataclass(frozen=True)
class Report:
    """What an email provider reported about one email (contact.tracking reads it off
    anymail's tracking event)."""

    provider: str
    # anymail's event type: delivered, bounced, deferred, complained, opened...
    event_type: str
    # The provider's id of the report, which it sends again with a replay.
    event_id: str
    # The provider's id of the email, and the message's own id if the provider sent
    # back the metadata the email carried.
    provider_message_id: str | None
    site_message_id: str | None
    occurred_at: datetime | None
    detail: str


class ReportOutcome(enum.Enum):
    # The message moved to the status the report stands for.
    APPLIED = "applied"
    # On the timeline, status unchanged: a report of no status (an open), an older or a
    # weaker one (deferred after delivered), or one about an earlier send.
    RECORDED = "recorded"
    # This report was applied before.
    REPEATED = "repeated"
    # It names no message of this site (another site's email on the same account).
    UNKNOWN = "unknown"


# What a report means for the message, for the types that mean anything.
REPORTED_STATUS: dict[str, str] = {
    "deferred": Message.Status.DEFERRED,
    "delivered": Message.Status.DELIVERED,
    "complained": Message.Status.COMPLAINED,
    "bounced": Message.Status.BOUNCED,
    "rejected": Message.Status.BOUNCED,
    "failed": Message.Status.BOUNCED,
}
# How far along the way after sending each status is. A report moves a message only
# further, so reports arriving out of order end where the last one sent would: a late
# "deferred" after "delivered" changes nothing, a bounce after "delivered" does.
REPORT_RANK: dict[str, int] = {
    Message.Status.SENT: 0,
    Message.Status.DEFERRED: 1,
    Message.Status.DELIVERED: 2,
    Message.Status.COMPLAINED: 3,
    Message.Status.BOUNCED: 3,
}


def message_report(report: Report) -> ReportOutcome:
    """Put a provider's report on the message's timeline, once, and move the message on
    if the report takes it further (REPORT_RANK), in one transaction."""
    try:
        with transaction.atomic():
            outcome, message_id = _record_report(report)
    except IntegrityError:
        # Recorded before: a replay. One whose move did not happen yet (it came while
        # the message was being sent) may finish it; moving on is forward-only.
        message = _reported_message(report)
        if message is not None:
            _apply_waiting_reports(message)
        return ReportOutcome.REPEATED
    if outcome is ReportOutcome.UNKNOWN:
        logger.warning(
            "report_unknown provider=%s event=%s provider_message_id=%s",
            report.provider,
            report.event_type,
            report.provider_message_id,
        )
        return outcome
    logger.info(
        "report message_id=%s provider=%s event=%s outcome=%s",
        message_id,
        report.provider,
        report.event_type,
        outcome.value,
        extra={"message_id": message_id, "outcome": outcome.value},
    )
    return outcome


def _record_report(report: Report) -> tuple[ReportOutcome, int | None]:
    """message_report's transaction. The message's row is locked first, so a worker
    recording the send meanwhile either has done so (and the report moves the message
    now) or does so after this commits (and applies the report then:
    _apply_waiting_reports)."""
    message = _reported_message(report, lock=True)
    if message is None:
        return ReportOutcome.UNKNOWN, None
    status = REPORTED_STATUS.get(report.event_type, "")
    moves = (
        bool(status)
        and REPORT_RANK.get(message.status, REPORT_RANK[status]) < REPORT_RANK[status]
        and _names_the_current_send(message, report.provider_message_id)
    )
    DeliveryEvent.objects.create(
        message=message,
        kind=DeliveryEvent.Kind.REPORT,
        occurred_at=_reported_time(report.occurred_at),
        event_type=report.event_type[:32],
        status=status,
        applied=moves,
        detail=report.detail[:ERROR_TEXT_MAX_LENGTH],
        provider=report.provider[:32],
        provider_message_id=(report.provider_message_id or "")[:255],
        provider_event_id=report.event_id[:255],
    )
    if not moves:
        return ReportOutcome.RECORDED, message.pk
    Message.objects.filter(pk=message.pk).update(status=status)
    return ReportOutcome.APPLIED, message.pk


def _reported_message(report: Report, *, lock: bool = False) -> Message | None:
    """The message a report is about: by the id the email carried as metadata, else by
    the provider's id of the email. With `lock`, its row is locked until the end of the
    transaction."""
    messages = Message.objects.select_for_update() if lock else Message.objects.all()
    if report.site_message_id and report.site_message_id.isdecimal():
        found = messages.filter(pk=int(report.site_message_id)).first()
        if found is not None:
            return found
    if report.provider_message_id:
        return messages.filter(provider_message_id=report.provider_message_id).first()
    return None


def _move_on(message_id: int, status: str) -> bool:
    """Move a sent message to `status` if that is further along, in one conditional
    update."""
    earlier = [before for before, rank in REPORT_RANK.items() if rank < REPORT_RANK[status]]
    moved = Message.objects.filter(pk=message_id, status__in=earlier)
    return bool(moved.update(status=status))


def _names_the_current_send(message: Message, provider_message_id: str | None) -> bool:
    """Whether a report is about the message's current send: it names it by the id the
    provider answered with, or by the email's own Message-ID header, under which some
    providers report. A report that names no send (a bounce, named by its return path)
    is taken as the current one's; one naming any other id (an earlier send's, or
    another site's email that carried the same metadata) moves nothing."""
    if not provider_message_id:
        return True
    known = {message.provider_message_id or "", message_id_header(message)}
    return _bare_id(provider_message_id) in {_bare_id(sent) for sent in known if sent}


def _bare_id(provider_message_id: str) -> str:
    return provider_message_id.strip().strip("<>")


# A report's own time is a provider's or a mail server's word: outside this window it is
# not believed (nor stored, where it could overflow a date), and the time it came is kept.
REPORT_TIME_PAST = timedelta(days=366)
REPORT_TIME_AHEAD = timedelta(days=1)


def _reported_time(moment: datetime | None) -> datetime:
    now = timezone.now()
    if moment is None:
        return now
    try:
        aware = moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)
        believed = now - REPORT_TIME_PAST <= aware <= now + REPORT_TIME_AHEAD
        return aware.astimezone(UTC) if believed else now
    except OverflowError:
        return now


def _apply_waiting_reports(message: Message) -> None:
    """Apply the furthest report not applied yet about the current send: one that came
    in before the send was recorded (a provider may report faster than the worker
    writes), or one whose move was cut short. Reports from before the message was last
    queued again (messages_retry) are about earlier sends."""
    waiting = message.events.filter(kind=DeliveryEvent.Kind.REPORT, applied=False).exclude(
        status=""
    )
    last_retry = message.events.filter(kind=DeliveryEvent.Kind.RETRY).order_by("-pk").first()
    if last_retry is not None:
        waiting = waiting.filter(pk__gt=last_retry.pk)
    early = [
        event for event in waiting if _names_the_current_send(message, event.provider_message_id)
    ]
    if not early:
        return
    furthest = max(early, key=lambda event: REPORT_RANK.get(event.status, -1))
    if furthest.status in REPORT_RANK and _move_on(message.pk, furthest.status):
        DeliveryEvent.objects.filter(pk=furthest.pk).update(applied=True)


def message_bounce(raw: bytes) -> ReportOutcome:
    """Record a mail from the bounce mailbox on the message its return path names, as a
    provider's report would be (message_report). UNKNOWN when it names none of ours: a
    stranger's mail, a forged or altered address, a message no longer here."""
    try:
        bounce = read_bounce(raw)
    except Exception:
        # A mail no parser can read must not stop the mailbox: it is kept unmatched.
        logger.exception("bounce_unreadable bytes=%d", len(raw))
        return ReportOutcome.UNKNOWN
    if bounce.message_id is None:
        return ReportOutcome.UNKNOWN
    return message_report(
        Report(
            provider="",
            # A mail that reports no delivery (an auto-reply) is kept on the timeline.
            event_type=bounce.event_type or "autoresponded",
            event_id=bounce.report_id,
            provider_message_id=None,
            site_message_id=str(bounce.message_id),
            occurred_at=bounce.occurred_at,
            detail=bounce.detail,
        )
    )
