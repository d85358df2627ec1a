import django.db.models.deletion
import django.utils.timezone
import outbox.kinds
from django.conf import settings
from django.db import migrations, models


# The tally's triggers. Each backend counts in its own way; both keep, per kind and
# status, the sum of the tally rows equal to the number of emails.
#
# The statements are templates: every table and column name comes from the historical
# models, quoted (see _names), so the SQL follows the migration state instead of
# repeating it. Transition tables and aliases are the SQL's own.
#
# PostgreSQL: statement-level triggers with transition tables, so a statement touching
# many rows (a bulk retry, a sweep, a bulk load) makes one upsert per kind and status it
# changes, on one shard picked at random: concurrent writers rarely meet on a row, and
# the rows of one statement are locked in (kind, status) order, so two statements cannot
# deadlock on them. TRUNCATE (which fires no row triggers) empties the tally too.
POSTGRESQL_INSTALL = """
CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    chosen_shard smallint := floor(random() * {shards});
BEGIN
    -- Each branch names only the transition tables its event has.
    IF TG_OP = 'INSERT' THEN
        INSERT INTO {tally_table} AS tally ({tally_shard}, {tally_kind}, {tally_status}, {tally_count})
        SELECT chosen_shard, {email_kind}, {email_status}, count(*) FROM new_rows
        GROUP BY {email_kind}, {email_status} ORDER BY {email_kind}, {email_status}
        ON CONFLICT ({tally_shard}, {tally_kind}, {tally_status})
        DO UPDATE SET {tally_count} = tally.{tally_count} + EXCLUDED.{tally_count};
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO {tally_table} AS tally ({tally_shard}, {tally_kind}, {tally_status}, {tally_count})
        SELECT chosen_shard, changes.{email_kind}, changes.{email_status}, sum(changes.delta)
        FROM (
            SELECT {email_kind}, {email_status}, 1 AS delta FROM new_rows
            UNION ALL
            SELECT {email_kind}, {email_status}, -1 AS delta FROM old_rows
        ) AS changes
        GROUP BY changes.{email_kind}, changes.{email_status}
        -- An update that changes no status touches no tally row.
        HAVING sum(changes.delta) <> 0
        ORDER BY changes.{email_kind}, changes.{email_status}
        ON CONFLICT ({tally_shard}, {tally_kind}, {tally_status})
        DO UPDATE SET {tally_count} = tally.{tally_count} + EXCLUDED.{tally_count};
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO {tally_table} AS tally ({tally_shard}, {tally_kind}, {tally_status}, {tally_count})
        SELECT chosen_shard, {email_kind}, {email_status}, -count(*) FROM old_rows
        GROUP BY {email_kind}, {email_status} ORDER BY {email_kind}, {email_status}
        ON CONFLICT ({tally_shard}, {tally_kind}, {tally_status})
        DO UPDATE SET {tally_count} = tally.{tally_count} + EXCLUDED.{tally_count};
    ELSE
        DELETE FROM {tally_table};
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER {on_insert} AFTER INSERT ON {email_table}
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {function}();
CREATE TRIGGER {on_update} AFTER UPDATE ON {email_table}
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {function}();
CREATE TRIGGER {on_delete} AFTER DELETE ON {email_table}
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {function}();
CREATE TRIGGER {on_truncate} AFTER TRUNCATE ON {email_table}
    FOR EACH STATEMENT EXECUTE FUNCTION {function}();
"""
POSTGRESQL_REMOVE = """
DROP TRIGGER {on_insert} ON {email_table};
DROP TRIGGER {on_update} ON {email_table};
DROP TRIGGER {on_delete} ON {email_table};
DROP TRIGGER {on_truncate} ON {email_table};
DROP FUNCTION {function}();
"""

