"""The Dramatiq actor that sends account emails; the work is account_email_send's."""

import dramatiq

from site_config.outbox import DeliveryDeferred, DeliveryFailed
from users.services import ATTEMPT_LEASE_SECONDS, account_email_send


@dramatiq.actor(
    # Their own queue, so a backlog of messages to the administrator never holds up a
    # person waiting for a link.
    queue_name="account",
    # The row counts the attempts and says when to stop, as for messages.
    max_retries=None,
    throws=(DeliveryFailed,),
    # The row's lease ends at the same moment, so no two attempts overlap.
    time_limit=ATTEMPT_LEASE_SECONDS * 1000,
    min_backoff=1_000,
    max_backoff=300_000,
)
def send_account_email(email_id: int) -> None:
    try:
        account_email_send(email_id=email_id)
    except DeliveryDeferred as deferred:
        raise dramatiq.Retry(str(deferred), delay=int(deferred.retry_in * 1000)) from deferred
