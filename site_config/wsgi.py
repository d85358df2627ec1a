"""WSGI entry point, for gunicorn and for `manage.py runserver` alike."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_config.settings")

application = get_wsgi_application()

# Only in the embedded mode (no REDIS_URL): the serving process delivers email itself.
from outbox.workers import start_embedded_worker  # noqa: E402

start_embedded_worker()
