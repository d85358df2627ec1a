"""The providers' tracking webhooks, posted to as Postmark and Mailgun post: every event
type, replays, reports out of order, bad credentials, bodies that are not reports, and
the URLs of providers the site does not send through."""

import base64
import logging
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from anymail import urls as anymail_urls
from django.core.checks import run_checks
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone

from contact.models import Message
from contact.selectors import MessageCounts, message_counts
from contact.services import message_create
from outbox.envelope import METADATA_KEY, message_id_header
from outbox.kinds import kind_choices
from outbox.models import Email, EmailEvent
from tests.outbox.email_rows import email_row, sent_email
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
from users.models import AccountEmailKind, User

pytestmark = pytest.mark.django_db


URLS = {"postmark": POSTMARK_URL, "mailgun": MAILGUN_URL}


@pytest.fixture(autouse=True)
def webhooks_on(settings):
    webhook_settings(settings)


@pytest.fixture
def through_mailgun(settings):
    webhook_settings(settings, "mailgun")


def sent(provider_message_id: str | None = None, **fields) -> Email:
    """An email the provider took under `provider_message_id`, to the administrator
    unless told otherwise."""
    return sent_email(provider_message_id=provider_message_id or str(uuid.uuid4()), **fields)


def post(client, url: str, payload: object, **headers):
    return client.post(url, body(payload), content_type="application/json", **{**AUTH, **headers})


def status_of(email: Email) -> str:
    email.refresh_from_db()
    return email.status


# ---------------------------------------------------------------- every event type

POSTMARK_CASES = [
    ("delivery", "delivered", Email.Status.DELIVERED),
    ("hard-bounce", "bounced", Email.Status.BOUNCED),
    ("transient", "deferred", Email.Status.DEFERRED),
    ("spam-complaint", "complained", Email.Status.COMPLAINED),
    # Opens and clicks are kept on the timeline and move nothing.
    ("open", "opened", Email.Status.SENT),
    ("click", "clicked", Email.Status.SENT),
]


@pytest.mark.parametrize(("kind", "event_type", "status"), POSTMARK_CASES)
def test_each_postmark_report_is_recorded_and_moves_the_email(client, kind, event_type, status):
    email = sent()

    response = post(client, POSTMARK_URL, postmark(kind, email.provider_message_id))

    assert response.status_code == 200
    assert status_of(email) == status
    [report] = email.events.filter(kind=EmailEvent.Kind.REPORT)
    assert (report.provider, report.event_type) == ("Postmark", event_type)
    assert report.provider_message_id == email.provider_message_id
    assert report.applied == (status != Email.Status.SENT)


MAILGUN_CASES = [
    ("delivered", "delivered", Email.Status.DELIVERED),
    ("failed-permanent", "bounced", Email.Status.BOUNCED),
    ("failed-temporary", "deferred", Email.Status.DEFERRED),
    ("rejected", "rejected", Email.Status.BOUNCED),
    ("complained", "complained", Email.Status.COMPLAINED),
    ("opened", "opened", Email.Status.SENT),
]


@pytest.mark.parametrize(("kind", "event_type", "status"), MAILGUN_CASES)
def test_each_mailgun_report_is_recorded_and_moves_the_email(
    client, through_mailgun, kind, event_type, status
):
    email = sent("<20261202133713.1.DF5966851B4BAA99@mg.example.org>")

    response = post(client, MAILGUN_URL, mailgun(kind, email.provider_message_id))

    assert response.status_code == 200
    assert status_of(email) == status
    [report] = email.events.filter(kind=EmailEvent.Kind.REPORT)
    assert (report.provider, report.event_type) == ("Mailgun", event_type)


def test_the_reason_the_provider_gives_is_kept(client):
    email = sent()
    bounced_at = datetime(2026, 12, 2, 17, 28, 50, 396393, tzinfo=UTC)

    post(client, POSTMARK_URL, postmark("hard-bounce", email.provider_message_id, at=bounced_at))

    report = email.events.get()
    assert "unable to deliver your message" in report.detail
    assert "550 5.1.1 The email account that you tried to reach does not exist." in report.detail
    assert report.occurred_at == bounced_at


