"""A signed-in person changes their password or deletes their account themselves."""

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from outbox.models import Email
from tests.conftest import GOOD_PASSWORD, HTMX
from tests.contact.factories import make_message
from users.models import AccountEmailKind, User
from users.services import account_email_queue

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "quince-meadow-compass-77"


def change(client, current: str, new: str = NEW_PASSWORD, **extra):
    data = {"old_password": current, "new_password1": new, "new_password2": new}
    return client.post(reverse("password_change"), data, **extra)


def test_the_account_page_shows_the_address_and_the_actions(client, user):
    client.force_login(user)

    page = client.get(reverse("account")).content.decode()

    assert user.email in page
    assert "(confirmed)" in page
    assert f'href="{reverse("password_change")}"' in page
    assert f'href="{reverse("account_delete")}"' in page


def test_the_account_pages_need_a_signed_in_person(client):
    for name in ("account", "password_change", "account_delete"):
        assert client.get(reverse(name))["Location"].startswith(reverse("login"))


def test_changing_the_password_keeps_this_session_and_ends_every_other(client, user):
    elsewhere = Client()
    elsewhere.force_login(user)
    client.force_login(user)

    response = change(client, GOOD_PASSWORD, **HTMX)

    assert response["HX-Redirect"] == reverse("account")
    assert "Every other session is signed out." in client.get(reverse("account")).content.decode()
    assert elsewhere.get(reverse("message-list")).status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_changing_the_password_needs_the_current_one(client, user):
    client.force_login(user)

    response = change(client, "not-" + GOOD_PASSWORD, **HTMX)

    assert "Your old password was entered incorrectly." in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(GOOD_PASSWORD)


def test_live_validation_of_a_password_change_never_checks_the_current_one(client, user):
    client.force_login(user)
    data = {
        "old_password": "not-" + GOOD_PASSWORD,
        "new_password1": "short",
        "new_password2": "short",
        "_touched": ["old_password", "new_password1", "new_password2"],
    }

    errors = client.post(reverse("password_change_validate"), data).json()["errors"]

    assert "old_password" not in errors
    assert "This password is too short." in errors["new_password1"][0]


def test_deleting_the_account_needs_the_password(client, user):
    client.force_login(user)

    response = client.post(reverse("account_delete"), {"password": "not-" + GOOD_PASSWORD})

    assert response.status_code == 200
    assert "Your password was entered incorrectly." in response.content.decode()
    assert User.objects.filter(pk=user.pk).exists()


def test_deleting_the_account_keeps_its_messages_and_signs_out_everywhere(client, user):
    message = make_message(user)
    Email.objects.filter(pk=message.email_id).update(status=Email.Status.SENT)
    account_email_queue(user=user, kind=AccountEmailKind.SIGN_UP_ATTEMPT, language="en")
    elsewhere = Client()
    elsewhere.force_login(user)
    client.force_login(user)

    response = client.post(reverse("account_delete"), {"password": GOOD_PASSWORD}, **HTMX)

    assert response["HX-Redirect"] == reverse("home")
    assert not User.objects.filter(pk=user.pk).exists()
    message.refresh_from_db()
    assert (message.sender, message.sender_email, message.email.status) == (
        None,
        user.email,
        Email.Status.SENT,
    )
    # The emails sent to the account go with it; the message's stays.
    assert list(Email.objects.all()) == [message.email]
    assert "Your account is deleted." in client.get(reverse("home")).content.decode()
    assert elsewhere.get(reverse("message-list")).status_code == 302


def test_live_validation_of_a_deletion_never_checks_the_password(client, user):
    client.force_login(user)
    data = {"password": "not-" + GOOD_PASSWORD, "_touched": ["password"]}

    assert client.post(reverse("account_delete_validate"), data).json() == {"errors": {}}


@pytest.mark.parametrize("url_name", ["password_change_validate", "account_delete_validate"])
def test_a_late_validation_cannot_sign_the_person_out(client, user, url_name):
    # A validation still on its way when the submit rotated the session key (as a
    # password change does) arrives with the old key; Django would delete the cookie of
    # a session it looks for and cannot find. These endpoints never look.
    client.force_login(user)
    Session.objects.filter(session_key=client.cookies["sessionid"].value).delete()
    data = {"new_password1": "short", "_touched": ["new_password1"]}

    response = client.post(reverse(url_name), data)

    assert response.status_code == 200
    assert "sessionid" not in response.cookies
