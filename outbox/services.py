"""The outbox: every email the site sends, whatever its kind, is queued, relayed, sent,
retried and swept here.

Each status change of an Email before it is sent happens in one function: email_queue
(queued), email_send (sending, then sent, failed, or queued again for a retry),
emails_retry (failed or bounced back to queued) and emails_sweep (abandoned sending back
to queued, or to failed when it was the last attempt). What becomes of it after it is
sent is outbox.reports'. emails_relay is the one place that hands emails to the broker.
"""

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone

from common import request_id
from outbox import kinds
from outbox.envelope import stamp
from outbox.failures import (
    ERROR_TEXT_MAX_LENGTH,
    BrokerUnavailable,
    DeliveryDeferred,
    DeliveryFailed,
    error_text,
    is_permanent_send_error,
    log_failure,
    retry_delay,
)
from outbox.models import Email, EmailEvent
from outbox.reports import apply_waiting_reports
from outbox.smtp import Receipt, send_email

logger = logging.getLogger(__name__)

# Emails one relay round takes at most; a full round is followed at once by the next.
RELAY_BATCH = 500
# How long an attempt keeps trying to write its outcome while the database is away (a
# restart); MESSAGE_ATTEMPT_TIME_LIMIT leaves room for it.
OUTCOME_WRITE_RETRY_SECONDS = 20
# How an attempt ended, as its log line and its timeline entry say it.
ATTEMPT_OUTCOMES: dict[str, str] = {
    Email.Status.SENT: "sent",
    Email.Status.QUEUED: "retry",
    Email.Status.FAILED: "failed",
}


# ---------------------------------------------------------------- queueing


def email_queue(
    *,
    kind: str,
    to: Iterable[str],
    user: AbstractBaseUser | None = None,
    language: str | None = None,
) -> Email:
    """Queue an email of `kind` (outbox.kinds) to `to`; the relay hands it to a worker,
    which renders and sends it. `user` is the account it goes to, if any."""
    email = Email.objects.create(
        kind=kind,
        to=", ".join(to),
        user=user,  # type: ignore[misc]
        language=language or settings.LANGUAGE_CODE,
        request_id=request_id.current.get(),
    )
    logger.info(
        "email_queued email_id=%s kind=%s",
        email.pk,
        kind,
        extra={"email_id": email.pk, "kind": kind},
    )
    return email


def emails_relay(*, enqueue: Callable[[int, str], object], limit: int = RELAY_BATCH) -> int:
    """Hand the queued emails that no relay has handed over yet to the broker, oldest
    first, and stamp their `relayed_at`; returns how many.

    The rows are locked with SKIP LOCKED, so relays running side by side each take
    others and none waits. A relay that dies between a send and the commit leaves its
    rows unstamped, and they are sent again: the task's claim makes the second one do
    nothing. Raises BrokerUnavailable when `enqueue(email_id, kind)` fails; what was
    sent before it is stamped, the rest waits for the next round.
    """
    awaiting = Email.objects.filter(status=Email.Status.QUEUED, relayed_at__isnull=True)
    # Most rounds find nothing: they ask without a transaction, which on SQLite would take
    # the write lock from every other writer a few times a second.
    if not awaiting.exists():
        return 0
    with transaction.atomic():
        waiting = list(
            awaiting.select_for_update(skip_locked=True)
            .order_by("pk")
            .values_list("pk", "kind")[:limit]
        )
        relayed: list[int] = []
        refused: Exception | None = None
        for email_id, kind in waiting:
            try:
                enqueue(email_id, kind)
            except Exception as error:
                refused = error
                break
            relayed.append(email_id)
        if relayed:
            Email.objects.filter(pk__in=relayed).update(relayed_at=timezone.now())
    if refused is not None:
        raise BrokerUnavailable(f"{type(refused).__name__}: {refused}") from refused
    return len(relayed)


def emails_retry(*, email_ids: Iterable[int]) -> int:
    """Queue emails that did not reach their recipient (failed, or bounced after the
    provider took them) for a fresh round of attempts; returns how many.

    Each goes on its timeline as queued again: the reports recorded before that line
    are about the sends before it, and none of them is applied to a send after it."""
    now = timezone.now()
    with transaction.atomic():
        # Locked and filtered, so an email that was delivered (or is on its way) is left
        # alone, and counted once.
        retried = list(
            Email.objects.select_for_update()
            .filter(pk__in=list(email_ids), status__in=Email.NOT_DELIVERED)
            .values_list("pk", flat=True)
        )
        Email.objects.filter(pk__in=retried).update(
            status=Email.Status.QUEUED, attempts=0, next_attempt_at=now, relayed_at=None
        )
        EmailEvent.objects.bulk_create(
            EmailEvent(
                email_id=email_id,
                kind=EmailEvent.Kind.RETRY,
                occurred_at=now,
                event_type="retry",
                status=Email.Status.QUEUED,
                applied=True,
            )
            for email_id in retried
        )
    return len(retried)