def test_a_report_finds_its_email_by_the_metadata_the_email_carried(client, through_mailgun):
    # The provider's id is not recorded yet (or differs): the metadata names the email.
    email = sent("<mailgun-id@mg.example.org>")

    post(
        client,
        MAILGUN_URL,
        mailgun("delivered", email.provider_message_id, site_email=email.pk),
    )

    assert status_of(email) == Email.Status.DELIVERED


def test_the_header_counts_a_bounce_as_not_delivered(client):
    delivered, bounced = sent(), sent()
    email_row()

    post(client, POSTMARK_URL, postmark("delivery", delivered.provider_message_id))
    post(client, POSTMARK_URL, postmark("hard-bounce", bounced.provider_message_id))

    assert message_counts() == MessageCounts(sent=2, not_delivered=1, waiting=1)


# ---------------------------------------------------------------- replays and order


def test_a_replayed_report_is_applied_once(client):
    email = sent()
    now = timezone.now()
    delivery = postmark("delivery", email.provider_message_id, at=now - timedelta(minutes=2))
    bounce = postmark("hard-bounce", email.provider_message_id, at=now - timedelta(minutes=1))

    for payload in (delivery, delivery, bounce, bounce, delivery):
        assert post(client, POSTMARK_URL, payload).status_code == 200

    assert status_of(email) == Email.Status.BOUNCED
    assert [event.event_type for event in email.events.all()] == ["delivered", "bounced"]


def test_a_replay_finishes_a_move_the_process_did_not_live_to_make(client):
    # The report is on the timeline, but the process died before the email moved.
    email = sent()
    bounce = postmark("hard-bounce", email.provider_message_id)
    post(client, POSTMARK_URL, bounce)
    Email.objects.filter(pk=email.pk).update(status=Email.Status.SENT)
    email.events.update(applied=False)

    assert post(client, POSTMARK_URL, bounce).status_code == 200

    assert status_of(email) == Email.Status.BOUNCED
    [report] = email.events.all()
    assert report.applied


def test_a_mailgun_replay_is_known_by_its_token(client, through_mailgun):
    email = sent("<replayed@mg.example.org>")
    report = mailgun("failed-temporary", email.provider_message_id, token="a" * 50)

    post(client, MAILGUN_URL, report)
    post(client, MAILGUN_URL, report)

    assert email.events.count() == 1


@pytest.mark.parametrize(
    ("order", "final"),
    [
        (["transient", "delivery"], Email.Status.DELIVERED),
        # A late deferral changes nothing once delivered.
        (["delivery", "transient"], Email.Status.DELIVERED),
        # A bounce after a delivery does: the provider learnt more.
        (["delivery", "hard-bounce"], Email.Status.BOUNCED),
        (["hard-bounce", "delivery"], Email.Status.BOUNCED),
        (["hard-bounce", "transient"], Email.Status.BOUNCED),
        (["delivery", "spam-complaint", "transient"], Email.Status.COMPLAINED),
        (["spam-complaint", "delivery"], Email.Status.COMPLAINED),
    ],
)
def test_reports_out_of_order_never_move_an_email_backwards(client, order, final):
    email = sent()

    for kind in order:
        post(client, POSTMARK_URL, postmark(kind, email.provider_message_id))

    assert status_of(email) == final
    # Every report is on the timeline all the same.
    assert email.events.count() == len(order)


def sent_again(email: Email, first: str, second: str) -> None:
    """`email` sent under `first`, then (after a bounce and a retry) under `second`."""
    for provider_id in (first, second):
        EmailEvent.objects.create(
            email=email,
            kind=EmailEvent.Kind.ATTEMPT,
            event_type="sent",
            status=Email.Status.SENT,
            applied=True,
            provider="Postmark",
            provider_message_id=provider_id,
        )
    Email.objects.filter(pk=email.pk).update(status=Email.Status.SENT, provider_message_id=second)


