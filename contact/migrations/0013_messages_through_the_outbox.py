"""Every message's delivery moves to its email in the outbox (outbox.Email): status,
attempts, timeline, provider id. Each email keeps its message's id, so the return paths,
Message-IDs and provider metadata of the emails already sent still name it. Rows in
flight keep going: a queued one waits for the relay again, a sending one for its lease
to end. A message whose attempts were never put on a timeline gets them there, told from
its counts, so every message reads the same way."""

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


def back_from_the_outbox(apps, schema_editor):
    """The way back: each message takes its email's delivery record and timeline again,
    and the emails of messages go."""
    Message = apps.get_model("contact", "Message")
    DeliveryEvent = apps.get_model("contact", "DeliveryEvent")
    EmailEvent = apps.get_model("outbox", "EmailEvent")
    copied = ["status", "next_attempt_at", "attempts", "last_error", "sent_at", "lease_expires_at"]
    # Empty on the email, null on the message.
    nullable = ["provider_message_id", "request_id"]
    last = 0
    while True:
        batch = list(
            Message.objects.filter(pk__gt=last).select_related("email").order_by("pk")[:BATCH]
        )
        if not batch:
            break
        last = batch[-1].pk
        for message in batch:
            for field in copied:
                setattr(message, field, getattr(message.email, field))
            for field in nullable:
                setattr(message, field, getattr(message.email, field) or None)
            # A queued one waits for the relay of the release it goes back to.
            queued = message.status == "queued"
            message.relayed_at = None if queued else message.email.relayed_at
        Message.objects.bulk_update(batch, [*copied, *nullable, "relayed_at"])
        message_of = {message.email_id: message.pk for message in batch}
        events = EmailEvent.objects.filter(email_id__in=message_of).order_by("pk")
        DeliveryEvent.objects.bulk_create(
            DeliveryEvent(
                message_id=message_of[event.email_id],
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
    emails = list(Message.objects.values_list("email_id", flat=True))
    Message.objects.update(email=None)
    delete_emails(apps, schema_editor, emails)


def delete_emails(apps, schema_editor, email_ids):
    """Delete emails and their timelines by id: in plain SQL, since Django's deletion
    would follow relations through models of other migration states."""
    tables = [
        (apps.get_model("outbox", "EmailEvent")._meta, "email"),
        (apps.get_model("outbox", "Email")._meta, "id"),
    ]
    quote = schema_editor.quote_name
    with schema_editor.connection.cursor() as cursor:
        for start in range(0, len(email_ids), BATCH):
            chosen = email_ids[start : start + BATCH]
            marks = ", ".join(["%s"] * len(chosen))
            for meta, field in tables:
                column = quote(meta.get_field(field).column)
                cursor.execute(
                    f"DELETE FROM {quote(meta.db_table)} WHERE {column} IN ({marks})", chosen
                )


class Migration(migrations.Migration):
    dependencies = [
        ("contact", "0012_message_email"),
        ("outbox", "0001_emails"),
    ]

    operations = [
        migrations.RunPython(to_the_outbox, back_from_the_outbox, elidable=False),
    ]
