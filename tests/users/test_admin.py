import html
import re

import pytest
from django.urls import reverse

from tests.conftest import GOOD_PASSWORD, make_person
from tests.contact.factories import make_message
from users.models import User

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
