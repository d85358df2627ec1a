"""Logs an operator can search: one JSON object per line in production, each carrying
the id of the request it belongs to, and the delivery attempts of a message's email in
the worker logged under the id of the request that wrote it."""

import io
import json
import logging
import logging.config
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from common.request_id import HEADER
from contact.models import Message
from outbox.failures import DeliveryFailed
from outbox.models import Email
from outbox.services import email_send
from tests.conftest import HTMX

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """The site's production handler (its JSON formatter and request-id filter), writing
    to a buffer instead of stderr."""
    config = settings.LOGGING
    formatter = logging.config.DictConfigurator(config).configure_custom(
        dict(config["formatters"]["json"])
    )
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(formatter)
    handler.addFilter(
        logging.config.DictConfigurator(config).configure_custom(
            dict(config["filters"]["request_id"])
        )
    )
    root = logging.getLogger()
    root.addHandler(handler)
    yield buffer
    root.removeHandler(handler)


def lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def process_log(**environment: str) -> list[str]:
    """The log lines a fresh process of the site writes at start-up, at DEBUG level."""
    env = {
        **os.environ,
        "SECRET_KEY": "logging-test-" + "s" * 50,
        "ALLOWED_HOSTS": "site.example.org",
        "LOG_LEVEL": "DEBUG",
        **environment,
    }
    code = "import django, logging; django.setup(); logging.getLogger('site').warning('hello')"
    answer = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert answer.returncode == 0, answer.stderr
    return answer.stderr.splitlines()


def test_production_logs_one_json_object_per_line():
    log = process_log(DEBUG="false", DJANGO_SETTINGS_MODULE="site_config.settings")

    records = [json.loads(line) for line in log]
    assert {"level": "WARNING", "logger": "site", "message": "hello"}.items() <= records[-1].items()
    assert records[-1]["request_id"] == "-"
    # Start-up chatter, such as django-axes' banner, is there at DEBUG only.
    assert any(record["message"].startswith("AXES: BEGIN") for record in records)


def test_a_developer_reads_plain_lines_and_no_start_up_chatter():
    log = process_log(DEBUG="true", LOG_LEVEL="INFO", DJANGO_SETTINGS_MODULE="site_config.settings")

    assert log == [log[-1]]
    assert log[-1].endswith("WARNING [site] [-] hello")


@pytest.mark.django_db
def test_one_messages_story_shares_the_request_id(
    client, user, json_log, smtp_sink, directory, settings
):
    from tests.conftest import GOOD_PASSWORD

    # The proxy in front names the request (tests/common/test_request_id.py).
    settings.BEHIND_HTTPS_PROXY = True
    client.post(reverse("login"), {"username": user.email, "password": GOOD_PASSWORD})

    answer = client.post(
        reverse("message-new"),
        {"subject": "Hello", "body": "Follow me"},
        HTTP_X_REQUEST_ID="trace-0123456789",
        **HTMX,
    )
    message = Message.objects.select_related("email").get()
    email_send(email_id=message.email_id)

    assert answer[HEADER] == message.email.request_id == "trace-0123456789"
    # The message's lines and its email's, found by either id.
    story = [
        line
        for line in lines(json_log)
        if line.get("message_id") == message.pk or line.get("email_id") == message.email_id
    ]
    assert [line["message"].split()[0] for line in story] == [
        "email_queued",
        "message_queued",
        "directory_lookup",
        "delivery_attempt",
    ]
    assert {line["request_id"] for line in story} == {"trace-0123456789"}
    assert {"time", "level", "logger"} <= set(story[0])
    assert (story[3]["kind"], story[3]["attempt"], story[3]["outcome"]) == ("message", 1, "sent")
    # From sign-in on, the person's lines name their account.
    signed_in = [line for line in lines(json_log) if line["message"].startswith("signed_in")]
    assert [line["user_id"] for line in signed_in] == [user.pk] == [story[1]["user_id"]]


@pytest.mark.django_db
def test_an_account_emails_attempts_share_the_request_id_that_asked_for_it(
    client, json_log, smtp_sink, settings
):
    from tests.conftest import GOOD_PASSWORD

    settings.BEHIND_HTTPS_PROXY = True
    client.post(
        reverse("register"),
        {"email": "new@example.org", "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD},
        HTTP_X_REQUEST_ID="trace-signup-42",
    )
    email_id = Email.objects.get().pk
    smtp_sink.replies = ["550 No such mailbox"]
    with pytest.raises(DeliveryFailed):
        email_send(email_id=email_id)

    story = [line for line in lines(json_log) if line.get("email_id") == email_id]
    assert [(line["message"].split()[0], line["level"]) for line in story] == [
        ("email_queued", "INFO"),
        ("email_failed", "ERROR"),
        ("delivery_attempt", "INFO"),
    ]
    assert {line["request_id"] for line in story} == {"trace-signup-42"}
    assert {line["kind"] for line in story} == {"verify_address"}


def test_the_axes_banner_waits_for_debug():
    assert settings.AXES_VERBOSE is (settings.LOG_LEVEL == "DEBUG")
