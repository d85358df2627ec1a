from collections.abc import Callable
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise

from contact.selectors import message_counts
from users.forms import AdminSignInForm


class AdminSite(admin.AdminSite):
    """Django's admin, with the delivery counts in the header of every page."""

    # The site's own name in the header and the title, not "Django administration".
    site_header = _("Write to the administrator")
    site_title = _("Write to the administrator")
    login_form = AdminSignInForm

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        context = super().each_context(request)
        # Every admin page builds its context here, the login page too: the counts are
        # for staff who may view messages, and cost one query per page.
        user = request.user
        if user.is_active and user.is_staff and user.has_perm("contact.view_message"):
            context["message_counts"] = message_counts()
        return context


# One style for every date and time the admin shows, in both languages: the style its
# date inputs take (users.admin), so what staff read there is what they may type.
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
