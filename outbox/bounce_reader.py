"""The bounce reader: reads the mailbox BOUNCE_ADDRESS delivers to over IMAP, records
each mail on the timeline of the email its return path names
(outbox.reports.email_bounce), then moves it to a folder: Processed once recorded,
Unmatched when it names no email of ours. A mail over BOUNCE_MAIL_MAX_BYTES goes to
Unmatched unfetched. Nothing is deleted.

A mail is moved only after it is recorded, and recording is idempotent (each bounce's
id under a unique constraint), so a reader killed mid-batch, a dropped connection, or
two readers on the same mailbox apply each bounce exactly once: what was recorded and
not moved is read again, found recorded, and moved.

BounceReader runs a round every BOUNCE_READ_INTERVAL seconds beside every worker, as
the sweeper does; `manage.py read_bounces` runs one.
"""

import contextlib
import imaplib
import ipaddress
import logging
import re
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import dramatiq
from django.conf import settings
from django.core.cache import cache
from django.db import close_old_connections, connections

from outbox.workers import BackgroundThreadMiddleware

if TYPE_CHECKING:
    from outbox.reports import ReportOutcome

logger = logging.getLogger(__name__)

# Mails one round takes at most; the next round takes the rest.
ROUND_LIMIT = 200
# The cache key of the one round under way. It is renewed after each mail and lasts
# this long past the slowest IMAP operation: a reader that died holds it no longer.
LOCK = "outbox.bounce_reader.round"
LOCK_MARGIN_SECONDS = 10
RFC822_SIZE = re.compile(rb"RFC822\.SIZE (\d{1,12})")


class MailboxUnavailable(Exception):
    """The bounce mailbox could not be reached or read; the next round tries again."""


@dataclass(frozen=True)
class Mailbox:
    tls: bool
    host: str
    port: int
    user: str
    password: str
    folder: str


def mailbox(url: str) -> Mailbox:
    """BOUNCE_IMAP_URL read: imaps:// (TLS, port 993) or imap:// (port 143)."""
    parts = urlsplit(url)
    if parts.scheme not in ("imaps", "imap") or not parts.hostname or not parts.username:
        raise MailboxUnavailable(
            "BOUNCE_IMAP_URL must look like imaps://user:password@host[:port]/[folder]"
        )
    tls = parts.scheme == "imaps"
    return Mailbox(
        tls=tls,
        host=parts.hostname,
        port=parts.port or (993 if tls else 143),
        user=unquote(parts.username),
        password=unquote(parts.password or ""),
        folder=unquote(parts.path.lstrip("/")) or "INBOX",
    )


@dataclass
class Round:
    """What one round did, mail by mail."""

    read: int = 0
    applied: int = 0
    recorded: int = 0
    repeated: int = 0
    unmatched: int = 0

    def count(self, outcome: "ReportOutcome") -> None:
        self.read += 1
        name = "unmatched" if outcome.value == "unknown" else outcome.value
        setattr(self, name, getattr(self, name) + 1)

    def __str__(self) -> str:
        return (
            f"read={self.read} applied={self.applied} recorded={self.recorded} "
            f"repeated={self.repeated} unmatched={self.unmatched}"
        )


def read_bounces(url: str | None = None, *, limit: int = ROUND_LIMIT) -> Round:
    """One round over the mailbox. Raises MailboxUnavailable when IMAP fails; what was
    recorded before stays recorded, and the mails not moved yet are read again."""
    box = mailbox(url or settings.BOUNCE_IMAP_URL)
    done = Round()
    # One reader at a time: two sessions moving the same mail may leave it in the folder
    # twice. Another reader's round under way, this one has nothing to do. Should a
    # round outlast its lock, the records still hold each bounce once.
    if not cache.add(LOCK, "held", timeout=_lock_seconds()):
        return done
    try:
        _read(box, done, limit=limit)
    finally:
        cache.delete(LOCK)
    if done.read:
        logger.info("bounce_round %s", done, extra={"outcome": str(done)})
    return done


