"""The admin's list and pages of every email the site sends (outbox.admin.EmailAdmin)."""

import re
from datetime import UTC, datetime
from html import unescape as html_unescape
from html.parser import HTMLParser

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from outbox.models import Email, EmailEvent
from tests.admin_pages import readonly_rows, text_of
from tests.conftest import awaiting_relay
from tests.contact.factories import make_message
from users.models import AccountEmailKind, User

pytestmark = pytest.mark.django_db

LIST = "admin:outbox_email_changelist"
WRITTEN = datetime(2026, 3, 5, 14, 7, 9, tzinfo=UTC)


@pytest.fixture
def staff_client(client, db):
    staff = User.objects.create_superuser(email="boss@example.org", password="x")
    client.force_login(staff)
    return client


def account_email(user: User, kind: str, status: str, **fields) -> Email:
    return Email.objects.create(
        kind=kind, to=user.email, user=user, language="en", status=status, **fields
    )


@pytest.fixture
def emails(user) -> dict[str, Email]:
    """Messages and account emails in every group: over, not delivered, waiting."""
    return {
        "message sent": make_message(user, status=Email.Status.SENT, attempts=1).email,
        "message failed": make_message(user, status=Email.Status.FAILED, attempts=5).email,
        "message queued": make_message(user).email,
        "verify bounced": account_email(user, AccountEmailKind.VERIFY_ADDRESS, "bounced"),
        "verify delivered": account_email(user, AccountEmailKind.VERIFY_ADDRESS, "delivered"),
        "reset failed": account_email(user, AccountEmailKind.PASSWORD_RESET, "failed"),
        "reset sending": account_email(user, AccountEmailKind.PASSWORD_RESET, "sending"),
    }


def listed(client, query: dict[str, str]) -> set[int]:
    response = client.get(reverse(LIST), query)
    assert response.status_code == 200
    changelist = response.context["cl"]
    assert changelist.result_count == len(changelist.result_list)
    return {email.pk for email in changelist.result_list}


def ids(emails: dict[str, Email], *names: str) -> set[int]:
    return {emails[name].pk for name in names}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, list),
        ({"kind__exact": "message"}, ["message sent", "message failed", "message queued"]),
        ({"kind__exact": "verify_address"}, ["verify bounced", "verify delivered"]),
        ({"kind__exact": "password_reset"}, ["reset failed", "reset sending"]),
        ({"outcome": "not_delivered"}, ["message failed", "verify bounced", "reset failed"]),
        ({"outcome": "waiting"}, ["message queued", "reset sending"]),
        (
            {"outcome": "over"},
            [
                "message sent",
                "message failed",
                "verify bounced",
                "verify delivered",
                "reset failed",
            ],
        ),
        ({"outcome": "not_delivered", "kind__exact": "password_reset"}, ["reset failed"]),
        ({"status__exact": "failed"}, ["message failed", "reset failed"]),
    ],
)
def test_the_list_filters_by_kind_and_outcome(staff_client, emails, query, expected):
    names = list(emails) if expected is list else expected

    assert listed(staff_client, query) == ids(emails, *names)


def test_the_kind_filter_offers_every_kind_by_its_name(staff_client, emails):
    html = html_unescape(staff_client.get(reverse(LIST)).content.decode())

    for label in ("Message to the administrator", *AccountEmailKind.labels):
        assert f">{label}</a>" in html


def test_the_list_searches_the_recipients(staff_client, emails, user):
    other = Email.objects.create(kind="verify_address", to="bob@example.org", language="en")

    assert listed(staff_client, {"q": "bob@"}) == {other.pk}


@pytest.mark.parametrize(
    ("query", "expected"),
    [({}, 7), ({"outcome": "not_delivered"}, 3), ({"status__exact": "sent"}, 1)],
)
def test_the_list_is_counted_from_the_tally_without_reading_every_row(
    staff_client, emails, query, expected
):
    counts = re.compile(r'SELECT COUNT\(\*\).*FROM "outbox_email"', re.IGNORECASE)

    with CaptureQueriesContext(connection) as queries:
        response = staff_client.get(reverse(LIST), query)

    assert response.context["cl"].result_count == expected
    assert not [q["sql"] for q in queries if counts.search(q["sql"])]


def test_a_narrower_list_counts_the_rows_it_matches(staff_client, emails):
    # By kind the tally's counts are not asked: the rows are, and the count is exact.
    response = staff_client.get(reverse(LIST), {"kind__exact": "password_reset"})

    assert response.context["cl"].result_count == 2


def test_a_tally_count_is_what_the_list_shows_however_long(staff_client, user):
    Email.objects.bulk_create(
        Email(kind="verify_address", to=user.email, language="en", status="sent")
        for _ in range(105)
    )

    html = staff_client.get(reverse(LIST)).content.decode()

    assert "105 emails" in html
    assert '<a href="?p=2"' in html
    last = staff_client.get(reverse(LIST), {"p": "2"})
    assert len(last.context["cl"].result_list) == 5


# ---------------------------------------------------------------- the retry


def test_retry_queues_the_failed_and_bounced_emails_only(staff_client, emails):
    response = staff_client.post(
        reverse(LIST),
        {"action": "retry_delivery", "_selected_action": [email.pk for email in emails.values()]},
        follow=True,
    )

    html = response.content.decode()
    assert "3 emails queued for delivery again." in html
    assert "4 emails skipped: only failed or bounced emails can be retried." in html
    retried = ids(emails, "message failed", "verify bounced", "reset failed")
    assert set(awaiting_relay()) == retried | ids(emails, "message queued")
    assert dict(Email.objects.values_list("pk", "status")) == {
        **{email.pk: email.status for email in emails.values()},
        **dict.fromkeys(retried, "queued"),
    }
    for pk in retried:
        assert Email.objects.get(pk=pk).events.get().kind == EmailEvent.Kind.RETRY


