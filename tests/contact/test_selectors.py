import pytest

from contact.selectors import MessageCounts, message_counts, messages_of
from outbox.models import Email
from tests.conftest import make_person
from tests.contact.factories import make_message

pytestmark = pytest.mark.django_db


def test_counts_what_is_over_what_did_not_arrive_and_what_waits_in_one_query(
    user, django_assert_num_queries
):
    statuses = ["queued", "sending", "sent", "sent", "deferred", "delivered", "complained"]
    for status in [*statuses, "bounced", "failed", "failed"]:
        make_message(user, status=status)

    with django_assert_num_queries(1):
        counts = message_counts()

    # Sent, deferred, delivered and complained went out; bounced and failed did not reach
    # the administrator; queued and sending are not counted as sent at all.
    assert counts == MessageCounts(sent=8, not_delivered=3, waiting=2)


def test_counts_are_zero_without_messages():
    assert message_counts() == MessageCounts(sent=0, not_delivered=0, waiting=0)


def test_a_message_still_waiting_is_neither_sent_nor_not_delivered(user):
    make_message(user, status=Email.Status.QUEUED)

    assert message_counts() == MessageCounts(sent=0, not_delivered=0, waiting=1)


def test_the_counts_are_of_messages_alone_not_of_account_emails(user):
    make_message(user, status=Email.Status.FAILED)
    for status in ("queued", "sent", "failed"):
        Email.objects.create(
            kind="verify_address", to=user.email, user=user, language="en", status=status
        )

    assert message_counts() == MessageCounts(sent=1, not_delivered=1, waiting=0)


def test_a_persons_messages_are_their_own_newest_first_each_with_its_email(
    user, django_assert_num_queries
):
    first = make_message(user, subject="First")
    second = make_message(user, subject="Second", status=Email.Status.SENT)
    make_message(make_person("bob@example.org"), subject="From Bob")

    with django_assert_num_queries(1):
        listed = [(message.subject, message.email.status) for message in messages_of(user)]

    assert listed == [("Second", "sent"), ("First", "queued")]
    assert {first.pk, second.pk} == set(messages_of(user).values_list("pk", flat=True))