# SQLite: one writer at a time, so one tally row per kind and status, and row-level
# triggers. A row is counted in by an upsert and counted out by a plain update: Django
# empties tables in no fixed order, and an email deleted after the tally was emptied
# must not leave a negative count behind.
SQLITE_INSTALL = [
    """
    CREATE TRIGGER {on_insert} AFTER INSERT ON {email_table} BEGIN
        INSERT INTO {tally_table} ({tally_shard}, {tally_kind}, {tally_status}, {tally_count})
        VALUES (0, NEW.{email_kind}, NEW.{email_status}, 1)
        ON CONFLICT ({tally_shard}, {tally_kind}, {tally_status})
        DO UPDATE SET {tally_count} = {tally_count} + 1;
    END
    """,
    """
    CREATE TRIGGER {on_update} AFTER UPDATE OF {email_kind}, {email_status} ON {email_table}
    WHEN OLD.{email_kind} <> NEW.{email_kind} OR OLD.{email_status} <> NEW.{email_status} BEGIN
        UPDATE {tally_table} SET {tally_count} = {tally_count} - 1
        WHERE {tally_shard} = 0 AND {tally_kind} = OLD.{email_kind}
            AND {tally_status} = OLD.{email_status};
        INSERT INTO {tally_table} ({tally_shard}, {tally_kind}, {tally_status}, {tally_count})
        VALUES (0, NEW.{email_kind}, NEW.{email_status}, 1)
        ON CONFLICT ({tally_shard}, {tally_kind}, {tally_status})
        DO UPDATE SET {tally_count} = {tally_count} + 1;
    END
    """,
    """
    CREATE TRIGGER {on_delete} AFTER DELETE ON {email_table} BEGIN
        UPDATE {tally_table} SET {tally_count} = {tally_count} - 1
        WHERE {tally_shard} = 0 AND {tally_kind} = OLD.{email_kind}
            AND {tally_status} = OLD.{email_status};
    END
    """,
]
SQLITE_REMOVE = [
    "DROP TRIGGER {on_insert}",
    "DROP TRIGGER {on_update}",
    "DROP TRIGGER {on_delete}",
]
EMPTY_TALLY = "DELETE FROM {tally_table}"

# The shards PostgreSQL's triggers spread a count over.
SHARDS = 16


def install_triggers(apps, schema_editor):
    names = _names(apps, schema_editor)
    for statement in _for_backend(schema_editor, POSTGRESQL_INSTALL, SQLITE_INSTALL):
        schema_editor.execute(statement.format_map(names))


def remove_triggers(apps, schema_editor):
    names = _names(apps, schema_editor)
    for statement in _for_backend(schema_editor, POSTGRESQL_REMOVE, SQLITE_REMOVE):
        schema_editor.execute(statement.format_map(names))
    schema_editor.execute(EMPTY_TALLY.format_map(names))


def _names(apps, schema_editor) -> dict[str, object]:
    """What the templates' placeholders stand for, quoted for the backend."""
    quote = schema_editor.quote_name
    email = apps.get_model("outbox", "Email")._meta
    tally = apps.get_model("outbox", "EmailTally")._meta
    # The function and the triggers are named after the table they watch.
    prefix = f"{email.db_table}_tally"
    return {
        "email_table": quote(email.db_table),
        "email_kind": quote(email.get_field("kind").column),
        "email_status": quote(email.get_field("status").column),
        "tally_table": quote(tally.db_table),
        "tally_shard": quote(tally.get_field("shard").column),
        "tally_kind": quote(tally.get_field("kind").column),
        "tally_status": quote(tally.get_field("status").column),
        "tally_count": quote(tally.get_field("count").column),
        "function": quote(prefix),
        "on_insert": quote(f"{prefix}_insert"),
        "on_update": quote(f"{prefix}_update"),
        "on_delete": quote(f"{prefix}_delete"),
        "on_truncate": quote(f"{prefix}_truncate"),
        "shards": SHARDS,
    }


def _for_backend(schema_editor, postgresql, sqlite):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        return [postgresql]
    if vendor == "sqlite":
        return sqlite
    raise NotImplementedError(f"The email tally supports PostgreSQL and SQLite, not {vendor}.")



