import pytest

from contact.models import Message
from contact.selectors import (
    MessageCounts,
    delivery_stats,
    message_counts,
)
from tests.contact.factories import make_message

pytestmark = pytest.mark.django_db


def test_counts_every_record_and_the_failed_ones_in_one_query(user, django_assert_num_queries):
    for status in ["queued", "sending", "sent", "sent", "failed", "failed"]:
        make_message(user, status=status)

    with django_assert_num_queries(1):
        counts = message_counts()

    assert counts == MessageCounts(total=6, failed=2)


def test_counts_are_zero_without_messages():
    assert message_counts() == MessageCounts(total=0, failed=0)


def test_failed_means_not_delivered_in_the_end(user):
    make_message(user, status=Message.Status.QUEUED)

    assert message_counts().failed == 0


def test_delivery_stats_take_one_query_and_list_every_status(user, django_assert_num_queries):
    make_message(user, status=Message.Status.FAILED)

    with django_assert_num_queries(1):
        stats = delivery_stats()

    assert [s.status for s in stats] == ["queued", "sending", "sent", "failed"]
    assert [s.total for s in stats] == [0, 0, 0, 1]
