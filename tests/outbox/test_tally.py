"""The tally the database keeps (EmailTally, migration 0001) against a plain count, by
kind and status: whatever writes the email table, and however, the two agree."""

import random
import threading

import pytest
from django.db import connection, connections
from django.db.models import Count

from outbox.models import Email, EmailTally
from outbox.selectors import email_counts, email_counts_by_kind

STATUSES = Email.Status.values
KINDS = ["message", "verify_address", "password_reset"]


def counted(kind: str | None = None) -> dict[str, int]:
    emails = Email.objects.order_by()
    if kind is not None:
        emails = emails.filter(kind=kind)
    rows = dict(emails.values_list("status").annotate(n=Count("pk")))
    return {status: rows.get(status, 0) for status in STATUSES}


def counted_by_kind() -> dict[tuple[str, str], int]:
    rows = Email.objects.order_by().values_list("kind", "status").annotate(n=Count("pk"))
    return {(kind, status): n for kind, status, n in rows}


def new_email(kind: str, status: str = Email.Status.QUEUED) -> Email:
    return Email(kind=kind, to="ann@example.org", language="en", status=status)


def agrees(action: str) -> None:
    assert email_counts() == counted(), action
    for kind in KINDS:
        assert email_counts(kind=kind) == counted(kind), (action, kind)
    assert email_counts_by_kind() == counted_by_kind(), action


@pytest.mark.django_db
@pytest.mark.parametrize("seed", range(5))
def test_the_tally_follows_every_kind_of_write(seed):
    chance = random.Random(seed)
    for _ in range(60):
        ids = list(Email.objects.values_list("pk", flat=True))
        action = chance.choice(["create", "bulk", "save", "update", "kind", "delete", "raw"])
        if action == "create" or not ids:
            new_email(chance.choice(KINDS), chance.choice(STATUSES)).save()
        elif action == "bulk":
            Email.objects.bulk_create(
                new_email(chance.choice(KINDS), chance.choice(STATUSES))
                for _ in range(chance.randint(1, 5))
            )
        elif action == "save":
            email = Email.objects.get(pk=chance.choice(ids))
            email.status = chance.choice(STATUSES)
            email.save(update_fields=["status", "attempts"])
        elif action == "update":
            # One statement over many rows, some of which may not change status.
            chosen = chance.sample(ids, k=min(len(ids), chance.randint(1, 8)))
            Email.objects.filter(pk__in=chosen).update(status=chance.choice(STATUSES))
        elif action == "kind":
            # Status and kind at once: the email leaves one kind's count for another's.
            chosen = chance.sample(ids, k=min(len(ids), chance.randint(1, 4)))
            Email.objects.filter(pk__in=chosen).update(
                kind=chance.choice(KINDS), status=chance.choice(STATUSES)
            )
        elif action == "delete":
            Email.objects.filter(pk__in=chance.sample(ids, k=min(len(ids), 3))).delete()
        else:
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE outbox_email SET status = %s WHERE id = %s",
                    [chance.choice(STATUSES), chance.choice(ids)],
                )
        agrees(action)


@pytest.mark.django_db
def test_reading_the_tally_does_not_depend_on_the_number_of_emails(
    django_assert_num_queries,
):
    Email.objects.bulk_create(new_email(KINDS[n % 2]) for n in range(500))

    with django_assert_num_queries(1):
        counts = email_counts()
    with django_assert_num_queries(1):
        of_messages = email_counts(kind="message")

    assert counts["queued"] == 500
    assert of_messages["queued"] == 250
    # A handful of rows per kind and status, not one per email.
    assert EmailTally.objects.count() <= 16 * 2 * len(STATUSES)


@pytest.mark.django_db
def test_counts_are_zero_for_a_kind_without_emails():
    Email.objects.bulk_create([new_email("message")])

    assert email_counts(kind="password_reset") == dict.fromkeys(STATUSES, 0)
    assert email_counts_by_kind() == {("message", "queued"): 1}


@pytest.mark.django_db
def test_truncating_the_emails_empties_the_tally():
    if connection.vendor != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's; SQLite deletes row by row")
    Email.objects.bulk_create([new_email("message"), new_email("verify_address")])
    with connection.cursor() as cursor:
        # Django's foreign keys are checked at commit; TRUNCATE wants them done.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        # With the timelines and the messages, which refer to the emails.
        cursor.execute("TRUNCATE outbox_email CASCADE")

    assert email_counts() == dict.fromkeys(STATUSES, 0)
    assert email_counts_by_kind() == {}


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_the_tally_exact():
    """Eight connections create, claim and finish emails of every kind at once: no write
    waits for ever or deadlocks on the tally, and the tally agrees with the rows."""
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        chance = random.Random(number)
        try:
            for _ in range(40):
                email = Email.objects.create(
                    kind=chance.choice(KINDS), to="ann@example.org", language="en"
                )
                Email.objects.filter(pk=email.pk, status="queued").update(status="sending")
                Email.objects.filter(pk=email.pk).update(
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
    assert sum(email_counts().values()) == 8 * 40
    agrees("concurrent")
