"""Sending through an email provider (anymail's Postmark backend, against a stand-in of
Postmark's API): what the email records of the provider's answer, how a refusal is
judged, and a report that comes in before the send is recorded."""

import logging
from collections.abc import Iterator

import pytest
from django.urls import reverse

from contact.models import Message
from contact.services import message_create, messages_retry
from outbox.envelope import METADATA_KEY
from outbox.failures import DeliveryDeferred, DeliveryFailed
from outbox.models import Email, EmailEvent
from outbox.services import email_send
from tests.conftest import GOOD_PASSWORD
from tests.outbox.provider_reports import AUTH, POSTMARK_URL, WEBHOOK_SECRET, body, postmark
from tests.standins.provider import PostmarkStandIn
from users.models import AccountEmailKind
from users.services import account_email_queue, password_reset_queue, user_sign_up

pytestmark = pytest.mark.django_db


@pytest.fixture
def postmark_api(settings, directory) -> Iterator[PostmarkStandIn]:
    """The site configured for Postmark as an operator would (EMAIL_BACKEND and
    ANYMAIL_* variables), with Postmark's API on loopback."""
    stand_in = PostmarkStandIn().start()
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {
        "POSTMARK_SERVER_TOKEN": "server-token-for-tests",
        "POSTMARK_API_URL": stand_in.url,
        "WEBHOOK_SECRET": [WEBHOOK_SECRET],
    }
    settings.ADMIN_EMAIL = "admin@example.org"
    settings.DEFAULT_FROM_EMAIL = "site@example.org"
    yield stand_in
    stand_in.stop()


def written(user) -> Message:
    return message_create(sender=user, subject="Invoice", body="Where is it?")


def send(email: Email) -> None:
    """One attempt at `email`, and `email` as it left it."""
    try:
        email_send(email_id=email.pk)
    finally:
        email.refresh_from_db()


def test_the_provider_takes_the_email_with_its_id_and_gives_its_own(postmark_api, user):
    email = written(user).email
    postmark_api.next_ids.append("0d5f3b1e-5a0a-4a0e-9d52-4c8e9b2d6f11")

    send(email)

    [posted] = postmark_api.received
    assert posted["To"] == "admin@example.org"
    assert posted["Metadata"] == {METADATA_KEY: str(email.pk)}
    assert email.status == Email.Status.SENT
    assert email.provider_message_id == "0d5f3b1e-5a0a-4a0e-9d52-4c8e9b2d6f11"
    [attempt] = email.events.all()
    assert (attempt.kind, attempt.event_type, attempt.provider) == ("attempt", "sent", "Postmark")
    assert attempt.detail == "Accepted by Postmark as 0d5f3b1e-5a0a-4a0e-9d52-4c8e9b2d6f11 (sent)."
    assert attempt.duration_ms is not None


@pytest.mark.parametrize("kind", list(AccountEmailKind))
def test_an_account_email_carries_its_id_to_the_provider_too(postmark_api, user, kind):
    email = account_email_queue(user=user, kind=kind, language="en")
    postmark_api.next_ids.append(f"account-{kind}")

    send(email)

    [posted] = postmark_api.received
    assert posted["To"] == user.email
    assert posted["Metadata"] == {METADATA_KEY: str(email.pk)}
    assert (email.status, email.provider_message_id) == (Email.Status.SENT, f"account-{kind}")


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        # Postmark's own wordings: the administrator's address, and the site's sender.
        (
            {"ErrorCode": 300, "Message": "Invalid 'To' address: 'admin@example.org'."},
            "AnymailRecipientsRefused",
        ),
        (
            {"ErrorCode": 300, "Message": "Invalid 'From' address: 'site@example.org'."},
            "Invalid 'From' address",
        ),
        (
            {
                "ErrorCode": 406,
                "Message": "You tried to send to a recipient that has been marked as "
                "inactive.\nFound inactive addresses: admin@example.org.\nInactive "
                "recipients are ones that have generated a hard bounce or a spam complaint.",
            },
            "AnymailRecipientsRefused",
        ),
    ],
    ids=["invalid-recipient", "invalid-sender", "inactive-recipient"],
)
def test_a_refusal_fails_the_email_at_once(postmark_api, user, answer, error):
    email = written(user).email
    postmark_api.answers.append((422, answer))

    with pytest.raises(DeliveryFailed):
        send(email)

    assert (email.status, email.attempts) == (Email.Status.FAILED, 1)
    [attempt] = email.events.all()
    assert attempt.event_type == "failed"
    assert error in attempt.detail


@pytest.mark.parametrize(
    "answer",
    [
        (500, {"ErrorCode": 0, "Message": "Internal server error"}),
        (429, {"ErrorCode": 0, "Message": "Rate limit exceeded"}),
    ],
    ids=["server-error", "rate-limited"],
)
def test_a_provider_that_fails_for_now_is_tried_again(postmark_api, user, answer):
    email = written(user).email
    postmark_api.answers.append(answer)

    with pytest.raises(DeliveryDeferred):
        send(email)

    assert email.status == Email.Status.QUEUED
    assert email.events.get().event_type == "retry"


def test_a_provider_that_does_not_answer_is_tried_again(postmark_api, user):
    email = written(user).email
    postmark_api.stop()

    with pytest.raises(DeliveryDeferred):
        send(email)

    assert email.status == Email.Status.QUEUED
    assert "Connection refused" in email.last_error or "onnect" in email.last_error


