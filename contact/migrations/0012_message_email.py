"""Each message gets the email that takes it to the administrator (outbox.Email), filled
in by 0013. The message tally's triggers go first: they watch columns that go in 0014,
and on SQLite adding a column rebuilds the table without them. A migration of its own,
as PostgreSQL alters no table with the foreign key checks of 0013's rows pending."""

import importlib

from django.db import migrations, models

# The message tally's triggers (0006); the outbox keeps a tally of its own.
TALLY = importlib.import_module("contact.migrations.0006_message_tally")


def remove_tally_triggers(apps, schema_editor):
    TALLY.remove_triggers(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("contact", "0011_delivery_event_retry"),
        ("outbox", "0001_emails"),
    ]

    operations = [
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
    ]
