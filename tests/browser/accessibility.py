"""axe-core, run in the page, and the site's answer to it: no violation of the WCAG 2.1
A and AA rules, nor of 2.2's AA rule on target size, on any page, in any state a test
brings it to."""

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

AXE = Axe()
# The rules of WCAG 2.0 and 2.1, levels A and AA, and WCAG 2.2's AA (24 px targets).
WCAG_AA = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]}
}


def violations(page: Page) -> list[str]:
    """One line per element that breaks a rule: the rule, its impact and the element."""
    results = AXE.run(page, options=WCAG_AA)
    return [
        f"{rule['id']} ({rule['impact']}): {node['target']} {node['failureSummary']}"
        for rule in results.response["violations"]
        for node in rule["nodes"]
    ]
