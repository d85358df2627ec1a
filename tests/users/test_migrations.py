"""users' migrations that move data: 0003 moves the sessions of users.Session back into
Django's own table, so that nobody is signed out by the upgrade."""

from datetime import timedelta

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import timezone

pytestmark = pytest.mark.django_db(transaction=True)


def migrate(*targets: tuple[str, str]):
    """Migrate to `targets` (the latest without), and the historical apps there."""
    executor = MigrationExecutor(connection)
    executor.migrate(list(targets) or executor.loader.graph.leaf_nodes())
    executor.loader.build_graph()
    return executor.loader.project_state(list(targets) or None).apps


def old_session(apps, *, expires_in: timedelta = timedelta(days=1), **data) -> str:
    """A session as the old engine saved it, in users.Session."""
    codec = SessionStore()
    key = codec._get_new_session_key()
    apps.get_model("users", "Session").objects.create(
        session_key=key,
        session_data=codec.encode(data),
        expire_date=timezone.now() + expires_in,
    )
    return key


def test_the_upgrade_keeps_people_signed_in(client, user):
    old = migrate(("users", "0002_session"))
    signed_in = old_session(
        old,
        **{
            SESSION_KEY: str(user.pk),
            BACKEND_SESSION_KEY: "users.backends.ModelBackend",
            HASH_SESSION_KEY: user.get_session_auth_hash(),
        },
    )
    # Django's table still has the copy an earlier upgrade left of this session.
    stale = SessionStore(session_key=signed_in)
    stale["colour"] = "an old copy"
    stale.save(must_create=True)
    of_nobody = old_session(old, colour="plum")
    expired = old_session(old, expires_in=timedelta(days=-1), colour="teal")

    migrate()

    moved = Session.objects.get(session_key=signed_in).get_decoded()
    assert moved[BACKEND_SESSION_KEY] == "django.contrib.auth.backends.ModelBackend"
    assert "colour" not in moved
    assert Session.objects.get(session_key=of_nobody).get_decoded() == {"colour": "plum"}
    assert not Session.objects.filter(session_key=expired).exists()
    assert "users_session" not in connection.introspection.table_names()
    client.cookies["sessionid"] = signed_in
    assert client.get(reverse("message-list")).status_code == 200


def test_the_upgrade_stores_addresses_normalised_and_confirms_only_staff():
    old = migrate(("users", "0003_sessions_back_to_django"))
    OldUser = old.get_model("users", "User")
    person = OldUser.objects.create(email="Ann.Lee@Example.org", password="x")
    staff = OldUser.objects.create(email="Boss@example.org", password="x", is_staff=True)
    superuser = OldUser.objects.create(email="root@example.org", password="x", is_superuser=True)
    # The old case-blind constraint let these two live side by side (LOWER() on SQLite,
    # NFKC on neither); they normalise to one address.
    first = OldUser.objects.create(email="ｂｏ@example.org", password="x")
    second = OldUser.objects.create(email="bo@example.org", password="x")

    new = migrate()
    User = new.get_model("users", "User")

    assert User.objects.get(pk=person.pk).email == "ann.lee@example.org"
    assert User.objects.get(pk=staff.pk).email == "boss@example.org"
    confirmed = set(
        User.objects.filter(email_verified_at__isnull=False).values_list("pk", flat=True)
    )
    assert confirmed == {staff.pk, superuser.pk}
    # The account already in the stored form keeps the address; the other is set aside,
    # as it was typed, for staff to settle.
    kept, set_aside = User.objects.get(pk=second.pk), User.objects.get(pk=first.pk)
    assert (kept.email, kept.is_active) == ("bo@example.org", True)
    assert (set_aside.email, set_aside.is_active) == ("ｂｏ@example.org", False)
