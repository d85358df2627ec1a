"""The message's delivery lives on its email (0013 moved it there): the email is required,
and the message's own delivery fields, its timeline and its tally go. A migration of its
own, as PostgreSQL alters no table with the foreign key checks of 0013's rows pending."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("contact", "0013_messages_through_the_outbox"),
    ]

    operations = [
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
