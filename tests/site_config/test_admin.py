"""The admin's index warns staff who may see emails of any that did not get through in
the last 24 hours, whatever their kind, and links to them."""

import html
import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from outbox.models import Email, EmailEvent
from outbox.selectors import RECENT_FAILURES
from outbox.services import email_queue, emails_retry
from tests.conftest import GOOD_PASSWORD
from users.models import User

pytestmark = pytest.mark.django_db


def email(kind: str, status: str, *, age: timedelta = timedelta(minutes=5)) -> Email:
    """An email of `kind` in `status`, created `age` ago; one that did not get through
    has it on its timeline then: a failed attempt, or a provider's report of a bounce."""
    at = timezone.now() - age
    queued = email_queue(kind=kind, to=["someone@example.org"])
    Email.objects.filter(pk=queued.pk).update(status=status, created_at=at)
    if status in Email.NOT_DELIVERED:
        failed = status == Email.Status.FAILED
        EmailEvent.objects.create(
            email=queued,
            kind=EmailEvent.Kind.ATTEMPT if failed else EmailEvent.Kind.REPORT,
            occurred_at=at,
            event_type="failed" if failed else "bounced",
            status=status,
            applied=True,
        )
    return queued


def warning(client, language: str = "en") -> str | None:
    """The text of the index's warning, and its link's address after a "|"; None
    without one."""
    page = client.get(reverse("admin:index"), headers={"Accept-Language": language})
    assert page.status_code == 200
    found = re.search(r'<p class="errornote" id="recent-failures"[^>]*>(.*?)</p>', page.text, re.S)
    if found is None:
        assert 'id="recent-failures"' not in page.text
        return None
    href = html.unescape(re.search(r'<a href="([^"]+)">', found[1])[1])
    text = " ".join(re.sub(r"<[^>]+>", " ", found[1]).split())
    return f"{text} | {href}"


@pytest.fixture
def staff_client(client):
    client.force_login(User.objects.create_superuser(email="boss@example.org", password="x"))
    return client


NOT_DELIVERED = "?outcome=not_delivered"


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("message", Email.Status.FAILED),
        ("message", Email.Status.BOUNCED),
        ("verify_address", Email.Status.BOUNCED),
        ("verify_address", Email.Status.FAILED),
        ("sign_up_attempt", Email.Status.FAILED),
        ("password_reset", Email.Status.BOUNCED),
    ],
)
def test_an_email_of_any_kind_that_did_not_get_through_is_warned_of(staff_client, kind, status):
    email(kind, status)

    assert warning(staff_client) == (
        "1 email did not get through in the last 24 hours. See the failed and bounced emails"
        f" | {reverse('admin:outbox_email_changelist')}{NOT_DELIVERED}"
    )


def test_the_warning_counts_them_and_its_link_lists_them(staff_client):
    failed = [
        email("message", Email.Status.FAILED),
        email("verify_address", Email.Status.BOUNCED),
        email("password_reset", Email.Status.FAILED),
    ]
    email("message", Email.Status.DELIVERED)
    email("verify_address", Email.Status.QUEUED)

    said = warning(staff_client)
    listed = staff_client.get(said.split(" | ")[1])

    assert said.startswith("3 emails did not get through in the last 24 hours.")
    assert {row.pk for row in listed.context["cl"].result_list} == {row.pk for row in failed}


def test_the_warning_speaks_russian(staff_client):
    for _ in range(3):
        email("verify_address", Email.Status.BOUNCED)

    assert warning(staff_client, "ru").startswith(
        "За последние 24 часа не дошли 3 письма. Посмотреть недоставленные и возвращённые письма"
    )


@pytest.mark.parametrize(
    "status",
    [
        Email.Status.QUEUED,
        Email.Status.SENDING,
        Email.Status.SENT,
        Email.Status.DEFERRED,
        Email.Status.DELIVERED,
        Email.Status.COMPLAINED,
    ],
)
def test_no_warning_while_every_email_got_through_or_is_on_its_way(staff_client, status):
    email("message", status)
    email("verify_address", status)

    assert warning(staff_client) is None


def test_no_warning_for_failures_older_than_a_day(staff_client):
    email("message", Email.Status.FAILED, age=RECENT_FAILURES + timedelta(minutes=1))
    email("verify_address", Email.Status.BOUNCED, age=timedelta(days=3))

    assert warning(staff_client) is None

    email("verify_address", Email.Status.BOUNCED, age=RECENT_FAILURES - timedelta(minutes=1))
    assert warning(staff_client).startswith("1 email did not get through")


def test_an_old_email_that_failed_again_today_is_warned_of(staff_client):
    # Created days ago and retried by staff: what counts is when it did not get through.
    retried = email("verify_address", Email.Status.FAILED, age=timedelta(days=3))
    emails_retry(email_ids=[retried.pk])
    Email.objects.filter(pk=retried.pk).update(status=Email.Status.FAILED)
    EmailEvent.objects.create(
        email=retried,
        kind=EmailEvent.Kind.ATTEMPT,
        event_type="failed",
        status=Email.Status.FAILED,
        applied=True,
    )

    assert warning(staff_client).startswith("1 email did not get through")


def test_no_warning_for_a_failure_retried_and_sent_since(staff_client):
    retried = email("message", Email.Status.FAILED, age=timedelta(hours=2))
    emails_retry(email_ids=[retried.pk])
    Email.objects.filter(pk=retried.pk).update(status=Email.Status.SENT)

    assert warning(staff_client) is None


def test_no_warning_with_no_emails_at_all(staff_client):
    assert warning(staff_client) is None


def test_no_warning_for_staff_who_may_not_view_emails(client):
    email("verify_address", Email.Status.FAILED)
    staff = User.objects.create_user(email="helper@example.org", password=GOOD_PASSWORD)
    staff.is_staff = True
    staff.save()
    # Messages, and the accounts, but not the emails themselves.
    for codename in ("view_message", "view_user"):
        staff.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(staff)

    assert warning(client) is None

    staff.user_permissions.add(Permission.objects.get(codename="view_email"))
    client.force_login(User.objects.get(pk=staff.pk))
    assert warning(client).startswith("1 email did not get through")


def test_the_warning_is_on_the_index_alone(staff_client):
    email("message", Email.Status.FAILED)

    page = staff_client.get(reverse("admin:users_user_changelist")).text

    assert 'id="recent-failures"' not in page
