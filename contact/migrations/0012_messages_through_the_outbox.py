"""Every message's delivery moves to its email in the outbox (outbox.Email): status,
attempts, timeline, provider id. Each email keeps its message's id, so the return paths,
Message-IDs and provider metadata of the emails already sent still name it. Rows in
flight keep going: a queued one waits for the relay again, a sending one for its lease
to end. A message whose attempts were never put on a timeline gets them there, told from
its counts, so every message reads the same way."""

import importlib

from django.conf import settings
from django.core.management.color import no_style
from django.db import migrations, models

BATCH = 2000
# The statuses a message's row could hold before, of which these had been sent.
SENT_STATUSES = {"sent", "deferred", "delivered", "complained", "bounced"}


def to_the_outbox(apps, schema_editor):
    Message = apps.get_model("contact", "Message")
    DeliveryEvent = apps.get_model("contact", "DeliveryEvent")
    Email = apps.get_model("outbox", "Email")
    EmailEvent = apps.get_model("outbox", "EmailEvent")
    administrators = ", ".join(
        address.strip() for address in settings.ADMIN_EMAIL.split(",") if address.strip()
    )
    Message.objects.filter(sender_email_confirmed__isnull=True).update(sender_email_confirmed=False)
    last = 0
    while True:
        batch = list(Message.objects.filter(pk__gt=last).order_by("pk")[:BATCH])
        if not batch:
            break
        last = batch[-1].pk
        Email.objects.bulk_create(
            Email(
                id=message.pk,
                kind="message",
                to=administrators,
                language=settings.LANGUAGE_CODE,
                created_at=message.created_at,
                request_id=message.request_id or "",
                status=message.status,
                next_attempt_at=message.next_attempt_at,
                attempts=message.attempts,
                last_error=message.last_error,
                sent_at=message.sent_at,
                lease_expires_at=message.lease_expires_at,
                # The relay hands a queued one to the new actors.
                relayed_at=None if message.status == "queued" else message.relayed_at,
                provider_message_id=message.provider_message_id or "",
            )
            for message in batch
        )
        EmailEvent.objects.bulk_create(_untold_attempts(batch, DeliveryEvent, EmailEvent))
    Message.objects.update(email_id=models.F("pk"))
    # Oldest first, so the timeline's order by (time, id) holds.
    last = 0
    while True:
        events = list(DeliveryEvent.objects.filter(pk__gt=last).order_by("pk")[:BATCH])
        if not events:
            break
        last = events[-1].pk
        EmailEvent.objects.bulk_create(
            EmailEvent(
                email_id=event.message_id,
                kind=event.kind,
                occurred_at=event.occurred_at,
                event_type=event.event_type,
                status=event.status,
                applied=event.applied,
                duration_ms=event.duration_ms,
                detail=event.detail,
                provider=event.provider,
                provider_message_id=event.provider_message_id,
                provider_event_id=event.provider_event_id,
            )
            for event in events
        )
    # New emails take ids after the ones given here.
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), [Email]):
            cursor.execute(statement)
        if connection.vendor == "postgresql":
            # The foreign keys written above are checked at commit, and PostgreSQL alters
            # no table with such checks pending: the message table is altered below.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def _untold_attempts(batch, DeliveryEvent, EmailEvent):
    """The attempts of messages with none on their timeline, told from the row: every
    attempt before the one that sent it failed."""
    told = set(
        DeliveryEvent.objects.filter(message__in=batch, kind="attempt").values_list(
            "message_id", flat=True
        )
    )
    for message in batch:
        if message.pk in told or not message.attempts:
            continue
        sent = message.status in SENT_STATUSES
        last_failed = message.status == "failed"
        retried = message.attempts - (1 if sent or last_failed or message.status == "sending" else 0)
        for _ in range(retried):
            yield EmailEvent(
                email_id=message.pk,
                kind="attempt",
                occurred_at=message.created_at,
                event_type="retry",
                status="queued",
                applied=True,
            )
        if sent:
            yield EmailEvent(
                email_id=message.pk,
                kind="attempt",
                occurred_at=message.sent_at or message.created_at,
                event_type="sent",
                status="sent",
                applied=True,
                provider_message_id=message.provider_message_id or "",
            )
        elif last_failed:
            yield EmailEvent(
                email_id=message.pk,
                kind="attempt",
                occurred_at=message.created_at,
                event_type="failed",
                status="failed",
                applied=True,
                detail=message.last_error,
            )


# The message tally's (0006), which watch columns that go below; the outbox keeps its own.
TALLY = importlib.import_module("contact.migrations.0006_message_tally")


def remove_tally_triggers(apps, schema_editor):
    TALLY.remove_triggers(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("contact", "0011_delivery_event_retry"),
        ("outbox", "0001_emails"),
    ]

    operations = [
        # First: on SQLite, adding a column rebuilds the table without its triggers.
        migrations.RunPython(remove_tally_triggers, TALLY.install_triggers),
        migrations.AddField(
            model_name="message",
            name="email",
            field=models.OneToOneField(
                null=True,
                on_delete=models.PROTECT,
                related_name="message",
                to="outbox.email",
                verbose_name="email",
            ),
        ),
        migrations.RunPython(to_the_outbox, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="message",
            name="email",
            field=models.OneToOneField(
                on_delete=models.PROTECT,
                related_name="message",
                to="outbox.email",
                verbose_name="email",
            ),
        ),
        migrations.AlterField(
            model_name="message",
            name="sender_email_confirmed",
            field=models.BooleanField(default=False, verbose_name="sender email confirmed"),
        ),
        migrations.DeleteModel(name="MessageTally"),
        migrations.RemoveIndex(model_name="message", name="contact_msg_status_created"),
        migrations.RemoveIndex(model_name="message", name="contact_msg_status_due"),
        migrations.RemoveIndex(model_name="message", name="contact_msg_status_lease"),
        migrations.RemoveIndex(model_name="message", name="contact_msg_awaiting_relay"),
        migrations.RemoveIndex(model_name="message", name="contact_msg_provider_id"),
        migrations.RemoveField(model_name="message", name="attempts"),
        migrations.RemoveField(model_name="message", name="last_error"),
        migrations.RemoveField(model_name="message", name="lease_expires_at"),
        migrations.RemoveField(model_name="message", name="next_attempt_at"),
        migrations.RemoveField(model_name="message", name="provider_message_id"),
        migrations.RemoveField(model_name="message", name="relayed_at"),
        migrations.RemoveField(model_name="message", name="request_id"),
        migrations.RemoveField(model_name="message", name="sent_at"),
        migrations.RemoveField(model_name="message", name="status"),
        migrations.DeleteModel(name="DeliveryEvent"),
    ]
