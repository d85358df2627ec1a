"""Hypothesis drives every form and validation endpoint with arbitrary unicode, huge
strings, NUL bytes, and missing, repeated and unknown fields: never a server error,
never a stored row that breaks a rule of its model."""

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from contact.models import Message
from tests.conftest import HTMX
from users.models import User

pytestmark = pytest.mark.django_db

# Values a field might carry: anything at all, NUL and line breaks on purpose, a few that
# mean something to the site, and some very long ones.
PLAUSIBLE = [
    "\x00",
    "a\x00@example.org",
    "Sincere@april.biz",
    "line\r\nBcc: victim@example.org",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "plum-harbour-lantern-42",
    "",
]
# Any character a request can carry: all of unicode but the lone surrogates, which no
# encoding of a request can hold.
CHARACTERS = st.characters(codec="utf-8")
VALUES = st.one_of(
    st.text(CHARACTERS, max_size=400),
    st.sampled_from(PLAUSIBLE),
    st.sampled_from(PLAUSIBLE),
    st.builds(lambda char, length: char * length, CHARACTERS, st.integers(0, 100_000)),
)

# Inputs every endpoint meets whatever the random draw: each field in turn set to each of
# these, the others valid.
KNOWN_HOSTILE = ["line\r\nBcc: victim@example.org", "a\x00@example.org", "x" * 200_000]

VALID = {
    "email": "new@example.org",
    "password1": "plum-harbour-lantern-42",
    "password2": "plum-harbour-lantern-42",
    "username": "Ann.Lee@example.org",
    "password": "not-the-password",
    "subject": "Hello",
    "body": "Hi",
    "old_password": "not-the-password",
    "new_password1": "quince-meadow-compass-77",
    "new_password2": "quince-meadow-compass-77",
    "language": "ru",
    "next": "/messages/",
}

# (url name, its form's fields, whether the person is signed in)
ENDPOINTS = [
    ("register", ["email", "password1", "password2"], False),
    ("register-validate", ["email", "password1", "password2"], False),
    ("login", ["username", "password"], False),
    ("login-validate", ["username", "password"], False),
    ("message-new", ["subject", "body"], True),
    ("message-new-validate", ["subject", "body"], True),
    ("password_reset", ["email"], False),
    ("password_reset_validate", ["email"], False),
    ("password_reset_new_validate", ["new_password1", "new_password2"], False),
    ("password_change", ["old_password", "new_password1", "new_password2"], True),
    ("password_change_validate", ["old_password", "new_password1", "new_password2"], True),
    ("account_delete", ["password"], True),
    ("account_delete_validate", ["password"], True),
    ("email-confirm-resend", [], True),
    ("logout", [], True),
    ("set_language", ["language", "next"], False),
    ("admin:login", ["username", "password"], False),
]


def form_data(fields: list[str]) -> st.SearchStrategy[dict[str, list[str]]]:
    # Each field absent, once, or repeated; plus the extras the views read, and junk.
    keys = st.sampled_from([*fields, "_touched", "next", "csrfmiddlewaretoken", "junk"])
    return st.dictionaries(keys, st.lists(VALUES, max_size=3), max_size=8)


@pytest.fixture(autouse=True)
def generous_limits(settings):
    # The limits answer calmly too, but they would hide the forms behind them.
    settings.MESSAGES_PER_HOUR = 10**9
    settings.SIGNUPS_PER_HOUR = 10**9
    settings.VALIDATIONS_PER_MINUTE = 10**9
    settings.PASSWORD_RESETS_PER_HOUR = 10**9
    settings.CONFIRMATION_RESENDS_PER_HOUR = 10**9


@pytest.mark.parametrize(("url_name", "fields", "signed_in"), ENDPOINTS)
def test_no_input_breaks_an_endpoint(url_name, fields, signed_in, user):
    client = Client()
    if signed_in:
        client.force_login(user)
    url = reverse(url_name)

    @hypothesis_settings(
        max_examples=60,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=form_data(fields), htmx=st.booleans())
    def post_anything(data: dict[str, list[str]], htmx: bool) -> None:
        response = client.post(url, data, **(HTMX if htmx else {}))
        assert response.status_code < 500, (data, response.status_code)
        if url_name in {"register", "login"} and client.session.get("_auth_user_id"):
            # A fuzzed sign-up that succeeded signed in; start the next one signed out.
            client.post(reverse("logout"))

    post_anything()
    for field in fields:
        for hostile in KNOWN_HOSTILE:
            data = {name: [VALID[name]] for name in fields} | {field: [hostile]}
            response = client.post(url, data, **HTMX)
            assert response.status_code < 500, (field, hostile[:40], response.status_code)

    for message in Message.objects.all():
        message.full_clean()
        assert "\n" not in message.subject and "\r" not in message.subject
    for account in User.objects.all():
        account.full_clean(exclude=["password"])
        assert "\x00" not in account.email


# Pages read with whatever a link could carry: each takes arbitrary query strings, and
# the paths with a part of their own take arbitrary text there.
PAGES = [
    ("/", False, False),
    ("/messages/", True, False),
    ("/accounts/login/", False, False),
    ("/accounts/register/", False, False),
    ("/admin/contact/message/", True, True),
    ("/admin/users/user/", True, True),
    ("/admin/users/accountemail/", True, True),
]
PATHS = ["/accounts/confirm/{}/", "/accounts/password/reset/{}/set-password/", "/messages/{}/"]
QUERY_KEYS = [
    "page",
    "next",
    "q",
    "o",
    "p",
    "e",
    "status__exact",
    "sender__id__exact",
    "_changelist_filters",
    "junk",
]


@pytest.mark.parametrize(("path", "signed_in", "staff"), PAGES)
def test_no_query_string_breaks_a_page(path, signed_in, staff, user):
    client = Client()
    if staff:
        user.is_staff = user.is_superuser = True
        user.save()
    if signed_in:
        client.force_login(user)

    @hypothesis_settings(
        max_examples=40,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        query=st.dictionaries(st.sampled_from(QUERY_KEYS), st.lists(VALUES, max_size=2), max_size=4)
    )
    def get_anything(query: dict[str, list[str]]) -> None:
        response = client.get(path, query)
        assert response.status_code < 500, (query, response.status_code)

    get_anything()


@pytest.mark.parametrize("pattern", PATHS)
def test_no_path_part_breaks_a_page(pattern, user):
    client = Client()
    client.force_login(user)

    @hypothesis_settings(max_examples=40, deadline=None, database=None)
    @given(
        part=st.text(
            st.characters(codec="utf-8", exclude_characters="/?#"), min_size=1, max_size=300
        )
    )
    def get_anything(part: str) -> None:
        response = client.get(pattern.format(part))
        assert response.status_code < 500, (part, response.status_code)

    get_anything()
