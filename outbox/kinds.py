"""The kinds of email the site sends. Each app registers its own in its AppConfig.ready
(a name, a label, a queue and the function that renders a row), and the outbox does the
rest: queueing, relaying, sending, retrying, sweeping and tracking are the same for all.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.core.mail import EmailMessage
from django_stubs_ext import StrOrPromise

if TYPE_CHECKING:
    from outbox.models import Email

# The broker's queues (outbox.tasks declares an actor on each). A person waiting for a
# link never waits behind a backlog of messages to the administrator.
QUEUE_DEFAULT = "email"
QUEUE_ACCOUNT = "account"
QUEUES = (QUEUE_DEFAULT, QUEUE_ACCOUNT)


@dataclass(frozen=True)
class EmailKind:
    name: str
    label: StrOrPromise
    # Renders the email of a row, in the worker, at each attempt: so links carry tokens
    # that are never stored, and the row holds no copy of the text. None when there is
    # nobody to send it to any more; the row is then deleted.
    render: Callable[["Email"], EmailMessage | None]
    queue: str = QUEUE_DEFAULT


_registry: dict[str, EmailKind] = {}


def register(kind: EmailKind) -> None:
    if kind.queue not in QUEUES:
        raise ValueError(
            f"Email kind {kind.name!r} names queue {kind.queue!r}, not one of {QUEUES}."
        )
    _registry[kind.name] = kind


class UnknownKind(LookupError):
    """No app registered the kind an email names: it cannot be rendered, now or later."""


def get(name: str) -> EmailKind:
    try:
        return _registry[name]
    except KeyError:
        raise UnknownKind(f"No email kind {name!r} is registered.") from None


def queue_of(name: str) -> str:
    """The queue an email of kind `name` goes on; the default one for a kind no app
    registered, where its worker records it failed."""
    kind = _registry.get(name)
    return kind.queue if kind is not None else QUEUE_DEFAULT


def kind_choices() -> list[tuple[str, StrOrPromise]]:
    """The choices of Email.kind: every registered kind, as the admin filters by them."""
    return [(kind.name, kind.label) for kind in _registry.values()]