def test_retry_from_the_not_delivered_list_counts_what_was_selected(staff_client, emails):
    not_delivered = Email.objects.filter(status__in=Email.NOT_DELIVERED)

    response = staff_client.post(
        reverse(LIST) + "?outcome=not_delivered",
        {"action": "retry_delivery", "_selected_action": [e.pk for e in not_delivered]},
        follow=True,
    )

    html = response.content.decode()
    assert "3 emails queued for delivery again." in html
    assert "skipped" not in html


# ---------------------------------------------------------------- one email


class TableHeaders(HTMLParser):
    """The text of every table header cell."""

    def __init__(self) -> None:
        super().__init__()
        self.headers: list[str] = []
        self.inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "th":
            self.inside = True
            self.headers.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "th":
            self.inside = False

    def handle_data(self, data: str) -> None:
        if self.inside:
            self.headers[-1] += data.strip()


def attempt(email: Email, **fields) -> EmailEvent:
    return EmailEvent.objects.create(
        email=email,
        kind=EmailEvent.Kind.ATTEMPT,
        event_type="sent",
        status=Email.Status.SENT,
        applied=True,
        **fields,
    )


def test_the_page_shows_the_timeline_with_every_column_named(staff_client, user):
    email = account_email(user, AccountEmailKind.VERIFY_ADDRESS, "delivered", attempts=1)
    attempt(email, duration_ms=120, provider="Postmark")
    EmailEvent.objects.create(
        email=email,
        kind=EmailEvent.Kind.REPORT,
        event_type="delivered",
        status=Email.Status.DELIVERED,
        applied=True,
        provider="Postmark",
        detail="250 2.0.0 OK",
    )

    page = staff_client.get(reverse("admin:outbox_email_change", args=[email.pk]))

    html = page.content.decode()
    assert page.status_code == 200
    parser = TableHeaders()
    parser.feed(html)
    start = parser.headers.index("When")
    assert parser.headers[start : start + 8] == [
        "When",
        "Kind",
        "Event",
        "Status",
        "Applied",
        "Duration (ms)",
        "Provider",
        "Detail",
    ]
    assert "" not in parser.headers
    events = re.findall(r'<td class="field-event_type"><p>(.*?)</p></td>', html)
    assert events == ["sent", "delivered"]
    assert "250 2.0.0 OK" in html
    # The timeline scrolls in a region of its own on a narrow screen.
    assert 'class="scroll-region" tabindex="0" role="region" aria-label="Timeline"' in html


def test_the_page_is_read_only(staff_client, emails):
    email = emails["message sent"]

    page = staff_client.get(reverse("admin:outbox_email_change", args=[email.pk]))

    assert 'name="status"' not in page.content.decode()
    assert 'name="events-0-detail"' not in page.content.decode()
    assert staff_client.get(reverse("admin:outbox_email_add")).status_code == 403


def test_the_page_names_the_kind_and_links_the_account(staff_client, user):
    email = account_email(user, AccountEmailKind.PASSWORD_RESET, "sent")
    message = make_message(user).email

    page = staff_client.get(reverse("admin:outbox_email_change", args=[email.pk]))
    to_admin = staff_client.get(reverse("admin:outbox_email_change", args=[message.pk]))

    rows = readonly_rows(page)
    assert rows["Kind:"] == "Password reset"
    assert rows["Account:"] == user.email
    user_page = reverse("admin:users_user_change", args=[user.pk])
    assert f'<a href="{user_page}">{user.email}</a>' in page.content.decode()
    assert readonly_rows(to_admin)["Account:"] == "—"


@pytest.mark.parametrize("language", ["en", "ru"])
def test_every_date_of_the_email_admin_is_in_one_style(staff_client, user, language):
    email = make_message(
        user, status=Email.Status.SENT, created_at=WRITTEN, sent_at=WRITTEN, attempts=1
    ).email
    attempt(email, occurred_at=WRITTEN)
    headers = {"Accept-Language": language}

    listed_page = staff_client.get(reverse(LIST), headers=headers)
    page = staff_client.get(reverse("admin:outbox_email_change", args=[email.pk]), headers=headers)

    cells = re.findall(r'<td class="field-created">(.*?)</td>', listed_page.content.decode())
    assert [text_of(cell) for cell in cells] == ["2026-03-05 14:07:09"]
    shown = [text_of(value) for value in readonly_rows(page).values()]
    assert shown.count("2026-03-05 14:07:09") == 2
    timeline = re.findall(r'<td class="field-when">(.*?)</td>', page.content.decode(), re.S)
    assert [text_of(cell) for cell in timeline] == ["2026-03-05 14:07:09"]
    for response in (listed_page, page):
        text = text_of(response.content.decode())
        assert "p.m." not in text and "March" not in text and "марта" not in text


def test_a_date_not_set_shows_the_admins_empty_mark(staff_client, user):
    email = make_message(user).email

    page = staff_client.get(reverse("admin:outbox_email_change", args=[email.pk]))

    assert readonly_rows(page)["Sent:"] == "-"
    assert "None" not in text_of(page.content.decode())
