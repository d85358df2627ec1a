"""Reading the outbox: counts by kind and status, the oldest still waiting, the recent
failures and the delivery statistics."""

from datetime import timedelta

import pytest
from django.utils import timezone

from outbox.models import Email, EmailEvent
from outbox.selectors import (
    RECENT_FAILURES,
    delivery_stats,
    email_counts,
    oldest_waiting,
    recent_failures,
)

pytestmark = pytest.mark.django_db


def email(kind: str = "message", status: str = Email.Status.QUEUED, **fields) -> Email:
    return Email.objects.create(
        kind=kind, to="ann@example.org", language="en", status=status, **fields
    )


def test_email_counts_give_every_status_of_one_kind_or_of_all(db):
    email("message", "failed")
    email("verify_address", "failed")
    email("verify_address", "sent")

    assert email_counts() == {**dict.fromkeys(Email.Status.values, 0), "failed": 2, "sent": 1}
    assert email_counts(kind="message") == {**dict.fromkeys(Email.Status.values, 0), "failed": 1}


def test_recent_failures_count_by_when_they_failed_not_when_they_were_written(db):
    now = timezone.now()

    def failed(status: str, *, written: timedelta, ago: timedelta, kind: str = "message") -> Email:
        row = email(kind, status, created_at=now - written)
        EmailEvent.objects.create(
            email=row,
            kind=EmailEvent.Kind.REPORT,
            occurred_at=now - ago,
            event_type=status,
            status=status,
            applied=True,
        )
        return row

    failed("bounced", written=timedelta(days=3), ago=timedelta(hours=1), kind="password_reset")
    failed("failed", written=timedelta(hours=2), ago=RECENT_FAILURES - timedelta(minutes=1))
    failed("failed", written=timedelta(hours=30), ago=RECENT_FAILURES + timedelta(minutes=1))
    retried = failed("failed", written=timedelta(hours=2), ago=timedelta(hours=1))
    Email.objects.filter(pk=retried.pk).update(status="queued")
    email("message", "sent")

    assert recent_failures(now=now) == 2


def test_the_oldest_waiting_is_told_for_queued_and_sending_of_one_kind_or_all(db):
    now = timezone.now()
    oldest_message = email("message", "queued", created_at=now - timedelta(minutes=9))
    email("message", "queued", created_at=now - timedelta(minutes=1))
    oldest_account = email("verify_address", "queued", created_at=now - timedelta(minutes=30))
    sending = email("verify_address", "sending", created_at=now - timedelta(minutes=2))
    email("message", "sent", created_at=now - timedelta(hours=5))

    assert oldest_waiting() == {
        "queued": oldest_account.created_at,
        "sending": sending.created_at,
    }
    assert oldest_waiting(kind="message") == {
        "queued": oldest_message.created_at,
        "sending": None,
    }


def test_delivery_stats_take_one_query_and_list_each_kind_and_status_there_is(
    db, django_assert_num_queries
):
    email("message", "failed")
    email("message", "bounced")
    email("verify_address", "failed", created_at=timezone.now() - timedelta(hours=3))

    with django_assert_num_queries(1):
        stats = delivery_stats()

    assert [(s.kind, s.status, s.last_hour, s.last_day, s.total) for s in stats] == [
        ("message", "bounced", 1, 1, 1),
        ("message", "failed", 1, 1, 1),
        ("verify_address", "failed", 0, 1, 1),
    ]
