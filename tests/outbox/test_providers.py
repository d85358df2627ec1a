"""Sending through an email provider (anymail's Postmark backend, against a stand-in of
Postmark's API): what the message records of the provider's answer, how a refusal is
judged, and a report that comes in before the send is recorded."""

from collections.abc import Iterator

import pytest
from django.urls import reverse

from contact.emails import METADATA_KEY
from contact.models import DeliveryEvent, Message
from contact.services import (
    DeliveryDeferred,
    DeliveryFailed,
    message_create,
    message_deliver,
    messages_retry,
)
from tests.outbox.provider_reports import AUTH, POSTMARK_URL, WEBHOOK_SECRET, body, postmark
from tests.standins.provider import PostmarkStandIn

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


def test_the_provider_takes_the_email_with_the_messages_id_and_gives_its_own(postmark_api, user):
    message = written(user)
    postmark_api.next_ids.append("0d5f3b1e-5a0a-4a0e-9d52-4c8e9b2d6f11")

    message_deliver(message_id=message.pk)

    [email] = postmark_api.received
    assert email["To"] == "admin@example.org"
    assert email["Metadata"] == {METADATA_KEY: str(message.pk)}
    message.refresh_from_db()
    assert message.status == Message.Status.SENT
    assert message.provider_message_id == "0d5f3b1e-5a0a-4a0e-9d52-4c8e9b2d6f11"
    [attempt] = message.events.all()
    assert (attempt.kind, attempt.event_type, attempt.provider) == ("attempt", "sent", "Postmark")
    assert attempt.detail == "Accepted by Postmark as 0d5f3b1e-5a0a-4a0e-9d52-4c8e9b2d6f11 (sent)."
    assert attempt.duration_ms is not None


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
def test_a_refusal_fails_the_message_at_once(postmark_api, user, answer, error):
    message = written(user)
    postmark_api.answers.append((422, answer))

    with pytest.raises(DeliveryFailed):
        message_deliver(message_id=message.pk)

    message.refresh_from_db()
    assert (message.status, message.attempts) == (Message.Status.FAILED, 1)
    [attempt] = message.events.all()
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
    message = written(user)
    postmark_api.answers.append(answer)

    with pytest.raises(DeliveryDeferred):
        message_deliver(message_id=message.pk)

    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED
    assert message.events.get().event_type == "retry"


def test_a_provider_that_does_not_answer_is_tried_again(postmark_api, user):
    message = written(user)
    postmark_api.stop()

    with pytest.raises(DeliveryDeferred):
        message_deliver(message_id=message.pk)

    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED
    assert "Connection refused" in message.last_error or "onnect" in message.last_error


def test_a_report_that_beats_the_record_of_the_send_is_applied_once_it_is_recorded(
    postmark_api, user, client
):
    # The provider reports the delivery before the worker has written the send down:
    # here, before the worker has even sent it, which is the same for the record.
    message = written(user)
    postmark_api.next_ids.append("fast-provider-id")
    early = postmark("delivery", "fast-provider-id", site_message=message.pk)
    client.post(POSTMARK_URL, body(early), content_type="application/json", **AUTH)
    message.refresh_from_db()
    assert message.status == Message.Status.QUEUED

    message_deliver(message_id=message.pk)

    message.refresh_from_db()
    assert message.status == Message.Status.DELIVERED
    assert message.events.get(kind=DeliveryEvent.Kind.REPORT).applied


def test_the_person_and_staff_see_the_delivery_and_every_step(
    postmark_api, user, client, admin_client
):
    message = written(user)
    postmark_api.answers.append((500, {"ErrorCode": 0, "Message": "Internal server error"}))
    with pytest.raises(DeliveryDeferred):
        message_deliver(message_id=message.pk)
    Message.objects.filter(pk=message.pk).update(next_attempt_at=message.created_at)
    message_deliver(message_id=message.pk)
    message.refresh_from_db()
    for kind in ("transient", "delivery", "open"):
        report = postmark(kind, message.provider_message_id)
        client.post(POSTMARK_URL, body(report), content_type="application/json", **AUTH)

    client.force_login(user)
    mine = client.get(reverse("message-detail", args=[message.pk])).content.decode()
    listed = client.get(reverse("message-list")).content.decode()
    staff = admin_client.get(reverse("admin:contact_message_change", args=[message.pk]))

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
    postmark_api.next_ids.extend(["first-send", "second-send"])
    message_deliver(message_id=message.pk)

    def report(kind: str, provider_id: str) -> None:
        payload = postmark(kind, provider_id, site_message=message.pk)
        client.post(POSTMARK_URL, body(payload), content_type="application/json", **AUTH)

    report("hard-bounce", "first-send")
    message.refresh_from_db()
    assert message.status == Message.Status.BOUNCED
    # ADMIN_EMAIL fixed; retry_failed --bounced, or the admin's action.
    assert messages_retry(message_ids=[message.pk]) == 1
    message_deliver(message_id=message.pk)
    report("transient", "first-send")
    message.refresh_from_db()
    assert (message.status, message.provider_message_id) == (Message.Status.SENT, "second-send")

    report("delivery", "second-send")

    message.refresh_from_db()
    assert message.status == Message.Status.DELIVERED
    kinds = [(event.kind, event.event_type, event.applied) for event in message.events.all()]
    assert kinds == [
        ("attempt", "sent", True),
        ("report", "bounced", True),
        ("retry", "retry", True),
        ("attempt", "sent", True),
        ("report", "deferred", False),
        ("report", "delivered", True),
    ]