def test_a_report_that_beats_the_record_of_the_send_is_applied_once_it_is_recorded(
    postmark_api, user, client
):
    # The provider reports the delivery before the worker has written the send down:
    # here, before the worker has even sent it, which is the same for the record.
    email = written(user).email
    postmark_api.next_ids.append("fast-provider-id")
    early = postmark("delivery", "fast-provider-id", site_email=email.pk)
    client.post(POSTMARK_URL, body(early), content_type="application/json", **AUTH)
    email.refresh_from_db()
    assert email.status == Email.Status.QUEUED

    send(email)

    assert email.status == Email.Status.DELIVERED
    assert email.events.get(kind=EmailEvent.Kind.REPORT).applied


def test_the_person_and_staff_see_the_delivery_and_every_step(
    postmark_api, user, client, admin_client
):
    message = written(user)
    email = message.email
    postmark_api.answers.append((500, {"ErrorCode": 0, "Message": "Internal server error"}))
    with pytest.raises(DeliveryDeferred):
        send(email)
    Email.objects.filter(pk=email.pk).update(next_attempt_at=email.created_at)
    send(email)
    for kind in ("transient", "delivery", "open"):
        report = postmark(kind, email.provider_message_id)
        client.post(POSTMARK_URL, body(report), content_type="application/json", **AUTH)

    client.force_login(user)
    mine = client.get(reverse("message-detail", args=[message.pk])).content.decode()
    listed = client.get(reverse("message-list")).content.decode()
    staff = admin_client.get(reverse("admin:outbox_email_change", args=[email.pk]))

    assert "Delivered" in listed
    steps = [
        "You wrote it.",
        "An attempt did not get through.",
        "Handed to the administrator&#x27;s mail server.",
        "The administrator&#x27;s mail system has not accepted it yet",
        "Delivered to the administrator&#x27;s mailbox.",
    ]
    positions = [mine.index(step) for step in steps]
    assert positions == sorted(positions)
    # The open is the administrator's business, not the sender's.
    assert "opened" not in mine.lower()
    timeline = staff.content.decode()
    for shown in ("Internal server error", "Accepted by Postmark as", "delivered", "opened"):
        assert shown in timeline


def test_a_bounced_message_sent_again_follows_its_new_send_only(postmark_api, user, client):
    message = written(user)
    email = message.email
    postmark_api.next_ids.extend(["first-send", "second-send"])
    send(email)

    def report(kind: str, provider_id: str) -> None:
        payload = postmark(kind, provider_id, site_email=email.pk)
        client.post(POSTMARK_URL, body(payload), content_type="application/json", **AUTH)

    report("hard-bounce", "first-send")
    email.refresh_from_db()
    assert email.status == Email.Status.BOUNCED
    # ADMIN_EMAIL fixed; retry_failed --bounced, or the admin's action.
    assert messages_retry(message_ids=[message.pk]) == 1
    send(email)
    report("transient", "first-send")
    email.refresh_from_db()
    assert (email.status, email.provider_message_id) == (Email.Status.SENT, "second-send")

    report("delivery", "second-send")

    email.refresh_from_db()
    assert email.status == Email.Status.DELIVERED
    kinds = [(event.kind, event.event_type, event.applied) for event in email.events.all()]
    assert kinds == [
        ("attempt", "sent", True),
        ("report", "bounced", True),
        ("retry", "retry", True),
        ("attempt", "sent", True),
        ("report", "deferred", False),
        ("report", "delivered", True),
    ]


def test_a_confirmation_link_the_provider_bounces_is_told_to_the_person(
    postmark_api, client, caplog
):
    # Signing up queues the link; the provider takes it, then reports it bounced under
    # the id it answered with.
    person = user_sign_up(email="new.person@example.org", password=GOOD_PASSWORD, language="en")
    assert person is not None
    [email] = person.emails.all()
    assert email.kind == AccountEmailKind.VERIFY_ADDRESS
    postmark_api.next_ids.append("confirmation-send")
    send(email)
    assert postmark_api.received[0]["Metadata"] == {METADATA_KEY: str(email.pk)}
    assert not person.confirmation_undelivered
    bounce = postmark("hard-bounce", "confirmation-send", to=person.email)

    with caplog.at_level(logging.ERROR, logger="outbox.failures"):
        client.post(POSTMARK_URL, body(bounce), content_type="application/json", **AUTH)

    email.refresh_from_db()
    assert email.status == Email.Status.BOUNCED
    assert person.confirmation_undelivered
    [failure] = [record for record in caplog.records if record.name == "outbox.failures"]
    assert failure.levelno == logging.ERROR
    assert failure.getMessage().startswith(
        f"email_failed email_id={email.pk} kind=verify_address reason='bounced: "
    )


def test_a_password_reset_the_provider_bounces_is_found_by_its_metadata(postmark_api, user, client):
    email = password_reset_queue(address=user.email, language="en")
    send(email)
    assert email.user == user
    # Named by the metadata the email carried, under the id the provider answered with.
    bounce = postmark("hard-bounce", email.provider_message_id, site_email=email.pk, to=user.email)

    client.post(POSTMARK_URL, body(bounce), content_type="application/json", **AUTH)

    email.refresh_from_db()
    assert email.status == Email.Status.BOUNCED
    assert email.events.get(kind=EmailEvent.Kind.REPORT).applied
