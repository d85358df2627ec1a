"""What a person is told while and after they use a form: nothing before they have
changed a field, errors once each, a busy button while htmx is in flight, the focus on
what the answer says, counters for the limits, and notices for signing in and out."""

import pytest
from playwright.sync_api import Page, expect

from tests.browser.tour import settled, sign_in
from tests.conftest import GOOD_PASSWORD, make_person

pytestmark = pytest.mark.django_db(transaction=True)

# Records, when htmx sends the form, whether its button is disabled and the form busy.
RECORD_BUSY = """
window.__inFlight = [];
document.addEventListener("htmx:beforeSend", (event) => {
  const form = event.detail.elt;
  window.__inFlight.push({
    disabled: form.querySelector("button[type=submit]").disabled,
    busy: form.getAttribute("aria-busy"),
    marked: form.classList.contains("htmx-request"),
  });
});
"""

# Counts the times a field's error list is rewritten.
COUNT_REWRITES = """(id) => {
  window.__rewrites = 0;
  new MutationObserver(() => { window.__rewrites += 1; })
    .observe(document.getElementById(id), {childList: true});
}"""


def test_tabbing_through_an_empty_form_marks_nothing(live_server, page: Page):
    page.goto(f"{live_server.url}/accounts/register/")
    page.locator("#id_email").focus()
    for _ in range(3):
        page.keyboard.press("Tab")
    # A field changed and left is checked; what was only visited stays as it was.
    page.locator("#id_password2").fill("a")
    page.locator("#id_password2").fill("")
    page.locator("#id_password2").press("Shift+Tab")
    expect(page.locator("#id_password2_error")).not_to_be_empty()
    expect(page.locator("#id_email_error")).to_be_empty()
    expect(page.locator("#id_password1_error")).to_be_empty()
    expect(page.locator(".field--invalid")).to_have_count(1)


def test_an_error_is_written_once_while_the_person_types_on(live_server, page: Page):
    page.goto(f"{live_server.url}/accounts/register/")
    email = page.locator("#id_email")
    email.fill("ann")
    email.press("Tab")
    expect(page.locator("#id_email_error")).to_have_text("Enter a valid email address.")
    page.evaluate(COUNT_REWRITES, "id_email_error")

    # Each pause in typing asks the server again; the answer is the same error.
    for letters in ("ann@", "ann@exa"):
        with page.expect_response("**/register/validate/"):
            email.fill(letters)
    assert page.evaluate("window.__rewrites") == 0

    # Fixed, the error goes as soon as the typing pauses.
    email.fill("ann@example.org")
    expect(page.locator("#id_email_error")).to_be_empty()
    expect(email).not_to_have_attribute("aria-invalid", "true")


def test_no_new_error_appears_while_the_person_is_still_typing(live_server, page: Page):
    page.goto(f"{live_server.url}/accounts/register/")
    email = page.locator("#id_email")
    with page.expect_response("**/register/validate/"):
        email.fill("an")
    expect(page.locator("#id_email_error")).to_be_empty()
    email.press("Tab")
    expect(page.locator("#id_email_error")).to_have_text("Enter a valid email address.")


def test_a_form_in_flight_is_busy_and_its_button_disabled(live_server, page: Page):
    make_person("ann@example.org")
    page.add_init_script(RECORD_BUSY)
    sign_in(page, live_server.url, "ann@example.org")
    page.locator("#id_subject").fill("Opening hours")
    page.locator("#id_body").fill("Are you open on Sunday?")
    page.locator("#message-form button[type=submit]").click()
    expect(page.locator("#message-status .confirmation")).to_be_visible()

    assert page.evaluate("window.__inFlight") == [
        {"disabled": True, "busy": "true", "marked": True}
    ]
    settled(page)
    expect(page.locator("#message-form button[type=submit]")).to_be_enabled()
    expect(page.locator("#message-form")).not_to_have_attribute("aria-busy", "true")


