"""Every page, the admin's included, under the Content-Security-Policy: the browser
reports no violation (and the page fixture fails on any console error besides)."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from playwright.sync_api import Page, expect

from tests.browser.tour import WIDTHS, cast, walk
from tests.conftest import make_person
from tests.contact.factories import make_message
from tests.standins.directory import USERS
from users.models import User
from users.tokens import verification_token

pytestmark = pytest.mark.django_db(transaction=True)

# Collects every violation the page reports, from before its first script runs.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective}: ${event.blockedURI}`);
});
"""

VISITOR_PAGES = [
    "/",
    "/accounts/register/",
    "/accounts/register/done/",
    "/accounts/login/",
    "/accounts/password/reset/",
    "/accounts/password/reset/sent/",
    "/accounts/password/reset/done/",
    "/accounts/password/reset/MQ/not-a-token/",
    "/admin/login/",
]
# A signed-in person's own pages.
ACCOUNT_PAGES = ["/accounts/", "/accounts/password/", "/accounts/delete/", "/messages/"]


def staff_pages(message_id: int, email_id: int, staff_id: int) -> list[str]:
    return [
        "/admin/",
        "/admin/contact/",
        "/admin/contact/message/",
        "/admin/contact/message/?status__exact=failed",
        f"/admin/contact/message/{message_id}/change/",
        "/admin/outbox/email/",
        "/admin/outbox/email/?outcome=not_delivered&kind=verify_address",
        f"/admin/outbox/email/{email_id}/change/",
        "/admin/users/user/",
        "/admin/users/user/add/",
        f"/admin/users/user/{staff_id}/change/",
        f"/admin/users/user/{staff_id}/password/",
        "/admin/auth/group/",
        "/admin/auth/group/add/",
        "/admin/axes/accessattempt/",
        "/admin/password_change/",
    ]


def assert_no_violations(page: Page, url: str) -> None:
    violations = page.evaluate("window.__cspViolations")
    assert violations == [], f"{url}: {violations}"


def visit(page: Page, base_url: str, path: str) -> None:
    response = page.goto(base_url + path)
    assert response is not None and response.ok, path
    assert "Content-Security-Policy" in {name.title() for name in response.headers}
    assert_no_violations(page, path)


def test_no_page_violates_the_policy(live_server, page: Page):
    page.add_init_script(RECORD_VIOLATIONS)
    staff = User.objects.create_superuser(email="boss@example.org", password="x" * 20)
    writer = make_person("ann@example.org", "x" * 20)
    newcomer = make_person("new@example.org", "x" * 20, confirmed=False)
    message = make_message(writer, directory_status="found", directory_data=[USERS[0]])

    for path in VISITOR_PAGES:
        visit(page, live_server.url, path)

    # The message form, and an htmx swap, signed in.
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill(writer.email)
    page.get_by_label("Password").fill("x" * 20)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_label("Subject")).to_be_visible()
    page.get_by_label("Subject").fill("Hello")
    page.get_by_label("Message").fill("Under the policy")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".confirmation")).to_be_visible()
    assert_no_violations(page, "/ after sending")
    for path in ACCOUNT_PAGES:
        visit(page, live_server.url, path)
    page.get_by_role("button", name="Sign out").click()

    # The confirmation panel, its swap, and the page behind the emailed link.
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email").fill(newcomer.email)
    page.get_by_label("Password").fill("x" * 20)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Send me a new link").click()
    expect(page.locator("#confirmation-pending")).to_contain_text("We sent a new link")
    assert_no_violations(page, "/ after asking for a new link")
    visit(page, live_server.url, reverse("email-confirm", args=[verification_token(newcomer)]))
    page.get_by_role("button", name="Sign out").click()

    page.goto(f"{live_server.url}/admin/login/")
    page.get_by_label("Email").fill(staff.email)
    page.get_by_label("Password").fill("x" * 20)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#delivery-counts")).to_be_visible()
    for path in staff_pages(message.pk, message.email_id, staff.pk):
        visit(page, live_server.url, path)


@pytest.mark.parametrize("width", WIDTHS)
def test_no_state_of_the_tour_violates_the_policy(live_server, browser, width):
    """Every stop of the accessibility tour, swaps and polls included, under the policy."""
    context = browser.new_context(viewport=WIDTHS[width])
    context.add_init_script(RECORD_VIOLATIONS)
    page = context.new_page()
    refused: list[str] = []
    # A violation also shows as a console error; either way, the test names the state.
    page.on(
        "console",
        lambda message: "Content Security Policy" in message.text and refused.append(message.text),
    )
    seen: list[str] = []

    def check(page: Page, state: str) -> None:
        assert_no_violations(page, state)
        assert refused == [], f"{state}: {refused}"
        seen.append(state)

    try:
        walk(page, live_server.url, cast(), check)
    finally:
        # A page left open keeps polling the live server past the test's end.
        context.close()
    assert len(seen) > 30


def test_a_refused_sign_in_at_phone_width_evaluates_nothing(live_server, browser):
    """htmx is told not to evaluate (allowEval, allowScriptTags: the htmx-config meta in
    base.html), so nothing it swaps in can ask for eval, and nothing does."""
    make_person("ann@example.org")
    context = browser.new_context(viewport=WIDTHS["narrow"])
    context.add_init_script(RECORD_VIOLATIONS)
    context.add_init_script(
        'document.addEventListener("htmx:evalDisallowedError", () =>'
        ' window.__cspViolations.push("htmx asked for eval"));'
    )
    page = context.new_page()
    refused: list[str] = []
    page.on("console", lambda message: "eval" in message.text and refused.append(message.text))
    try:
        page.goto(f"{live_server.url}/accounts/login/")
        for _ in range(2):
            page.locator("#id_username").fill("ann@example.org")
            page.locator("#id_password").fill("not the password")
            page.locator("#login-form button[type=submit]").click()
            expect(page.locator("#login-form .form-errors")).to_be_focused()
        # A changed field checked live, after the swap.
        page.locator("#id_username").fill("ann@")
        with page.expect_response("**/login/validate/"):
            page.locator("#id_password").focus()
        expect(page.locator("#id_username_error")).not_to_be_empty()

        assert page.evaluate("[htmx.config.allowEval, htmx.config.allowScriptTags]") == [
            False,
            False,
        ]
        assert_no_violations(page, "a refused sign-in at 390 px")
        assert refused == []
    finally:
        context.close()


# What would make a browser evaluate page text: an inline handler or script, and htmx's
# attributes that run JavaScript (hx-on, hx-vars, "js:" values, trigger filters).
EVALUATING = re.compile(
    r"""\son[a-z]+\s*=|<script(?![^>]*\ssrc=)|hx-on|hx-vars|["']\s*(js|javascript):|hx-trigger="[^"]*\[""",
    re.IGNORECASE,
)


def test_no_template_asks_the_browser_to_evaluate_text():
    templates = Path(settings.BASE_DIR) / "templates"
    found = [
        f"{path.relative_to(templates)}: {match.group(0)}"
        for path in sorted(templates.rglob("*.html"))
        for match in EVALUATING.finditer(path.read_text())
    ]
    assert found == []
