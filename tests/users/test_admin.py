import html
import re
from collections.abc import Callable
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.db import models
from django.urls import reverse

from contact.models import Message
from outbox.models import Email, EmailEvent
from tests.conftest import GOOD_PASSWORD, make_person
from tests.contact.factories import make_message
from users.admin import EMAILS_SHOWN
from users.models import AccountEmailKind, User
from users.services import account_email_queue, password_reset_queue

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(User.objects.create_superuser(email="boss@example.org", password="x"))
    return client


def test_staff_can_list_and_search_users(staff_client, user):
    response = staff_client.get(reverse("admin:users_user_changelist"), {"q": "ann.lee"})

    assert response.status_code == 200
    assert user.email in response.content.decode()


def test_staff_can_add_a_user_by_email(staff_client):
    response = staff_client.post(
        reverse("admin:users_user_add"),
        {
            "email": "added@example.org",
            "usable_password": "true",
            "password1": GOOD_PASSWORD,
            "password2": GOOD_PASSWORD,
        },
    )

    assert response.status_code == 302
    assert User.objects.get(email="added@example.org").check_password(GOOD_PASSWORD)


def test_admin_refuses_an_email_taken_in_another_case(staff_client, user):
    response = staff_client.post(
        reverse("admin:users_user_add"),
        {"email": user.email.upper(), "usable_password": "false"},
    )

    assert response.status_code == 200
    assert "A user with this email already exists." in response.content.decode()
    assert User.objects.filter(is_staff=False).count() == 1


def test_staff_can_open_a_user(staff_client, user):
    response = staff_client.get(reverse("admin:users_user_change", args=[user.pk]))

    assert response.status_code == 200
    assert user.email in response.content.decode()


def messages_link(page) -> tuple[str, str]:
    """The address and the text of the link to the person's messages on their page."""
    readonly = page.content.decode().split("field-messages_written", 1)[1]
    href, text = re.search(r'<a href="([^"]+)">([^<]+)</a>', readonly).groups()
    return html.unescape(href), text


def test_a_users_page_links_to_their_messages_only(staff_client, user):
    theirs = [make_message(user, subject="First"), make_message(user, subject="Second")]
    make_message(make_person("bob@example.org"), subject="From Bob")

    page = staff_client.get(reverse("admin:users_user_change", args=[user.pk]))
    href, text = messages_link(page)
    listed = staff_client.get(href)

    assert text == "2 messages"
    assert href.startswith(reverse("admin:contact_message_changelist") + "?")
    assert listed.status_code == 200
    assert {message.pk for message in listed.context["cl"].result_list} == {
        message.pk for message in theirs
    }
    assert "From Bob" not in listed.content.decode()


@pytest.mark.parametrize(
    ("count", "english", "russian"),
    [
        (0, "0 messages", "0 сообщений"),
        (1, "1 message", "1 сообщение"),
        (3, "3 messages", "3 сообщения"),
    ],
)
def test_the_count_of_messages_is_said_in_each_language(
    staff_client, user, count, english, russian
):
    for _ in range(count):
        make_message(user)
    url = reverse("admin:users_user_change", args=[user.pk])

    assert messages_link(staff_client.get(url))[1] == english
    assert messages_link(staff_client.get(url, headers={"Accept-Language": "ru"}))[1] == russian


def test_the_admin_sign_in_refuses_an_overlong_address_calmly(client):
    response = client.post("/admin/login/", {"username": "x" * 200_000, "password": "x"})

    assert response.status_code == 200
    assert "at most 254 characters" in response.content.decode()


def test_the_admin_sign_in_takes_the_address_in_any_case(client):
    User.objects.create_superuser(email="boss@example.org", password=GOOD_PASSWORD)

    response = client.post(
        "/admin/login/", {"username": " BOSS@Example.org ", "password": GOOD_PASSWORD}
    )

    assert response.status_code == 302


@pytest.mark.parametrize(
    ("language", "name"), [("en", "Sign-in lockout"), ("ru", "Блокировка входа")]
)
def test_the_sign_in_lockout_is_named_in_each_language(staff_client, language, name):
    response = staff_client.get(reverse("admin:index"), headers={"Accept-Language": language})

    page = response.content.decode()
    # django-axes' app, as the index names it.
    assert re.findall(r'<a href="/admin/axes/"[^>]*>([^<]+)</a>', page) == [name]
    assert "Axes" not in page


def list_filters(response) -> dict[str, list[str]]:
    """Each list filter of the sidebar: its heading, and its choices."""
    page = html.unescape(response.content.decode())
    found = re.findall(r"<summary>(.*?)</summary>(.*?)</ul>", page, re.DOTALL)
    return {
        heading.strip(): [text.strip() for text in re.findall(r"<a [^>]*>([^<]+)</a>", choices)]
        for heading, choices in found
    }


