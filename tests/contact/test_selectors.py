import pytest

from contact.models import Message
from contact.selectors import (
    MessageCounts,
    delivery_stats,
    message_counts,
)
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
    make_message(user, status=Message.Status.QUEUED)

    assert message_counts() == MessageCounts(sent=0, not_delivered=0, waiting=1)


def test_delivery_stats_take_one_query_and_list_every_status(user, django_assert_num_queries):
    make_message(user, status=Message.Status.FAILED)
    make_message(user, status=Message.Status.BOUNCED)

    with django_assert_num_queries(1):
        stats = delivery_stats()

    assert [s.status for s in stats] == [
        "queued",
        "sending",
        "sent",
        "deferred",
        "delivered",
        "complained",
        "bounced",
        "failed",
    ]
    assert [s.total for s in stats] == [0, 0, 0, 0, 0, 0, 1, 1]
