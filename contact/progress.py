"""Where a message is, told to the person who wrote it, in plain words.

The admin shows the delivery record as it is (status, attempts, the mail server's
replies, the provider's reports); the person sees the same record as a few words and a
timeline, without the technical detail. Both "queued" and "sending" are "on its way" to
them, which is also what the confirmation after a send says.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy, ngettext

from contact.models import Message
from outbox.models import Email, EmailEvent
from outbox.smtp import through_provider


@dataclass(frozen=True)
class Progress:
    # on-its-way, sent, delivered or failed: the CSS class and the tests' handle.
    kind: str
    label: str


@dataclass(frozen=True)
class Step:
    kind: str
    when: datetime | None
    text: str


def progress(message: Message) -> Progress:
    email = message.email
    status = email.status
    if status == Email.Status.SENT:
        return Progress("sent", gettext("Sent"))
    if status == Email.Status.DELIVERED:
        return Progress("delivered", gettext("Delivered"))
    if status == Email.Status.COMPLAINED:
        return Progress("delivered", gettext("Delivered (filed as spam)"))
    if status in Email.NOT_DELIVERED:
        return Progress("failed", gettext("Not delivered"))
    if status == Email.Status.DEFERRED:
        return Progress("on-its-way", gettext("On its way (delayed)"))
    if email.attempts and status == Email.Status.QUEUED:
        return Progress("on-its-way", gettext("On its way (trying again)"))
    return Progress("on-its-way", gettext("On its way"))


# How often a page showing messages asks for them again: soon while the site is still
# sending one, seldom while a sent one's fate is yet to be reported by the provider, for
# as long as a report may reasonably come.
SENDING_POLL = "3s"
REPORT_POLL = "30s"
REPORT_WAIT = timedelta(days=1)


def poll_every(messages: Iterable[Message]) -> str | None:
    """The page's polling interval for htmx's `every`, or None once nothing can change."""
    shown = list(messages)
    if any(message.email.status in Email.IN_PROGRESS for message in shown):
        return SENDING_POLL
    since = timezone.now() - REPORT_WAIT
    awaiting = (Email.Status.SENT, Email.Status.DEFERRED)
    if reports_expected() and any(
        message.email.status in awaiting and message.created_at > since for message in shown
    ):
        return REPORT_POLL
    return None


def reports_expected() -> bool:
    """Whether a provider's reports can move a sent message on: an anymail backend with
    its tracking webhooks on (outbox.webhooks)."""
    return through_provider() and bool(settings.ANYMAIL.get("WEBHOOK_SECRET"))


# What each report of the provider tells the person; the rest (opens, clicks) is the
# administrator's business.
REPORT_STEPS = {
    Email.Status.DEFERRED: (
        "deferred",
        gettext_lazy(
            "The administrator's mail system has not accepted it yet; the mail service "
            "keeps trying."
        ),
    ),
    Email.Status.DELIVERED: (
        "delivered",
        gettext_lazy("Delivered to the administrator's mailbox."),
    ),
    Email.Status.COMPLAINED: (
        "complained",
        gettext_lazy("The administrator's mail system filed it as spam."),
    ),
    Email.Status.BOUNCED: (
        "bounced",
        gettext_lazy("The administrator's mail system refused it."),
    ),
}


def timeline(message: Message) -> list[Step]:
    """What has happened to the message so far, oldest first."""
    steps = [Step("written", message.created_at, gettext("You wrote it."))]
    events = message.email.events.all()
    steps += [step for event in events if (step := _event_step(event)) is not None]
    steps += _now(message.email)
    return steps


def _event_step(event: EmailEvent) -> Step | None:
    if event.kind == EmailEvent.Kind.ATTEMPT:
        if event.event_type == "sent":
            text = gettext("Handed to the administrator's mail server.")
            return Step("sent", event.occurred_at, text)
        return Step("retried", event.occurred_at, gettext("An attempt did not get through."))
    if event.status in REPORT_STEPS:
        kind, told = REPORT_STEPS[Email.Status(event.status)]
        return Step(kind, event.occurred_at, str(told))
    return None


def _now(email: Email) -> list[Step]:
    """Where the message's email is now, when the steps so far do not say it."""
    if email.status == Email.Status.QUEUED:
        if email.attempts:
            return [Step("queued", email.next_attempt_at, gettext("The site will try again."))]
        return [Step("queued", None, gettext("Waiting to be sent."))]
    if email.status == Email.Status.SENDING:
        return [Step("sending", None, gettext("Being sent now."))]
    if email.status == Email.Status.FAILED:
        attempts = max(email.attempts, 1)
        text = ngettext(
            "It did not reach the administrator: the site gave up after %(count)d attempt.",
            "It did not reach the administrator: the site gave up after %(count)d attempts.",
            attempts,
        )
        return [Step("failed", None, text % {"count": attempts})]
    return []
