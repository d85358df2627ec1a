"""A walk through every page of the site and every state a person can bring it to: the
empty forms, the forms with errors, each htmx swap, "My messages" while it polls, the
message pages, the admin. At each stop the walk calls `check(page, state)`.

The accessibility test runs axe at each stop, the policy test looks for CSP violations,
and `make screenshots` takes a picture; all walk the same way, in both languages and at
both widths. Forms are driven by their ids, so the walk is the same in every language.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import Page, expect

from contact.models import Message
from outbox.models import Email, EmailEvent
from tests.conftest import GOOD_PASSWORD, make_person
from tests.contact.factories import make_message
from tests.standins.directory import USERS
from users.models import User
from users.tokens import verification_token

Check = Callable[[Page, str], None]

# Resolves once htmx has swapped something in and settled it.
NEXT_SWAP = """() => new Promise(resolve => document.body.addEventListener(
  "htmx:afterSettle", () => resolve(true), {once: true}))"""

WIDTHS = {"wide": {"width": 1280, "height": 900}, "narrow": {"width": 390, "height": 844}}
LOCALES = {"en": "en-GB", "ru": "ru-RU"}


@dataclass
class People:
    writer: User
    newcomer: User
    staff: User
    sent: Message
    failed: Message
    waiting: Message
    delivered: Message
    bounced: Message


def cast() -> People:
    writer = make_person("ann@example.org")
    sent = make_message(
        writer,
        subject="Question about my order",
        status=Email.Status.SENT,
        attempts=1,
        directory_status=Message.DirectoryStatus.FOUND,
        directory_data=[USERS[0]],
    )
    failed = make_message(
        writer,
        subject="Invoice for March",
        status=Email.Status.FAILED,
        attempts=5,
        last_error="550 5.1.1 mailbox unavailable",
    )
    waiting = make_message(writer, subject="Delivery address")
    Email.objects.filter(pk=sent.email_id).update(sent_at=sent.created_at)
    delivered = reported(writer, "Opening hours", Email.Status.DELIVERED, "delivered")
    bounced = reported(writer, "Refund", Email.Status.BOUNCED, "bounced")
    return People(
        writer=writer,
        newcomer=make_person("new@example.org", confirmed=False),
        staff=User.objects.create_superuser(email="boss@example.org", password=GOOD_PASSWORD),
        sent=sent,
        failed=failed,
        waiting=waiting,
        delivered=delivered,
        bounced=bounced,
    )


def reported(writer: User, subject: str, status: str, event_type: str) -> Message:
    """A message sent through a provider, with a failed attempt, the good one and the
    provider's report on its timeline."""
    provider_id = f"pm-{uuid.uuid5(uuid.NAMESPACE_DNS, subject)}"
    started = timezone.now()
    message = make_message(
        writer,
        subject=subject,
        status=status,
        attempts=2,
        created_at=started,
        sent_at=started + timedelta(seconds=12),
        provider_message_id=provider_id,
    )
    reply = "smtp;250 2.0.0 OK" if event_type == "delivered" else "smtp;550 5.1.1 No such user"
    for seconds, kind, happened, detail in [
        (
            1,
            EmailEvent.Kind.ATTEMPT,
            "retry",
            "AnymailRequestsAPIError: Postmark API response 500",
        ),
        (12, EmailEvent.Kind.ATTEMPT, "sent", f"Accepted by Postmark as {provider_id} (sent)."),
        (40, EmailEvent.Kind.REPORT, event_type, reply),
    ]:
        EmailEvent.objects.create(
            email=message.email,
            kind=kind,
            occurred_at=started + timedelta(seconds=seconds),
            event_type=happened,
            status={"retry": Email.Status.QUEUED, "sent": Email.Status.SENT}.get(happened, status),
            applied=True,
            duration_ms=120 if kind == EmailEvent.Kind.ATTEMPT else None,
            detail=detail,
            provider="Postmark",
        )
    return message


def settled(page: Page) -> None:
    """Wait until htmx has nothing in flight and nothing settling."""
    expect(
        page.locator(".htmx-request, .htmx-settling, .htmx-swapping, .htmx-added")
    ).to_have_count(0)


def submit(page: Page, form: str) -> None:
    page.locator(f"{form} button[type=submit]").click()
    settled(page)


def visit(page: Page, base_url: str, path: str, state: str, check: Check) -> None:
    response = page.goto(base_url + path)
    assert response is not None, path
    check(page, state)


def sign_in(page: Page, base_url: str, email: str) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.locator("#id_username").fill(email)
    page.locator("#id_password").fill(GOOD_PASSWORD)
    page.locator("#login-form button[type=submit]").click()
    expect(page.locator(".signed-in-as")).to_have_text(email)


def sign_out(page: Page) -> None:
    page.locator(".sign-out button").click()
    expect(page.locator(".signed-in-as")).to_have_count(0)