@pytest.mark.parametrize(
    ("language", "title", "choices"),
    [
        ("en", "By address confirmation", ["All", "Confirmed", "Not confirmed"]),
        ("ru", "подтверждение адреса", ["Все", "Подтверждён", "Не подтверждён"]),
    ],
)
def test_the_confirmation_filter_says_what_each_choice_means(
    staff_client, user, unconfirmed_user, language, title, choices
):
    url = reverse("admin:users_user_changelist")
    headers = {"Accept-Language": language}

    assert list_filters(staff_client.get(url, headers=headers))[title] == choices
    confirmed = staff_client.get(url, {"confirmed": "yes"}).context["cl"].result_list
    not_confirmed = staff_client.get(url, {"confirmed": "no"}).context["cl"].result_list
    assert user in confirmed and unconfirmed_user not in confirmed
    assert list(not_confirmed) == [unconfirmed_user]


JOINED = datetime(2026, 3, 5, 14, 7, 9, tzinfo=UTC)


@pytest.mark.parametrize("language", ["en", "ru"])
def test_a_persons_dates_are_in_the_style_their_input_takes(staff_client, user, language):
    User.objects.filter(pk=user.pk).update(
        date_joined=JOINED, email_verified_at=JOINED, last_login=JOINED
    )
    headers = {"Accept-Language": language}

    listed = staff_client.get(
        reverse("admin:users_user_changelist"), {"q": user.email}, headers=headers
    )
    page = staff_client.get(reverse("admin:users_user_change", args=[user.pk]), headers=headers)

    row = listed.content.decode().split('class="field-email"', 1)[1].split("</tr>", 1)[0]
    assert re.sub(r"<[^>]+>", "", row).count("2026-03-05 14:07:09") == 3
    text = re.sub(r"<[^>]+>", "", page.content.decode())
    assert 'value="2026-03-05 14:07:09"' in page.content.decode()
    assert text.count("2026-03-05 14:07:09") == 2
    assert "p.m." not in text and "March" not in text and "марта" not in text


def test_a_date_not_set_shows_the_admins_empty_mark(staff_client, user):
    page = staff_client.get(reverse("admin:users_user_change", args=[user.pk]))

    last_login = re.search(
        r'field-last_sign_in.*?<div class="readonly">(.*?)</div>', page.content.decode(), re.S
    )
    assert last_login.group(1).strip() == "-"


def test_an_account_emails_dates_are_in_the_admins_one_style(staff_client, user):
    sent = Email.objects.create(
        kind=AccountEmailKind.VERIFY_ADDRESS,
        to=user.email,
        user=user,
        language="en",
        created_at=JOINED,
        next_attempt_at=JOINED,
        sent_at=JOINED,
        status=Email.Status.SENT,
        attempts=1,
    )
    EmailEvent.objects.create(
        email=sent,
        kind=EmailEvent.Kind.ATTEMPT,
        occurred_at=JOINED,
        event_type="sent",
        status=Email.Status.SENT,
        applied=True,
    )

    listed = staff_client.get(reverse("admin:outbox_email_changelist"))
    page = staff_client.get(reverse("admin:outbox_email_change", args=[sent.pk]))

    # Created in the list; created, sent and the attempt's time on its page.
    assert re.sub(r"<[^>]+>", "", listed.content.decode()).count("2026-03-05 14:07:09") == 1
    assert re.sub(r"<[^>]+>", "", page.content.decode()).count("2026-03-05 14:07:09") == 3


# ---------------------------------------------------------------- the account's emails


def emails_sent(page) -> str:
    """The "emails sent to the account" field of a person's page, as its HTML."""
    field = page.content.decode().split("field-emails_sent", 1)[1]
    return field.split('<div class="readonly">', 1)[1].split("</div>", 1)[0]


def listed_emails(field: str) -> list[tuple[str, str, str]]:
    """Each email the field lists: its status class, the address it links to, its text."""
    return [
        (status, html.unescape(href), re.sub(r"<[^>]+>", "", text))
        for status, href, text in re.findall(
            r'<li class="email-(\w+)"><a href="([^"]+)">(.*?)</li>', field, re.S
        )
    ]


