"""Reading a bounce: what a mail server mailed back to an email's return path.

A delivery status notification (RFC 3464, `multipart/report;
report-type=delivery-status`) says per recipient whether the email failed, is delayed
or was delivered. The bounces of servers that send none (older Postfix, qmail, Exchange,
Gmail's own wording) are read by flufl.bounce. The email is named by the address the
bounce was mailed to (outbox.return_path), never by the bounce's content, so a forged
bounce names no email.

Anyone can mail the bounce address, so reading is ordered cheapest first: a mail over
BOUNCE_MAIL_MAX_BYTES is not parsed at all, one that names none of our emails is read
no further than its headers (and a DSN's envelope id), and only a named bounce reaches
flufl.bounce, whose heuristics see a bounded copy of its text (some of their patterns
take time cubic in a line's length).
"""

import email
import hashlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import Message as EmailMessage
from email.parser import BytesHeaderParser
from email.utils import getaddresses, parsedate_to_datetime

from django.conf import settings
from flufl.bounce import all_failures

from outbox.return_path import email_named_by, email_named_by_tag

logger = logging.getLogger(__name__)

# Where a delivered mail carries the address it was delivered to: the MTA's or the
# mailbox's own record of the envelope recipient, then the bounce's To.
ADDRESSED_TO = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To")
# A DSN's Action, in anymail's words (outbox.reports.REPORTED_STATUS), worst first.
ACTIONS = {"failed": "bounced", "delayed": "deferred", "delivered": "delivered"}
ACTIONS_ALSO = {"relayed": "delivered", "expanded": "delivered"}
DETAIL_MAX_LENGTH = 2000
# What flufl.bounce's heuristics are shown of a bounce: each line cut to this many
# characters, and this many characters of text in all. A bounce's report comes first
# and its lines are short; the copy of the email it carries below adds nothing.
HEURISTIC_LINE_MAX = 80
HEURISTIC_TEXT_MAX = 4 * 1024
# A header value longer than a line may be (RFC 5322) holds no return path of ours.
HEADER_VALUE_MAX = 998


@dataclass(frozen=True)
class Bounce:
    # The email the bounce names, or None: not one of ours, or a forged address.
    email_id: int | None
    # bounced, deferred or delivered; blank for a mail that reports no delivery (an
    # auto-reply, say).
    event_type: str
    # The same bounce read twice has the same id: the email's, and the mail's
    # Message-ID, else a digest of it.
    report_id: str
    occurred_at: datetime | None
    detail: str


def read_bounce(raw: bytes) -> Bounce:
    """Which email `raw` names and what it reports; a mail that names none is read
    no further."""
    if len(raw) > settings.BOUNCE_MAIL_MAX_BYTES:
        return _unnamed(raw)
    headers = BytesHeaderParser(policy=policy.compat32).parsebytes(raw)
    email_id = _named_by_headers(headers)
    mail: EmailMessage | None = None
    if email_id is None and headers.get_content_type() == "multipart/report":
        mail = email.message_from_bytes(raw)
        email_id = _named_by_envelope_id(mail)
    if email_id is None:
        return _unnamed(raw)
    if mail is None:
        mail = email.message_from_bytes(raw)
    event_type, detail = _delivery_status(mail) or _failures(_bounded(mail))
    return Bounce(
        email_id=email_id,
        event_type=event_type,
        # With the email it names: the same mail for two emails is two reports.
        report_id=f"bounce:m{email_id}:{_mail_id(mail, raw)}",
        occurred_at=_date(mail),
        detail=detail[:DETAIL_MAX_LENGTH],
    )


def _unnamed(raw: bytes) -> Bounce:
    return Bounce(
        email_id=None,
        event_type="",
        report_id="bounce:unnamed:sha256:" + hashlib.sha256(raw).hexdigest(),
        occurred_at=None,
        detail="",
    )


