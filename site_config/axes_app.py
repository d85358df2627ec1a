from axes.apps import AppConfig as AxesAppConfig
from django.utils.translation import gettext_lazy as _


# Subclassing a class mypy sees as Any: django-axes has no type information.
class AxesConfig(AxesAppConfig):  # type: ignore[misc]
    """django-axes, named in the admin in the site's words and languages: its own
    configuration leaves the name to its label ("Axes")."""

    verbose_name = _("Sign-in lockout")
