"""The layout of the site's own stylesheet: the header on one row at 1280 px and two at
390 px, and a visible focus at every stop of the keyboard (axe checks targets and
contrast)."""

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.tour import WIDTHS, sign_in
from tests.conftest import make_person

pytestmark = pytest.mark.django_db(transaction=True)

# The vertical middle of each item of the header.
HEADER_MIDDLES = """() => Array.from(document.querySelector(".site-header__inner").children)
  .map((item) => item.getBoundingClientRect())
  .map((box) => Math.round(box.top + box.height / 2))"""

# How many rows the header's name, links and buttons take: an item starts a new row when
# it begins below every item of the row before.
HEADER_ROWS = """() => {
  const boxes = Array.from(document.querySelectorAll(
    ".site-name, .site-nav > *, .language-switcher button"))
    .map((item) => item.getBoundingClientRect())
    .sort((a, b) => a.top - b.top);
  let rows = 0, bottom = -Infinity;
  for (const box of boxes) {
    if (box.top >= bottom) { rows += 1; bottom = box.bottom; }
    else { bottom = Math.max(bottom, box.bottom); }
  }
  return rows;
}"""

FOCUS_RING = """() => {
  const style = getComputedStyle(document.activeElement);
  return [style.outlineStyle, parseFloat(style.outlineWidth)];
}"""


@pytest.mark.parametrize("locale", ["en-GB", "ru-RU"])
def test_the_signed_in_header_is_one_row_at_1280(live_server, browser: Browser, locale):
    make_person("konstantin.konstantinopolsky@example.org")
    context = browser.new_context(locale=locale, viewport=WIDTHS["wide"])
    page = context.new_page()
    try:
        sign_in(page, live_server.url, "konstantin.konstantinopolsky@example.org")
        middles = page.evaluate(HEADER_MIDDLES)
        # Name, navigation and languages share one row: their middles line up.
        assert len(middles) == 3
        assert max(middles) - min(middles) <= 4, middles
    finally:
        context.close()


@pytest.mark.parametrize("locale", ["en-GB", "ru-RU"])
def test_the_header_is_two_rows_at_390(live_server, browser: Browser, locale):
    make_person("konstantin.konstantinopolsky@example.org")
    context = browser.new_context(locale=locale, viewport=WIDTHS["narrow"])
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/")
        assert page.evaluate(HEADER_ROWS) <= 2
        sign_in(page, live_server.url, "konstantin.konstantinopolsky@example.org")
        # The name and the languages, then the navigation: a long address gives way.
        assert page.evaluate(HEADER_ROWS) == 2
        truncated = "(link) => link.scrollWidth > link.clientWidth"
        assert page.locator(".signed-in-as").evaluate(truncated)
    finally:
        context.close()


def test_the_delete_button_looks_like_what_cannot_be_undone(live_server, browser: Browser):
    make_person("ann@example.org")
    context = browser.new_context(viewport=WIDTHS["wide"])
    page = context.new_page()
    try:
        sign_in(page, live_server.url, "ann@example.org")
        page.goto(f"{live_server.url}/accounts/password/")
        # Every other form's button is the accent blue.
        change = page.locator("#password-change-form button[type=submit]")
        expect(change).to_have_css("background-color", "rgb(10, 88, 202)")

        page.goto(f"{live_server.url}/accounts/delete/")
        delete = page.locator("#account-delete-form button[type=submit]")
        expect(delete).to_have_css("background-color", "rgb(180, 35, 24)")
        delete.hover()
        expect(delete).to_have_css("background-color", "rgb(122, 39, 26)")
    finally:
        context.close()


def test_the_focus_is_always_visible(live_server, browser: Browser):
    context = browser.new_context(viewport=WIDTHS["narrow"])
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/accounts/login/")
        seen = set()
        # Every stop of the keyboard's path through the page shows a ring of 2 px or more
        # (the path starts at the email, which has autofocus, and passes the browser's
        # own controls, where the page's <body> has the focus).
        for _ in range(12):
            page.keyboard.press("Tab")
            name = page.evaluate("document.activeElement.outerHTML.slice(0, 60)")
            if name.startswith("<body"):
                continue
            style, width = page.evaluate(FOCUS_RING)
            assert style != "none" and width >= 2, name
            seen.add(name)
        assert len(seen) >= 9
        expect(page.locator(".skip-link")).to_have_count(1)
    finally:
        context.close()