def test_the_focus_goes_to_what_the_answer_says(live_server, page: Page):
    make_person("ann@example.org")
    page.goto(f"{live_server.url}/accounts/login/")
    page.locator("#id_username").fill("ann@example.org")
    page.locator("#id_password").fill("not the password")
    page.locator("#login-form button[type=submit]").click()
    errors = page.locator("#login-form .form-errors")
    expect(errors).to_be_focused()
    expect(errors).to_contain_text("Enter a correct email and password.")
    # The focus moving to the errors is no change of a field: nothing is checked again
    # (a check now would call the emptied password missing). Any check would be
    # immediate, so a short wait shows there is none.
    page.wait_for_timeout(1000)
    expect(page.locator("#id_password_error")).to_be_empty()

    sign_in(page, live_server.url, "ann@example.org")
    page.locator("#message-form button[type=submit]").click()
    expect(page.locator("#id_subject")).to_be_focused()
    expect(page.locator("#id_subject")).to_have_accessible_description(
        "0 of 150 characters This field is required."
    )

    page.locator("#id_subject").fill("Opening hours")
    page.locator("#id_body").fill("Are you open on Sunday?")
    page.locator("#message-form button[type=submit]").click()
    expect(page.locator("#message-status .confirmation")).to_be_focused()


def test_the_counter_shows_the_limit_and_how_far_over(live_server, page: Page):
    make_person("ann@example.org")
    sign_in(page, live_server.url, "ann@example.org")
    counter = page.locator("#id_body_counter")
    expect(counter).to_have_text("0 of 5000 characters")

    body = page.locator("#id_body")
    body.fill("x" * 5100)
    # The whole paste stays, and the counter says by how much it is over.
    assert len(body.input_value()) == 5100
    expect(counter).to_have_text("5100 of 5000 characters: 100 over the limit")
    expect(counter).to_have_class("counter counter--over")
    # After a pause, a screen reader hears it too.
    expect(page.locator("#id_body_counter_live")).to_have_text(
        "5100 of 5000 characters: 100 over the limit"
    )

    body.fill("Short")
    expect(counter).to_have_text("5 of 5000 characters")
    expect(page.locator("#id_body_counter_live")).to_have_text("")


ONE_WAY = {
    "en-GB": (
        "Up to 5000 characters",
        "5100 of 5000 characters: 100 over the limit",
        "Ensure this value has at most 5000 characters (it has 5100).",
    ),
    "ru-RU": (
        "Не больше 5000 символов",
        "5100 из 5000 символов: на 100 больше допустимого",
        "Убедитесь, что это значение содержит не более 5000 символов (сейчас 5100).",
    ),
}


@pytest.mark.parametrize("locale", ONE_WAY)
def test_the_limit_is_written_one_way_wherever_it_is_shown(live_server, browser, locale):
    make_person("ann@example.org")
    unscripted, counted, refused = ONE_WAY[locale]
    # What the page says before its script counts, and without scripts at all.
    plain = browser.new_context(locale=locale, java_script_enabled=False)
    scripted = browser.new_context(locale=locale)
    try:
        page = plain.new_page()
        sign_in_without_scripts(page, live_server.url, "ann@example.org")
        expect(page.locator("#id_body_counter")).to_have_text(unscripted)

        page = scripted.new_page()
        sign_in(page, live_server.url, "ann@example.org")
        page.locator("#id_body").fill("x" * 5100)
        page.locator("#id_subject").focus()
        expect(page.locator("#id_body_counter")).to_have_text(counted)
        expect(page.locator("#id_body_error")).to_have_text(refused)
    finally:
        plain.close()
        scripted.close()


def sign_in_without_scripts(page: Page, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.locator("#id_username").fill(email)
    page.locator("#id_password").fill(GOOD_PASSWORD)
    page.locator("#login-form button[type=submit]").click()
    expect(page.locator(".signed-in-as")).to_have_text(email)


def test_signing_in_and_out_is_confirmed(live_server, page: Page):
    make_person("ann@example.org")
    sign_in(page, live_server.url, "ann@example.org")
    expect(page.locator(".notices")).to_have_text("You are signed in as ann@example.org.")

    page.locator(".sign-out button").click()
    expect(page.locator(".notices")).to_have_text("You are signed out.")
    page.reload()
    expect(page.locator(".notices")).to_have_count(0)


def test_the_counters_start_again_after_a_quick_send(live_server, page: Page):
    make_person("ann@example.org")
    sign_in(page, live_server.url, "ann@example.org")
    page.locator("#id_subject").fill("Opening hours")
    page.locator("#id_body").fill("Are you open on Sunday?")
    # Sent before the counters' pause is over: the pause ends on the blank form.
    page.locator("#message-form button[type=submit]").click()
    expect(page.locator("#message-status .confirmation")).to_be_visible()
    settled(page)
    page.wait_for_timeout(1000)

    expect(page.locator("#id_subject_counter")).to_have_text("0 of 150 characters")
    expect(page.locator("#id_body_counter")).to_have_text("0 of 5000 characters")
    expect(page.locator("#id_body_counter_live")).to_have_text("")
