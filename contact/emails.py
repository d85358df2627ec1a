"""The email the administrator receives for each message."""

import json
from collections.abc import Sequence
from email.header import Header
from typing import Any
from urllib.parse import urlsplit

from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.core.mail import BadHeaderError, EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from contact.directory import DirectoryLookup
from contact.models import Message
from outbox.addresses import read_back, valid_address

DIRECTORY_ATTACHMENT_NAME = "directory-user.json"


def admin_email(message: Message, lookup: DirectoryLookup) -> EmailMultiAlternatives:
    """The email for `message`: to every address in ADMIN_EMAIL, replies to the sender,
    and everything the directory knows of the sender attached.

    Subject, plain-text body and its HTML alternative come from templates, in
    LANGUAGE_CODE, each with a link to the message's admin page under SITE_URL. The
    sender's subject is the only text of theirs in a header, forced onto one line here and
    checked again by Django's header checks; the directory's data stays in the bodies and
    the attachment. The outbox marks it as the message's email (outbox.envelope).
    """
    context = {
        "message": message,
        "lookup": lookup,
        "directory": Message.DirectoryStatus,
        "attachment_name": DIRECTORY_ATTACHMENT_NAME,
        "admin_url": admin_url(message),
        "quoted_body": quoted(message.body),
    }
    # In the site's language, whichever language the request or thread that asked is in.
    with translation.override(settings.LANGUAGE_CODE):
        subject = render_to_string("contact/email/subject.txt", context)
        body = render_to_string("contact/email/body.txt", context)
        html = render_to_string("contact/email/body.html", context)
    email = EmailMultiAlternatives(
        subject=as_typed("".join(subject.splitlines())),
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=admin_addresses(),
        reply_to=[message.sender_email],
    )
    check_addresses(email)
    email.attach_alternative(html, "text/html")
    if lookup.users:
        attachment = json.dumps(lookup.users, indent=2, ensure_ascii=False) + "\n"
        email.attach(DIRECTORY_ATTACHMENT_NAME, attachment.encode(), "application/json")
    return email


def admin_addresses() -> list[str]:
    """The administrators' addresses: ADMIN_EMAIL, comma separated. The one reading of it,
    which the email to the administrator and the system check both follow."""
    return [address.strip() for address in settings.ADMIN_EMAIL.split(",") if address.strip()]


def admin_url(message: Message) -> str:
    """The absolute address of `message`'s page in the admin."""
    path = reverse("admin:contact_message_change", args=[message.pk])
    return f"{settings.SITE_URL}{path}"


def as_typed(subject: str) -> str:
    """A subject that reads in the administrator's mail program as the person typed it.

    Plain ASCII goes into the header as it is, so an encoded word typed into it
    ("=?utf-8?b?...?=") would be decoded by the reader into other text. Such a subject
    is written as an encoded word itself, which decodes to exactly what was typed.
    """
    if "=?" in subject:
        # One line of short encoded words: the spaces between them are dropped when read,
        # and each is short enough for Django's own folding to leave the first in place.
        return Header(subject, "utf-8", maxlinelen=60).encode(linesep=" ")
    return subject


def check_addresses(email: EmailMultiAlternatives) -> None:
    """Refuse an email whose address headers would not read back as one address each.

    Each header is written as Django will write it, then read as a mail program reads
    it: a control character or any other defect, or a second address, and the email is
    malformed. BadHeaderError makes that a permanent failure (outbox.failures): it
    would be as malformed on every attempt.
    """
    for name, addresses in (("To", email.to), ("Reply-To", email.reply_to)):
        for address in addresses:
            if read_back(name, address, email.encoding) is None:
                raise BadHeaderError(f"{name} {address!r} cannot be written as one address")


def quoted(body: str) -> str:
    """The person's text with every line marked as theirs ("> ", as mail quotes), so
    that nothing they write can pass for a line the site adds below it."""
    # Every line break Python knows (U+2028 and a bare CR too, which some clients show).
    return "\n".join(f"> {line}" if line else ">" for line in body.splitlines()) or ">"


ADMIN_EMAIL_HINT = (
    "Set ADMIN_EMAIL to the administrator's address, such as admin@example.org; several, "
    "comma separated."
)


@checks.register()
def check_email_addresses(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    # At every start, not only with --deploy: with an address that cannot be written,
    # every email fails at its first attempt, long after the start that could have said so.
    errors: list[checks.CheckMessage] = []
    administrators = admin_addresses()
    if not administrators:
        errors.append(
            checks.Error(
                "ADMIN_EMAIL is empty: every message to the administrator would fail.",
                hint=ADMIN_EMAIL_HINT,
                id="contact.E001",
            )
        )
    errors += [
        checks.Error(
            f"ADMIN_EMAIL holds {address!r}, which is not an email address.",
            hint=ADMIN_EMAIL_HINT,
            id="contact.E001",
        )
        for address in administrators
        if not valid_address(address)
    ]
    return errors


@checks.register(checks.Tags.security, deploy=True)
def check_site_url(
    app_configs: Sequence[AppConfig] | None, **kwargs: Any
) -> list[checks.CheckMessage]:
    # In production the site is served over HTTPS: an http:// SITE_URL, the localhost
    # default among them, gives the administrator links that miss the site or go in clear.
    if settings.DEBUG or urlsplit(settings.SITE_URL).scheme == "https":
        return []
    return [
        checks.Warning(
            f"SITE_URL is {settings.SITE_URL!r}, not an https:// address; the admin links "
            "in the emails to the administrator start with it.",
            hint="Set SITE_URL to the site's public address, e.g. https://site.example.org.",
            id="contact.W001",
        )
    ]
