import json

import pytest
from django.utils import translation

from contact.directory import DirectoryLookup
from contact.emails import DIRECTORY_ATTACHMENT_NAME, admin_email
from contact.models import Message
from tests.contact.factories import make_message
from tests.standins.directory import USERS

pytestmark = pytest.mark.django_db

LEANNE = USERS[0]
FOUND = DirectoryLookup(Message.DirectoryStatus.FOUND, users=[LEANNE])
NOT_FOUND = DirectoryLookup(Message.DirectoryStatus.NOT_FOUND)
UNAVAILABLE = DirectoryLookup(Message.DirectoryStatus.UNAVAILABLE, error="HTTP 500")


@pytest.fixture(autouse=True)
def addresses(settings):
    settings.ADMIN_EMAIL = "admin@example.org"
    settings.DEFAULT_FROM_EMAIL = "Site <site@example.org>"


def test_goes_to_the_administrator_and_replies_to_the_sender(user):
    email = admin_email(make_message(user), NOT_FOUND)

    assert email.to == ["admin@example.org"]
    assert email.from_email == "Site <site@example.org>"
    assert email.reply_to == [user.email]


def test_subject_and_body_carry_the_sender_the_time_and_the_message(user):
    message = make_message(user)

    email = admin_email(message, NOT_FOUND)

    assert email.subject == f"Message from {user.email}: Question about my order"
    assert user.email in email.body
    assert "where is my parcel?" in email.body
    assert str(message.created_at.year) in email.body


def test_a_found_sender_gets_a_summary_and_the_json_attached(user):
    email = admin_email(make_message(user), FOUND)

    assert "Name: Leanne Graham" in email.body
    assert "Company: Romaguera-Crona" in email.body
    [(name, content, mimetype)] = email.attachments
    assert name == DIRECTORY_ATTACHMENT_NAME
    assert mimetype == "application/json"
    assert json.loads(content.decode("utf-8")) == [LEANNE]
    assert content.decode().startswith('[\n  {\n    "id": 1,')


def test_a_sender_not_found_gets_no_attachment(user):
    email = admin_email(make_message(user), NOT_FOUND)

    assert "In the user directory: not found." in email.body
    assert email.attachments == []


def test_an_unavailable_directory_is_said_in_the_body(user):
    email = admin_email(make_message(user), UNAVAILABLE)

    assert "directory unavailable (HTTP 500)" in email.body
    assert email.attachments == []


def test_the_text_is_not_html_escaped(user):
    message = make_message(user, subject="Tom & Jerry <3", body="a < b & c")

    email = admin_email(message, NOT_FOUND)

    assert email.subject.endswith("Tom & Jerry <3")
    assert "a < b & c" in email.body


def test_message_id_is_stable_for_the_row(user):
    message = make_message(user)

    first = admin_email(message, NOT_FOUND).extra_headers["Message-ID"]
    second = admin_email(message, FOUND).extra_headers["Message-ID"]

    assert first == second
    assert first.startswith(f"<message-{message.pk}.")
    assert first.endswith("@example.org>")


def test_directory_data_never_reaches_a_header(user):
    hostile = {**LEANNE, "name": "Evil\r\nBcc: victim@example.org"}
    email = admin_email(
        make_message(user), DirectoryLookup(Message.DirectoryStatus.FOUND, [hostile])
    )

    headers = email.message().as_string().split("\n\n", 1)[0]
    assert "victim@example.org" not in headers


def test_the_email_is_written_in_the_sites_language(user, settings):
    settings.LANGUAGE_CODE = "ru"
    two_entries = DirectoryLookup(Message.DirectoryStatus.FOUND, users=[LEANNE, LEANNE])

    email = admin_email(make_message(user, subject="Вопрос"), two_entries)

    assert email.subject == f"Сообщение от {user.email}: Вопрос"
    assert "Тема: Вопрос" in email.body
    assert "В справочнике пользователей: найдено 2 записи;" in email.body
    assert "Имя: Leanne Graham" in email.body
    assert f"Чтобы ответить {user.email}, ответьте на это письмо." in email.body


def test_the_language_of_whoever_asked_does_not_change_the_email(user):
    # The admin's "Retry delivery", say, comes from a request in Russian.
    with translation.override("ru"):
        email = admin_email(make_message(user), NOT_FOUND)

    assert email.subject.startswith("Message from ")
    assert "In the user directory: not found." in email.body
