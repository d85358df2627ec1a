from django.contrib import admin
from django.urls import include, path

from site_config import health, metrics

urlpatterns = [
    path("", include("contact.urls")),
    path("accounts/", include("users.urls")),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
]