class Migration(migrations.Migration):

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Email',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=outbox.kinds.kind_choices, max_length=32, verbose_name='kind')),
                ('to', models.CharField(max_length=1000, verbose_name='to')),
                ('language', models.CharField(max_length=16, verbose_name='language')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='created')),
                ('request_id', models.CharField(blank=True, max_length=64, verbose_name='request id')),
                ('status', models.CharField(choices=[('queued', 'Queued'), ('sending', 'Sending'), ('sent', 'Sent'), ('deferred', 'Deferred'), ('delivered', 'Delivered'), ('complained', 'Delivered, marked as spam'), ('bounced', 'Bounced'), ('failed', 'Failed')], default='queued', max_length=16, verbose_name='status')),
                ('next_attempt_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='next attempt')),
                ('attempts', models.PositiveSmallIntegerField(default=0, verbose_name='attempts')),
                ('last_error', models.TextField(blank=True, verbose_name='last error')),
                ('sent_at', models.DateTimeField(blank=True, null=True, verbose_name='sent')),
                ('lease_expires_at', models.DateTimeField(blank=True, null=True, verbose_name='lease expires')),
                ('relayed_at', models.DateTimeField(blank=True, null=True, verbose_name='relayed')),
                ('provider_message_id', models.CharField(blank=True, max_length=255, verbose_name='provider message id')),
                ('user', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='emails', to=settings.AUTH_USER_MODEL, verbose_name='account')),
            ],
            options={
                'verbose_name': 'email',
                'verbose_name_plural': 'emails',
                'ordering': ['-created_at'],
            },
        ),
        migrations.CreateModel(
            name='EmailEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('attempt', 'Attempt'), ('report', 'Provider report'), ('retry', 'Queued again')], max_length=16, verbose_name='kind')),
                ('occurred_at', models.DateTimeField(default=django.utils.timezone.now, verbose_name='when')),
                ('event_type', models.CharField(max_length=32, verbose_name='event')),
                ('status', models.CharField(blank=True, choices=[('queued', 'Queued'), ('sending', 'Sending'), ('sent', 'Sent'), ('deferred', 'Deferred'), ('delivered', 'Delivered'), ('complained', 'Delivered, marked as spam'), ('bounced', 'Bounced'), ('failed', 'Failed')], max_length=16, verbose_name='status')),
                ('applied', models.BooleanField(default=False, verbose_name='applied')),
                ('duration_ms', models.PositiveIntegerField(blank=True, null=True, verbose_name='duration (ms)')),
                ('detail', models.TextField(blank=True, verbose_name='detail')),
                ('provider', models.CharField(blank=True, max_length=32, verbose_name='provider')),
                ('provider_message_id', models.CharField(blank=True, max_length=255, verbose_name='provider message id')),
                ('provider_event_id', models.CharField(blank=True, max_length=255, null=True, verbose_name='provider event id')),
                ('email', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='events', to='outbox.email', verbose_name='email')),
            ],
            options={
                'verbose_name': 'delivery event',
                'verbose_name_plural': 'delivery events',
                'ordering': ['occurred_at', 'pk'],
            },
        ),
        migrations.CreateModel(
            name='EmailTally',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('shard', models.PositiveSmallIntegerField()),
                ('kind', models.CharField(max_length=32)),
                ('status', models.CharField(choices=[('queued', 'Queued'), ('sending', 'Sending'), ('sent', 'Sent'), ('deferred', 'Deferred'), ('delivered', 'Delivered'), ('complained', 'Delivered, marked as spam'), ('bounced', 'Bounced'), ('failed', 'Failed')], max_length=16)),
                ('count', models.BigIntegerField(default=0)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('shard', 'kind', 'status'), name='outbox_tally_shard_kind_status')],
            },
        ),
        migrations.AddIndex(
            model_name='email',
            index=models.Index(fields=['status', '-created_at'], name='outbox_email_status_created'),
        ),
        migrations.AddIndex(
            model_name='email',
            index=models.Index(fields=['kind', '-created_at'], name='outbox_email_kind_created'),
        ),
        migrations.AddIndex(
            model_name='email',
            index=models.Index(fields=['-created_at'], name='outbox_email_created'),
        ),
        migrations.AddIndex(
            model_name='email',
            index=models.Index(fields=['user', 'kind', '-created_at'], name='outbox_email_user_kind'),
        ),
        migrations.AddIndex(
            model_name='email',
            index=models.Index(fields=['provider_message_id'], name='outbox_email_provider_id'),
        ),
        migrations.AddIndex(
            model_name='email',
            index=models.Index(fields=['status', 'next_attempt_at'], name='outbox_email_status_due'),
        ),
        migrations.AddIndex(
            model_name='email',
            index=models.Index(fields=['status', 'lease_expires_at'], name='outbox_email_status_lease'),
        ),
        migrations.AddIndex(
            model_name='email',
            index=models.Index(condition=models.Q(('relayed_at__isnull', True), ('status', 'queued')), fields=['id'], name='outbox_email_awaiting_relay'),
        ),
        migrations.AddIndex(
            model_name='emailevent',
            index=models.Index(fields=['email', 'occurred_at'], name='outbox_event_email_when'),
        ),
        migrations.AddIndex(
            model_name='emailevent',
            index=models.Index(fields=['status', 'occurred_at'], name='outbox_event_status_when'),
        ),
        migrations.AddConstraint(
            model_name='emailevent',
            constraint=models.UniqueConstraint(fields=('provider', 'provider_event_id'), name='outbox_event_reported_once'),
        ),
        migrations.RunPython(install_triggers, remove_triggers),
    ]
