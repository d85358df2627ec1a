"""Hypothesis posts tracking reports of any shape to the providers' webhooks, with the
right secret (and, for Mailgun, a valid signature): each field of a real report set to
any JSON at all, or arbitrary bytes. Never a server error; every stored report and
email keeps its model's rules."""

import json

import pytest
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from outbox.envelope import METADATA_KEY
from outbox.models import Email, EmailEvent
from tests.outbox.email_rows import sent_email
from tests.outbox.provider_reports import (
    AUTH,
    MAILGUN_SIGNING_KEY,
    MAILGUN_URL,
    POSTMARK_URL,
    mailgun,
    postmark,
    sign_mailgun,
    webhook_settings,
)
from users.models import AccountEmailKind

pytestmark = pytest.mark.django_db

TEXT = st.text(st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ["\x00", "\u202e", "1", "-1", "9" * 40, "<x@example.org>", "x" * 5000, "2026-13-45T99:99"]
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=20,
)
SETTINGS = hypothesis_settings(
    max_examples=80,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(autouse=True)
def webhooks_on(settings):
    webhook_settings(settings)


def rules_hold() -> None:
    for report in EmailEvent.objects.all():
        report.full_clean()
        assert "\x00" not in report.detail + report.provider_message_id
    for email in Email.objects.all():
        email.full_clean()


def altered(report: dict, path: list[str], value: object) -> dict:
    """`report` with the field at `path` (keys into nested objects) set to `value`."""
    changed = json.loads(json.dumps(report))
    inner = changed
    for key in path[:-1]:
        inner = inner[key]
    inner[path[-1]] = value
    return changed


def test_no_postmark_report_breaks_the_webhook():
    email = sent_email(provider_message_id="pm-fuzz")
    kinds = ["delivery", "hard-bounce", "transient", "spam-complaint", "open", "click"]
    client = Client(raise_request_exception=False)

    @SETTINGS
    @given(kind=st.sampled_from(kinds), data=st.data(), value=JSON)
    def post_anything(kind: str, data: st.DataObject, value: object) -> None:
        report = postmark(kind, "pm-fuzz", site_email=email.pk)
        field = data.draw(st.sampled_from([*report, "Metadata"]))
        path = [field] if field != "Metadata" else ["Metadata", METADATA_KEY]
        body = json.dumps(altered(report, path, value), allow_nan=True)
        response = client.post(POSTMARK_URL, body, content_type="application/json", **AUTH)
        assert response.status_code in (200, 400), (field, value, response.status_code)

    post_anything()
    rules_hold()


def test_no_signed_mailgun_report_breaks_the_webhook(user, settings):
    webhook_settings(settings, "mailgun")
    # An account's email, as reports name every kind alike.
    email = sent_email(
        kind=AccountEmailKind.VERIFY_ADDRESS, user=user, provider_message_id="<mg@fuzz>"
    )
    kinds = ["delivered", "failed-permanent", "failed-temporary", "rejected", "complained"]
    client = Client(raise_request_exception=False)

    @SETTINGS
    @given(kind=st.sampled_from(kinds), data=st.data(), value=JSON)
    def post_anything(kind: str, data: st.DataObject, value: object) -> None:
        report = mailgun(kind, "<mg@fuzz>", site_email=email.pk, to=email.to)
        field = data.draw(st.sampled_from([*report["event-data"], "user-variables"]))
        path = ["event-data", field]
        if field == "user-variables":
            path.append(METADATA_KEY)
        token = data.draw(st.text(st.characters(codec="ascii"), min_size=1, max_size=60))
        signed = sign_mailgun(
            altered(report, path, value), token=token, signing_key=MAILGUN_SIGNING_KEY
        )
        body = json.dumps(signed, allow_nan=True)
        response = client.post(MAILGUN_URL, body, content_type="application/json", **AUTH)
        assert response.status_code in (200, 400), (field, value, response.status_code)

    post_anything()
    rules_hold()


@pytest.mark.parametrize(
    ("provider", "url"), [("postmark", POSTMARK_URL), ("mailgun", MAILGUN_URL)]
)
def test_no_bytes_break_either_webhook(settings, provider, url):
    webhook_settings(settings, provider)
    client = Client(raise_request_exception=False)

    @SETTINGS
    @given(body=st.binary(max_size=2000))
    def post_anything(body: bytes) -> None:
        response = client.post(url, body, content_type="application/json", **AUTH)
        assert response.status_code in (200, 400), (url, body[:80], response.status_code)

    post_anything()