def emails_sweep(*, queued_after: float | None = None) -> int:
    """Hand back to the relay what lost its task; returns how many emails.

    Two kinds of email are stranded: queued ones well past their due time (the broker
    lost their task: the embedded mode's queue dies with its process, a Redis may lose
    its memory), and sending ones whose lease ran out (their worker died). The latter go
    back to queued first, or to failed if that was their last attempt. Clearing
    `relayed_at` is all it takes: the relay enqueues them on its next round, and
    sweepers side by side change nothing more than one would. `queued_after` overrides
    MESSAGE_SWEEP_QUEUED_AFTER (0: every queued email that is due).
    """
    if queued_after is None:
        queued_after = settings.MESSAGE_SWEEP_QUEUED_AFTER
    now = timezone.now()
    _fail_abandoned_last_attempts(now)
    abandoned = Email.objects.filter(status=Email.Status.SENDING, lease_expires_at__lt=now)
    swept = abandoned.update(
        status=Email.Status.QUEUED, lease_expires_at=None, next_attempt_at=now, relayed_at=None
    )
    # The due time moves to now, so the threshold runs afresh once the relay has handed
    # the email over again.
    swept += Email.objects.filter(
        status=Email.Status.QUEUED,
        next_attempt_at__lte=now - timedelta(seconds=queued_after),
        relayed_at__isnull=False,
    ).update(relayed_at=None, next_attempt_at=now)
    return swept


def _fail_abandoned_last_attempts(now: datetime) -> None:
    """A worker that died during an email's last allowed attempt used that attempt up."""
    reason = "The worker stopped during the last allowed attempt."
    last = Email.objects.filter(
        status=Email.Status.SENDING,
        lease_expires_at__lt=now,
        attempts__gte=settings.MESSAGE_MAX_ATTEMPTS,
    )
    with transaction.atomic():
        failed = list(last.select_for_update().values_list("pk", "kind"))
        Email.objects.filter(pk__in=[pk for pk, _ in failed]).update(
            status=Email.Status.FAILED, lease_expires_at=None, last_error=reason
        )
        EmailEvent.objects.bulk_create(
            EmailEvent(
                email_id=email_id,
                kind=EmailEvent.Kind.ATTEMPT,
                occurred_at=now,
                event_type=ATTEMPT_OUTCOMES[Email.Status.FAILED],
                status=Email.Status.FAILED,
                applied=True,
                detail=reason,
            )
            for email_id, _ in failed
        )
    for email_id, kind in failed:
        log_failure(email_id, kind, reason)


# ---------------------------------------------------------------- sending


def email_send(*, email_id: int) -> None:
    """Render and send one email through its kind, and record the outcome on the row.

    Does nothing for an email that is not queued, so a duplicate task is harmless.
    Raises DeliveryDeferred after a transient failure with attempts left, and
    DeliveryFailed once the row is marked failed.
    """
    email = _claim(email_id)
    if email is None:
        return
    # The attempt's log lines carry the id of the request that queued the email.
    with request_id.request_id_as(email.request_id):
        _send(email)


def _claim(email_id: int) -> Email | None:
    """Move a queued email to sending, count the attempt and take a lease, in one
    conditional update: of two workers holding the same task only one goes on, and a
    task for an email already sent, failed or in flight does nothing."""
    lease_ends = timezone.now() + timedelta(seconds=settings.MESSAGE_ATTEMPT_TIME_LIMIT)
    claimed = Email.objects.filter(pk=email_id, status=Email.Status.QUEUED).update(
        status=Email.Status.SENDING, attempts=F("attempts") + 1, lease_expires_at=lease_ends
    )
    if not claimed:
        logger.info("Email %s is not queued; nothing to send.", email_id)
        return None
    return Email.objects.get(pk=email_id)


