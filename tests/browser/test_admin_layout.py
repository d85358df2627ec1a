"""The admin's lists: every column of the message and the people lists readable beside
the sidebars at 1280 px; on a phone the message list's first columns on screen and the
rest a sideways scroll away; and the header's delivery counts legible in both themes."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import make_person
from tests.contact.factories import make_message
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
PASSWORD = "x" * 20

# Each column's header cell: where it is on screen, once the results have been scrolled.
COLUMN_BOXES = """
(container) => Object.fromEntries(
  [...container.querySelectorAll("thead th[class*='column-']")].map((th) => {
    const box = th.getBoundingClientRect();
    const name = [...th.classList].find((c) => c.startsWith("column-")).slice(7);
    return [name, {left: box.left, right: box.right}];
  })
)
"""

# The colour a link is drawn in, and the first opaque background behind it.
LINK_COLOURS = """
(link) => {
  let behind = link;
  while (behind && getComputedStyle(behind).backgroundColor.match(/rgba\\(.*, 0\\)$|transparent/)) {
    behind = behind.parentElement;
  }
  const style = getComputedStyle(link);
  return {
    colour: style.color,
    background: getComputedStyle(behind || document.body).backgroundColor,
    decoration: style.textDecorationLine,
  };
}
"""


def sign_in_as_staff(page: Page, base_url: str) -> None:
    staff = User.objects.create_superuser(email="boss@example.org", password=PASSWORD)
    page.goto(f"{base_url}/admin/login/")
    page.get_by_label("Email").fill(staff.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#delivery-counts")).to_be_visible()


def relative_luminance(css_colour: str) -> float:
    red, green, blue, *alpha = (float(part) for part in re.findall(r"[\d.]+", css_colour))
    assert not alpha or alpha[0] == 1, f"not opaque: {css_colour}"

    def linear(channel: float) -> float:
        channel /= 255
        return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


def contrast(first: str, second: str) -> float:
    lighter, darker = sorted([relative_luminance(first), relative_luminance(second)], reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_the_message_list_keeps_its_first_columns_on_a_phone(live_server, page: Page):
    writer = make_person("someone.with.a.long.address@example.org")
    for number in range(3):
        make_message(writer, subject=f"A question about my order, number {number}")
    page.set_viewport_size(PHONE)
    sign_in_as_staff(page, live_server.url)

    page.goto(f"{live_server.url}/admin/contact/message/")
    results = page.locator("#changelist-form .results")
    at_start = results.evaluate(COLUMN_BOXES)
    results.evaluate("(container) => { container.scrollLeft = container.scrollWidth; }")
    at_end = results.evaluate(COLUMN_BOXES)

    # Subject, status and created are on screen as the page opens.
    for name in ("subject", "status", "created"):
        assert 0 <= at_start[name]["left"] < at_start[name]["right"] <= PHONE["width"], name
    # The other columns scroll into view inside the results, not with the whole page.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert at_end["sender_address"]["right"] <= PHONE["width"]
    assert list(at_start) == ["subject", "status", "created", "sender_address"]


# How wide the results' box is, how wide its content, and each column's box and lines.
RESULTS_LAYOUT = """
(container) => ({
  width: container.clientWidth,
  content: container.scrollWidth,
  columns: Object.fromEntries(
    [...container.querySelectorAll("thead th[class*='column-']")].map((th) => {
      const name = [...th.classList].find((c) => c.startsWith("column-")).slice(7);
      return [name, th.getBoundingClientRect().width];
    })
  ),
})
"""


@pytest.mark.parametrize(
    ("path", "read_most"),
    [
        ("/admin/contact/message/", "subject"),
        ("/admin/users/user/", "email"),
    ],
)
def test_every_column_of_a_list_is_on_screen_at_1280_px(live_server, page: Page, path, read_most):
    writer = make_person("someone.with.a.rather.long.address@example.org")
    for number in range(3):
        make_message(writer, subject=f"A question about my order, number {number}, and more")
    page.set_viewport_size(DESKTOP)
    sign_in_as_staff(page, live_server.url)

    page.goto(live_server.url + path)
    # Both sidebars open: the admin's navigation and the filters.
    expect(page.locator("#nav-sidebar")).to_be_visible()
    expect(page.locator("#changelist-filter")).to_be_visible()
    layout = page.locator("#changelist-form .results").evaluate(RESULTS_LAYOUT)

    # Nothing to scroll to: every column is inside the box.
    assert layout["content"] <= layout["width"], layout
    # The column people read most keeps a readable width (20 characters or so a line).
    assert layout["columns"][read_most] >= 140, layout


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_header_counts_are_underlined_and_legible(live_server, page: Page, theme):
    make_message(make_person("ann@example.org"), status="failed")
    page.set_viewport_size(PHONE)
    # The admin follows the browser's preference until someone picks a theme.
    page.emulate_media(color_scheme=theme)
    sign_in_as_staff(page, live_server.url)

    page.goto(f"{live_server.url}/admin/")
    body = relative_luminance(page.evaluate("getComputedStyle(document.body).backgroundColor"))
    assert (body < 0.5) == (theme == "dark"), "the page is not in the theme asked for"
    links = page.locator("#delivery-counts a")
    expect(links).to_have_count(3)

    for link in links.all():
        colours = link.evaluate(LINK_COLOURS)
        assert "underline" in colours["decoration"], (theme, colours)
        ratio = contrast(colours["colour"], colours["background"])
        assert ratio >= 4.5, (theme, colours, ratio)
