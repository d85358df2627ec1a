"""A visitor signs up, signs out and signs in again, with every form checked live and
submitted by htmx: no page reloads until the site sends the browser on."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import mark_page, page_was_not_reloaded
from tests.conftest import GOOD_PASSWORD
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)

EMAIL = "new.person@example.org"


def settled(page: Page, form: str) -> None:
    """Wait until htmx has finished swapping `form` in (it settles the new element for a
    moment after inserting it), so what the test types goes into the form that stays."""
    expect(page.locator(form)).not_to_have_class(re.compile(r"htmx-(swapping|settling|added)"))


def test_sign_up_with_live_errors_then_sign_out_and_in(live_server, page: Page):
    page.goto(f"{live_server.url}/accounts/register/")
    mark_page(page)
    email = page.get_by_label("Email")
    password = page.get_by_label("Password", exact=True)
    confirmation = page.get_by_label("Password confirmation")

    # A too-short password is reported beside the field as soon as the person leaves it.
    email.fill(EMAIL)
    password.fill("short")
    password.press("Tab")
    expect(page.locator("#id_password1_error")).to_have_text(
        "This password is too short. It must contain at least 12 characters."
    )
    expect(password).to_have_attribute("aria-invalid", "true")
    assert not User.objects.exists()

    # A wrong submit shows its errors in place.
    password.fill(GOOD_PASSWORD)
    confirmation.fill(GOOD_PASSWORD + "-typo")
    page.get_by_role("button", name="Sign up").click()
    # Live validation may show the same error in the old form; wait for the new one.
    expect(page.locator("#register-form[data-submitted]")).to_be_visible()
    expect(page.locator("#id_password2_error")).to_have_text("The two passwords do not match.")
    settled(page, "#register-form")
    expect(page.locator("#id_password1_error")).to_be_empty()
    assert page_was_not_reloaded(page)
    assert not User.objects.exists()

    # Fixed and submitted: signed in, on home.
    password.fill(GOOD_PASSWORD)
    confirmation.fill(GOOD_PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(f"{live_server.url}/", timeout=15_000)
    expect(page.locator(".signed-in-as")).to_have_text(EMAIL)
    expect(page.get_by_label("Subject")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("link", name="Sign in").first).to_be_visible()
    expect(page.locator(".signed-in-as")).to_have_count(0)

    # Sign in: a wrong password is refused in place, then the right one gets in.
    page.goto(f"{live_server.url}/accounts/login/")
    mark_page(page)
    page.get_by_label("Email").fill(EMAIL.upper())
    page.get_by_label("Password").fill("not-" + GOOD_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".errorlist.nonfield")).to_have_text("Enter a correct email and password.")
    settled(page, "#login-form")
    assert page_was_not_reloaded(page)

    page.get_by_label("Password").fill(GOOD_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/", timeout=15_000)
    expect(page.locator(".signed-in-as")).to_have_text(EMAIL)


def test_a_taken_email_is_reported_while_typing(live_server, page: Page):
    User.objects.create_user(email=EMAIL, password=GOOD_PASSWORD)
    page.goto(f"{live_server.url}/accounts/register/")
    mark_page(page)

    # No blur: the pause after typing is enough.
    page.get_by_label("Email").press_sequentially(EMAIL.title())

    expect(page.locator("#id_email_error")).to_have_text(
        "An account with this email already exists. Sign in instead."
    )
    expect(page.locator("#id_password1_error")).to_be_empty()
    assert page_was_not_reloaded(page)


def test_a_fixed_field_loses_its_error_live(live_server, page: Page):
    page.goto(f"{live_server.url}/accounts/login/")
    email = page.get_by_label("Email")

    email.fill("not-an-email")
    email.press("Tab")
    expect(page.locator("#id_username_error")).to_have_text("Enter a valid email address.")

    email.fill("ann@example.org")
    email.press("Tab")
    expect(page.locator("#id_username_error")).to_be_empty()
    expect(email).not_to_have_attribute("aria-invalid", "true")