def test_a_persons_page_lists_the_emails_sent_to_the_account_and_how_each_went(
    staff_client, unconfirmed_user
):
    first = account_email_queue(
        user=unconfirmed_user, kind=AccountEmailKind.VERIFY_ADDRESS, language="en"
    )
    Email.objects.filter(pk=first.pk).update(status=Email.Status.BOUNCED)
    second = account_email_queue(
        user=unconfirmed_user, kind=AccountEmailKind.VERIFY_ADDRESS, language="en"
    )
    Email.objects.filter(pk=second.pk).update(status=Email.Status.FAILED, attempts=5)
    # Someone else's emails, and a reset no account has taken yet, are not theirs.
    account_email_queue(
        user=make_person("bob@example.org"), kind=AccountEmailKind.SIGN_UP_ATTEMPT, language="en"
    )
    password_reset_queue(address=unconfirmed_user.email, language="en")

    page = staff_client.get(reverse("admin:users_user_change", args=[unconfirmed_user.pk]))

    change = "admin:outbox_email_change"
    # Newest first, so the link that did not come is the first thing staff see.
    assert listed_emails(emails_sent(page)) == [
        ("failed", reverse(change, args=[second.pk]), "Address confirmation: Failed"),
        ("bounced", reverse(change, args=[first.pk]), "Address confirmation: Bounced"),
    ]
    assert "emails sent to the account" in page.content.decode().lower()


def test_the_account_emails_link_lists_them_all(staff_client, user):
    theirs = [
        account_email_queue(user=user, kind=kind, language="en")
        for kind in [AccountEmailKind.SIGN_UP_ATTEMPT] * (EMAILS_SHOWN + 1)
    ]
    account_email_queue(
        user=make_person("bob@example.org"), kind=AccountEmailKind.SIGN_UP_ATTEMPT, language="en"
    )

    field = emails_sent(staff_client.get(reverse("admin:users_user_change", args=[user.pk])))
    shown = listed_emails(field)
    every = html.unescape(re.findall(r'<a href="([^"]+)">All</a>', field)[0])
    listed = staff_client.get(every)

    assert len(shown) == EMAILS_SHOWN
    assert every.startswith(reverse("admin:outbox_email_changelist") + "?")
    assert listed.status_code == 200
    assert {email.pk for email in listed.context["cl"].result_list} == {
        email.pk for email in theirs
    }


def test_an_account_without_emails_says_none_yet(staff_client, user):
    field = emails_sent(staff_client.get(reverse("admin:users_user_change", args=[user.pk])))

    assert listed_emails(field) == []
    assert re.sub(r"<[^>]+>", "", field).strip() == "None yet (All)"


def test_the_account_emails_are_named_in_russian(staff_client, unconfirmed_user):
    sent = account_email_queue(
        user=unconfirmed_user, kind=AccountEmailKind.VERIFY_ADDRESS, language="en"
    )
    Email.objects.filter(pk=sent.pk).update(status=Email.Status.BOUNCED)

    page = staff_client.get(
        reverse("admin:users_user_change", args=[unconfirmed_user.pk]),
        headers={"Accept-Language": "ru"},
    )

    [(_, _, text)] = listed_emails(emails_sent(page))
    assert text == "Подтверждение адреса: Возвращено"
    assert "Письма, отправленные на учётную запись" in page.content.decode()


# ---------------------------------------------------------------- every change form, saved


