import re
from datetime import UTC, datetime
from html import unescape as html_unescape

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from contact.models import Message
from outbox.models import Email
from tests.admin_pages import readonly_rows, text_of
from tests.conftest import awaiting_relay, make_person
from tests.contact.factories import make_message
from tests.standins.directory import USERS
from users.models import User

pytestmark = pytest.mark.django_db

# Sent twice, delivered, failed, bounced: five whose attempts are over, two of them not
# delivered; one still queued.
HEADER = "Emails sent: 5 (2 not delivered) · waiting: 1"


@pytest.fixture
def staff(db) -> User:
    return User.objects.create_superuser(email="boss@example.org", password="x")


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def deliveries(user) -> list[Message]:
    return [
        make_message(user, subject="Sent one", status=Email.Status.SENT, attempts=1),
        make_message(
            user,
            subject="Found one",
            status=Email.Status.SENT,
            directory_status=Message.DirectoryStatus.FOUND,
            directory_data=[USERS[0]],
        ),
        make_message(user, subject="Failed one", status=Email.Status.FAILED, attempts=5),
        make_message(user, subject="Delivered one", status=Email.Status.DELIVERED, attempts=1),
        make_message(user, subject="Bounced one", status=Email.Status.BOUNCED, attempts=1),
        make_message(user, subject="Waiting one", relayed_at=timezone.now()),
    ]


@pytest.mark.parametrize(
    "url_of",
    [
        lambda ids, staff: reverse("admin:index"),
        lambda ids, staff: reverse("admin:contact_message_changelist"),
        lambda ids, staff: reverse("admin:contact_message_change", args=[ids[1]]),
        lambda ids, staff: reverse("admin:outbox_email_changelist"),
        lambda ids, staff: reverse("admin:outbox_email_change", args=[ids[1]]),
        lambda ids, staff: reverse("admin:users_user_changelist"),
        lambda ids, staff: reverse("admin:users_user_change", args=[staff.pk]),
        lambda ids, staff: reverse("admin:password_change"),
        lambda ids, staff: reverse("admin:app_list", args=["contact"]),
    ],
    ids=[
        "index",
        "message-list",
        "message-detail",
        "email-list",
        "email-detail",
        "user-list",
        "user-detail",
        "password-change",
        "app-index",
    ],
)
def test_every_admin_page_shows_the_delivery_counts(staff_client, staff, deliveries, url_of):
    response = staff_client.get(url_of([m.email_id for m in deliveries], staff))

    assert response.status_code == 200
    assert header_text(response) == HEADER


def header_text(response) -> str:
    html = response.content.decode()
    inside = html.split('<div id="delivery-counts">', 1)[1].split("</div>", 1)[0]
    return " ".join(re.sub(r"<[^>]+>", "", inside).split()).replace("( ", "(")


def header_links(response) -> dict[str, tuple[str, str]]:
    """Each header link's text, mapped to its address and its title."""
    html = response.content.decode()
    inside = html.split('<div id="delivery-counts">', 1)[1].split("</div>", 1)[0]
    found = re.findall(r'<a href="([^"]*)" title="([^"]*)">([^<]*)</a>', inside)
    return {text: (href, title) for href, title, text in found}


def test_the_header_counts_link_to_the_deliveries_they_count(staff_client, deliveries):
    links = header_links(staff_client.get(reverse("admin:index")))

    deliveries_url = reverse("admin:contact_message_changelist")
    assert [text for text in links] == ["Emails sent: 5", "2 not delivered", "waiting: 1"]
    subjects = {text: listed_subjects(staff_client, href) for text, (href, _title) in links.items()}
    assert links["Emails sent: 5"][0] == f"{deliveries_url}?outcome=over"
    assert subjects == {
        "Emails sent: 5": {"Sent one", "Found one", "Failed one", "Delivered one", "Bounced one"},
        "2 not delivered": {"Failed one", "Bounced one"},
        "waiting: 1": {"Waiting one"},
    }


def listed_subjects(client, url: str) -> set[str]:
    return {message.subject for message in client.get(url).context["cl"].result_list}