def _send(email: Email) -> None:
    attempt = _Attempt(timezone.now(), time.monotonic())
    try:
        message = kinds.get(email.kind).render(email)
        if message is None:
            # Nobody to send it to; nor is the address of nobody kept. The id is read
            # first: deleting the row clears it on the instance.
            email_id = email.pk
            email.delete()
            logger.info(
                "email_dropped email_id=%s kind=%s reason=no_recipient", email_id, email.kind
            )
            return
        taken = send_email(stamp(message, email))
    except Exception as error:
        try:
            _record_failure(email, error, attempt)
        finally:
            _log_attempt(email, attempt)
    else:
        # Between the server accepting the email and the row saying so lies only this
        # write. A worker killed inside that window leaves the row sending; when its
        # lease ends the email is sent again (the same Message-ID lets mail systems
        # tell): at least once, rather than perhaps never.
        _record_sent(email, taken, attempt, recipients=message.to)
        _log_attempt(email, attempt)


@dataclass(frozen=True)
class _Attempt:
    started_at: datetime
    started: float

    def event(self, email: Email, detail: str, receipt: Receipt | None = None) -> EmailEvent:
        """The attempt's entry on the email's timeline, as the attempt left the email."""
        return EmailEvent(
            email=email,
            kind=EmailEvent.Kind.ATTEMPT,
            occurred_at=self.started_at,
            event_type=ATTEMPT_OUTCOMES.get(email.status, email.status),
            status=email.status,
            applied=True,
            duration_ms=round((time.monotonic() - self.started) * 1000),
            detail=detail,
            provider=receipt.provider if receipt else "",
            provider_message_id=(receipt.message_id or "") if receipt else "",
        )


def _record_sent(
    email: Email, receipt: Receipt, attempt: _Attempt, *, recipients: list[str]
) -> None:
    email.status = Email.Status.SENT
    email.sent_at = timezone.now()
    email.last_error = ""
    email.lease_expires_at = None
    email.provider_message_id = receipt.message_id or ""
    # The recipients as the kind rendered them this time (a reset's account, found now).
    email.to = ", ".join(recipients)[: Email._meta.get_field("to").max_length]
    fields = [
        "status",
        "sent_at",
        "last_error",
        "lease_expires_at",
        "provider_message_id",
        "to",
        "user",
    ]
    _save_outcome(email, fields, attempt.event(email, receipt.detail, receipt))
    apply_waiting_reports(email)


def _record_failure(email: Email, error: Exception, attempt: _Attempt) -> None:
    """Write how the attempt failed: failed for good when the error is permanent or the
    attempts are used up, else queued again after the backoff."""
    email.last_error = error_text(error)[:ERROR_TEXT_MAX_LENGTH]
    email.lease_expires_at = None
    permanent = is_permanent_send_error(error)
    if permanent or email.attempts >= settings.MESSAGE_MAX_ATTEMPTS:
        email.status = Email.Status.FAILED
    else:
        email.status = Email.Status.QUEUED
        email.next_attempt_at = timezone.now() + timedelta(seconds=retry_delay(email.attempts))
    fields = ["status", "last_error", "lease_expires_at", "next_attempt_at", "user"]
    _save_outcome(email, fields, attempt.event(email, email.last_error))
    if email.status == Email.Status.FAILED:
        reason = "permanent error" if permanent else f"{email.attempts} attempts used"
        log_failure(email.pk, email.kind, f"{reason}: {email.last_error}")
        raise DeliveryFailed(f"{reason}: {email.last_error}") from error
    raise DeliveryDeferred(email.last_error, retry_in=retry_delay(email.attempts)) from error


def _save_outcome(email: Email, fields: list[str], event: EmailEvent) -> None:
    """Write an attempt's outcome and its entry on the timeline, together, through a
    database restart if need be: once an email is out, losing its record would send it
    again."""
    deadline = time.monotonic() + OUTCOME_WRITE_RETRY_SECONDS
    while True:
        try:
            with transaction.atomic():
                email.save(update_fields=fields)
                event.save()
            return
        except (OperationalError, InterfaceError):
            if time.monotonic() > deadline:
                raise
            logger.warning("Database unavailable; retrying the outcome of email %s.", email.pk)
            connection.close()
            time.sleep(1)


def _log_attempt(email: Email, attempt: _Attempt) -> None:
    """One line per attempt, in key=value form for log search: which email, which
    attempt, how it went and how long it took."""
    outcome = ATTEMPT_OUTCOMES.get(email.status, email.status)
    logger.info(
        "delivery_attempt email_id=%s kind=%s attempt=%s outcome=%s total_ms=%d error=%r",
        email.pk,
        email.kind,
        email.attempts,
        outcome,
        (time.monotonic() - attempt.started) * 1000,
        email.last_error if outcome != "sent" else "",
        # The same facts as fields of their own in a JSON log line.
        extra={
            "email_id": email.pk,
            "kind": email.kind,
            "attempt": email.attempts,
            "outcome": outcome,
        },
    )