def test_a_report_about_an_earlier_send_does_not_move_the_resent_email(client):
    # Bounced, then sent again (retry_failed --bounced): the first send's late reports
    # stay on the record and leave the new send alone.
    email = sent("first-send")
    post(client, POSTMARK_URL, postmark("hard-bounce", "first-send"))
    sent_again(email, "first-send", "second-send")

    post(client, POSTMARK_URL, postmark("hard-bounce", "first-send", site_email=email.pk))
    assert status_of(email) == Email.Status.SENT
    post(client, POSTMARK_URL, postmark("delivery", "second-send", site_email=email.pk))

    assert status_of(email) == Email.Status.DELIVERED
    assert email.events.filter(kind=EmailEvent.Kind.REPORT).count() == 3


def test_a_report_under_the_emails_own_message_id_header_moves_the_email(client, through_mailgun):
    # Mailgun reports under the email's Message-ID header, which the site set, rather
    # than the id its API answered with: the same send all the same.
    email = sent("<api-id@mg.example.org>")
    report = mailgun("delivered", message_id_header(email), site_email=email.pk)

    post(client, MAILGUN_URL, report)

    assert status_of(email) == Email.Status.DELIVERED


def test_a_report_naming_the_email_by_metadata_under_a_strangers_id_moves_nothing(
    client, through_mailgun
):
    # Another site on the same provider account, whose emails carry the same metadata
    # key: its report names our email's id, under a provider's id that is not ours.
    email = sent("<api-id@mg.example.org>")
    report = mailgun("failed-permanent", "<someone-else@other.example.org>", site_email=email.pk)

    post(client, MAILGUN_URL, report)

    assert status_of(email) == Email.Status.SENT
    assert email.events.get().applied is False


def test_a_report_for_an_email_still_waiting_is_kept_for_when_it_is_sent(client):
    email = email_row(status=Email.Status.SENDING, attempts=1)

    post(client, POSTMARK_URL, postmark("delivery", "not-recorded-yet", site_email=email.pk))

    assert status_of(email) == Email.Status.SENDING
    assert email.events.get().applied is False


# ---------------------------------------------------------------- who may post, and what


def test_a_report_for_no_email_of_this_site_is_logged_and_answered_200(client, caplog):
    with caplog.at_level(logging.WARNING, logger="outbox.reports"):
        response = post(client, POSTMARK_URL, postmark("delivery", "someone-elses-email"))

    assert response.status_code == 200
    assert EmailEvent.objects.count() == 0
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
def test_a_post_without_the_secret_is_refused(client, settings, auth, provider):
    webhook_settings(settings, provider)
    email = sent("<guarded@mg.example.org>")
    payload = (
        postmark("delivery", email.provider_message_id)
        if provider == "postmark"
        else mailgun("delivered", email.provider_message_id)
    )

    response = client.post(URLS[provider], body(payload), content_type="application/json", **auth)

    assert response.status_code == 400
    assert status_of(email) == Email.Status.SENT
    assert EmailEvent.objects.count() == 0


def test_a_mailgun_post_with_a_wrong_signature_is_refused(client, through_mailgun):
    email = sent("<signed@mg.example.org>")
    forged = mailgun("delivered", email.provider_message_id, signing_key="not-the-key")

    response = post(client, MAILGUN_URL, forged)

    assert response.status_code == 400
    assert status_of(email) == Email.Status.SENT


# Every URL anymail's views answer at, each provider's inbound and tracking webhooks.
ANYMAIL_URLS = [
    "/anymail" + reverse(pattern.name, urlconf=anymail_urls) for pattern in anymail_urls.urlpatterns
]


