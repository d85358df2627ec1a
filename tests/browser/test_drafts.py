"""A message typed while the session ends elsewhere is not lost: the send meets the ended
session, the person signs in again, and the text is back in the form. A send that goes
through forgets the draft, and so does signing out; another account never sees it."""

import re

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.tour import settled, sign_in, sign_out
from tests.conftest import GOOD_PASSWORD, make_person

pytestmark = pytest.mark.django_db(transaction=True)

SUBJECT = "Opening hours"
BODY = "Are you open on Sunday?\nAnd on the first of May?"
DRAFT = "window.sessionStorage.getItem('draft:message-form')"


def sign_out_elsewhere(context: BrowserContext, base_url: str) -> None:
    other = context.new_page()
    other.goto(base_url + "/")
    sign_out(other)
    other.close()


def type_a_message(page: Page) -> None:
    page.locator("#id_subject").fill(SUBJECT)
    page.locator("#id_body").fill(BODY)


def sign_in_here(page: Page, email: str) -> None:
    page.locator("#id_username").fill(email)
    page.locator("#id_password").fill(GOOD_PASSWORD)
    page.locator("#login-form button[type=submit]").click()
    expect(page.locator(".signed-in-as")).to_have_text(email)


@pytest.fixture
def context(browser: Browser):
    context = browser.new_context()
    yield context
    context.close()


@pytest.mark.parametrize("ended_by", ["signing out in another tab", "clearing the cookies"])
def test_a_message_sent_into_an_ended_session_is_back_after_signing_in(
    live_server, context: BrowserContext, ended_by
):
    make_person("ann@example.org")
    page = context.new_page()
    sign_in(page, live_server.url, "ann@example.org")
    type_a_message(page)

    if ended_by == "clearing the cookies":
        # No session and no CSRF cookie: the send is refused (403) and the page reloads.
        context.clear_cookies()
        page.locator("#message-form button[type=submit]").click()
        expect(page.locator(".signed-in-as")).to_have_count(0)
        page.goto(f"{live_server.url}/accounts/login/")
    else:
        sign_out_elsewhere(context, live_server.url)
        page.locator("#message-form button[type=submit]").click()
        expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))
    sign_in_here(page, "ann@example.org")

    expect(page.locator("#id_subject")).to_have_value(SUBJECT)
    expect(page.locator("#id_body")).to_have_value(BODY)
    expect(page.locator("#message-form .warning")).to_have_text(
        "Your message has not been sent yet: here it is again, ready to send."
    )
    # The counters count the text that came back.
    expect(page.locator("#id_body_counter")).to_have_text(f"{len(BODY)} of 5000 characters")

    page.locator("#message-form button[type=submit]").click()
    expect(page.locator("#message-status .confirmation")).to_contain_text(SUBJECT)
    settled(page)
    assert page.evaluate(DRAFT) is None
    page.reload()
    expect(page.locator("#id_subject")).to_have_value("")
    expect(page.locator("#id_body")).to_have_value("")
    expect(page.locator("#message-form .warning")).to_have_count(0)


def test_a_draft_goes_back_to_its_author_only(live_server, context: BrowserContext):
    make_person("ann@example.org")
    make_person("bob@example.org")
    page = context.new_page()
    sign_in(page, live_server.url, "ann@example.org")
    type_a_message(page)
    sign_out_elsewhere(context, live_server.url)
    page.locator("#message-form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next="))

    sign_in_here(page, "bob@example.org")

    expect(page.locator("#id_subject")).to_have_value("")
    expect(page.locator("#id_body")).to_have_value("")
    assert page.evaluate(DRAFT) is None


def test_signing_out_here_forgets_the_draft(live_server, context: BrowserContext):
    make_person("ann@example.org")
    page = context.new_page()
    sign_in(page, live_server.url, "ann@example.org")
    type_a_message(page)
    assert page.evaluate(DRAFT) is not None

    sign_out(page)

    assert page.evaluate(DRAFT) is None
