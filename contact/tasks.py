"""The Dramatiq actor that delivers messages. The work is message_deliver's; what is
declared here is how the queue treats each outcome."""

import dramatiq
from django.conf import settings

from contact.services import message_deliver
from site_config.outbox import DeliveryDeferred, DeliveryFailed


@dramatiq.actor(
    queue_name="email",
    # The row counts the attempts and says when to stop (MESSAGE_MAX_ATTEMPTS), so the
    # broker sets no cap of its own: a worker crash, which Dramatiq does not count as a
    # retry, still counts on the row.
    max_retries=None,
    # Already recorded as failed (SMTP 5xx, bad credentials, a bad header, attempts used
    # up): retrying cannot help.
    throws=(DeliveryFailed,),
    # An attempt past its bound (SMTP and directory timeouts, with a margin) is cut off;
    # the row's lease ends at the same moment, so no two attempts overlap.
    time_limit=settings.MESSAGE_ATTEMPT_TIME_LIMIT * 1000,
    # Pace for unexpected errors, such as the database being down before a row could
    # be claimed; transient send failures bring their own delay (see below).
    min_backoff=1_000,
    max_backoff=300_000,
)
def deliver_message(message_id: int) -> None:
    try:
        message_deliver(message_id=message_id)
    except DeliveryDeferred as deferred:
        # Expected and recorded on the row: retry after the row's backoff, and keep the
        # traceback out of the error log.
        raise dramatiq.Retry(str(deferred), delay=int(deferred.retry_in * 1000)) from deferred