@pytest.mark.parametrize("provider", URLS)
def test_only_the_tracking_url_of_the_provider_the_site_sends_through_exists(
    client, settings, provider
):
    # Mailgun's signing key is set either way: with Postmark configured, a report signed
    # with it still finds no URL.
    webhook_settings(settings, provider)
    email = sent("<another-provider@mg.example.org>")
    reports = {
        "postmark": postmark("hard-bounce", email.provider_message_id),
        "mailgun": mailgun("failed-permanent", email.provider_message_id),
    }

    answers = [
        (url, post(client, url, report).status_code)
        for url in ANYMAIL_URLS
        if url != URLS[provider]
        for report in reports.values()
    ]

    assert URLS[provider] in ANYMAIL_URLS
    assert {status for _, status in answers} == {404}, answers
    assert status_of(email) == Email.Status.SENT
    assert EmailEvent.objects.count() == 0
    assert post(client, URLS[provider], reports[provider]).status_code == 200
    assert status_of(email) == Email.Status.BOUNCED


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
        ("outbox.smtp.EmailBackend", []),
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


def test_the_webhooks_are_off_until_a_secret_is_set(client, settings):
    settings.ANYMAIL = {}
    email = sent()

    response = post(client, POSTMARK_URL, postmark("delivery", email.provider_message_id))

    assert response.status_code == 404
    assert status_of(email) == Email.Status.SENT


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
def test_a_body_that_is_not_a_report_is_a_400_never_a_500(client, settings, provider, garbage):
    webhook_settings(settings, provider)
    client.raise_request_exception = False

    response = client.post(URLS[provider], garbage, content_type="application/json", **AUTH)

    assert response.status_code == 400
    assert EmailEvent.objects.count() == 0


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
    assert EmailEvent.objects.count() == 0


def test_a_report_with_nul_characters_is_recorded_without_them(client):
    # PostgreSQL's text cannot hold NUL: the report is kept, cleaned, not refused.
    email = sent("clean-id")
    report = postmark("hard-bounce", "clean-id")
    report["Description"] = "bad\x00 mailbox"

    response = post(client, POSTMARK_URL, report)
    unknown = post(client, POSTMARK_URL, postmark("delivery", "nul\x00id"))

    assert (response.status_code, unknown.status_code) == (200, 200)
    detail = email.events.get().detail
    assert "bad mailbox" in detail and "\x00" not in detail


def test_an_inbound_email_posted_to_the_tracking_url_is_a_400(client):
    # Postmark's inbound webhook pointed at the tracking URL by mistake.
    client.raise_request_exception = False
    inbound = {"FromFull": {"Email": "someone@example.org"}, "Subject": "Hi"}

    assert post(client, POSTMARK_URL, inbound).status_code == 400


