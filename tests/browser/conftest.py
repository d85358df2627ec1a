"""Browser tests: Playwright driving the system's Chromium against pytest-django's
live server. Without Chromium they are skipped with a hint, except under CI=true,
where a missing browser fails the run."""

import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Error, Page

# Playwright's sync API runs an event loop in the test thread, which makes Django's
# guard against blocking calls in async code refuse the test's own database work.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MISSING_BROWSER = "Chromium not found; install it with `sudo apt-get install chromium`"
BROWSER_TESTS = Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    if CHROMIUM:
        return
    browser_items = [item for item in items if BROWSER_TESTS in Path(item.path).parents]
    if not browser_items:
        return
    if os.environ.get("CI") == "true":
        raise pytest.UsageError(f"{MISSING_BROWSER}: CI must run the browser tests.")
    for item in browser_items:
        item.add_marker(pytest.mark.skip(reason=MISSING_BROWSER))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        # Playwright cannot download its own browser here; the system's Chromium it is.
        "executable_path": CHROMIUM,
        "headless": True,
        # Root needs --no-sandbox; the rest keep Chromium off the network at start-up.
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture
def page(page: Page):
    """The page, failing the test on any JavaScript error or console error."""
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"console: {message.text} ({message.location})")

    def on_page_error(error: Error) -> None:
        errors.append(f"uncaught: {error}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    yield page
    assert not errors, "JavaScript errors:\n" + "\n".join(errors)


def mark_page(page: Page) -> None:
    """Leave a marker on `window`; a page load would wipe it."""
    page.evaluate("window.__noReloadMarker = true")


def page_was_not_reloaded(page: Page) -> bool:
    return page.evaluate("window.__noReloadMarker === true")
