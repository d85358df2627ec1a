import re

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import GOOD_PASSWORD, HTMX
from users.models import User
from users.tokens import verification_token

pytestmark = pytest.mark.django_db

UNSAFE_NEXT = ["//evil.example", "https://evil.example", "/\\evil.example"]


def signed_in_user_id(client: Client) -> str | None:
    return client.session.get("_auth_user_id")


def start_session(client: Client) -> str:
    session = client.session
    session["visited"] = True
    session.save()
    client.cookies["sessionid"] = session.session_key
    return session.session_key


def register_data(**overrides):
    data = {"email": "new@example.org", "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD}
    return {**data, **overrides}


# ---------------------------------------------------------------- sign-up


def test_register_page_shows_the_form_in_a_full_page(client):
    response = client.get(reverse("register"))

    assert response.status_code == 200
    assert b"<html" in response.content
    assert b'id="register-form"' in response.content
    for label in (b">Email<", b">Password<", b">Password confirmation<"):
        assert label in response.content


def test_register_page_for_htmx_is_the_partial_alone(client):
    response = client.get(reverse("register"), **HTMX)

    assert b"<html" not in response.content
    assert response.content.lstrip().startswith(b"<form")
    assert "HX-Request" in response["Vary"]


def test_register_with_a_weak_password_shows_the_error_beside_password(client):
    response = client.post(
        reverse("register"), register_data(password1="short", password2="short"), **HTMX
    )

    assert_field_error(response, "id_password1", "This password is too short.")
    assert not User.objects.exists()


def test_register_with_a_mismatched_confirmation_shows_the_error_beside_it(client):
    response = client.post(reverse("register"), register_data(password2="other-" + GOOD_PASSWORD))

    assert response.status_code == 200
    assert b"<html" in response.content
    assert_field_error(response, "id_password2", "The two passwords do not match.")


@pytest.mark.parametrize("email", ["new@example.org", "ann.lee@example.org"], ids=["new", "taken"])
def test_after_sign_up_the_page_names_the_address_the_email_went_to(client, user, email):
    sent = client.post(reverse("register"), register_data(email=email), **HTMX)
    page = client.get(sent["HX-Redirect"]).content.decode()

    # The same words for a new address and a taken one: the person typed it themselves.
    assert f"We sent an email to <strong>{email}</strong>." in page
    # Said once: the address does not stay in the session.
    again = client.get(reverse("register-done")).content.decode()
    assert email not in again
    assert "We sent an email to the address you gave." in again


def test_register_page_sends_a_signed_in_person_home(client, user):
    client.force_login(user)

    response = client.get(reverse("register"))

    assert response.status_code == 302
    assert response["Location"] == "/"


def assert_field_error(response, field_id: str, message: str) -> None:
    html = response.content.decode()
    error_list = html.split(f'id="{field_id}_error"', 1)[1].split("</ul>", 1)[0]
    assert str(message) in error_list, error_list
    assert re.search(f'aria-describedby="[^"]*{field_id}_error"', html)


# ---------------------------------------------------------------- sign-in


def test_login_page_labels(client):
    response = client.get(reverse("login"))

    assert b">Email<" in response.content
    assert b">Password<" in response.content


def test_login_by_htmx_signs_in_and_redirects_with_hx_redirect(client, user):
    response = client.post(
        reverse("login"), {"username": user.email.lower(), "password": GOOD_PASSWORD}, **HTMX
    )

    assert response["HX-Redirect"] == "/"
    assert signed_in_user_id(client) == str(user.pk)


def test_login_by_plain_post_redirects(client, user):
    response = client.post(reverse("login"), {"username": user.email, "password": GOOD_PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == "/"


def test_login_rotates_the_session_key(client, user):
    before = start_session(client)

    client.post(reverse("login"), {"username": user.email, "password": GOOD_PASSWORD})

    assert client.session.session_key != before


@pytest.mark.parametrize("email", ["ann.lee@example.org", "nobody@example.org"])
def test_login_gives_one_message_for_wrong_password_and_unknown_email(client, user, email):
    response = client.post(
        reverse("login"), {"username": email, "password": "wrong-" + GOOD_PASSWORD}, **HTMX
    )

    assert response.status_code == 200
    assert b"Enter a correct email and password." in response.content
    assert signed_in_user_id(client) is None


def test_login_follows_a_next_on_this_site(client, user):
    response = client.post(
        reverse("login"),
        {"username": user.email, "password": GOOD_PASSWORD, "next": "/admin/"},
        **HTMX,
    )

    assert response["HX-Redirect"] == "/admin/"


@pytest.mark.parametrize("next_url", UNSAFE_NEXT)
def test_login_ignores_a_next_to_another_site(client, user, next_url):
    response = client.post(
        reverse("login"), {"username": user.email, "password": GOOD_PASSWORD, "next": next_url}
    )

    assert response["Location"] == "/"


def test_login_page_carries_a_safe_next_into_the_form(client):
    response = client.get(reverse("login"), {"next": "/admin/"})

    assert b'name="next" value="/admin/"' in response.content


def test_login_page_drops_an_unsafe_next(client):
    response = client.get(reverse("login"), {"next": "https://evil.example"})

    login_form = response.content.decode().split('id="login-form"', 1)[1].split("</form>")[0]
    assert "evil.example" not in login_form


# ---------------------------------------------------------------- sign-out


def test_logout_by_post_signs_out(client, user):
    client.force_login(user)

    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert signed_in_user_id(client) is None


def test_logout_refuses_get(client, user):
    client.force_login(user)

    response = client.get(reverse("logout"))

    assert response.status_code == 405
    assert signed_in_user_id(client) == str(user.pk)


# ---------------------------------------------------------------- live validation


def validate(client, url_name: str, data: dict, touched: list[str]) -> dict:
    response = client.post(reverse(url_name), {**data, "_touched": touched})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    return response.json()["errors"]


def test_register_validation_reports_an_invalid_email(client):
    errors = validate(client, "register-validate", {"email": "not-an-email"}, ["email"])

    assert errors == {"email": ["Enter a valid email address."]}


def test_register_validation_reports_a_short_password(client):
    data = register_data(password1="short")

    errors = validate(client, "register-validate", data, ["email", "password1"])

    assert errors == {
        "password1": ["This password is too short. It must contain at least 12 characters."]
    }


def test_register_validation_reports_a_mismatched_confirmation(client):
    data = register_data(password2="other")

    errors = validate(client, "register-validate", data, ["password1", "password2"])

    assert errors == {"password2": ["The two passwords do not match."]}


def test_register_validation_holds_back_errors_of_untouched_fields(client):
    errors = validate(client, "register-validate", {"email": "not-an-email"}, ["email"])

    assert set(errors) == {"email"}


def test_register_validation_of_valid_input_has_no_errors(client):
    errors = validate(client, "register-validate", register_data(), ["email", "password1"])

    assert errors == {}
    assert not User.objects.exists()


def test_login_validation_reports_an_invalid_email(client):
    errors = validate(client, "login-validate", {"username": "ann@"}, ["username", "password"])

    assert errors == {
        "username": ["Enter a valid email address."],
        "password": ["This field is required."],
    }


def test_login_validation_never_checks_the_password(client, user):
    errors = validate(
        client,
        "login-validate",
        {"username": user.email, "password": "wrong"},
        ["username", "password"],
    )

    assert errors == {}
    assert signed_in_user_id(client) is None


MISMATCH = {"en": "The two passwords do not match.", "ru": "Пароли не совпадают."}
MISMATCHED = [
    ("register-validate", register_data(password2=GOOD_PASSWORD + "x"), "password2"),
    (
        "password_reset_new_validate",
        {"new_password1": GOOD_PASSWORD, "new_password2": GOOD_PASSWORD + "x"},
        "new_password2",
    ),
    (
        "password_change_validate",
        {"new_password1": GOOD_PASSWORD, "new_password2": GOOD_PASSWORD + "x"},
        "new_password2",
    ),
]


@pytest.mark.parametrize("language", MISMATCH)
@pytest.mark.parametrize(("url_name", "data", "confirmation"), MISMATCHED)
def test_every_new_password_form_says_a_mismatch_in_one_wording(
    client, user, url_name, data, confirmation, language
):
    client.force_login(user)

    response = client.post(
        reverse(url_name),
        {**data, "_touched": [confirmation]},
        headers={"Accept-Language": language},
    )

    assert response.json()["errors"] == {confirmation: [MISMATCH[language]]}


@pytest.mark.parametrize("language", MISMATCH)
def test_a_mismatched_password_change_is_refused_in_the_same_wording(client, user, language):
    client.force_login(user)
    data = {
        "old_password": GOOD_PASSWORD,
        "new_password1": "quince-meadow-compass-77",
        "new_password2": "quince-meadow-compass-78",
    }

    response = client.post(
        reverse("password_change"), data, headers={"Accept-Language": language}, **HTMX
    )

    assert_field_error(response, "id_new_password2", MISMATCH[language])


@pytest.mark.parametrize("url_name", ["register-validate", "login-validate"])
def test_validation_endpoints_accept_post_only(client, url_name):
    assert client.get(reverse(url_name)).status_code == 405


# ---------------------------------------------------------------- CSRF


@pytest.mark.parametrize(
    "url_name", ["register", "register-validate", "login", "login-validate", "logout"]
)
def test_posts_without_a_csrf_token_are_refused(url_name, user):
    client = Client(enforce_csrf_checks=True)

    response = client.post(reverse(url_name), register_data(), **HTMX)

    assert response.status_code == 403


def test_posts_with_the_csrf_header_are_accepted(user):
    client = Client(enforce_csrf_checks=True)
    client.get(reverse("login"))
    token = client.cookies["csrftoken"].value

    response = client.post(
        reverse("login"),
        {"username": user.email, "password": GOOD_PASSWORD},
        HTTP_X_CSRFTOKEN=token,
        **HTMX,
    )

    assert response["HX-Redirect"] == "/"


# ---------------------------------------------------------------- password reset


@pytest.mark.parametrize("email", ["ann.lee@example.org", "nobody@example.org"])
def test_after_a_reset_request_the_page_names_the_address_asked_for(client, user, email):
    sent = client.post(reverse("password_reset"), {"email": email}, **HTMX)
    page = client.get(sent["HX-Redirect"]).content.decode()

    # Whether an account has it is not said: the same words for both.
    assert f"If an account has the address <strong>{email}</strong>, we have sent it" in page
    assert email not in client.get(reverse("password_reset_done")).content.decode()


def test_a_new_confirmation_link_names_the_address(client, unconfirmed_user):
    client.force_login(unconfirmed_user)

    page = client.post(reverse("email-confirm-resend"), **HTMX).content.decode()

    assert f"We sent a new link to {unconfirmed_user.email}." in page


# ---------------------------------------------------------------- address confirmation


@pytest.mark.parametrize(
    ("language", "why"),
    [
        ("en", "Sign in to finish confirming your email address."),
        ("ru", "Войдите, чтобы завершить подтверждение адреса электронной почты."),
    ],
)
def test_a_confirmation_link_opened_signed_out_says_why_sign_in_comes_first(
    client, unconfirmed_user, language, why
):
    link = reverse("email-confirm", args=[verification_token(unconfirmed_user)])

    response = client.get(link, headers={"Accept-Language": language}, follow=True)

    assert response.redirect_chain[-1][0].startswith(f"{reverse('login')}?next=")
    assert why in response.content.decode()
    client.force_login(unconfirmed_user)
    # Said once, on the sign-in page.
    assert why not in client.get(link, headers={"Accept-Language": language}).content.decode()