def test_each_header_count_says_what_it_counts(staff_client, deliveries):
    # What contact.selectors.message_counts counts, as docs/delivery.md defines it.
    links = header_links(staff_client.get(reverse("admin:index")))

    assert links["Emails sent: 5"][1] == (
        "Messages whose attempts are over: sent, deferred, delivered (marked as spam "
        "included), bounced or failed. Queued and sending messages are not counted here, "
        "but as waiting."
    )
    assert links["2 not delivered"][1] == (
        "Messages that did not reach the administrator: Failed (the mail server refused "
        "them, or every attempt failed) or Bounced (the email provider took them, then "
        "reported a bounce or a rejection)."
    )
    assert links["waiting: 1"][1] == "Messages still queued, or being sent now."


@pytest.mark.parametrize("page", ["admin:index", "admin:contact_message_changelist"])
def test_the_header_reads_naturally_in_russian(staff_client, deliveries, page):
    response = staff_client.get(reverse(page), headers={"Accept-Language": "ru"})

    assert header_text(response) == "Отправлено писем: 5 (не доставлено: 2) · ожидают: 1"
    not_delivered_url = reverse("admin:contact_message_changelist") + "?outcome=not_delivered"
    not_delivered = header_links(response)["не доставлено: 2"]
    assert not_delivered == (
        not_delivered_url,
        "Сообщения, не дошедшие до администратора: «Не доставлено» (почтовый сервер их "
        "отклонил или все попытки не удались) или «Возвращено» (почтовый сервис их принял, "
        "а потом сообщил о возврате или отказе).",
    )
    assert header_links(response)["Отправлено писем: 5"][1] == (
        "Сообщения, попытки отправить которые закончились: отправлено, отложено, "
        "доставлено (в том числе помечено как спам), возвращено или не доставлено. "
        "Сообщения в очереди и отправляемые сейчас считаются не здесь, а как ожидающие."
    )


def test_the_apps_are_named_in_russian(staff_client, settings):
    by_browser = staff_client.get(reverse("admin:index"), headers={"Accept-Language": "ru"})
    staff_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "ru"
    by_switcher = staff_client.get(reverse("admin:index"), headers={"Accept-Language": "en"})

    for response in (by_browser, by_switcher):
        html = response.content.decode()
        assert "Сообщения администратору" in html and "Учётные записи" in html
        assert "Messages to the administrator" not in html and "Accounts" not in html


def test_the_list_leads_with_subject_status_and_created(staff_client, deliveries):
    html = staff_client.get(reverse("admin:contact_message_changelist")).content.decode()

    columns = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', html)
    # Four columns, which fit beside the sidebars at 1280 px; the rest is on each page.
    assert columns == ["subject", "status", "created", "sender_address"]


def test_the_list_filters_by_date(staff_client, deliveries):
    url = reverse("admin:contact_message_changelist")
    html = staff_client.get(url).content.decode()

    # The filter's first link is "Today".
    today = html_unescape(re.search(r'href="(\?created_at__gte=[^"]+)"', html).group(1))
    assert str(timezone.localdate()) in today
    assert staff_client.get(url + today).context["cl"].result_count == len(deliveries)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, 6),
        ({"email__status__exact": "failed"}, 1),
        ({"email__status__exact": "sent"}, 2),
        ({"outcome": "not_delivered"}, 2),
        ({"outcome": "waiting"}, 1),
        ({"outcome": "over"}, 5),
        ({"email__status__exact": "failed", "q": "nothing like it"}, 0),
        ({"q": "one"}, 6),
        ({"directory_status__exact": "found"}, 1),
        ({"p": "1", "o": "1"}, 6),
    ],
)
def test_the_list_counts_what_it_shows(staff_client, deliveries, query, expected):
    response = staff_client.get(reverse("admin:contact_message_changelist"), query)

    assert response.status_code == 200
    changelist = response.context["cl"]
    assert changelist.result_count == expected == len(changelist.result_list)
    assert changelist.paginator.num_pages == 1


def test_the_whole_list_and_its_groups_are_counted_without_reading_every_row(
    staff_client, deliveries
):
    url = reverse("admin:contact_message_changelist")
    counts = re.compile(r'SELECT COUNT\(\*\).*FROM "contact_message"', re.IGNORECASE)

    for query in ({}, {"outcome": "not_delivered"}, {"email__status__exact": "sent"}):
        with CaptureQueriesContext(connection) as queries:
            staff_client.get(url, query)
        assert not [q["sql"] for q in queries if counts.search(q["sql"])], query