def _named_by_headers(mail: EmailMessage) -> int | None:
    """By the return path the bounce was mailed to."""
    for header in ADDRESSED_TO:
        values = [str(value) for value in mail.get_all(header, [])]
        values = [value for value in values if len(value) <= HEADER_VALUE_MAX]
        for _, address in getaddresses(values):
            if (email_id := email_named_by(address)) is not None:
                return email_id
    return None


def _named_by_envelope_id(mail: EmailMessage) -> int | None:
    """By the envelope id a DSN carries back (the return path's tag, asked for with the
    email: outbox.smtp)."""
    for block in _status_blocks(mail)[:1]:
        envelope_id = str(block.get("Original-Envelope-Id", "")).strip()
        if envelope_id and (email_id := email_named_by_tag(envelope_id)) is not None:
            return email_id
    return None


def _status_blocks(mail: EmailMessage) -> list[EmailMessage]:
    """The field blocks of an RFC 3464 report: the mail's, then each recipient's."""
    if mail.get_content_type() != "multipart/report":
        return []
    if str(mail.get_param("report-type", "")).lower() != "delivery-status":
        return []
    for part in mail.walk():
        if part.get_content_type() == "message/delivery-status":
            payload = part.get_payload()
            if isinstance(payload, list):
                return [block for block in payload if isinstance(block, EmailMessage)]
    return []


def _delivery_status(mail: EmailMessage) -> tuple[str, str] | None:
    """The worst Action of an RFC 3464 report, and its Status and Diagnostic-Code."""
    found = []
    for block in _status_blocks(mail)[1:]:
        action = str(block.get("Action", "")).strip().lower()
        event_type = ACTIONS.get(action) or ACTIONS_ALSO.get(action)
        if event_type:
            reasons = [str(block.get(name, "")).strip() for name in ("Status", "Diagnostic-Code")]
            found.append((event_type, "; ".join(reason for reason in reasons if reason)))
    if not found:
        return None
    worst = list(ACTIONS.values())
    return min(found, key=lambda item: worst.index(item[0]))


def _failures(mail: EmailMessage) -> tuple[str, str]:
    """A bounce in a server's own words, read by flufl.bounce."""
    try:
        temporary, permanent = all_failures(mail)
    except Exception:
        # Its heuristics index into what they expect to find; a mail without it reports
        # nothing they can read.
        logger.warning("flufl.bounce could not read a mail; taken as no report", exc_info=True)
        return "", ""
    if permanent:
        return "bounced", "Permanent failure for " + _addresses(permanent)
    if temporary:
        return "deferred", "Temporary failure for " + _addresses(temporary)
    return "", ""


def _bounded(mail: EmailMessage) -> EmailMessage:
    """`mail` with every leaf's decoded text cut to HEURISTIC_LINE_MAX characters a line
    and HEURISTIC_TEXT_MAX in all, in place: what a heuristic sees is bounded whatever
    the mail's encoding."""
    left = HEURISTIC_TEXT_MAX
    for part in mail.walk():
        if part.is_multipart() or isinstance(part.get_payload(), list):
            continue
        decoded = part.get_payload(decode=True)
        text = decoded.decode("ascii", errors="replace") if isinstance(decoded, bytes) else ""
        lines = [line[:HEURISTIC_LINE_MAX] for line in text.splitlines()]
        kept = "\n".join(lines)[:left]
        left -= len(kept)
        del part["Content-Transfer-Encoding"]
        part.set_payload(kept)
    return mail


def _addresses(found: frozenset[bytes]) -> str:
    return ", ".join(sorted(address.decode(errors="replace") for address in found))


def _mail_id(mail: EmailMessage, raw: bytes) -> str:
    message_id = str(mail.get("Message-ID", "")).strip()
    if message_id:
        return message_id[:200]
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _date(mail: EmailMessage) -> datetime | None:
    try:
        moment = parsedate_to_datetime(str(mail.get("Date", "")))
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
