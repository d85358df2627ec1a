from django.contrib import admin
from django.urls import include, path

from site_config import health, metrics

urlpatterns = [
    path("", include("contact.urls")),
    path("accounts/", include("users.urls")),
    # The language switcher posts here (Django's set_language).
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
]
