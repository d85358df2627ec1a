"""Reading the admin's pages as staff see them."""

import re
from html import unescape as html_unescape


def text_of(html: str) -> str:
    return " ".join(html_unescape(re.sub(r"<[^>]+>", " ", html)).split())


def readonly_rows(response) -> dict[str, str]:
    """Each read-only field of a change page: its label, and the text shown for it."""
    html = response.content.decode()
    found = re.findall(
        r'<label>([^<]*)</label>\s*<div class="readonly">(.*?)</div>', html, re.DOTALL
    )
    return {html_unescape(label): text_of(value) for label, value in found}
