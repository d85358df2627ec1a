"""Every account email moves to the outbox (outbox.Email), with its status and attempts;
a queued one waits for the relay again, which hands it to the new actors."""

from django.db import migrations

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


class Migration(migrations.Migration):
    dependencies = [
        ("users", "0008_addresses_at_domain_names"),
        ("outbox", "0001_emails"),
        # After the messages' emails, which keep their messages' ids.
        ("contact", "0013_message_delivery_on_its_email"),
    ]

    operations = [
        migrations.RunPython(to_the_outbox, migrations.RunPython.noop, elidable=False),
        migrations.DeleteModel(name="AccountEmail"),
    ]
