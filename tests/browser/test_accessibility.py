"""Every page and every state of the tour (tests/browser/tour.py), in both languages and
at both widths, has no violation of the WCAG 2.1 A and AA rules that axe-core checks, nor
a table header without a name."""

import pytest
from playwright.sync_api import Browser, Page

from tests.browser.accessibility import AXE, WCAG_AA
from tests.browser.tour import LOCALES, WIDTHS, cast, walk

pytestmark = pytest.mark.django_db(transaction=True)

SCROLLS_SIDEWAYS = "document.documentElement.scrollWidth > window.innerWidth"
# WCAG's rules, and one axe files under best practice: a table header without a name
# leaves a screen reader a column it cannot name (a message's timeline in the admin).
RULES = {**WCAG_AA, "rules": {"empty-table-header": {"enabled": True}}}


def violations(page: Page) -> list[str]:
    """One line per element that breaks a rule: the rule, its impact and the element."""
    results = AXE.run(page, options=RULES)
    return [
        f"{rule['id']} ({rule['impact']}): {node['target']} {node['failureSummary']}"
        for rule in results.response["violations"]
        for node in rule["nodes"]
    ]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("language", LOCALES)
def test_every_page_and_state_passes_axe(live_server, browser: Browser, language, width):
    # axe injects its script and styles into the page, which the site's policy would
    # refuse; the policy itself is the other test's business (test_content_security_policy).
    context = browser.new_context(locale=LOCALES[language], viewport=WIDTHS[width], bypass_csp=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    seen: list[str] = []
    found: list[str] = []

    def check(page: Page, state: str) -> None:
        assert page.locator("html").get_attribute("lang") == language, state
        found.extend(f"{state}: {violation}" for violation in violations(page))
        # Reflow (WCAG 1.4.10): the site's own pages never scroll sideways; the admin's
        # wide tables scroll inside their own box.
        if page.evaluate(SCROLLS_SIDEWAYS) and not state.startswith("admin"):
            found.append(f"{state}: the page scrolls sideways")
        seen.append(state)

    try:
        walk(page, live_server.url, cast(), check)
    finally:
        # A page left open keeps polling the live server past the test's end.
        context.close()
    # Every state is reported at once, so one run shows all there is to fix.
    assert found == [], f"{language}, {width}:\n" + "\n".join(found)
    assert not errors, errors
    assert len(seen) > 30
