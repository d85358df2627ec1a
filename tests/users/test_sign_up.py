"""Sign-up tells nobody whether an address has an account: a new address and a taken one
get the same answer, and the owner of a taken one hears of the attempt by email."""

import re
from unittest import mock

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from contact.selectors import MessageCounts, message_counts
from outbox.models import Email
from tests.conftest import GOOD_PASSWORD, HTMX
from tests.users.mail import deliver_account_emails, emailed_link
from users.models import AccountEmailKind, User

pytestmark = pytest.mark.django_db

DONE = "/accounts/register/done/"


def register(client, email: str, *, htmx: bool = True, **extra):
    data = {"email": email, "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD}
    return client.post(reverse("register"), data, **({**HTMX} if htmx else {}), **extra)


def without_tokens(html: str) -> str:
    return re.sub(r'value="[A-Za-z0-9]{64}"', 'value="…"', html)


@pytest.mark.parametrize("htmx", [True, False])
def test_a_new_and_a_taken_address_get_the_same_answer(client, user, htmx):
    new = register(client, "someone.new@example.org", htmx=htmx)
    taken = register(client, user.email.upper(), htmx=htmx)

    assert new.status_code == taken.status_code == (200 if htmx else 302)
    header = "HX-Redirect" if htmx else "Location"
    assert new[header] == taken[header] == DONE
    assert new.content == taken.content
    assert set(new.headers) == set(taken.headers)


def test_the_done_page_says_to_check_the_inbox_and_nobody_is_signed_in(client):
    register(client, "someone.new@example.org")

    page = client.get(DONE)

    assert "Check your inbox" in page.content.decode()
    assert client.session.get("_auth_user_id") is None


def test_a_new_address_is_sent_a_confirmation_link(client, smtp_sink):
    register(client, "Someone.New@Example.org")

    link = emailed_link(smtp_sink, to="someone.new@example.org", path="/accounts/confirm/")

    assert User.objects.get().email == "someone.new@example.org"
    assert link.startswith("/accounts/confirm/")


def test_the_owner_of_a_taken_address_is_told_with_links_to_sign_in_and_reset(
    client, user, smtp_sink, settings
):
    settings.SITE_URL = "https://site.example.org"
    register(client, user.email.upper())
    deliver_account_emails()

    [notice] = smtp_sink.received
    assert notice.rcpt_tos == [user.email]
    assert notice.message["Subject"] == "Someone tried to sign up with your address"
    body = notice.message.get_body(("plain",)).get_content()
    assert "https://site.example.org/accounts/login/" in body
    assert "https://site.example.org/accounts/password/reset/" in body
    assert User.objects.count() == 1


def test_the_emails_speak_the_language_the_person_used(client, user, smtp_sink):
    register(client, user.email, HTTP_ACCEPT_LANGUAGE="ru")
    deliver_account_emails()

    [notice] = smtp_sink.received
    # Python folds a long encoded subject onto a line of its own, after a space.
    assert notice.message["Subject"].strip() == "Кто-то пытался зарегистрироваться с вашим адресом"


def test_live_validation_never_says_an_address_is_taken(client, user):
    url = reverse("register-validate")
    data = {"email": user.email, "_touched": ["email"]}

    assert client.post(url, data).json() == {"errors": {}}


def test_an_account_email_is_not_a_message_to_the_administrator(client, smtp_sink, settings):
    register(client, "someone.new@example.org")
    deliver_account_emails()

    [sent] = smtp_sink.received
    assert sent.rcpt_tos == ["someone.new@example.org"]
    sent_email = Email.objects.get()
    assert (sent_email.kind, sent_email.status) == (
        AccountEmailKind.VERIFY_ADDRESS,
        Email.Status.SENT,
    )
    assert message_counts() == MessageCounts(sent=0, not_delivered=0, waiting=0)


def test_a_new_and_a_taken_address_cost_one_hash_and_the_same_insert(client, user):
    # Hashing the password is most of a sign-up's time: both paths hash it exactly once,
    # and both try the insert. `make bench` times the two (item 7).
    hash_password = MD5PasswordHasher.encode

    def cost(email: str) -> tuple[int, int]:
        with (
            mock.patch.object(
                MD5PasswordHasher, "encode", autospec=True, side_effect=hash_password
            ) as hashing,
            CaptureQueriesContext(connection) as queries,
        ):
            register(client, email)
        inserts = sum(q["sql"].startswith('INSERT INTO "users_user"') for q in queries)
        return hashing.call_count, inserts

    assert cost("someone.new@example.org") == cost(user.email.upper()) == (1, 1)
