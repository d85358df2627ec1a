"""The session engine (SESSION_ENGINE): Django's database sessions, in users.Session,
whose row names the person it signs in, so that a request reads its session and its
person with one statement."""

from functools import cache
from typing import Any, cast

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone

from site_config.postgresql import repeated_statement_cursor
from users.backends import user_columns, user_from_row, user_key
from users.models import Session, User


class SessionStore(db.SessionStore):
    """Django's database-backed sessions: stored, saved, rotated and flushed exactly as
    Django does it, in users.Session, with the signed-in person's key beside the data.

    The load differs. Django's `objects.get(session_key=..., expire_date__gt=now)`
    builds and compiles the same query anew on every request, and makes a model
    instance of the row for the one column that is read. Here one statement, built once,
    reads the session's data and, joined to it, the person its row names; get_user takes
    that person instead of reading them again (users.middleware). A signed-in request
    makes one round trip to the database for both.
    """

    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self._user_read_with_it: User | None = None

    @classmethod
    def get_model_class(cls) -> type[Session]:
        return Session

    def create_model_instance(self, data: dict[str, Any]) -> Session:
        session = cast(Session, super().create_model_instance(data))
        session.user_id = user_key(data.get(SESSION_KEY))
        return session

    @property
    def user_read_with_it(self) -> User | None:
        """The person this session's row names, read with the session (loaded first if
        need be); None if it names nobody. The data's keys decide who is signed in:
        see users.middleware."""
        # Reading a key loads the session, once, as any read of it does.
        if not self.has_key(SESSION_KEY):
            return None
        return self._user_read_with_it

    def load(self) -> dict[str, Any]:
        database = router.db_for_read(self.model)
        connection = connections[database]
        # The ORM's own conversion of the cut-off: SQLite stores datetimes as text.
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        with repeated_statement_cursor(connection) as cursor:
            cursor.execute(_session_read(database), [self.session_key, now])
            row = cursor.fetchone()
        if row is None:
            # As Django does: an unknown or expired key gets a new one when saved.
            self._session_key = None
            return {}
        session_data, *user_row = row
        # A primary key is never null: a null one means the join found nobody.
        if user_row[_USER_PK_POSITION] is not None:
            self._user_read_with_it = user_from_row(database, user_row)
        return self.decode(session_data)


# Where the person's primary key is in the row after the session's data.
_USER_PK_POSITION = User._meta.concrete_fields.index(User._meta.pk)


@cache
def _session_read(database: str) -> str:
    """The session's data and its person's row, in `database`'s dialect: the same for
    every request, so built once."""
    quote = connections[database].ops.quote_name
    session = quote(Session._meta.db_table)
    user = quote(User._meta.db_table)
    return (
        f"SELECT {session}.{quote('session_data')}, {user_columns(database)} "
        f"FROM {session} LEFT JOIN {user} "
        f"ON {user}.{quote(User._meta.pk.column)} = {session}.{quote('user_id')} "
        f"WHERE {session}.{quote('session_key')} = %s AND {session}.{quote('expire_date')} > %s"
    )
