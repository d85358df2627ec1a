"""Every account email moves to the outbox (outbox.Email), with its status and attempts;
a queued one waits for the relay again, which hands it to the new actors."""

import importlib

from django.db import migrations

# The messages' migration deletes emails as this one's way back does.
MESSAGES = importlib.import_module("contact.migrations.0013_messages_through_the_outbox")

BATCH = 2000


def to_the_outbox(apps, schema_editor):
    AccountEmail = apps.get_model("users", "AccountEmail")
    Email = apps.get_model("outbox", "Email")
    last = 0
    while True:
        batch = list(
            AccountEmail.objects.filter(pk__gt=last).select_related("user").order_by("pk")[:BATCH]
        )
        if not batch:
            break
        last = batch[-1].pk
        Email.objects.bulk_create(
            Email(
                kind=row.kind,
                to=row.address or row.user.email,
                user_id=row.user_id,
                language=row.language,
                created_at=row.created_at,
                status=row.status,
                next_attempt_at=row.next_attempt_at,
                attempts=row.attempts,
                last_error=row.last_error,
                sent_at=row.sent_at,
                lease_expires_at=row.lease_expires_at,
                relayed_at=None if row.status == "queued" else row.relayed_at,
            )
            for row in batch
        )


# What the account emails' rows could say before: the outbox's first four statuses.
REPORTED = {"deferred": "sent", "delivered": "sent", "complained": "sent", "bounced": "failed"}


def back_from_the_outbox(apps, schema_editor):
    """The way back: every account email is a row of its own again, and goes from the
    outbox."""
    AccountEmail = apps.get_model("users", "AccountEmail")
    Email = apps.get_model("outbox", "Email")
    account = Email.objects.exclude(kind="message")
    last = 0
    while True:
        batch = list(account.filter(pk__gt=last).order_by("pk")[:BATCH])
        if not batch:
            break
        last = batch[-1].pk
        AccountEmail.objects.bulk_create(
            AccountEmail(
                user_id=email.user_id,
                address="" if email.user_id else email.to,
                kind=email.kind,
                language=email.language,
                created_at=email.created_at,
                status=REPORTED.get(email.status, email.status),
                next_attempt_at=email.next_attempt_at,
                attempts=email.attempts,
                last_error=email.last_error,
                sent_at=email.sent_at,
                lease_expires_at=email.lease_expires_at,
                relayed_at=None if email.status == "queued" else email.relayed_at,
            )
            for email in batch
        )
    MESSAGES.delete_emails(apps, schema_editor, list(account.values_list("pk", flat=True)))


class Migration(migrations.Migration):
    dependencies = [
        ("users", "0008_addresses_at_domain_names"),
        ("outbox", "0001_emails"),
        # After the messages' emails, which keep their messages' ids.
        ("contact", "0014_message_delivery_on_its_email"),
    ]

    operations = [
        migrations.RunPython(to_the_outbox, back_from_the_outbox, elidable=False),
        migrations.DeleteModel(name="AccountEmail"),
    ]
