"""Where a message is, told to the person who wrote it, in plain words.

The admin shows the delivery record as it is (status, attempts, the SMTP error); the
person sees the same row as a few words and a timeline, without the technical detail
of the site's mail server. Both "queued" and "sending" are "on its way" to them, which
is also what the confirmation after a send says.
"""

from dataclasses import dataclass
from datetime import datetime

from django.utils.translation import gettext, ngettext

from contact.models import Message


@dataclass(frozen=True)
class Progress:
    # on-its-way, sent or failed: the CSS class and the tests' handle.
    kind: str
    label: str


@dataclass(frozen=True)
class Step:
    kind: str
    when: datetime | None
    text: str


def progress(message: Message) -> Progress:
    if message.status == Message.Status.SENT:
        return Progress("sent", gettext("Sent"))
    if message.status == Message.Status.FAILED:
        return Progress("failed", gettext("Not delivered"))
    if message.attempts and message.status == Message.Status.QUEUED:
        return Progress("on-its-way", gettext("On its way (trying again)"))
    return Progress("on-its-way", gettext("On its way"))


def timeline(message: Message) -> list[Step]:
    """What has happened to the message so far, oldest first."""
    steps = [Step("written", message.created_at, gettext("You wrote it."))]
    # While queued every attempt so far failed; while sending or once sent, the last
    # one is the current or the good one. A failed message says it all in one step.
    failed_attempts = {
        Message.Status.QUEUED: message.attempts,
        Message.Status.SENDING: message.attempts - 1,
        Message.Status.SENT: message.attempts - 1,
    }.get(Message.Status(message.status), 0)
    if failed_attempts > 0:
        steps.append(
            Step(
                "retried",
                None,
                ngettext(
                    "The first attempt did not get through.",
                    "%(count)d attempts did not get through.",
                    failed_attempts,
                )
                % {"count": failed_attempts},
            )
        )
    if message.status == Message.Status.QUEUED:
        if message.attempts:
            steps.append(
                Step("queued", message.next_attempt_at, gettext("The site will try again."))
            )
        else:
            steps.append(Step("queued", None, gettext("Waiting to be sent.")))
    elif message.status == Message.Status.SENDING:
        steps.append(Step("sending", None, gettext("Being sent now.")))
    elif message.status == Message.Status.SENT:
        steps.append(
            Step(
                "sent",
                message.sent_at,
                gettext("Handed to the administrator's mail server."),
            )
        )
    else:
        steps.append(
            Step(
                "failed",
                None,
                ngettext(
                    "It did not reach the administrator: the site gave up after %(count)d attempt.",
                    "It did not reach the administrator: the site gave up after "
                    "%(count)d attempts.",
                    max(message.attempts, 1),
                )
                % {"count": max(message.attempts, 1)},
            )
        )
    return steps
