"""The providers' tracking webhooks, posted to as Postmark and Mailgun post: every event
type, replays, reports out of order, bad credentials, bodies that are not reports, and
the URLs of providers the site does not send through."""

import base64
import logging
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from anymail import urls as anymail_urls
from django.core.checks import run_checks
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone

from contact.emails import message_id_header
from contact.models import DeliveryEvent, Message
from contact.selectors import MessageCounts, message_counts
from tests.contact.factories import make_message
from tests.outbox.provider_reports import (
    AUTH,
    MAILGUN_SIGNING_KEY,
    MAILGUN_URL,
    POSTMARK_URL,
    WEBHOOK_SECRET,
    body,
    mailgun,
    postmark,
    sign_mailgun,
    webhook_settings,
)

pytestmark = pytest.mark.django_db


URLS = {"postmark": POSTMARK_URL, "mailgun": MAILGUN_URL}


@pytest.fixture(autouse=True)
def webhooks_on(settings):
    webhook_settings(settings)


@pytest.fixture
def through_mailgun(settings):
    webhook_settings(settings, "mailgun")


def sent(user, provider_message_id: str | None = None) -> Message:
    """A message the provider took under `provider_message_id`."""
    return make_message(
        user,
        status=Message.Status.SENT,
        attempts=1,
        provider_message_id=provider_message_id or str(uuid.uuid4()),
    )


def post(client, url: str, payload: object, **headers):
    return client.post(url, body(payload), content_type="application/json", **{**AUTH, **headers})


def status_of(message: Message) -> str:
    message.refresh_from_db()
    return message.status


# ---------------------------------------------------------------- every event type

POSTMARK_CASES = [
    ("delivery", "delivered", Message.Status.DELIVERED),
    ("hard-bounce", "bounced", Message.Status.BOUNCED),
    ("transient", "deferred", Message.Status.DEFERRED),
    ("spam-complaint", "complained", Message.Status.COMPLAINED),
    # Opens and clicks are kept on the timeline and move nothing.
    ("open", "opened", Message.Status.SENT),
    ("click", "clicked", Message.Status.SENT),
]


@pytest.mark.parametrize(("kind", "event_type", "status"), POSTMARK_CASES)
def test_each_postmark_report_is_recorded_and_moves_the_message(
    client, user, kind, event_type, status
):
    message = sent(user)

    response = post(client, POSTMARK_URL, postmark(kind, message.provider_message_id))

    assert response.status_code == 200
    assert status_of(message) == status
    [report] = message.events.filter(kind=DeliveryEvent.Kind.REPORT)
    assert (report.provider, report.event_type) == ("Postmark", event_type)
    assert report.provider_message_id == message.provider_message_id
    assert report.applied == (status != Message.Status.SENT)


MAILGUN_CASES = [
    ("delivered", "delivered", Message.Status.DELIVERED),
    ("failed-permanent", "bounced", Message.Status.BOUNCED),
    ("failed-temporary", "deferred", Message.Status.DEFERRED),
    ("rejected", "rejected", Message.Status.BOUNCED),
    ("complained", "complained", Message.Status.COMPLAINED),
    ("opened", "opened", Message.Status.SENT),
]


@pytest.mark.parametrize(("kind", "event_type", "status"), MAILGUN_CASES)
def test_each_mailgun_report_is_recorded_and_moves_the_message(
    client, user, through_mailgun, kind, event_type, status
):
    message = sent(user, "<20261202133713.1.DF5966851B4BAA99@mg.example.org>")

    response = post(client, MAILGUN_URL, mailgun(kind, message.provider_message_id))

    assert response.status_code == 200
    assert status_of(message) == status
    [report] = message.events.filter(kind=DeliveryEvent.Kind.REPORT)
    assert (report.provider, report.event_type) == ("Mailgun", event_type)


def test_the_reason_the_provider_gives_is_kept(client, user):
    message = sent(user)
    bounced_at = datetime(2026, 12, 2, 17, 28, 50, 396393, tzinfo=UTC)

    post(client, POSTMARK_URL, postmark("hard-bounce", message.provider_message_id, at=bounced_at))

    report = message.events.get()
    assert "unable to deliver your message" in report.detail
    assert "550 5.1.1 The email account that you tried to reach does not exist." in report.detail
    assert report.occurred_at == bounced_at


def test_a_report_finds_its_message_by_the_metadata_the_email_carried(
    client, user, through_mailgun
):
    # The provider's id is not recorded yet (or differs): the metadata names the message.
    message = sent(user, "<mailgun-id@mg.example.org>")

    post(
        client,
        MAILGUN_URL,
        mailgun("delivered", message.provider_message_id, site_message=message.pk),
    )

    assert status_of(message) == Message.Status.DELIVERED


