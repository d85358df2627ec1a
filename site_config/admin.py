from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from contact.selectors import message_counts
from outbox.selectors import recent_failures
from users.forms import AdminSignInForm


class AdminSite(admin.AdminSite):
    """Django's admin, with the delivery counts in the header of every page."""

    # The site's own name in the header and the title, not "Django administration".
    site_header = _("Write to the administrator")
    site_title = _("Write to the administrator")
    login_form = AdminSignInForm

    def register(
        self,
        model_or_iterable: Any,
        admin_class: type[admin.ModelAdmin[Any]] | None = None,
        **options: Any,
    ) -> None:
        # Every list's search is bounded, the site's own admins' and the libraries'
        # (django-axes registers its logs here too).
        base = admin_class or admin.ModelAdmin
        if not issubclass(base, BoundedSearch):
            base = type(base.__name__, (BoundedSearch, base), {"__module__": base.__module__})
        super().register(model_or_iterable, base, **options)

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        context = super().each_context(request)
        # Every admin page builds its context here, the login page too: the counts are
        # for staff who may view messages, and cost one query per page.
        user = request.user
        if user.is_active and user.is_staff and user.has_perm("contact.view_message"):
            context["message_counts"] = message_counts()
        return context

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        # Staff who may see emails are warned on the index of any that did not get
        # through lately, whatever their kind.
        extra = dict(extra_context or {})
        if request.user.has_perm("outbox.view_email"):
            extra["recent_failures"] = recent_failures()
        return super().index(request, extra)


# Longer search terms find nothing a person typed, and each word is a LIKE pattern the
# database must compile (SQLite refuses one over 50,000 bytes).
SEARCH_TERM_MAX_LENGTH = 200


class BoundedSearch:
    """Mixed into every model admin the site registers (AdminSite.register): a search
    term over SEARCH_TERM_MAX_LENGTH is refused, with a message, before it reaches the
    database."""

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        if len(search_term) > SEARCH_TERM_MAX_LENGTH:
            limit = {"limit": SEARCH_TERM_MAX_LENGTH}
            messages.warning(request, _("Search for at most %(limit)d characters.") % limit)
            return queryset.none(), False
        found: tuple[QuerySet[Any], bool] = super().get_search_results(  # type: ignore[misc]
            request, queryset, search_term
        )
        return found
