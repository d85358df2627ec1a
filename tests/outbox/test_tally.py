"""The tally the database keeps (MessageTally, migration 0006) against a plain count:
whatever writes the message table, and however, the two agree."""

import random
import threading

import pytest
from django.db import connection, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Count

from contact.models import Message, MessageTally
from contact.selectors import message_counts_by_status
from tests.contact.factories import make_message

STATUSES = Message.Status.values


def counted() -> dict[str, int]:
    rows = Message.objects.order_by().values_list("status").annotate(n=Count("pk"))
    return {status: dict(rows).get(status, 0) for status in STATUSES}


@pytest.mark.django_db
@pytest.mark.parametrize("seed", range(5))
def test_the_tally_follows_every_kind_of_write(user, seed):
    chance = random.Random(seed)
    for _ in range(60):
        ids = list(Message.objects.values_list("pk", flat=True))
        action = chance.choice(["create", "bulk", "save", "update", "delete", "raw"])
        if action == "create" or not ids:
            make_message(user, status=chance.choice(STATUSES))
        elif action == "bulk":
            Message.objects.bulk_create(
                Message(
                    sender=user,
                    sender_email=user.email,
                    subject="s",
                    body="b",
                    status=chance.choice(STATUSES),
                )
                for _ in range(chance.randint(1, 5))
            )
        elif action == "save":
            message = Message.objects.get(pk=chance.choice(ids))
            message.status = chance.choice(STATUSES)
            message.save(update_fields=["status", "attempts"])
        elif action == "update":
            # One statement over many rows, some of which may not change status.
            chosen = chance.sample(ids, k=min(len(ids), chance.randint(1, 8)))
            Message.objects.filter(pk__in=chosen).update(status=chance.choice(STATUSES))
        elif action == "delete":
            Message.objects.filter(pk__in=chance.sample(ids, k=min(len(ids), 3))).delete()
        else:
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE contact_message SET status = %s WHERE id = %s",
                    [chance.choice(STATUSES), chance.choice(ids)],
                )
        assert message_counts_by_status() == counted(), action


@pytest.mark.django_db
def test_reading_the_tally_does_not_depend_on_the_number_of_messages(
    user, django_assert_num_queries
):
    Message.objects.bulk_create(
        Message(sender=user, sender_email=user.email, subject="s", body="b") for _ in range(500)
    )

    with django_assert_num_queries(1):
        counts = message_counts_by_status()

    assert counts["queued"] == 500
    # A handful of rows per status, not one per message.
    assert MessageTally.objects.count() <= 16 * len(STATUSES)


@pytest.mark.django_db
def test_truncating_the_messages_empties_the_tally(user):
    if connection.vendor != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's; SQLite deletes row by row")
    make_message(user)
    with connection.cursor() as cursor:
        # Django's foreign keys are checked at commit; TRUNCATE wants them done.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        # With the timelines, which refer to the messages.
        cursor.execute("TRUNCATE contact_message CASCADE")

    assert message_counts_by_status() == dict.fromkeys(STATUSES, 0)


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_the_tally_exact(user):
    """Eight connections create, claim and finish messages at once: no write waits for
    ever or deadlocks on the tally, and the tally agrees with the rows."""
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        chance = random.Random(number)
        try:
            for _ in range(40):
                message = make_message(user)
                Message.objects.filter(pk=message.pk, status="queued").update(status="sending")
                Message.objects.filter(pk=message.pk).update(
                    status=chance.choice(["sent", "failed", "queued"])
                )
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(number,)) for number in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert sum(message_counts_by_status().values()) == 8 * 40
    assert message_counts_by_status() == counted()


@pytest.mark.django_db(transaction=True)
def test_migrating_the_tally_away_and_back_leaves_it_consistent_with_the_rows(user):
    """0006 reversed drops the triggers with the tally; applied again, it counts the
    messages written meanwhile, and its triggers count every write from there on."""
    for status in ["queued", "sent", "sent", "failed"]:
        make_message(user, status=status)
    before_tally = [("contact", "0005_translatable_names")]
    MigrationExecutor(connection).migrate(before_tally)

    # Written with no triggers to count them, through the model as it was then.
    executor = MigrationExecutor(connection)
    then = executor.loader.project_state(before_tally).apps.get_model("contact", "Message")
    then.objects.create(
        sender_id=user.pk, sender_email=user.email, subject="s", body="b", status="sending"
    )
    then.objects.filter(status="sent").update(status="failed")
    executor.migrate(executor.loader.graph.leaf_nodes())

    expected = {**dict.fromkeys(STATUSES, 0), "queued": 1, "sending": 1, "failed": 3}
    assert message_counts_by_status() == counted() == expected
    make_message(user, status="sent")
    Message.objects.filter(status="failed").update(status="queued")
    Message.objects.filter(status="sending").delete()
    expected = {**dict.fromkeys(STATUSES, 0), "queued": 4, "sent": 1}
    assert message_counts_by_status() == counted() == expected
