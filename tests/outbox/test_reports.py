"""What becomes of an email after it is sent, as reports tell it (outbox.reports): in
order against the sends they are about, whatever the kind of email. The providers'
webhooks and the bounce mailbox, which make the reports, have tests of their own."""

from datetime import UTC, datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.urls import reverse
from django.utils import timezone

from outbox.models import Email
from outbox.reports import Report, ReportOutcome, email_report
from outbox.services import email_send, emails_retry
from tests.contact.factories import make_message
from users.models import AccountEmailKind
from users.services import account_email_queue

pytestmark = pytest.mark.django_db


def bounce_report(email: Email, event_type: str, event_id: str, **fields) -> Report:
    # As the bounce reader makes it: named by the return path, no provider's id.
    return Report(
        provider="",
        event_type=event_type,
        event_id=event_id,
        provider_message_id=None,
        site_email_id=str(email.pk),
        occurred_at=fields.get("occurred_at"),
        detail="",
    )


def status_of(email: Email) -> str:
    return Email.objects.get(pk=email.pk).status


def test_a_report_kept_before_a_retry_is_not_applied_to_the_send_after_it(
    user, smtp_sink, directory
):
    email = make_message(user, status=Email.Status.SENT, attempts=1).email
    assert email_report(bounce_report(email, "bounced", "b-1")) is ReportOutcome.APPLIED
    # Late, and weaker than the bounce: kept on the timeline, unapplied.
    assert email_report(bounce_report(email, "deferred", "d-1")) is ReportOutcome.RECORDED
    assert emails_retry(email_ids=[email.pk]) == 1

    email_send(email_id=email.pk)

    assert status_of(email) == Email.Status.SENT
    assert email.events.get(provider_event_id="d-1").applied is False
    assert [event.kind for event in email.events.all()] == [
        "report",
        "report",
        "retry",
        "attempt",
    ]


def test_a_report_faster_than_the_worker_is_applied_once_the_send_is_recorded(user, smtp_sink):
    # The provider reports before the worker has written that it sent the email: the
    # report waits on the timeline, and the send's record applies it. Any kind alike.
    email = account_email_queue(user=user, kind=AccountEmailKind.VERIFY_ADDRESS, language="en")

    assert email_report(bounce_report(email, "delivered", "early")) is ReportOutcome.RECORDED
    assert status_of(email) == Email.Status.QUEUED
    email_send(email_id=email.pk)

    assert status_of(email) == Email.Status.DELIVERED
    assert email.events.get(provider_event_id="early").applied is True


def test_the_same_report_twice_is_applied_once(user):
    email = make_message(user, status=Email.Status.SENT, attempts=1).email

    assert email_report(bounce_report(email, "bounced", "b-1")) is ReportOutcome.APPLIED
    assert email_report(bounce_report(email, "bounced", "b-1")) is ReportOutcome.REPEATED

    assert status_of(email) == Email.Status.BOUNCED
    assert email.events.count() == 1


def test_a_report_naming_no_email_of_this_site_is_unknown(db):
    unknown = Report(
        provider="postmark",
        event_type="delivered",
        event_id="e-1",
        provider_message_id="someone-elses",
        site_email_id=None,
        occurred_at=None,
        detail="",
    )

    assert email_report(unknown) is ReportOutcome.UNKNOWN


@pytest.mark.parametrize(
    "occurred_at",
    [
        datetime(9999, 12, 31, 23, 59, tzinfo=dt_timezone(timedelta(hours=-12))),
        datetime(1, 1, 1, tzinfo=dt_timezone(timedelta(hours=14))),
        datetime(1, 1, 1),
        datetime(2000, 1, 1, tzinfo=UTC),
    ],
    ids=["year-9999", "year-1", "naive-year-1", "long-ago"],
)
def test_a_report_time_out_of_reason_is_kept_as_the_time_it_came(
    user, client, occurred_at, django_user_model
):
    message = make_message(user, status=Email.Status.SENT, attempts=1)
    before = timezone.now()

    email_report(bounce_report(message.email, "bounced", "b-1", occurred_at=occurred_at))

    report = message.email.events.get()
    assert before <= report.occurred_at <= timezone.now()
    staff = django_user_model.objects.create_superuser("staff@example.org", "x")
    client.force_login(staff)
    for page in (
        reverse("admin:outbox_email_change", args=[message.email_id]),
        reverse("admin:contact_message_change", args=[message.pk]),
    ):
        assert client.get(page).status_code == 200
    client.force_login(user)
    assert client.get(reverse("message-list")).status_code == 200
    assert client.get(reverse("message-detail", args=[message.pk])).status_code == 200


def test_a_report_time_within_reason_is_kept(user):
    email = make_message(user, status=Email.Status.SENT, attempts=1).email
    reported = timezone.now() - timedelta(hours=2)

    email_report(bounce_report(email, "delivered", "d-1", occurred_at=reported))

    assert email.events.get().occurred_at == reported
