"""A visitor signs up, confirms the address from the email, signs out and in again,
resets a forgotten password, changes it and deletes the account, with every form checked
live and submitted by htmx: no page reloads until the site sends the browser on. The
emails are read from the SMTP stand-in, sent by the function the worker runs."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import mark_page, page_was_not_reloaded
from tests.browser.test_messages import sign_in
from tests.conftest import GOOD_PASSWORD, make_person
from tests.users.mail import deliver_account_emails, emailed_link
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)

EMAIL = "new.person@example.org"
# As people type it: in mixed case.
TYPED = "New.Person@Example.org"
NEW_PASSWORD = "quince-meadow-compass-77"


def settled(page: Page, form: str) -> None:
    """Wait until htmx has finished swapping `form` in (it settles the new element for a
    moment after inserting it), so what the test types goes into the form that stays."""
    expect(page.locator(form)).not_to_have_class(re.compile(r"htmx-(swapping|settling|added)"))


def test_sign_up_confirm_the_address_from_the_email_then_sign_out_and_in(
    live_server, page: Page, smtp_sink
):
    page.goto(f"{live_server.url}/accounts/register/")
    mark_page(page)
    email = page.get_by_label("Email")
    password = page.get_by_label("Password", exact=True)
    confirmation = page.get_by_label("Password confirmation")

    # A too-short password is reported beside the field as soon as the person leaves it.
    email.fill(TYPED)
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

    # Fixed and submitted: told to check the inbox, and not signed in yet.
    password.fill(GOOD_PASSWORD)
    confirmation.fill(GOOD_PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox", timeout=15_000)
    expect(page.locator(".signed-in-as")).to_have_count(0)

    # The link in the email asks for the password, then for one press of a button.
    link = emailed_link(smtp_sink, to=EMAIL, path="/accounts/confirm/")
    page.goto(live_server.url + link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    page.get_by_label("Email").fill(TYPED.upper())
    page.get_by_label("Password").fill(GOOD_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Confirm my address").click()
    expect(page.locator(".notices")).to_contain_text("Your email address is confirmed.")
    expect(page.locator(".signed-in-as")).to_have_text(EMAIL)
    expect(page.get_by_label("Subject")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("link", name="Sign in").first).to_be_visible()
    expect(page.locator(".signed-in-as")).to_have_count(0)

    # Sign in: a wrong password is refused in place, then the right one gets in.
    page.goto(f"{live_server.url}/accounts/login/")
    mark_page(page)
    page.get_by_label("Email").fill(TYPED)
    page.get_by_label("Password").fill("not-" + GOOD_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".errorlist.nonfield")).to_have_text("Enter a correct email and password.")
    settled(page, "#login-form")
    assert page_was_not_reloaded(page)

    page.get_by_label("Password").fill(GOOD_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/", timeout=15_000)
    expect(page.locator(".signed-in-as")).to_have_text(EMAIL)


def test_until_the_address_is_confirmed_home_offers_a_new_link_in_place(
    live_server, page: Page, smtp_sink
):
    make_person(EMAIL, confirmed=False)
    sign_in(page, live_server.url, EMAIL)
    mark_page(page)
    expect(page.get_by_label("Subject")).to_have_count(0)

    page.get_by_role("button", name="Send me a new link").click()

    expect(page.locator("#confirmation-pending")).to_contain_text(f"We sent a new link to {EMAIL}.")
    assert page_was_not_reloaded(page)
    assert emailed_link(smtp_sink, to=EMAIL, path="/accounts/confirm/")


def test_a_taken_address_looks_like_a_new_one_and_its_owner_can_reset_the_password(
    live_server, page: Page, browser, smtp_sink
):
    make_person(EMAIL)
    # The owner is signed in elsewhere: setting a new password will end that session.
    elsewhere = browser.new_context()
    other = elsewhere.new_page()
    sign_in(other, live_server.url, EMAIL)

    page.goto(f"{live_server.url}/accounts/register/")
    # No blur: the pause after typing is enough for live validation to speak; it does not.
    page.get_by_label("Email").press_sequentially(TYPED)
    page.get_by_label("Password", exact=True).fill(GOOD_PASSWORD)
    page.get_by_label("Password confirmation").fill(GOOD_PASSWORD)
    expect(page.locator("#id_email_error")).to_be_empty()
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox", timeout=15_000)

    deliver_account_emails()
    notice = smtp_sink.take(to=EMAIL, timeout=5).message
    assert notice["Subject"] == "Someone tried to sign up with your address"
    body = notice.get_body(("plain",)).get_content()
    reset_page = re.search(r"https?://[^/\s]+(/accounts/password/reset/)", body).group(1)

    page.goto(live_server.url + reset_page)
    page.get_by_label("Email").fill(TYPED.upper())
    page.get_by_role("button", name="Email me a link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")

    link = emailed_link(smtp_sink, to=EMAIL, path="/accounts/password/reset/")
    page.goto(live_server.url + link)
    mark_page(page)
    new_password = page.get_by_label("New password", exact=True)
    new_password.fill("short")
    new_password.press("Tab")
    page.get_by_label("New password confirmation").fill("short")
    page.get_by_label("New password confirmation").press("Tab")
    expect(page.locator("#id_new_password1_error")).to_contain_text("This password is too short.")
    assert page_was_not_reloaded(page)
    new_password.fill(NEW_PASSWORD)
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Password set", timeout=15_000)

    other.goto(f"{live_server.url}/messages/")
    expect(other.get_by_role("heading", level=1)).to_have_text("Sign in")
    elsewhere.close()
    page.get_by_role("link", name="Sign in").last.click()
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".signed-in-as")).to_have_text(EMAIL)


def test_change_the_password_then_delete_the_account(live_server, page: Page):
    make_person(EMAIL)
    sign_in(page, live_server.url, EMAIL)
    page.locator(".signed-in-as").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")

    page.get_by_role("link", name="Change your password").click()
    mark_page(page)
    page.get_by_label("Old password").fill("not-" + GOOD_PASSWORD)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD + "-typo")
    page.get_by_label("New password confirmation").press("Tab")
    expect(page.locator("#id_new_password2_error")).to_have_text("The two passwords do not match.")
    # Live validation never checks the current password; the submit does, in place.
    expect(page.locator("#id_old_password_error")).to_be_empty()
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change the password").click()
    expect(page.locator("#id_old_password_error")).to_contain_text("incorrectly")
    assert page_was_not_reloaded(page)
    settled(page, "#password-change-form")
    page.get_by_label("Old password").fill(GOOD_PASSWORD)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change the password").click()
    expect(page.locator(".notices")).to_contain_text("Your password is changed.")
    expect(page.locator(".signed-in-as")).to_have_text(EMAIL)

    page.get_by_role("link", name="Delete your account").click()
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Delete my account").click()
    expect(page.locator(".notices")).to_contain_text("Your account is deleted.")
    expect(page.locator(".signed-in-as")).to_have_count(0)
    assert not User.objects.exists()


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