def test_the_header_counts_a_bounce_as_not_delivered(client, user):
    delivered, bounced = sent(user), sent(user)
    make_message(user)

    post(client, POSTMARK_URL, postmark("delivery", delivered.provider_message_id))
    post(client, POSTMARK_URL, postmark("hard-bounce", bounced.provider_message_id))

    assert message_counts() == MessageCounts(sent=2, not_delivered=1, waiting=1)


# ---------------------------------------------------------------- replays and order


def test_a_replayed_report_is_applied_once(client, user):
    message = sent(user)
    now = timezone.now()
    delivery = postmark("delivery", message.provider_message_id, at=now - timedelta(minutes=2))
    bounce = postmark("hard-bounce", message.provider_message_id, at=now - timedelta(minutes=1))

    for payload in (delivery, delivery, bounce, bounce, delivery):
        assert post(client, POSTMARK_URL, payload).status_code == 200

    assert status_of(message) == Message.Status.BOUNCED
    assert [event.event_type for event in message.events.all()] == ["delivered", "bounced"]


def test_a_replay_finishes_a_move_the_process_did_not_live_to_make(client, user):
    # The report is on the timeline, but the process died before the message moved.
    message = sent(user)
    bounce = postmark("hard-bounce", message.provider_message_id)
    post(client, POSTMARK_URL, bounce)
    Message.objects.filter(pk=message.pk).update(status=Message.Status.SENT)
    message.events.update(applied=False)

    assert post(client, POSTMARK_URL, bounce).status_code == 200

    assert status_of(message) == Message.Status.BOUNCED
    [report] = message.events.all()
    assert report.applied


def test_a_mailgun_replay_is_known_by_its_token(client, user, through_mailgun):
    message = sent(user, "<replayed@mg.example.org>")
    report = mailgun("failed-temporary", message.provider_message_id, token="a" * 50)

    post(client, MAILGUN_URL, report)
    post(client, MAILGUN_URL, report)

    assert message.events.count() == 1


@pytest.mark.parametrize(
    ("order", "final"),
    [
        (["transient", "delivery"], Message.Status.DELIVERED),
        # A late deferral changes nothing once delivered.
        (["delivery", "transient"], Message.Status.DELIVERED),
        # A bounce after a delivery does: the provider learnt more.
        (["delivery", "hard-bounce"], Message.Status.BOUNCED),
        (["hard-bounce", "delivery"], Message.Status.BOUNCED),
        (["hard-bounce", "transient"], Message.Status.BOUNCED),
        (["delivery", "spam-complaint", "transient"], Message.Status.COMPLAINED),
        (["spam-complaint", "delivery"], Message.Status.COMPLAINED),
    ],
)
def test_reports_out_of_order_never_move_a_message_backwards(client, user, order, final):
    message = sent(user)

    for kind in order:
        post(client, POSTMARK_URL, postmark(kind, message.provider_message_id))

    assert status_of(message) == final
    # Every report is on the timeline all the same.
    assert message.events.count() == len(order)


def sent_again(message: Message, first: str, second: str) -> None:
    """`message` sent under `first`, then (after a bounce and a retry) under `second`."""
    for provider_id in (first, second):
        DeliveryEvent.objects.create(
            message=message,
            kind=DeliveryEvent.Kind.ATTEMPT,
            event_type="sent",
            status=Message.Status.SENT,
            applied=True,
            provider="Postmark",
            provider_message_id=provider_id,
        )
    Message.objects.filter(pk=message.pk).update(
        status=Message.Status.SENT, provider_message_id=second
    )


def test_a_report_about_an_earlier_send_does_not_move_the_resent_message(client, user):
    # Bounced, then sent again (retry_failed --bounced): the first send's late reports
    # stay on the record and leave the new send alone.
    message = sent(user, "first-send")
    post(client, POSTMARK_URL, postmark("hard-bounce", "first-send"))
    sent_again(message, "first-send", "second-send")

    post(client, POSTMARK_URL, postmark("hard-bounce", "first-send", site_message=message.pk))
    assert status_of(message) == Message.Status.SENT
    post(client, POSTMARK_URL, postmark("delivery", "second-send", site_message=message.pk))

    assert status_of(message) == Message.Status.DELIVERED
    assert message.events.filter(kind=DeliveryEvent.Kind.REPORT).count() == 3


def test_a_report_under_the_emails_own_message_id_header_moves_the_message(
    client, user, through_mailgun
):
    # Mailgun reports under the email's Message-ID header, which the site set, rather
    # than the id its API answered with: the same send all the same.
    message = sent(user, "<api-id@mg.example.org>")
    report = mailgun("delivered", message_id_header(message), site_message=message.pk)

    post(client, MAILGUN_URL, report)

    assert status_of(message) == Message.Status.DELIVERED


