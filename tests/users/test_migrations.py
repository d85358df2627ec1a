"""users' migrations that move data: 0002 copies Django's sessions into users.Session."""

import pytest
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore as DjangoSessionStore
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from users.models import Session

pytestmark = pytest.mark.django_db(transaction=True)


def migrate(*targets: tuple[str, str]) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(list(targets) or executor.loader.graph.leaf_nodes())


def django_session(**data) -> str:
    """A session saved by Django's own engine, in Django's table."""
    session = DjangoSessionStore()
    session.update(data)
    session.create()
    return session.session_key


def test_the_upgrade_keeps_people_signed_in(client, user):
    migrate(("users", "0001_initial"))
    signed_in = django_session(
        **{
            SESSION_KEY: str(user.pk),
            BACKEND_SESSION_KEY: "users.backends.ModelBackend",
            HASH_SESSION_KEY: user.get_session_auth_hash(),
        }
    )
    of_nobody = django_session(colour="plum")
    of_a_deleted_account = django_session(**{SESSION_KEY: "999999"})

    migrate()

    assert Session.objects.get(session_key=signed_in).user == user
    assert Session.objects.get(session_key=of_nobody).user is None
    assert Session.objects.get(session_key=of_a_deleted_account).user is None
    client.cookies["sessionid"] = signed_in
    assert client.get("/messages/").status_code == 200
