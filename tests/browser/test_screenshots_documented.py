"""docs/frontend.md shows every picture `make screenshots` writes, and each picture it
shows is in docs/screenshots/."""

import re
from pathlib import Path

from tests.browser.screenshots import SHOWN, file_name
from tests.browser.tour import LOCALES, WIDTHS

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_front_end_guide_shows_every_screenshot():
    shown = re.findall(r"\]\(screenshots/([\w-]+\.png)\)", (DOCS / "frontend.md").read_text())
    written = [
        file_name(state, language, width)
        for state in SHOWN
        for language in LOCALES
        for width in WIDTHS
    ]

    assert sorted(shown) == sorted(written)
    assert [name for name in shown if not (DOCS / "screenshots" / name).is_file()] == []
