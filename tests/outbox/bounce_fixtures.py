"""The stored bounce mails (tests/outbox/bounce_mails/), addressed to a return path."""

import base64
import email
from email import policy
from pathlib import Path

MAILS = Path(__file__).parent / "bounce_mails"

# Each stored bounce and what it reports.
KINDS = {
    "postfix_01": "bounced",
    "dsn_01": "bounced",
    "dsn_05": "deferred",
    "exim_01": "bounced",
    "microsoft_01": "bounced",
    "simple_17": "bounced",
    "simple_28": "deferred",
    "qmail_01": "bounced",
}


def addressed(name: str, to: str, *, message_id: str | None = None) -> bytes:
    """Bounce `name` as the mailbox of `to` holds it: mailed, and delivered, to `to`."""
    mail = email.message_from_bytes((MAILS / f"{name}.eml").read_bytes(), policy=policy.compat32)
    for header in ("To", "Delivered-To", "X-Original-To"):
        del mail[header]
    mail["Delivered-To"] = to
    mail["To"] = to
    if message_id is not None:
        del mail["Message-ID"]
        mail["Message-ID"] = message_id
    return mail.as_bytes()


AUTO_REPLY = b"""From: Administrator <admin@example.org>
To: {to}
Subject: Out of office: Invoice
Auto-Submitted: auto-replied
Message-ID: <ooo-1@example.org>
Date: Wed, 02 Dec 2026 14:00:00 +0000
Content-Type: text/plain

I am away until Monday and will answer your message then.
"""


def auto_reply(to: str) -> bytes:
    return AUTO_REPLY.replace(b"{to}", to.encode())


# A Netscape-style bounce whose text part holds lines that flufl.bounce's Netscape
# pattern takes time cubic in the line's length to refuse; base64, so that the raw lines
# are short and only the decoded text is long.
def crafted(to: str, *, line: str = "<" * 998, lines: int = 100) -> bytes:
    text = "This Message was undeliverable due to the following reason:\n"
    text += "\n".join([line] * lines) + "\n"
    encoded = base64.encodebytes(text.encode()).decode()
    return (
        f"From: postmaster@example.net\nTo: {to}\nSubject: Undeliverable\nMIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=XX\n\n"
        f"--XX\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n{encoded}\n"
        "--XX\nContent-Type: text/plain\n\nThe end.\n--XX--\n"
    ).encode()
