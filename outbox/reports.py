"""What becomes of an email once it is sent, as its email provider's reports (through
anymail's tracking webhooks) or a bounce mailed back to its return path tell it.

email_report moves a sent email on to deferred, delivered, complained or bounced, only
ever further along, and keeps every report on the email's timeline; email_bounce reads a
bounce into such a report.
"""

import enum
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from outbox.bounces import read_bounce
from outbox.envelope import message_id_header
from outbox.failures import ERROR_TEXT_MAX_LENGTH, log_failure
from outbox.models import Email, EmailEvent

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Report:
    """What an email provider reported about one email (outbox.tracking reads it off
    anymail's tracking event)."""

    provider: str
    # anymail's event type: delivered, bounced, deferred, complained, opened...
    event_type: str
    # The provider's id of the report, which it sends again with a replay.
    event_id: str
    # The provider's id of the email, and the site's id of it if the provider sent
    # back the metadata the email carried.
    provider_message_id: str | None
    site_email_id: str | None
    occurred_at: datetime | None
    detail: str


class ReportOutcome(enum.Enum):
    # The email moved to the status the report stands for.
    APPLIED = "applied"
    # On the timeline, status unchanged: a report of no status (an open), an older or a
    # weaker one (deferred after delivered), or one about an earlier send.
    RECORDED = "recorded"
    # This report was applied before.
    REPEATED = "repeated"
    # It names no email of this site (another site's email on the same account).
    UNKNOWN = "unknown"


# What a report means for the email, for the types that mean anything.
REPORTED_STATUS: dict[str, str] = {
    "deferred": Email.Status.DEFERRED,
    "delivered": Email.Status.DELIVERED,
    "complained": Email.Status.COMPLAINED,
    "bounced": Email.Status.BOUNCED,
    "rejected": Email.Status.BOUNCED,
    "failed": Email.Status.BOUNCED,
}
# How far along the way after sending each status is. A report moves an email only
# further, so reports arriving out of order end where the last one sent would: a late
# "deferred" after "delivered" changes nothing, a bounce after "delivered" does.
REPORT_RANK: dict[str, int] = {
    Email.Status.SENT: 0,
    Email.Status.DEFERRED: 1,
    Email.Status.DELIVERED: 2,
    Email.Status.COMPLAINED: 3,
    Email.Status.BOUNCED: 3,
}


def email_report(report: Report) -> ReportOutcome:
    """Put a provider's report on the email's timeline, once, and move the email on
    if the report takes it further (REPORT_RANK), in one transaction."""
    try:
        with transaction.atomic():
            outcome, email_id = _record_report(report)
    except IntegrityError:
        # Recorded before: a replay. One whose move did not happen yet (it came while
        # the email was being sent) may finish it; moving on is forward-only.
        email = _reported_email(report)
        if email is not None:
            apply_waiting_reports(email)
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
        "report email_id=%s provider=%s event=%s outcome=%s",
        email_id,
        report.provider,
        report.event_type,
        outcome.value,
        extra={"email_id": email_id, "outcome": outcome.value},
    )
    return outcome


def _record_report(report: Report) -> tuple[ReportOutcome, int | None]:
    """email_report's transaction. The email's row is locked first, so a worker
    recording the send meanwhile either has done so (and the report moves the email
    now) or does so after this commits (and applies the report then:
    apply_waiting_reports)."""
    email = _reported_email(report, lock=True)
    if email is None:
        return ReportOutcome.UNKNOWN, None
    status = REPORTED_STATUS.get(report.event_type, "")
    moves = (
        bool(status)
        and REPORT_RANK.get(email.status, REPORT_RANK[status]) < REPORT_RANK[status]
        and _names_the_current_send(email, report.provider_message_id)
    )
    EmailEvent.objects.create(
        email=email,
        kind=EmailEvent.Kind.REPORT,
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
        return ReportOutcome.RECORDED, email.pk
    Email.objects.filter(pk=email.pk).update(status=status)
    if status in Email.NOT_DELIVERED:
        log_failure(email.pk, email.kind, f"{report.event_type}: {report.detail}")
    return ReportOutcome.APPLIED, email.pk


def _reported_email(report: Report, *, lock: bool = False) -> Email | None:
    """The email a report is about: by the id the email carried as metadata, else by
    the provider's id of the email. With `lock`, its row is locked until the end of the
    transaction."""
    emails = Email.objects.select_for_update() if lock else Email.objects.all()
    if report.site_email_id and report.site_email_id.isdecimal():
        found = emails.filter(pk=int(report.site_email_id)).first()
        if found is not None:
            return found
    if report.provider_message_id:
        return emails.filter(provider_message_id=report.provider_message_id).first()
    return None


def _move_on(email_id: int, status: str) -> bool:
    """Move a sent email to `status` if that is further along, in one conditional
    update."""
    earlier = [before for before, rank in REPORT_RANK.items() if rank < REPORT_RANK[status]]
    moved = Email.objects.filter(pk=email_id, status__in=earlier)
    return bool(moved.update(status=status))


def _names_the_current_send(email: Email, provider_message_id: str | None) -> bool:
    """Whether a report is about the email's current send: it names it by the id the
    provider answered with, or by the email's own Message-ID header, under which some
    providers report. A report that names no send (a bounce, named by its return path)
    is taken as the current one's; one naming any other id (an earlier send's, or
    another site's email that carried the same metadata) moves nothing."""
    if not provider_message_id:
        return True
    known = {email.provider_message_id or "", message_id_header(email)}
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


def apply_waiting_reports(email: Email) -> None:
    """Apply the furthest report not applied yet about the current send: one that came
    in before the send was recorded (a provider may report faster than the worker
    writes), or one whose move was cut short. Reports from before the email was last
    queued again (outbox.services.emails_retry) are about earlier sends."""
    waiting = email.events.filter(kind=EmailEvent.Kind.REPORT, applied=False).exclude(status="")
    last_retry = email.events.filter(kind=EmailEvent.Kind.RETRY).order_by("-pk").first()
    if last_retry is not None:
        waiting = waiting.filter(pk__gt=last_retry.pk)
    early = [
        event for event in waiting if _names_the_current_send(email, event.provider_message_id)
    ]
    if not early:
        return
    furthest = max(early, key=lambda event: REPORT_RANK.get(event.status, -1))
    if furthest.status in REPORT_RANK and _move_on(email.pk, furthest.status):
        EmailEvent.objects.filter(pk=furthest.pk).update(applied=True)
        if furthest.status in Email.NOT_DELIVERED:
            log_failure(email.pk, email.kind, f"{furthest.event_type}: {furthest.detail}")


def email_bounce(raw: bytes) -> ReportOutcome:
    """Record a mail from the bounce mailbox on the email its return path names, as a
    provider's report would be (email_report). UNKNOWN when it names none of ours: a
    stranger's mail, a forged or altered address, an email no longer here."""
    try:
        bounce = read_bounce(raw)
    except Exception:
        # A mail no parser can read must not stop the mailbox: it is kept unmatched.
        logger.exception("bounce_unreadable bytes=%d", len(raw))
        return ReportOutcome.UNKNOWN
    if bounce.email_id is None:
        return ReportOutcome.UNKNOWN
    return email_report(
        Report(
            provider="",
            # A mail that reports no delivery (an auto-reply) is kept on the timeline.
            event_type=bounce.event_type or "autoresponded",
            event_id=bounce.report_id,
            provider_message_id=None,
            site_email_id=str(bounce.email_id),
            occurred_at=bounce.occurred_at,
            detail=bounce.detail,
        )
    )