def test_a_report_naming_the_message_by_metadata_under_a_strangers_id_moves_nothing(
    client, user, through_mailgun
):
    # Another site on the same provider account, whose emails carry the same metadata
    # key: its report names our message's id, under an email id that is not ours.
    message = sent(user, "<api-id@mg.example.org>")
    report = mailgun(
        "failed-permanent", "<someone-else@other.example.org>", site_message=message.pk
    )

    post(client, MAILGUN_URL, report)

    assert status_of(message) == Message.Status.SENT
    assert message.events.get().applied is False


def test_a_report_for_a_message_still_waiting_is_kept_for_when_it_is_sent(client, user):
    message = make_message(user, status=Message.Status.SENDING, attempts=1)

    post(client, POSTMARK_URL, postmark("delivery", "not-recorded-yet", site_message=message.pk))

    assert status_of(message) == Message.Status.SENDING
    assert message.events.get().applied is False


# ---------------------------------------------------------------- who may post, and what


def test_a_report_for_no_message_of_this_site_is_logged_and_answered_200(client, user, caplog):
    with caplog.at_level(logging.WARNING, logger="contact.services"):
        response = post(client, POSTMARK_URL, postmark("delivery", "someone-elses-email"))

    assert response.status_code == 200
    assert DeliveryEvent.objects.count() == 0
    assert "report_unknown provider=Postmark event=delivered" in caplog.text


@pytest.mark.parametrize(
    "auth",
    [
        {},
        {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"tracker:guess").decode()},
        {"HTTP_AUTHORIZATION": "Bearer " + WEBHOOK_SECRET},
        {"HTTP_AUTHORIZATION": "Basic !!!not-base64"},
    ],
    ids=["none", "wrong", "not-basic", "garbled"],
)
@pytest.mark.parametrize("provider", URLS)
def test_a_post_without_the_secret_is_refused(client, settings, user, auth, provider):
    webhook_settings(settings, provider)
    message = sent(user, "<guarded@mg.example.org>")
    payload = (
        postmark("delivery", message.provider_message_id)
        if provider == "postmark"
        else mailgun("delivered", message.provider_message_id)
    )

    response = client.post(URLS[provider], body(payload), content_type="application/json", **auth)

    assert response.status_code == 400
    assert status_of(message) == Message.Status.SENT
    assert DeliveryEvent.objects.count() == 0


def test_a_mailgun_post_with_a_wrong_signature_is_refused(client, user, through_mailgun):
    message = sent(user, "<signed@mg.example.org>")
    forged = mailgun("delivered", message.provider_message_id, signing_key="not-the-key")

    response = post(client, MAILGUN_URL, forged)

    assert response.status_code == 400
    assert status_of(message) == Message.Status.SENT


# Every URL anymail's views answer at, each provider's inbound and tracking webhooks.
ANYMAIL_URLS = [
    "/anymail" + reverse(pattern.name, urlconf=anymail_urls) for pattern in anymail_urls.urlpatterns
]


@pytest.mark.parametrize("provider", URLS)
def test_only_the_tracking_url_of_the_provider_the_site_sends_through_exists(
    client, settings, user, provider
):
    # Mailgun's signing key is set either way: with Postmark configured, a report signed
    # with it still finds no URL.
    webhook_settings(settings, provider)
    message = sent(user, "<another-provider@mg.example.org>")
    reports = {
        "postmark": postmark("hard-bounce", message.provider_message_id),
        "mailgun": mailgun("failed-permanent", message.provider_message_id),
    }

    answers = [
        (url, post(client, url, report).status_code)
        for url in ANYMAIL_URLS
        if url != URLS[provider]
        for report in reports.values()
    ]

    assert URLS[provider] in ANYMAIL_URLS
    assert {status for _, status in answers} == {404}, answers
    assert status_of(message) == Message.Status.SENT
    assert DeliveryEvent.objects.count() == 0
    assert post(client, URLS[provider], reports[provider]).status_code == 200
    assert status_of(message) == Message.Status.BOUNCED


@pytest.mark.parametrize(
    ("backend", "urls"),
    [
        ("anymail.backends.postmark.EmailBackend", ["/anymail/postmark/tracking/"]),
        ("anymail.backends.amazon_ses.EmailBackend", ["/anymail/amazon_ses/tracking/"]),
        (
            "anymail.backends.mandrill.EmailBackend",
            ["/anymail/mandrill/", "/anymail/mandrill/tracking/"],
        ),
        # A provider without a tracking webhook, and SMTP, have no URL at all.
        ("anymail.backends.scaleway.EmailBackend", []),
        ("contact.smtp.EmailBackend", []),
    ],
)
def test_the_tracking_url_is_the_one_email_backend_names(settings, backend, urls):
    settings.EMAIL_BACKEND = backend

    assert [url for url in ANYMAIL_URLS if resolves(url)] == urls


