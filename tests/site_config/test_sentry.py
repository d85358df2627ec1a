"""With SENTRY_DSN set, errors of the web and of the worker reach Sentry: here a real
HTTP server standing in for its ingest endpoint. The site runs in a process of its own,
since sentry-sdk, once initialised, hooks into Django and Dramatiq for good."""

import os
import subprocess
import sys
from pathlib import Path

from tests.standins.sentry import SentryStandIn
from tests.standins.smtp import free_port

ROOT = Path(__file__).resolve().parents[2]

# The site, set up as a process of the web and of the worker would be, meets three
# errors: a view that raises, a task that raises, and an email that fails for good.
SCRIPT = """
import django, dramatiq
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.test import Client
from contact import views
from contact.models import Message
from outbox.kinds import QUEUE_DEFAULT
from outbox.tasks import ACTORS
from tests.conftest import make_person
from tests.contact.factories import make_message

def broken(*args, **kwargs):
    raise RuntimeError("boom in a view")

views.HomeView.get = broken
assert Client(raise_request_exception=False).get("/").status_code == 500

person = make_person("ann@example.org")
failing = make_message(person)
broker = dramatiq.get_broker()
import threading


class FirstFailure(dramatiq.Middleware):
    # Set once the task that names no email has raised (after Sentry's middleware saw it).
    seen = threading.Event()

    def after_process_message(self, broker, message, *, result=None, exception=None):
        if exception is not None and message.args == ("not-an-email-id",):
            self.seen.set()


broker.add_middleware(FirstFailure())
worker = dramatiq.Worker(broker, worker_timeout=50)
worker.start()
send_email = ACTORS[QUEUE_DEFAULT]
send_email.send(failing.email_id)
# Not an id at all: the task raises, and Dramatiq would retry it (after a backoff) for
# as long as the worker runs.
send_email.send("not-an-email-id")
import time
def status():
    return Message.objects.select_related("email").get().email.status
deadline = time.monotonic() + 30
while status() != "failed" and time.monotonic() < deadline:
    time.sleep(0.1)
assert FirstFailure.seen.wait(timeout=60)
worker.stop()
assert status() == "failed"

import sentry_sdk
sentry_sdk.flush(timeout=10)
"""


def test_errors_of_the_web_and_the_worker_reach_sentry(tmp_path):
    sentry = SentryStandIn().start()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "site_config.settings",
        "SECRET_KEY": "sentry-test-" + "s" * 50,
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": "",
        "SENTRY_DSN": sentry.dsn,
        "SENTRY_ENVIRONMENT": "test",
        # Nothing listens here: the one attempt allowed fails, and the email with it.
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(free_port()),
        "MESSAGE_MAX_ATTEMPTS": "1",
        "USER_DIRECTORY_URL": f"http://127.0.0.1:{free_port()}/users",
        "LOG_LEVEL": "WARNING",
        "ALLOWED_HOSTS": "testserver",
    }
    try:
        subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, check=True, timeout=120)
    finally:
        sentry.stop()

    received = "\n".join(sentry.envelopes)
    assert "boom in a view" in received
    assert "email_failed" in received
    # The task given an email id that is no id at all raised in the worker.
    assert "not-an-email-id" in received
    assert '"environment":"test"' in received.replace(" ", "")


def test_without_a_dsn_nothing_is_sent():
    from django.conf import settings

    assert settings.SENTRY_DSN == ""
    import sentry_sdk

    assert not sentry_sdk.get_client().is_active()