def walk(page: Page, base_url: str, people: People, check: Check) -> None:
    visitor(page, base_url, check)
    writer(page, base_url, people, check)
    newcomer(page, base_url, people, check)
    staff(page, base_url, people, check)


def visitor(page: Page, base_url: str, check: Check) -> None:
    visit(page, base_url, "/", "home", check)
    visit(page, base_url, "/accounts/register/", "sign-up", check)
    submit(page, "#register-form")
    check(page, "sign-up-errors")
    page.locator("#id_email").fill("not-an-address")
    page.locator("#id_password1").focus()
    expect(page.locator("#id_email_error")).not_to_be_empty()
    check(page, "sign-up-live-error")
    visit(page, base_url, "/accounts/register/done/", "sign-up-done", check)
    visit(page, base_url, "/accounts/login/", "sign-in", check)
    page.locator("#id_username").fill("ann@example.org")
    page.locator("#id_password").fill("not the password at all")
    submit(page, "#login-form")
    expect(page.locator("#login-form .form-errors")).to_be_focused()
    check(page, "sign-in-refused")
    visit(page, base_url, "/accounts/password/reset/", "password-reset", check)
    submit(page, "#password-reset-form")
    check(page, "password-reset-errors")
    visit(page, base_url, "/accounts/password/reset/sent/", "password-reset-sent", check)
    visit(
        page, base_url, "/accounts/password/reset/MQ/not-a-token/", "password-reset-bad-link", check
    )
    visit(page, base_url, "/no-such-page/", "not-found", check)


def writer(page: Page, base_url: str, people: People, check: Check) -> None:
    sign_in(page, base_url, people.writer.email)
    check(page, "signed-in")
    submit(page, "#message-form")
    expect(page.locator("#id_subject")).to_be_focused()
    check(page, "message-errors")
    page.locator("#id_subject").fill("Opening hours")
    page.locator("#id_body").fill("x" * 5100)
    page.locator("#id_subject").focus()
    # The live answer, not the "required" the empty submit left there: it names the length.
    expect(page.locator("#id_body_error")).to_contain_text("5100")
    check(page, "message-too-long")
    page.locator("#id_body").fill("Are you open on Sunday?")
    submit(page, "#message-form")
    expect(page.locator("#message-status .confirmation")).to_be_focused()
    check(page, "message-sent")

    page.goto(f"{base_url}/messages/")
    # Messages still on their way: the list polls, and is checked after a poll's swap.
    expect(page.locator("#message-list[hx-trigger]")).to_have_count(1)
    page.evaluate(NEXT_SWAP)
    check(page, "my-messages-polling")
    visit(page, base_url, f"/messages/{people.failed.pk}/", "message-failed", check)
    visit(page, base_url, f"/messages/{people.sent.pk}/", "message-sent-detail", check)
    visit(page, base_url, f"/messages/{people.waiting.pk}/", "message-on-its-way", check)
    visit(page, base_url, f"/messages/{people.delivered.pk}/", "message-delivered", check)
    visit(page, base_url, f"/messages/{people.bounced.pk}/", "message-bounced", check)
    visit(page, base_url, "/accounts/", "account", check)
    visit(page, base_url, "/accounts/password/", "password-change", check)
    submit(page, "#password-change-form")
    check(page, "password-change-errors")
    visit(page, base_url, "/accounts/delete/", "account-delete", check)
    submit(page, "#account-delete-form")
    check(page, "account-delete-errors")
    sign_out(page)
    check(page, "signed-out")


def newcomer(page: Page, base_url: str, people: People, check: Check) -> None:
    sign_in(page, base_url, people.newcomer.email)
    check(page, "unconfirmed")
    page.locator("#confirmation-pending button[type=submit]").click()
    expect(page.locator("#confirmation-pending [role=status]")).to_be_visible()
    check(page, "unconfirmed-new-link")
    visit(
        page,
        base_url,
        f"/accounts/confirm/{verification_token(people.newcomer)}/",
        "confirm-address",
        check,
    )
    sign_out(page)


def staff(page: Page, base_url: str, people: People, check: Check) -> None:
    visit(page, base_url, "/admin/login/", "admin-sign-in", check)
    page.locator("#id_username").fill(people.staff.email)
    page.locator("#id_password").fill(GOOD_PASSWORD)
    page.locator("#login-form [type=submit]").click()
    expect(page.locator("#delivery-counts")).to_be_visible()
    check(page, "admin-index")
    visit(page, base_url, "/admin/contact/message/", "admin-messages", check)
    visit(
        page,
        base_url,
        f"/admin/contact/message/{people.delivered.pk}/change/",
        "admin-message",
        check,
    )
    visit(
        page,
        base_url,
        f"/admin/outbox/email/{people.delivered.email_id}/change/",
        "admin-email",
        check,
    )
    visit(page, base_url, "/admin/users/user/", "admin-users", check)
    visit(page, base_url, f"/admin/users/user/{people.writer.pk}/change/", "admin-user", check)