def resolves(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def test_the_webhooks_are_off_until_a_secret_is_set(client, user, settings):
    settings.ANYMAIL = {}
    message = sent(user)

    response = post(client, POSTMARK_URL, postmark("delivery", message.provider_message_id))

    assert response.status_code == 404
    assert status_of(message) == Message.Status.SENT


GARBAGE = {
    "empty": b"",
    "not-json": b"RecordType=Delivery",
    "truncated": b'{"RecordType": "Deliv',
    "invalid-utf-8": b'{"RecordType": "\xff\xfe"}',
    "a-list": b"[1, 2, 3]",
    "a-number": b"42",
    "null": b"null",
    "wrong-types": b'{"RecordType": ["Delivery"], "MessageID": {"a": 1}, "DeliveredAt": 7}',
    "deep": b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("garbage", GARBAGE.values(), ids=GARBAGE.keys())
@pytest.mark.parametrize("provider", URLS)
def test_a_body_that_is_not_a_report_is_a_400_never_a_500(
    client, settings, user, provider, garbage
):
    webhook_settings(settings, provider)
    client.raise_request_exception = False

    response = client.post(URLS[provider], garbage, content_type="application/json", **AUTH)

    assert response.status_code == 400
    assert DeliveryEvent.objects.count() == 0


MAILGUN_GARBAGE = {
    "event-data-not-an-object": {"event-data": "delivered"},
    "no-event": {"event-data": {"timestamp": 1}},
    "timestamp-not-a-number": {"event-data": {"event": "delivered", "timestamp": "soon"}},
}


@pytest.mark.parametrize("garbage", MAILGUN_GARBAGE.values(), ids=MAILGUN_GARBAGE.keys())
def test_a_signed_mailgun_post_that_is_not_a_report_is_a_400(client, through_mailgun, garbage):
    client.raise_request_exception = False
    signed = sign_mailgun(
        {"event-data": {"timestamp": 1}}, token="t" * 50, signing_key=MAILGUN_SIGNING_KEY
    )

    response = post(client, MAILGUN_URL, {**garbage, "signature": signed["signature"]})

    assert response.status_code == 400
    assert DeliveryEvent.objects.count() == 0


def test_a_report_with_nul_characters_is_recorded_without_them(client, user):
    # PostgreSQL's text cannot hold NUL: the report is kept, cleaned, not refused.
    message = sent(user, "clean-id")
    report = postmark("hard-bounce", "clean-id")
    report["Description"] = "bad\x00 mailbox"

    response = post(client, POSTMARK_URL, report)
    unknown = post(client, POSTMARK_URL, postmark("delivery", "nul\x00id"))

    assert (response.status_code, unknown.status_code) == (200, 200)
    detail = message.events.get().detail
    assert "bad mailbox" in detail and "\x00" not in detail


def test_an_inbound_email_posted_to_the_tracking_url_is_a_400(client):
    # Postmark's inbound webhook pointed at the tracking URL by mistake.
    client.raise_request_exception = False
    inbound = {"FromFull": {"Email": "someone@example.org"}, "Subject": "Hi"}

    assert post(client, POSTMARK_URL, inbound).status_code == 400


def test_check_deploy_warns_of_a_provider_whose_reports_cannot_arrive(settings):
    def warnings() -> list[str]:
        return [m.id for m in run_checks(include_deployment_checks=True) if m.id == "contact.W002"]

    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    assert warnings() == []
    settings.ANYMAIL = {}
    assert warnings() == ["contact.W002"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    assert warnings() == []


def test_the_report_the_guide_posts_bounces_the_message(client, user):
    # docs/delivery.md, "Try it": the same body, for a message written on the site.
    message = make_message(user, status=Message.Status.SENT, attempts=1)
    guide = (Path(__file__).parents[2] / "docs" / "delivery.md").read_text()
    posted = re.search(r"-d '(\{.*?\})'", guide, re.DOTALL)
    assert posted is not None
    report = posted[1].replace('"contact_message": "1"', f'"contact_message": "{message.pk}"')

    for _ in range(2):
        response = client.post(
            POSTMARK_URL, report.encode(), content_type="application/json", **AUTH
        )
        assert response.status_code == 200

    assert status_of(message) == Message.Status.BOUNCED
    assert message.events.get().detail.endswith("smtp;550 5.1.1 No such user")
    client.force_login(user)
    page = client.get(reverse("message-detail", args=[message.pk])).content.decode()
    assert "Not delivered" in page and "mail system refused it." in page