def test_a_long_list_is_paged_by_its_exact_count(staff_client, user):
    for number in range(105):
        make_message(user, subject=f"Message {number}", status=Email.Status.SENT, attempts=1)

    html = staff_client.get(reverse("admin:contact_message_changelist")).content.decode()

    assert "105 messages" in html
    assert '<a href="?p=2"' in html
    last = staff_client.get(reverse("admin:contact_message_changelist"), {"p": "2"})
    assert len(last.context["cl"].result_list) == 5


def test_the_sign_in_page_shows_no_counts(client, deliveries):
    response = client.get(reverse("admin:login"))

    assert "Emails sent" not in response.content.decode()


def test_a_non_staff_user_cannot_reach_the_admin(client, user, deliveries):
    client.force_login(user)

    response = client.get(reverse("admin:contact_message_changelist"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_the_list_filters_by_status_and_searches_subjects(staff_client, deliveries):
    url = reverse("admin:contact_message_changelist")

    failed = staff_client.get(url, {"email__status__exact": "failed"}).content.decode()
    searched = staff_client.get(url, {"q": "found one"}).content.decode()

    assert "Failed one" in failed and "Sent one" not in failed
    assert "Found one" in searched and "Failed one" not in searched


def test_the_list_filters_by_sender(staff_client, user, deliveries):
    other = make_person("bob@example.org")
    make_message(other, subject="From Bob")

    response = staff_client.get(
        reverse("admin:contact_message_changelist"), {"sender__id__exact": user.pk}
    )

    assert response.status_code == 200
    shown = {message.pk for message in response.context["cl"].result_list}
    assert shown == {message.pk for message in deliveries}
    assert "From Bob" not in response.content.decode()


def test_the_detail_page_is_read_only_with_the_directory_data_pretty_printed(
    staff_client, deliveries
):
    response = staff_client.get(reverse("admin:contact_message_change", args=[deliveries[1].pk]))

    html = response.content.decode()
    # A scrolling region of its own, which the keyboard can reach.
    assert (
        '<pre class="directory-data" tabindex="0" role="region" aria-label="directory data">'
        "[\n  {\n    &quot;id&quot;: 1,"
    ) in html
    assert 'name="subject"' not in html
    assert staff_client.get(reverse("admin:contact_message_add")).status_code == 403


def test_retry_delivery_requeues_the_failed_messages(staff_client, deliveries):
    response = staff_client.post(
        reverse("admin:contact_message_changelist"),
        {
            "action": "retry_delivery",
            "_selected_action": [m.pk for m in deliveries],
        },
        follow=True,
    )

    html = response.content.decode()
    assert "2 emails queued for delivery again." in html
    assert "4 emails skipped" in html
    statuses = sorted(Message.objects.values_list("email__status", flat=True))
    assert statuses == ["delivered", "queued", "queued", "queued", "sent", "sent"]
    assert awaiting_relay() == [deliveries[2].email_id, deliveries[4].email_id]


@pytest.mark.django_db
def test_retry_from_the_not_delivered_list_counts_what_was_selected(staff_client, deliveries):
    not_delivered = Message.objects.filter(email__status__in=Email.NOT_DELIVERED)
    response = staff_client.post(
        reverse("admin:contact_message_changelist") + "?outcome=not_delivered",
        {"action": "retry_delivery", "_selected_action": [m.pk for m in not_delivered]},
        follow=True,
    )

    html = response.content.decode()
    assert "2 emails queued for delivery again." in html
    assert "skipped" not in html


# ---------------------------------------------------------------- names and dates


@pytest.mark.parametrize(
    ("language", "account", "address", "search"),
    [
        (
            "en",
            "Account:",
            "Sender's address (as written):",
            "Searches the subject and the sender's address (as written).",
        ),
        (
            "ru",
            "Учётная запись:",
            "Адрес отправителя (на момент написания):",
            "Ищет по теме и адресу отправителя (на момент написания).",
        ),
    ],
)
def test_the_account_and_the_address_written_from_are_named_apart(
    staff_client, user, language, account, address, search
):
    message = make_message(user, sender_email="old.address@example.org")
    headers = {"Accept-Language": language}

    listed = staff_client.get(reverse("admin:contact_message_changelist"), headers=headers)
    page = staff_client.get(
        reverse("admin:contact_message_change", args=[message.pk]), headers=headers
    )

    rows = readonly_rows(page)
    assert rows[account] == user.email
    assert rows[address] == "old.address@example.org"
    user_page = reverse("admin:users_user_change", args=[user.pk])
    assert f'<a href="{user_page}">{user.email}</a>' in page.content.decode()
    # The list's column, as the change page names it, and the search's help.
    listed_html = html_unescape(listed.content.decode())
    assert f">{address.removesuffix(':')}</a>" in listed_html
    assert search in listed_html
    for both in (listed, page):
        html = both.content.decode()
        assert "Sender email" not in html and "Sender:" not in html
        assert "Адрес отправителя:" not in html and "Отправитель:" not in html


def test_a_message_whose_account_was_deleted_says_so(staff_client, user):
    message = make_message(user)
    user.delete()

    page = staff_client.get(reverse("admin:contact_message_change", args=[message.pk]))

    assert readonly_rows(page)["Account:"] == "deleted"
    assert readonly_rows(page)["Sender's address (as written):"] == message.sender_email


WRITTEN = datetime(2026, 3, 5, 14, 7, 9, tzinfo=UTC)


@pytest.mark.parametrize("language", ["en", "ru"])
def test_every_date_of_the_message_admin_is_in_one_style(staff_client, user, language):
    message = make_message(
        user, status=Email.Status.SENT, created_at=WRITTEN, sent_at=WRITTEN, attempts=1
    )
    headers = {"Accept-Language": language}

    listed = staff_client.get(reverse("admin:contact_message_changelist"), headers=headers)
    page = staff_client.get(
        reverse("admin:contact_message_change", args=[message.pk]), headers=headers
    )

    listed_dates = re.findall(r'<td class="field-created">(.*?)</td>', listed.content.decode())
    assert [text_of(cell) for cell in listed_dates] == ["2026-03-05 14:07:09"]
    shown = [text_of(value) for value in readonly_rows(page).values()]
    assert shown.count("2026-03-05 14:07:09") == 1
    for response in (listed, page):
        text = text_of(response.content.decode())
        assert "p.m." not in text and "March" not in text and "марта" not in text


# ---------------------------------------------------------------- the delivery


def test_the_message_page_leads_to_its_emails_attempts_and_timeline(staff_client, deliveries):
    message = deliveries[2]

    page = staff_client.get(reverse("admin:contact_message_change", args=[message.pk]))

    rows = readonly_rows(page)
    assert rows["Status:"] == "Failed"
    assert rows["Delivery:"] == "Attempts and timeline"
    email_page = reverse("admin:outbox_email_change", args=[message.email_id])
    assert f'<a href="{email_page}">Attempts and timeline</a>' in page.content.decode()
    # The timeline itself is on the email's page, not repeated here.
    assert "Timeline" not in page.content.decode()
    assert staff_client.get(email_page).status_code == 200


def test_the_list_shows_each_messages_status_from_its_email_in_one_query(staff_client, deliveries):
    url = reverse("admin:contact_message_changelist")
    staff_client.get(url)

    with CaptureQueriesContext(connection) as queries:
        html = staff_client.get(url).content.decode()

    statuses = re.findall(r'<td class="field-status">(.*?)</td>', html)
    assert sorted(statuses) == sorted(["Sent", "Sent", "Failed", "Delivered", "Bounced", "Queued"])
    # Read with the messages, not one query per row.
    emails_read = [q["sql"] for q in queries if 'FROM "outbox_email"' in q["sql"]]
    assert emails_read == []


def test_staff_who_may_not_change_emails_are_not_offered_the_retry(client, deliveries):
    viewer = User.objects.create_user(email="viewer@example.org", password="x", is_staff=True)
    viewer.user_permissions.add(
        Permission.objects.get(codename="view_message", content_type__app_label="contact")
    )
    client.force_login(viewer)
    url = reverse("admin:contact_message_changelist")

    listed = client.get(url)
    refused = client.post(url, {"action": "retry_delivery", "_selected_action": [deliveries[2].pk]})

    assert listed.status_code == 200
    assert "retry_delivery" not in listed.content.decode()
    assert refused.status_code in {200, 302}
    assert Email.objects.get(pk=deliveries[2].email_id).status == Email.Status.FAILED
    viewer.user_permissions.add(
        Permission.objects.get(codename="change_email", content_type__app_label="outbox")
    )
    viewer = User.objects.get(pk=viewer.pk)
    client.force_login(viewer)
    assert "retry_delivery" in client.get(url).content.decode()
