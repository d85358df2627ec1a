"""What the site keeps of a user object from the directory.

The directory may send any JSON at all. Whatever it sends for an address is reduced
here, once, to a value that the site can do everything with: store it as JSON on SQLite
and PostgreSQL, attach it to the email as UTF-8, and show it in the admin and in the
email without it rearranging what is around it. The same value is emailed and stored,
so the record says what the administrator received.
"""

import math
import re
from typing import Any

# Levels of nesting kept; deeper values are replaced by the marker.
MAX_DEPTH = 8
# Entries kept of each object and each list.
MAX_ITEMS = 100
# Characters kept of each string.
MAX_STRING = 1000
# From here on json.dumps writes a whole float with an exponent (1e+16).
WHOLE_FLOATS_FROM = 1e16
# Stands for what was cut.
CUT = "…"

# Removed from every string and key:
# - NUL and the other C0 and C1 controls but tab and line feed (spaces, below): PostgreSQL's jsonb
#   refuses NUL, and none of them belongs in a name or an address;
# - the bidirectional marks, embeddings, overrides and isolates, which reorder the text
#   around them where the admin or a mail client shows it;
# - lone surrogates, which have no UTF-8 form (and so no place in an email or a database).
UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def storable(value: Any, *, depth: int = 0) -> Any:
    """`value` (as json.loads gave it) reduced to what can be stored, attached and shown."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        # NaN and the infinities are not JSON, and PostgreSQL refuses them.
        if not math.isfinite(value):
            return str(value)
        # PostgreSQL's jsonb gives a whole number this large back without its exponent,
        # so as an int: kept as the int it is, the record reads as the email says.
        if value.is_integer() and abs(value) >= WHOLE_FLOATS_FROM:
            return int(value)
        return value
    if isinstance(value, str):
        return text(value)
    if depth >= MAX_DEPTH:
        return CUT
    if isinstance(value, dict):
        entries = list(value.items())
        kept = {
            text(str(key)): storable(item, depth=depth + 1) for key, item in entries[:MAX_ITEMS]
        }
        if len(entries) > MAX_ITEMS:
            kept[CUT] = CUT
        return kept
    if isinstance(value, list):
        items = [storable(item, depth=depth + 1) for item in value[:MAX_ITEMS]]
        if len(value) > MAX_ITEMS:
            items.append(CUT)
        return items
    return text(str(value))


# Made spaces: tab, line feed and the Unicode line and paragraph separators. A value is
# one line wherever it is shown, so in the administrator's plain-text email no value can
# write a line of its own beneath the site's.
LINE_BREAKS = re.compile("[\t\n\u2028\u2029]")


def text(value: str) -> str:
    cleaned = LINE_BREAKS.sub(" ", UNSAFE.sub("", value))
    if len(cleaned) > MAX_STRING:
        return cleaned[:MAX_STRING] + CUT
    return cleaned
