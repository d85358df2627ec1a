from django.db import migrations

# Sessions copied per statement.
BATCH = 1000
# What the sessions signed in by the old backend name, and what they name from now on.
OLD_BACKEND = "users.backends.ModelBackend"
NEW_BACKEND = "django.contrib.auth.backends.ModelBackend"


def move_sessions_back(apps, schema_editor):
    """Every live session in users.Session moves to Django's own table, naming Django's
    ModelBackend, so that nobody is signed out by the upgrade. A key in both tables
    takes the data users.Session had, which is the newer."""
    from django.contrib.auth import BACKEND_SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.utils import timezone

    database = schema_editor.connection.alias
    OurSession = apps.get_model("users", "Session")
    DjangoSession = apps.get_model("sessions", "Session")
    codec = SessionStore()
    live = OurSession.objects.using(database).filter(expire_date__gt=timezone.now())
    rows = live.values_list("session_key", "session_data", "expire_date")
    batch = []
    for key, data, expire_date in rows.iterator(chunk_size=BATCH):
        decoded = codec.decode(data)
        if decoded.get(BACKEND_SESSION_KEY) == OLD_BACKEND:
            decoded[BACKEND_SESSION_KEY] = NEW_BACKEND
            data = codec.encode(decoded)
        batch.append(DjangoSession(session_key=key, session_data=data, expire_date=expire_date))
        if len(batch) == BATCH:
            _save(DjangoSession, database, batch)
            batch = []
    _save(DjangoSession, database, batch)


def _save(DjangoSession, database, batch):
    DjangoSession.objects.using(database).bulk_create(
        batch,
        update_conflicts=True,
        unique_fields=["session_key"],
        update_fields=["session_data", "expire_date"],
    )


class Migration(migrations.Migration):
    dependencies = [
        ("users", "0002_session"),
        ("sessions", "0001_initial"),
    ]

    operations = [
        # Going back leaves users.Session empty: a downgrade signs people out.
        migrations.RunPython(move_sessions_back, migrations.RunPython.noop),
        migrations.DeleteModel(name="Session"),
    ]
