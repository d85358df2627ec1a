"""A page answered to a signed-in person is theirs alone: it says `Cache-Control: private`,
so no shared cache (a proxy, a CDN) keeps it for the next visitor. A stricter header a
view set stays; pages for anonymous visitors are left as they are."""

import pytest
from django.urls import reverse

from tests.conftest import HTMX
from tests.contact.factories import make_message
from users.models import User

pytestmark = pytest.mark.django_db


def directives(response) -> set[str]:
    header = response.get("Cache-Control", "")
    return {part.strip().split("=")[0] for part in header.split(",") if part.strip()}


@pytest.mark.parametrize("page", ["home", "message-list", "account", "password_change"])
def test_a_signed_in_persons_pages_are_private(client, user, page):
    client.force_login(user)

    response = client.get(reverse(page))

    assert response.status_code == 200
    assert "private" in directives(response)
    assert "public" not in directives(response)


def test_a_message_and_the_htmx_answers_are_private(client, user):
    client.force_login(user)
    message = make_message(sender=user)

    page = client.get(reverse("message-detail", args=[message.pk]))
    poll = client.get(reverse("message-list"), **HTMX)
    sent = client.post(reverse("message-new"), {"subject": "Hello", "body": "Hi"}, **HTMX)

    for response in (page, poll, sent):
        assert response.status_code == 200
        assert "private" in directives(response)


def test_the_admin_is_private_and_still_never_cached(client):
    client.force_login(
        User.objects.create_superuser(email="boss@example.org", password="plum-harbour-42")
    )

    for path in ("/admin/", "/admin/contact/message/"):
        response = client.get(path)

        assert response.status_code == 200
        assert {"private", "no-cache", "no-store", "must-revalidate"} <= directives(response)


@pytest.mark.parametrize("page", ["home", "register"])
def test_an_anonymous_visitors_pages_are_left_as_they_are(client, page):
    response = client.get(reverse(page))

    assert response.status_code == 200
    assert "Cache-Control" not in response


def test_the_sign_in_page_keeps_the_header_its_view_sets(client):
    # Django's LoginView is never cached, by its own decorator.
    response = client.get(reverse("login"))

    assert response["Cache-Control"] == "max-age=0, no-cache, no-store, must-revalidate, private"
