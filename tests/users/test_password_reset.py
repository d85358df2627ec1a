"""Password reset by email, with Django's own views: one answer for every address, a link
that works once and expires, and a new password that ends every session."""

import re

import pytest
from django.contrib.auth import SESSION_KEY
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from outbox.models import Email
from tests.conftest import GOOD_PASSWORD, HTMX
from tests.users.mail import deliver_account_emails, emailed_link
from users.models import User
from users.views import RESETS_LIMITED_FOR_ADDRESS

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "quince-meadow-compass-77"
RESET = "/accounts/password/reset/"


def ask(client, email: str, *, address: str = "192.0.2.1", htmx: bool = False):
    extra = {**HTMX} if htmx else {}
    return client.post(reverse("password_reset"), {"email": email}, REMOTE_ADDR=address, **extra)


def set_password(client: Client, link: str, password: str = NEW_PASSWORD):
    # Django's view moves the token from the URL into the session, then shows the form.
    form_url = client.get(link)["Location"]
    data = {"new_password1": password, "new_password2": password}
    return form_url, client.post(form_url, data)


def test_the_sign_in_page_links_to_the_reset(client):
    assert f'href="{reverse("password_reset")}"' in client.get(reverse("login")).content.decode()


@pytest.mark.parametrize("htmx", [False, True])
def test_a_known_and_an_unknown_address_get_the_same_answer(client, user, htmx):
    known = ask(client, user.email.upper(), htmx=htmx)
    unknown = ask(client, "nobody@example.org", htmx=htmx)

    assert known.status_code == unknown.status_code
    assert known.content == unknown.content
    header = "HX-Redirect" if htmx else "Location"
    assert known[header] == unknown[header] == reverse("password_reset_done")
    assert deliver_account_emails() == 1
    assert [row.user for row in Email.objects.all()] == [user]


def statements(queries: CaptureQueriesContext) -> list[tuple[str, str]]:
    """Each query's kind and the first table it names, if any."""
    found = []
    for query in queries.captured_queries:
        table = re.search(r'(?:FROM|INTO|UPDATE) "(\w+)"', query["sql"])
        found.append((query["sql"].split()[0].upper(), table.group(1) if table else ""))
    return found


@pytest.mark.parametrize("other", ["nobody@example.org", "inactive@example.org"])
def test_a_known_and_another_address_cost_the_request_the_same_queries(user, other):
    # Timing must tell nothing: the request writes one row whoever has the address, and
    # the worker finds the account when it sends.
    User.objects.create_user(email="inactive@example.org", password=GOOD_PASSWORD, is_active=False)

    with CaptureQueriesContext(connection) as known:
        ask(Client(), user.email, address="192.0.2.1")
    with CaptureQueriesContext(connection) as unknown:
        ask(Client(), other, address="192.0.2.2")

    assert statements(known) == statements(unknown)
    assert statements(known).count(("INSERT", "outbox_email")) == 1
    assert not any(table == "users_user" for _, table in statements(known))


def test_the_worker_sends_a_reset_to_the_account_alone(client, user, smtp_sink):
    User.objects.create_user(email="no.password@example.org")
    for address in (user.email, "nobody@example.org", "no.password@example.org"):
        ask(client, address)

    assert deliver_account_emails() == 1

    [sent] = smtp_sink.received
    assert sent.rcpt_tos == [user.email]
    # An address without an account leaves nothing behind.
    assert [(row.user, row.to) for row in Email.objects.all()] == [(user, user.email)]


def test_the_emailed_link_sets_the_password_once_and_confirms_the_address(
    client, unconfirmed_user, smtp_sink
):
    ask(client, unconfirmed_user.email)
    link = emailed_link(smtp_sink, to=unconfirmed_user.email, path=RESET)

    form_url, done = set_password(client, link)

    assert done["Location"] == reverse("password_reset_complete")
    unconfirmed_user.refresh_from_db()
    assert unconfirmed_user.check_password(NEW_PASSWORD)
    # The link came to the mailbox: that confirms the address too.
    assert unconfirmed_user.email_verified
    # Used once: the link, and the form it led to, are dead now.
    assert "This link is not valid" in Client().get(link).content.decode()
    data = {"new_password1": "another-" + NEW_PASSWORD, "new_password2": "another-" + NEW_PASSWORD}
    assert "This link is not valid" in client.post(form_url, data).content.decode()
    unconfirmed_user.refresh_from_db()
    assert unconfirmed_user.check_password(NEW_PASSWORD)


def test_the_link_expires(client, user, smtp_sink, settings):
    ask(client, user.email)
    link = emailed_link(smtp_sink, to=user.email, path=RESET)
    settings.PASSWORD_RESET_TIMEOUT = -1

    page = client.get(link, follow=True)

    assert "This link is not valid" in page.content.decode()


def test_the_new_password_signs_out_every_session(client, user, smtp_sink):
    elsewhere = Client()
    elsewhere.force_login(user)
    assert elsewhere.get(reverse("message-list")).status_code == 200
    ask(client, user.email)
    link = emailed_link(smtp_sink, to=user.email, path=RESET)

    set_password(client, link)

    assert elsewhere.get(reverse("message-list")).status_code == 302
    assert SESSION_KEY not in elsewhere.session
    signed_in = client.post(reverse("login"), {"username": user.email, "password": NEW_PASSWORD})
    assert signed_in["Location"] == "/"


def test_the_new_password_is_held_to_the_password_rules(client, user, smtp_sink):
    ask(client, user.email)
    link = emailed_link(smtp_sink, to=user.email, path=RESET)

    _, refused = set_password(client, link, "short")

    assert refused.status_code == 200
    assert "This password is too short." in refused.content.decode()
    user.refresh_from_db()
    assert user.check_password(GOOD_PASSWORD)


def test_live_validation_of_the_new_password(client):
    url = reverse("password_reset_new_validate")
    data = {"new_password1": "short", "new_password2": "other", "_touched": ["new_password2"]}

    errors = client.post(url, data).json()["errors"]

    assert errors["new_password2"] == ["The two passwords do not match."]


def test_resets_are_limited_per_address_asked_for(client, user, settings):
    settings.PASSWORD_RESETS_PER_HOUR = 2
    for number, typed in enumerate([user.email, user.email.upper()]):
        ask(client, typed, address=f"198.51.100.{number}")

    limited = ask(client, " " + user.email, address="203.0.113.9")
    elsewhere = ask(client, "someone.else@example.org", address="203.0.113.9")

    assert limited.status_code == 429
    assert str(RESETS_LIMITED_FOR_ADDRESS) in limited.content.decode()
    assert elsewhere.status_code == 302
    assert Email.objects.filter(to=user.email).count() == 2


def test_resets_are_limited_per_client(client, settings):
    settings.PASSWORD_RESETS_PER_HOUR = 2
    for number in range(2):
        assert ask(client, f"person{number}@example.org").status_code == 302

    limited = ask(client, "person9@example.org")

    assert limited.status_code == 429


def test_an_unknown_address_gets_no_email(client, smtp_sink):
    ask(client, "nobody@example.org")

    assert deliver_account_emails() == 0
    assert smtp_sink.received == []
