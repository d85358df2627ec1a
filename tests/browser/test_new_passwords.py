"""A new password is judged where it is typed, as it is at sign-up: on the reset and the
change forms, "too short" appears under the new password as soon as it is left, before
any confirmation, and stays there; the confirmation says only whether it matches."""

import pytest
from django.contrib.auth.tokens import default_token_generator
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from playwright.sync_api import Page, expect

from tests.browser.tour import sign_in
from tests.conftest import make_person

pytestmark = pytest.mark.django_db(transaction=True)

TOO_SHORT = "This password is too short. It must contain at least 12 characters."


def open_reset_link(page: Page, base_url: str) -> None:
    person = make_person("ann@example.org")
    uid = urlsafe_base64_encode(force_bytes(person.pk))
    token = default_token_generator.make_token(person)
    page.goto(base_url + reverse("password_reset_confirm", args=[uid, token]))


def open_change_form(page: Page, base_url: str) -> None:
    make_person("ann@example.org")
    sign_in(page, base_url, "ann@example.org")
    page.goto(base_url + reverse("password_change"))


@pytest.mark.parametrize("open_form", [open_reset_link, open_change_form], ids=["reset", "change"])
def test_a_short_new_password_is_said_as_the_field_is_left(live_server, page: Page, open_form):
    open_form(page, live_server.url)
    new_password = page.locator("#id_new_password1")
    confirmation = page.locator("#id_new_password2")

    new_password.fill("short")
    new_password.press("Tab")

    expect(page.locator("#id_new_password1_error")).to_have_text(TOO_SHORT)
    expect(new_password).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_new_password2_error")).to_be_empty()

    confirmation.fill("short")
    with page.expect_response("**/validate/"):
        confirmation.press("Tab")
    # The answer sign-up gives: the rule under the password, a match says nothing.
    expect(page.locator("#id_new_password1_error")).to_have_text(TOO_SHORT)
    expect(page.locator("#id_new_password2_error")).to_be_empty()
