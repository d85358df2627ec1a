"""The upgrade that moves every message's delivery and every account email into the
outbox: nothing is lost, and what was in flight keeps going."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from outbox.envelope import message_id_header
from outbox.models import Email, EmailEvent, EmailTally
from outbox.selectors import email_counts
from outbox.services import email_send, emails_relay

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [
    ("contact", "0011_delivery_event_retry"),
    ("users", "0008_addresses_at_domain_names"),
    ("outbox", None),
]
# Every status a message could be in before, with what its row held.
MESSAGE_STATES = {
    "queued": {"attempts": 0, "relayed": True},
    "sending": {"attempts": 1, "lease": True},
    "sent": {"attempts": 1, "provider_message_id": "pm-sent"},
    "deferred": {"attempts": 1, "provider_message_id": "pm-deferred"},
    "delivered": {"attempts": 2, "provider_message_id": "pm-delivered"},
    "complained": {"attempts": 1, "provider_message_id": "pm-complained"},
    "bounced": {"attempts": 1, "provider_message_id": "pm-bounced"},
    "failed": {"attempts": 5, "last_error": "SMTPDataError: 554 refused"},
}


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state([node for node in targets if node[1]]).apps


def migrate_to_latest():
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def old_rows(apps):
    """A database from before the outbox, with rows in every state."""
    now = timezone.now()
    User = apps.get_model("users", "User")
    Message = apps.get_model("contact", "Message")
    DeliveryEvent = apps.get_model("contact", "DeliveryEvent")
    AccountEmail = apps.get_model("users", "AccountEmail")
    person = User.objects.create(email="ann@example.org", password="x", email_verified_at=now)
    messages = {}
    for status, state in MESSAGE_STATES.items():
        message = Message.objects.create(
            sender=person,
            sender_email=person.email,
            sender_email_confirmed=True,
            subject=f"About {status}",
            body="Hello",
            created_at=now - timedelta(minutes=5),
            status=status,
            attempts=state["attempts"],
            last_error=state.get("last_error", ""),
            provider_message_id=state.get("provider_message_id"),
            sent_at=now if "provider_message_id" in state else None,
            relayed_at=now if state.get("relayed") else None,
            lease_expires_at=now + timedelta(minutes=1) if state.get("lease") else None,
            request_id="req-" + status,
        )
        messages[status] = message
        if "provider_message_id" in state:
            DeliveryEvent.objects.create(
                message=message,
                kind="attempt",
                event_type="sent",
                status="sent",
                applied=True,
                provider="Postmark",
                provider_message_id=state["provider_message_id"],
            )
        if status not in {"queued", "sending", "sent", "failed"}:
            DeliveryEvent.objects.create(
                message=message,
                kind="report",
                event_type=status,
                status=status,
                applied=True,
                provider="Postmark",
                provider_message_id=state["provider_message_id"],
                provider_event_id=f"event-{status}",
            )
    # Written before attempts were put on a timeline: its counts alone tell them.
    untold = Message.objects.create(
        sender=person,
        sender_email=person.email,
        sender_email_confirmed=None,
        subject="Untold",
        body="Hello",
        created_at=now - timedelta(minutes=5),
        status="sent",
        attempts=3,
        sent_at=now,
    )
    accounts = {
        "verify": AccountEmail.objects.create(
            user=person, kind="verify_address", language="ru", status="queued", relayed_at=now
        ),
        "reset": AccountEmail.objects.create(
            address="ann@example.org", kind="password_reset", language="en", status="queued"
        ),
        "notice": AccountEmail.objects.create(
            user=person, kind="sign_up_attempt", language="en", status="sent", attempts=1
        ),
        "failed": AccountEmail.objects.create(
            user=person,
            kind="verify_address",
            language="en",
            status="failed",
            attempts=5,
            last_error="SMTPRecipientsRefused",
        ),
    }
    return person, messages, untold, accounts


@pytest.fixture
def upgraded(settings):
    settings.ADMIN_EMAIL = "admin@example.org, deputy@example.org"
    person, messages, untold, accounts = old_rows(migrate(BEFORE))
    migrate_to_latest()
    return person, messages, untold, accounts


def test_every_message_keeps_its_delivery_under_its_own_id(upgraded):
    _, messages, _, _ = upgraded
    for status, old in messages.items():
        email = Email.objects.get(pk=old.pk)
        assert email.message.pk == old.pk
        assert (email.kind, email.status, email.attempts) == ("message", status, old.attempts)
        assert email.last_error == old.last_error
        assert email.provider_message_id == (old.provider_message_id or "")
        assert email.request_id == old.request_id
        assert email.created_at == old.created_at
        assert email.to == "admin@example.org, deputy@example.org"
        # The Message-ID the email went out with names it still, as does its return path
        # (the same id).
        assert message_id_header(email).startswith(f"<message-{old.pk}.")


def test_every_timeline_entry_comes_along(upgraded):
    _, messages, _, _ = upgraded
    delivered = Email.objects.get(pk=messages["delivered"].pk)
    assert list(delivered.events.values_list("kind", "event_type", "provider_event_id")) == [
        ("attempt", "sent", None),
        ("report", "delivered", "event-delivered"),
    ]


def test_a_message_without_a_timeline_gets_its_attempts_told(upgraded):
    _, _, untold, _ = upgraded
    email = Email.objects.get(pk=untold.pk)
    assert list(email.events.values_list("event_type", flat=True)) == ["retry", "retry", "sent"]
    assert email.message.sender_email_confirmed is False


def test_account_emails_keep_their_status_recipient_and_language(upgraded):
    person, _, _, _ = upgraded
    account = Email.objects.exclude(kind="message")
    assert sorted(account.values_list("kind", "status", "language", "to", "user_id")) == sorted(
        [
            ("verify_address", "queued", "ru", "ann@example.org", person.pk),
            ("password_reset", "queued", "en", "ann@example.org", None),
            ("sign_up_attempt", "sent", "en", "ann@example.org", person.pk),
            ("verify_address", "failed", "en", "ann@example.org", person.pk),
        ]
    )
    assert account.get(status="failed").attempts == 5


def test_the_tally_counts_every_email_it_took_over(upgraded):
    counted = email_counts(kind="message")
    for status in MESSAGE_STATES:
        expected = Email.objects.filter(kind="message", status=status).count()
        assert counted[status] == expected
    assert sum(EmailTally.objects.values_list("count", flat=True)) == Email.objects.count()


def test_what_was_queued_is_relayed_again_and_sent_once(upgraded, smtp_sink, directory):
    person, messages, _, _ = upgraded
    enqueued: list[tuple[int, str]] = []
    emails_relay(enqueue=lambda email_id, kind: enqueued.append((email_id, kind)))
    queued = set(Email.objects.filter(status="queued").values_list("pk", flat=True))
    assert {email_id for email_id, _ in enqueued} == queued
    assert messages["queued"].pk in queued
    for email_id, _ in enqueued:
        email_send(email_id=email_id)
    assert set(Email.objects.filter(pk__in=queued).values_list("status", flat=True)) == {"sent"}
    assert EmailEvent.objects.filter(email_id__in=queued, kind="attempt").count() == len(queued)
    # The message, the confirmation and the reset: one email each.
    assert len(smtp_sink.received) == 3
    # New emails take ids after every one the upgrade gave.
    newest = Email.objects.create(kind="message", to="admin@example.org", language="en")
    assert newest.pk > max(Email.objects.exclude(pk=newest.pk).values_list("pk", flat=True))


def test_the_way_back_gives_every_row_its_delivery_record_again(settings):
    settings.ADMIN_EMAIL = "admin@example.org"
    _, messages, untold, accounts = old_rows(migrate(BEFORE))
    migrate_to_latest()

    old = migrate(BEFORE)

    Message = old.get_model("contact", "Message")
    DeliveryEvent = old.get_model("contact", "DeliveryEvent")
    AccountEmail = old.get_model("users", "AccountEmail")
    for status, before in messages.items():
        back = Message.objects.get(pk=before.pk)
        assert (back.status, back.attempts, back.last_error) == (
            status,
            before.attempts,
            before.last_error,
        )
        assert back.provider_message_id == before.provider_message_id
        assert back.request_id == before.request_id
        kept = DeliveryEvent.objects.filter(message=back).order_by("pk")
        assert list(kept.values_list("kind", "event_type", "provider_event_id")) == list(
            before.events.order_by("pk").values_list("kind", "event_type", "provider_event_id")
        )
    # The attempts the upgrade told from its counts stay told.
    assert DeliveryEvent.objects.filter(message_id=untold.pk).count() == 3
    assert sorted(AccountEmail.objects.values_list("kind", "status", "address")) == sorted(
        [
            ("verify_address", "queued", ""),
            ("password_reset", "queued", "ann@example.org"),
            ("sign_up_attempt", "sent", ""),
            ("verify_address", "failed", ""),
        ]
    )
    # And forward again, with nothing twice.
    migrate_to_latest()
    assert Email.objects.count() == len(messages) + 1 + len(accounts)
