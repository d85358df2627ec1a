"""The Dramatiq actors that send email: one on each queue (outbox.kinds.QUEUES), all
alike. The work is email_send's; what is declared here is how the queue treats each
outcome."""

import dramatiq
from django.conf import settings

from outbox import kinds
from outbox.failures import DeliveryDeferred, DeliveryFailed
from outbox.services import email_send


def send_email(email_id: int) -> None:
    try:
        email_send(email_id=email_id)
    except DeliveryDeferred as deferred:
        # Expected and recorded on the row: retry after the row's backoff, and keep the
        # traceback out of the error log.
        raise dramatiq.Retry(str(deferred), delay=int(deferred.retry_in * 1000)) from deferred


def _actor(queue_name: str, actor_name: str) -> dramatiq.Actor[[int], None]:
    declare = dramatiq.actor(
        actor_name=actor_name,
        queue_name=queue_name,
        # The row counts the attempts and says when to stop (MESSAGE_MAX_ATTEMPTS), so
        # the broker sets no cap of its own: a worker crash, which Dramatiq does not
        # count as a retry, still counts on the row.
        max_retries=None,
        # Already recorded as failed (SMTP 5xx, bad credentials, a bad header, attempts
        # used up): retrying cannot help.
        throws=(DeliveryFailed,),
        # An attempt past its bound (SMTP and directory timeouts, with a margin) is cut
        # off; the row's lease ends at the same moment, so no two attempts overlap.
        time_limit=settings.MESSAGE_ATTEMPT_TIME_LIMIT * 1000,
        # Pace for unexpected errors, such as the database being down before a row could
        # be claimed; transient send failures bring their own delay (see above).
        min_backoff=1_000,
        max_backoff=300_000,
    )
    return declare(send_email)


# Declared on import, in every process (outbox.apps), so each queue exists on the broker
# before any worker starts consuming.
ACTORS: dict[str, dramatiq.Actor[[int], None]] = {
    kinds.QUEUE_DEFAULT: _actor(kinds.QUEUE_DEFAULT, "send_email"),
    kinds.QUEUE_ACCOUNT: _actor(kinds.QUEUE_ACCOUNT, "send_account_email"),
}


def enqueue(email_id: int, kind: str) -> None:
    """Hand one email to the broker, on its kind's queue."""
    ACTORS[kinds.queue_of(kind)].send(email_id)
