from django.contrib import admin
from django.urls import include, path

from outbox import webhooks
from site_config import health, metrics

# A request whose body cannot be read gets the site's page without reading it again.
handler400 = "site_config.error_pages.bad_request"

urlpatterns = [
    path("", include("contact.urls")),
    path("accounts/", include("users.urls")),
    # The language switcher posts here (Django's set_language).
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    # The configured email provider's tracking webhook (outbox.webhooks guards it).
    path("anymail/", include((webhooks.tracking_urlpatterns(), webhooks.WEBHOOK_NAMESPACE))),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics, name="metrics"),
]
