"""Tracking webhook bodies as Postmark and Mailgun post them.

Each builder starts from a payload of django-anymail's own webhook tests (which took them
from the providers' documentation and from real, sanitised posts), with the provider's
id, the metadata, the recipient and the event ids filled in for the email under test.
"""

import base64
import hashlib
import hmac
import json
import uuid
from datetime import datetime
from typing import Any

from django.utils import timezone

from outbox.envelope import METADATA_KEY

WEBHOOK_SECRET = "tracker:webhook-secret-for-tests"
MAILGUN_SIGNING_KEY = "mailgun-signing-key-for-tests"
POSTMARK_URL = "/anymail/postmark/tracking/"
MAILGUN_URL = "/anymail/mailgun/tracking/"
BACKENDS = {
    "postmark": "anymail.backends.postmark.EmailBackend",
    "mailgun": "anymail.backends.mailgun.EmailBackend",
}
# The test client's headers of a post with the secret, as the providers send it.
AUTH = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(WEBHOOK_SECRET.encode()).decode()}


def webhook_settings(settings, provider: str = "postmark") -> None:
    """What an operator sets to send through `provider`, postmark or mailgun, and take
    its reports (EMAIL_BACKEND and ANYMAIL_* in the environment). Mailgun's signing key
    is set either way, as a key left over from another provider would be."""
    settings.EMAIL_BACKEND = BACKENDS[provider]
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "WEBHOOK_SECRET": [WEBHOOK_SECRET],
        "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_SIGNING_KEY,
    }


# ---------------------------------------------------------------- Postmark


def postmark(
    kind: str,
    message_id: str,
    *,
    site_email: int | None = None,
    to: str = "admin@example.org",
    at: datetime | None = None,
) -> dict[str, Any]:
    """A Postmark tracking post of `kind`: delivery, hard-bounce, transient (a deferral),
    spam-complaint, open or click, of an event at `at` (now), about the email the site
    calls `site_email` (its metadata) sent to `to`. Bounces and complaints carry an ID
    of their own; deliveries, opens and clicks carry none."""
    # Postmark writes its times with seven decimals and an offset.
    when = (at or timezone.now()).astimezone(timezone.get_fixed_timezone(-300))
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S.%f0%z")
    stamp = f"{stamp[:-2]}:{stamp[-2:]}"
    metadata = {METADATA_KEY: str(site_email)} if site_email is not None else {}
    if kind == "delivery":
        return {
            "RecordType": "Delivery",
            "ServerID": 23,
            "MessageID": message_id,
            "Recipient": to,
            "Tag": "",
            "Metadata": metadata,
            "DeliveredAt": stamp,
            "Details": "smtp;250 2.0.0 OK 1701523690 a1si2830741qkb.120 - gsmtp",
        }
    if kind in ("hard-bounce", "transient", "spam-complaint"):
        bounce_type, name = {
            "hard-bounce": ("HardBounce", "Hard bounce"),
            "transient": ("Transient", "Message delayed"),
            "spam-complaint": ("SpamComplaint", "Spam complaint"),
        }[kind]
        return {
            "RecordType": "SpamComplaint" if kind == "spam-complaint" else "Bounce",
            "ID": uuid.uuid4().int % 10**9,
            "Type": bounce_type,
            "TypeCode": {"HardBounce": 1, "Transient": 2, "SpamComplaint": 512}[bounce_type],
            "ServerID": 23,
            "Name": name,
            "MessageID": message_id,
            "Metadata": metadata,
            "Description": "The server was unable to deliver your message"
            " (ex: unknown user, mailbox not found).",
            "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
            "Email": to,
            "From": "site@example.org",
            "BouncedAt": stamp,
            "DumpAvailable": True,
            "Inactive": kind == "hard-bounce",
            "CanActivate": True,
            "Subject": "Postmark event test",
        }
    if kind in ("open", "click"):
        report: dict[str, Any] = {
            "RecordType": "Open" if kind == "open" else "Click",
            "FirstOpen": True,
            "Client": {"Name": "Gmail", "Company": "Google", "Family": "Gmail"},
            "OS": {"Name": "unknown", "Company": "unknown", "Family": "unknown"},
            "Platform": "Unknown",
            "UserAgent": "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0",
            "ReadSeconds": 0,
            "Geo": {},
            "MessageID": message_id,
            "Metadata": metadata,
            "ReceivedAt": stamp,
            "Recipient": to,
        }
        if kind == "click":
            report["OriginalLink"] = "https://site.example.org/admin/contact/message/1/change/"
        return report
    raise ValueError(kind)


