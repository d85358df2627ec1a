from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

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