class PostedFields(HTMLParser):
    """What a browser posts when the form `form_id` is saved untouched: each enabled
    field's name and value (boxes that are checked, the options selected or a single
    select's first, a textarea's text), hidden ones and the inline formsets' included."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.data: dict[str, list[str]] = {}
        # The select or textarea being read: its name, and its options or text so far.
        self.select: tuple[str, bool, list[tuple[str, bool]]] | None = None
        self.textarea: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag: str, attributes: list[tuple[str, str | None]]) -> None:
        attrs = dict(attributes)
        if tag == "form":
            self.inside = attrs.get("id") == self.form_id
        elif tag == "option" and self.select is not None:
            self.select[2].append((attrs.get("value") or "", "selected" in attrs))
        if not self.inside or "disabled" in attrs or not attrs.get("name"):
            return
        name = attrs["name"] or ""
        kind = (attrs.get("type") or "text").lower()
        if tag == "input" and kind in ("checkbox", "radio"):
            if "checked" in attrs:
                self.post(name, attrs.get("value") or "on")
        elif tag == "input" and kind not in ("submit", "button", "reset", "file", "image"):
            self.post(name, attrs.get("value") or "")
        elif tag == "select":
            self.select = (name, "multiple" in attrs, [])
        elif tag == "textarea":
            self.textarea = (name, [])

    def handle_data(self, data: str) -> None:
        if self.textarea is not None:
            self.textarea[1].append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "select" and self.select is not None:
            name, multiple, options = self.select
            chosen = [value for value, selected in options if selected]
            if not chosen and not multiple and options:
                chosen = [options[0][0]]
            for value in chosen:
                self.post(name, value)
            self.select = None
        elif tag == "textarea" and self.textarea is not None:
            name, parts = self.textarea
            # A browser drops the line break that opens a textarea; the parser keeps it.
            self.post(name, "".join(parts).removeprefix("\n"))
            self.textarea = None

    def post(self, name: str, value: str) -> None:
        self.data.setdefault(name, []).append(value)


def posted_fields(page: str, form_id: str) -> dict[str, list[str]]:
    parser = PostedFields(form_id)
    parser.feed(page)
    parser.close()
    return parser.data


def a_group() -> Group:
    group = Group.objects.create(name="Helpers")
    group.permissions.add(Permission.objects.get(codename="view_message"))
    return group


def a_message() -> Message:
    message = make_message(make_person("writer@example.org"))
    Email.objects.filter(pk=message.email_id).update(status=Email.Status.SENT)
    EmailEvent.objects.create(
        email_id=message.email_id,
        kind=EmailEvent.Kind.ATTEMPT,
        event_type="sent",
        status=Email.Status.SENT,
        applied=True,
        duration_ms=120,
        detail="Accepted by the mail server 127.0.0.1:1025.",
    )
    return message


def an_account_email() -> Email:
    person = make_person("emailed@example.org", confirmed=False)
    email = account_email_queue(user=person, kind=AccountEmailKind.VERIFY_ADDRESS, language="en")
    EmailEvent.objects.create(
        email=email,
        kind=EmailEvent.Kind.ATTEMPT,
        event_type="failed",
        status=Email.Status.FAILED,
        applied=True,
        duration_ms=80,
        detail="SMTPRecipientsRefused: 550 No such mailbox",
    )
    Email.objects.filter(pk=email.pk).update(status=Email.Status.FAILED, attempts=1)
    return email


SIGN_IN = {
    "user_agent": "Mozilla/5.0",
    "ip_address": "192.0.2.1",
    "username": "ann@example.org",
    "http_accept": "text/html",
    "path_info": "/accounts/login/",
}
# A saved row of every model the admin shows, as the site writes them: a confirmed
# person, an email with its timeline, a message, a group with a permission, django-axes'
# records.
SAVED: dict[str, Callable[[], models.Model]] = {
    "users.User": lambda: make_person("confirmed@example.org"),
    "outbox.Email": an_account_email,
    "contact.Message": a_message,
    "auth.Group": a_group,
    "axes.AccessAttempt": lambda: AccessAttempt.objects.create(
        **SIGN_IN, get_data="", post_data="username=ann%40example.org", failures_since_start=1
    ),
    "axes.AccessFailureLog": lambda: AccessFailureLog.objects.create(**SIGN_IN),
    "axes.AccessLog": lambda: AccessLog.objects.create(**SIGN_IN),
}
REGISTERED = [model for model in apps.get_models() if admin.site.is_registered(model)]


def test_every_model_the_admin_shows_has_a_saved_row_here():
    assert sorted(model._meta.label for model in REGISTERED) == sorted(SAVED)


@pytest.mark.parametrize("model", REGISTERED, ids=lambda model: model._meta.label)
def test_every_change_form_saves_as_it_is_shown(staff_client, model):
    row = SAVED[model._meta.label]()
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[row.pk])

    page = staff_client.get(url)
    assert page.status_code == 200
    if not page.context["has_change_permission"]:
        # Shown to read, written only by the site: nothing to save.
        assert 'name="_save"' not in page.content.decode()
        return
    data = posted_fields(page.content.decode(), f"{model._meta.model_name}_form")
    response = staff_client.post(url, data)

    errors = response.context and (
        response.context["adminform"].form.errors,
        [formset.errors for formset in response.context["inline_admin_formsets"]],
    )
    assert response.status_code == 302, errors


def test_staff_can_clear_the_verification_date(staff_client, user):
    url = reverse("admin:users_user_change", args=[user.pk])
    data = posted_fields(staff_client.get(url).content.decode(), "user_form")

    response = staff_client.post(url, {**data, "email_verified_at": ""})

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.email_verified_at is None


def test_staff_can_deactivate_a_confirmed_account(staff_client, user):
    url = reverse("admin:users_user_change", args=[user.pk])
    data = posted_fields(staff_client.get(url).content.decode(), "user_form")
    del data["is_active"]

    response = staff_client.post(url, data)

    assert response.status_code == 302
    user.refresh_from_db()
    assert not user.is_active
    assert user.email_verified_at is not None


@pytest.mark.parametrize("address", ["staff@localhost", "staff@[127.0.0.1]"])
def test_staff_cannot_add_an_address_without_a_domain_name(staff_client, address):
    response = staff_client.post(
        reverse("admin:users_user_add"), {"email": address, "usable_password": "false"}
    )

    assert response.status_code == 200
    assert "Use an address at a domain name" in response.content.decode()
    assert not User.objects.filter(email=address).exists()
