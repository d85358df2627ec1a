"""A signed-in person writes to the administrator without a page reload; a staff member
then sees the delivery counted in the admin header."""

import dramatiq
import pytest
from playwright.sync_api import Page, expect

from contact.models import Message
from contact.services import message_create
from tests.browser.conftest import mark_page, page_was_not_reloaded
from tests.conftest import GOOD_PASSWORD, make_person
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)


def sign_in(page: Page, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(GOOD_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".signed-in-as")).to_have_text(email)


def test_send_a_message_then_see_it_counted_in_the_admin(live_server, page: Page):
    make_person("ann@example.org")
    User.objects.create_superuser(email="boss@example.org", password=GOOD_PASSWORD)
    sign_in(page, live_server.url, "ann@example.org")
    mark_page(page)

    # Tabbing through a field says nothing; a field changed, then left, is checked.
    subject = page.get_by_label("Subject")
    subject.focus()
    subject.press("Tab")
    body = page.get_by_label("Message")
    body.fill("x")
    body.fill("")
    body.press("Shift+Tab")
    expect(page.locator("#id_body_error")).to_have_text("This field is required.")
    expect(page.locator("#id_subject_error")).to_be_empty()
    expect(subject).not_to_have_attribute("aria-invalid", "true")

    subject.fill("Question about my order")
    page.get_by_label("Message").fill("Where is my parcel?")
    page.get_by_role("button", name="Send").click()

    # In the page's status region, which stays in place for screen readers to announce.
    expect(page.locator("#message-status")).to_contain_text(
        "Your message “Question about my order” is on its way to the administrator."
    )
    expect(page.get_by_label("Subject")).to_have_value("")
    expect(page.get_by_label("Message")).to_have_value("")
    assert page_was_not_reloaded(page)
    assert Message.objects.get().subject == "Question about my order"

    # The form htmx swapped in has no token field: htmx sends the page's token instead.
    page.get_by_label("Subject").fill("And the delivery date?")
    page.get_by_label("Message").fill("When will it arrive?")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#message-status")).to_contain_text(
        "“And the delivery date?” is on its way to the administrator."
    )
    expect(page.locator(".confirmation")).to_have_count(1)
    assert page_was_not_reloaded(page)
    assert Message.objects.count() == 2

    page.get_by_role("button", name="Sign out").click()
    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Email").fill("boss@example.org")
    page.get_by_label("Password").fill(GOOD_PASSWORD)
    page.get_by_role("button", name="Log in").click()

    # Written and not sent yet (no worker runs here): waiting, not counted as sent.
    counts = "Emails sent: 0 (0 not delivered) · waiting: 2"
    expect(page.locator("#delivery-counts")).to_have_text(counts)
    page.get_by_role("link", name="Messages", exact=True).click()
    expect(page.locator("#delivery-counts")).to_have_text(counts)
    expect(page.get_by_role("link", name="Question about my order")).to_be_visible()


def test_my_messages_follows_a_message_from_queued_to_sent(live_server, page, broker, directory):
    writer = make_person("ann@example.org")
    message = message_create(sender=writer, subject="Watch me", body="Queued, then sent")
    sign_in(page, live_server.url, writer.email)
    page.goto(f"{live_server.url}/messages/")
    mark_page(page)
    row = page.locator(f"#message-{message.pk} .status")
    expect(row).to_have_text("On its way")

    worker = dramatiq.Worker(broker, worker_timeout=50)
    worker.start()
    try:
        expect(row).to_have_text("Sent", timeout=15_000)
    finally:
        worker.stop()

    assert page_was_not_reloaded(page)
    # Every message shown is final: the list no longer asks for itself.
    expect(page.locator("#message-list")).not_to_have_attribute("hx-trigger", "every 3s")