def test_check_deploy_warns_of_a_provider_whose_reports_cannot_arrive(settings):
    def warnings() -> list[str]:
        return [m.id for m in run_checks(include_deployment_checks=True) if m.id == "outbox.W002"]

    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    assert warnings() == []
    settings.ANYMAIL = {}
    assert warnings() == ["outbox.W002"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    assert warnings() == []


def test_the_report_the_guide_posts_bounces_the_message(client, user):
    # docs/delivery.md, "Try it": the same body, for a message written on the site.
    message = message_create(sender=user, subject="Invoice", body="Where is it?")
    email = message.email
    Email.objects.filter(pk=email.pk).update(status=Email.Status.SENT, attempts=1)
    guide = (Path(__file__).parents[2] / "docs" / "delivery.md").read_text()
    posted = re.search(r"-d '(\{.*?\})'", guide, re.DOTALL)
    assert posted is not None
    metadata = f'"Metadata": {{"{METADATA_KEY}": "2"}}'
    assert metadata in posted[1]
    report = posted[1].replace(metadata, f'"Metadata": {{"{METADATA_KEY}": "{email.pk}"}}')

    for _ in range(2):
        response = client.post(
            POSTMARK_URL, report.encode(), content_type="application/json", **AUTH
        )
        assert response.status_code == 200

    assert status_of(email) == Email.Status.BOUNCED
    assert email.events.get().detail.endswith("smtp;550 5.1.1 No such user")
    client.force_login(user)
    page = client.get(reverse("message-detail", args=[message.pk])).content.decode()
    assert "Not delivered" in page and "mail system refused it." in page


# ---------------------------------------------------------------- every kind of email

# The administrator's messages and every email about an account: a report finds each
# alike, by the provider's id or by the metadata every email carries.
EVERY_KIND = [Message.EMAIL_KIND, *AccountEmailKind.values]


def test_the_kinds_below_are_every_kind_the_site_sends():
    assert sorted(name for name, _ in kind_choices()) == sorted(EVERY_KIND)


def one_of_each(person: User, provider_id: Callable[[str], str]) -> dict[str, Email]:
    """An email of every kind, each sent under `provider_id(kind)`: to the
    administrator, or to `person`'s account."""
    return {
        kind: sent(
            provider_id(kind),
            kind=kind,
            user=None if kind == Message.EMAIL_KIND else person,
        )
        for kind in EVERY_KIND
    }


def bounced_alone(emails: dict[str, Email], kind: str) -> None:
    """The email of `kind` bounced, with the report applied, and no other moved."""
    statuses = {each: status_of(email) for each, email in emails.items()}
    assert statuses == {
        each: Email.Status.BOUNCED if each == kind else Email.Status.SENT for each in emails
    }
    [report] = emails[kind].events.all()
    assert (report.event_type, report.applied) == ("bounced", True)


def failure_logged(caplog, email: Email) -> None:
    """The bounce went to the error log, naming the email and its kind."""
    [failure] = [record for record in caplog.records if record.name == "outbox.failures"]
    assert failure.levelno == logging.ERROR
    assert failure.getMessage().startswith(
        f"email_failed email_id={email.pk} kind={email.kind} reason='bounced: "
    )


@pytest.mark.parametrize("kind", EVERY_KIND)
def test_a_postmark_bounce_finds_an_email_of_any_kind_by_the_providers_id(
    client, unconfirmed_user, caplog, kind
):
    emails = one_of_each(unconfirmed_user, lambda each: f"postmark-{each}")
    email = emails[kind]

    with caplog.at_level(logging.ERROR, logger="outbox.failures"):
        response = post(
            client, POSTMARK_URL, postmark("hard-bounce", f"postmark-{kind}", to=email.to)
        )

    assert response.status_code == 200
    bounced_alone(emails, kind)
    failure_logged(caplog, email)


@pytest.mark.parametrize("kind", EVERY_KIND)
def test_a_mailgun_bounce_finds_an_email_of_any_kind_by_its_metadata(
    client, through_mailgun, unconfirmed_user, caplog, kind
):
    # Under the email's own Message-ID header, as Mailgun reports: only the metadata
    # names the row.
    emails = one_of_each(unconfirmed_user, lambda each: f"<api-{each}@mg.example.org>")
    email = emails[kind]
    report = mailgun("failed-permanent", message_id_header(email), site_email=email.pk, to=email.to)

    with caplog.at_level(logging.ERROR, logger="outbox.failures"):
        response = post(client, MAILGUN_URL, report)

    assert response.status_code == 200
    bounced_alone(emails, kind)
    failure_logged(caplog, email)


def test_a_bounced_confirmation_link_is_told_to_the_person(client, unconfirmed_user):
    email = sent(kind=AccountEmailKind.VERIFY_ADDRESS, user=unconfirmed_user)
    assert not unconfirmed_user.confirmation_undelivered

    post(client, POSTMARK_URL, postmark("hard-bounce", email.provider_message_id, to=email.to))

    assert status_of(email) == Email.Status.BOUNCED
    assert unconfirmed_user.confirmation_undelivered


def test_a_report_that_moves_an_email_on_without_failing_it_logs_no_error(
    client, unconfirmed_user, caplog
):
    email = sent(kind=AccountEmailKind.PASSWORD_RESET, user=unconfirmed_user)

    with caplog.at_level(logging.INFO, logger="outbox"):
        for kind in ("transient", "delivery", "spam-complaint"):
            post(client, POSTMARK_URL, postmark(kind, email.provider_message_id, to=email.to))

    assert status_of(email) == Email.Status.COMPLAINED
    assert [record for record in caplog.records if record.levelno >= logging.ERROR] == []
    assert [record.name for record in caplog.records if record.name == "outbox.failures"] == []