# ---------------------------------------------------------------- Mailgun


def mailgun(
    kind: str,
    message_id: str,
    *,
    site_email: int | None = None,
    to: str = "admin@example.org",
    token: str | None = None,
    signing_key: str = MAILGUN_SIGNING_KEY,
    at: datetime | None = None,
) -> dict[str, Any]:
    """A Mailgun (webhooks API v3, JSON) tracking post of `kind`: delivered,
    failed-permanent (a bounce), failed-temporary (a deferral), rejected, complained or
    opened, about the email the site calls `site_email` (its user variables) sent to
    `to`; signed with `signing_key`. The token is the event's id."""
    # Mailgun's message-id carries no angle brackets; anymail adds them.
    bare_id = message_id.strip("<>")
    event_data: dict[str, Any] = {
        "timestamp": (at or timezone.now()).timestamp(),
        "id": uuid.uuid4().hex[:22],
        "recipient": to,
        "recipient-domain": to.rpartition("@")[2],
        "tags": [],
        "user-variables": {METADATA_KEY: str(site_email)} if site_email is not None else {},
        "log-level": "info",
        "message": {
            "headers": {
                "to": to,
                "message-id": bare_id,
                "from": "site@example.org",
                "subject": "Testing",
            },
            "attachments": [],
            "size": 809,
        },
    }
    if kind == "delivered":
        event_data |= {
            "event": "delivered",
            "delivery-status": {
                "tls": True,
                "mx-host": "smtp-in.example.org",
                "attempt-no": 1,
                "description": "",
                "session-seconds": 3.57,
                "utf8": True,
                "code": 250,
                "message": "OK",
                "certificate-verified": True,
            },
        }
    elif kind == "failed-permanent":
        event_data |= {
            "event": "failed",
            "severity": "permanent",
            "reason": "bounce",
            "log-level": "error",
            "delivery-status": {
                "mx-host": "aspmx.l.example.org",
                "attempt-no": 1,
                "description": "",
                "code": 550,
                "message": "5.1.1 The email account that you tried to reach does not exist.",
            },
        }
    elif kind == "failed-temporary":
        event_data |= {
            "event": "failed",
            "severity": "temporary",
            "reason": "generic",
            "log-level": "warn",
            "delivery-status": {
                "attempt-no": 3,
                "description": "No MX for example.org",
                "retry-seconds": 1800,
                "code": 498,
                "message": "No MX for example.org",
            },
        }
    elif kind == "rejected":
        event_data |= {
            "event": "rejected",
            "log-level": "warn",
            "reject": {
                "reason": "Sandbox subdomains are for test purposes only.",
                "description": "",
            },
        }
    elif kind in ("complained", "opened"):
        event_data |= {"event": kind, "log-level": "warn" if kind == "complained" else "info"}
    else:
        raise ValueError(kind)
    return sign_mailgun(
        {"event-data": event_data}, token=token or uuid.uuid4().hex, signing_key=signing_key
    )


def sign_mailgun(payload: dict[str, Any], *, token: str, signing_key: str) -> dict[str, Any]:
    try:
        timestamp = str(int(payload["event-data"]["timestamp"]))
    except (KeyError, TypeError, ValueError, OverflowError):
        # A fuzzed report's time may be anything; the signature is over some time all the same.
        timestamp = "1764682637"
    signature = hmac.new(
        key=signing_key.encode("ascii"),
        msg=f"{timestamp}{token}".encode("ascii"),
        digestmod=hashlib.sha256,
    ).hexdigest()
    return {
        **payload,
        "signature": {"timestamp": timestamp, "token": token, "signature": signature},
    }


def body(payload: object) -> bytes:
    return json.dumps(payload).encode()