def _read(box: Mailbox, done: Round, *, limit: int) -> None:
    # Not at import: the broker's middleware, this module's BounceReader among them, is
    # loaded before the models are.
    from outbox.reports import ReportOutcome, email_bounce

    try:
        with _connected(box) as imap:
            for folder in (
                settings.BOUNCE_IMAP_PROCESSED_FOLDER,
                settings.BOUNCE_IMAP_UNMATCHED_FOLDER,
            ):
                # Answered NO when it exists already, which is all the same here.
                imap.create(_quoted(folder))
            _ok(imap.select(_quoted(box.folder)), "SELECT")
            found = _ok(imap.uid("SEARCH", "ALL"), "SEARCH")
            uids = [uid.decode() for uid in (found[0] or b"").split()[:limit]]
            # Asked again once signed in: servers list MOVE only to a user.
            capabilities = _ok(imap.capability(), "CAPABILITY")
            movable = b"MOVE" in (capabilities[0] or b"").upper().split()
            for uid in uids:
                size = _size(imap, uid)
                if size is None:
                    # Moved by another reader since the search.
                    continue
                if size > settings.BOUNCE_MAIL_MAX_BYTES:
                    # Never fetched: its size alone says it is no bounce of ours.
                    logger.warning("bounce_too_large uid=%s bytes=%d; set aside unread", uid, size)
                    outcome = ReportOutcome.UNKNOWN
                elif (raw := _fetched(imap, uid)) is None:
                    continue
                else:
                    outcome = email_bounce(raw)
                done.count(outcome)
                cache.touch(LOCK, _lock_seconds())
                to = (
                    settings.BOUNCE_IMAP_UNMATCHED_FOLDER
                    if outcome is ReportOutcome.UNKNOWN
                    else settings.BOUNCE_IMAP_PROCESSED_FOLDER
                )
                _move(imap, uid, to, movable=movable)
    except (imaplib.IMAP4.error, OSError) as error:
        raise MailboxUnavailable(f"{type(error).__name__}: {error}") from error


def on_loopback(host: str) -> bool:
    """Whether `host` is this machine: localhost, or an address in 127.0.0.0/8 or ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _lock_seconds() -> float:
    return float(settings.BOUNCE_IMAP_TIMEOUT) + LOCK_MARGIN_SECONDS


class _connected:
    """An IMAP session, logged in, logged out on leaving."""

    def __init__(self, box: Mailbox) -> None:
        self.box = box

    def __enter__(self) -> imaplib.IMAP4:
        timeout = settings.BOUNCE_IMAP_TIMEOUT
        if self.box.tls:
            context = ssl.create_default_context()
            self.imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                self.box.host, self.box.port, ssl_context=context, timeout=timeout
            )
        else:
            self.imap = imaplib.IMAP4(self.box.host, self.box.port, timeout=timeout)
        try:
            if not self.box.tls and not on_loopback(self.box.host):
                # The password never crosses a network in clear: off this machine,
                # imap:// signs in only after STARTTLS, with the certificate verified.
                self.imap.starttls(ssl_context=ssl.create_default_context())
            self.imap.login(self.box.user, self.box.password)
        except BaseException:
            # Refused: the connection is closed, not left to the garbage collector.
            self.imap.shutdown()
            raise
        return self.imap

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            self.imap.logout()


def _ok(answer: tuple[str, list[Any]], command: str) -> list[Any]:
    kind, data = answer
    if kind != "OK":
        raise imaplib.IMAP4.error(f"{command} answered {kind}: {data!r}")
    return data


def _size(imap: imaplib.IMAP4, uid: str) -> int | None:
    """The mail's size in bytes as the server counts it, or None when it is gone."""
    data = _ok(imap.uid("FETCH", uid, "(RFC822.SIZE)"), "FETCH")
    for item in data:
        if isinstance(item, bytes) and (found := RFC822_SIZE.search(item)):
            return int(found[1])
    return None


def _fetched(imap: imaplib.IMAP4, uid: str) -> bytes | None:
    data = _ok(imap.uid("FETCH", uid, "(BODY.PEEK[])"), "FETCH")
    for item in data:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
            return item[1]
    return None


def _move(imap: imaplib.IMAP4, uid: str, folder: str, *, movable: bool) -> None:
    """Move one mail: RFC 6851's MOVE, else a copy, then the original marked deleted and
    expunged at once, so that a reader killed after it leaves no second copy behind."""
    if movable:
        imap.uid("MOVE", uid, _quoted(folder))
        return
    kind, _ = imap.uid("COPY", uid, _quoted(folder))
    if kind == "OK":
        imap.uid("STORE", uid, "+FLAGS.SILENT", r"(\Deleted)")
        imap.expunge()


def _quoted(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


class BounceReader(BackgroundThreadMiddleware):
    """Reads the bounce mailbox every BOUNCE_READ_INTERVAL seconds, when BOUNCE_IMAP_URL
    is set, beside every worker."""

    thread_name = "bounce-reader"

    def run(self, broker: dramatiq.Broker) -> None:
        if not settings.BOUNCE_IMAP_URL:
            return
        while not self.stopping.wait(settings.BOUNCE_READ_INTERVAL):
            self.read_once()

    @staticmethod
    def read_once() -> None:
        close_old_connections()
        try:
            read_bounces()
        except MailboxUnavailable as error:
            logger.warning("Bounce mailbox unavailable: %s", error)
        except Exception:
            # The database may be down: the next round tries again.
            logger.exception("Bounce reader round failed.")
        finally:
            connections.close_all()
