"""A real SMTP server on loopback (aiosmtpd) that keeps what it accepts, and answers
DATA with programmed replies when told to (a 451 or a 550, say)."""

import asyncio
import email
import re
import socket
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from functools import cached_property

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


@dataclass
class ReceivedEmail:
    mail_from: str
    rcpt_tos: list[str]
    # The bytes of the email as the client sent them.
    content: bytes
    # The client's address and port: emails over one connection share it.
    client: tuple[str, int]
    # time.monotonic() when the server accepted it.
    received_at: float = field(default_factory=time.monotonic)
    # The MAIL FROM and RCPT TO parameters (RFC 3461's, from a DSN-offering sink).
    mail_options: list[str] = field(default_factory=list)
    rcpt_options: list[str] = field(default_factory=list)

    @cached_property
    def message(self) -> EmailMessage:
        # Parsed when a test first reads it, not as it arrives: the benchmarks send
        # thousands, and parsing each on arrival would spend the machine's CPU on the
        # stand-in rather than on the site under load.
        return email.message_from_bytes(self.content, policy=default_policy)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpSink:
    def __init__(self, *, dsn: bool = False) -> None:
        # With `dsn`, the server offers delivery status notifications (RFC 3461): it
        # says DSN to EHLO and takes RET, ENVID, NOTIFY and ORCPT.
        self.dsn = dsn
        self.port = free_port()
        self.received: list[ReceivedEmail] = []
        # Replies to the next DATA commands, in order; then "250" for all.
        self.replies: list[str] = []
        # Every DATA the server answered, with the reply given.
        self.attempts: list[str] = []
        # Seconds the server takes to answer each DATA: a slow provider.
        self.delay = 0.0
        self._controller: Controller | None = None

    def start(self) -> "SmtpSink":
        controller = _DsnController if self.dsn else Controller
        self._controller = controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def take(self, *, to: str, timeout: float = 30) -> ReceivedEmail:
        """Wait for an email to `to` and take it out of `received`: an account email read
        by a test's visitor, so that what remains is what the administrator received."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for received in list(self.received):
                # The site sends to the address as it stores it: in lower case.
                if to.lower() in (rcpt.lower() for rcpt in received.rcpt_tos):
                    self.received.remove(received)
                    return received
            time.sleep(0.05)
        raise AssertionError(f"no email to {to} within {timeout} s")

    def link(self, *, to: str, path: str, timeout: float = 30) -> str:
        """Take the next email to `to` and return the first link in it under `path`."""
        body = self.take(to=to, timeout=timeout).message.get_body(("plain",)).get_content()
        match = re.search(rf"https?://[^/\s]+({re.escape(path)}\S*)", body)
        assert match, f"no {path} link in the email to {to}:\n{body}"
        return match.group(1)

    def connections(self) -> int:
        """How many client connections the accepted emails came over."""
        return len({received.client for received in self.received})

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


class _DsnSMTP(SMTP):
    """aiosmtpd's server, taking RFC 3461's parameters, which it otherwise refuses."""

    DSN_PARAMETERS = {"RET", "ENVID", "NOTIFY", "ORCPT"}

    def _getparams(self, params):
        found = super()._getparams(params)
        if found is None:
            return None
        return {name: value for name, value in found.items() if name not in self.DSN_PARAMETERS}


class _DsnController(Controller):
    def factory(self):
        return _DsnSMTP(self.handler, **self.SMTP_kwargs)


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.sink.dsn:
            responses.insert(len(responses) - 1, "250-DSN")
        return responses

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.sink.delay:
            await asyncio.sleep(self.sink.delay)
        reply = self.sink.replies.pop(0) if self.sink.replies else "250 Message accepted"
        self.sink.attempts.append(reply)
        if reply.startswith("250"):
            self.sink.received.append(
                ReceivedEmail(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    envelope.content,
                    tuple(session.peer),
                    mail_options=list(envelope.mail_options),
                    rcpt_options=list(envelope.rcpt_options),
                )
            )
        return reply
