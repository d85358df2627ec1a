"""How the admin shows a date and time: one style in both languages, the style its date
inputs take (users.admin), so what staff read there is what they may type."""

from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.utils import formats, timezone
from django.utils.html import format_html
from django_stubs_ext import StrOrPromise

DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i:s"
DATETIME_INPUT_FORMAT = "%Y-%m-%d %H:%M:%S"


def date_and_time(field: str, description: StrOrPromise) -> Callable[[Any, Any], str]:
    """A column or read-only field for a model admin or an inline: the model's date and
    time `field` in the admin's one style, sorted by that field."""

    @admin.display(description=description, ordering=field)
    def shown(model_admin: Any, obj: Any) -> str:
        value = getattr(obj, field)
        if value is None:
            # Said here: a read-only field shows a method's None as "None".
            return str(model_admin.get_empty_value_display())
        local = timezone.localtime(value)
        # A narrow column breaks the line between the date and the time, never inside
        # the date at its hyphens (the admin's own .nowrap).
        return format_html(
            '<span class="nowrap">{}</span> <span class="nowrap">{}</span>',
            formats.date_format(local, DATE_FORMAT),
            formats.time_format(local, TIME_FORMAT),
        )

    return shown
