"""`make screenshots`: pictures of the tour's main stops (tests/browser/tour.py), in both
languages at both widths, written to docs/screenshots/ and shown in docs/frontend.md.

Not part of `make test` (the file name is not test_*.py); the Makefile names it. Each
picture is the whole page, as a person scrolling it would see it.
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.browser.tour import LOCALES, WIDTHS, cast, settled, walk

pytestmark = pytest.mark.django_db(transaction=True)

DIRECTORY = Path(os.environ.get("SCREENSHOTS_DIR", "docs/screenshots"))

# The stops shown in docs/frontend.md, in its order.
SHOWN = [
    "home",
    "sign-up-errors",
    "sign-in-refused",
    "signed-in",
    "message-too-long",
    "message-sent",
    "my-messages-polling",
    "message-failed",
    "message-delivered",
    "account",
    "unconfirmed",
    "admin-index",
    "admin-messages",
    "admin-message",
    "admin-user",
]


def file_name(state: str, language: str, width: str) -> str:
    return f"{state}-{language}-{width}.png"


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("language", LOCALES)
def test_take_screenshots(live_server, browser: Browser, language, width):
    DIRECTORY.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(
        locale=LOCALES[language], viewport=WIDTHS[width], reduced_motion="reduce"
    )
    page = context.new_page()

    def shoot(page: Page, state: str) -> None:
        if state in SHOWN:
            settled(page)
            page.screenshot(
                path=DIRECTORY / file_name(state, language, width),
                full_page=True,
                animations="disabled",
                caret="initial",
            )

    try:
        walk(page, live_server.url, cast(), shoot)
    finally:
        context.close()
