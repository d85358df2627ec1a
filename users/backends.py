"""How a signed-in person is recognised on each request (AUTHENTICATION_BACKENDS)."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache

from django.contrib.auth import backends
from django.core.exceptions import ValidationError
from django.db import connections, router
from django.db.models import Expression
from django.db.models.sql import Query
from django.db.models.sql.compiler import SQLCompiler

from users.models import User

# The person named by the request's session row, read in the same statement as the
# session (users.sessions). Set by users.middleware only while Django's auth.get_user
# decides who the request's person is, so no other request or code sees it.
_read_with_session: ContextVar[User | None] = ContextVar("user_read_with_session", default=None)


@contextmanager
def user_read_with_session(user: User | None) -> Iterator[None]:
    """Within this block, get_user takes `user` for its key instead of reading it."""
    token = _read_with_session.set(user)
    try:
        yield
    finally:
        _read_with_session.reset(token)


class ModelBackend(backends.ModelBackend):
    """Django's ModelBackend: passwords, permissions and inactive accounts are handled
    exactly as it does.

    Only the read of the signed-in person, which every signed-in request makes, differs.
    Usually it was read with the session, and is taken from there (see
    user_read_with_session). Otherwise one statement, built once per database, reads
    the row, which the ORM's compiler converts and `Model.from_db` makes a User, as a
    query set would: `objects.get(pk=...)` built and compiled the same query anew each
    time (about 0.35 ms of CPU on this project's machine, against 0.23 for `raw()`).
    """

    def get_user(self, user_id: object) -> User | None:
        pk = user_key(user_id)
        if pk is None:
            return None
        user = _read_with_session.get()
        if user is None or user.pk != pk:
            user = _read_user(pk)
        if user is None:
            return None
        return user if self.user_can_authenticate(user) else None


def user_key(value: object) -> int | None:
    """The primary key of a user as a session holds it (text), or None if it is none."""
    try:
        key: int | None = User._meta.pk.to_python(value)
    except ValidationError:
        return None
    return key


def _read_user(pk: int) -> User | None:
    database = router.db_for_read(User)
    with connections[database].cursor() as cursor:
        cursor.execute(_user_read(database), [pk])
        row = cursor.fetchone()
    return None if row is None else user_from_row(database, row)


@cache
def _user_read(database: str) -> str:
    """The read of one user by primary key, in `database`'s dialect: the same for every
    request, so built once."""
    quote = connections[database].ops.quote_name
    table = quote(User._meta.db_table)
    return (
        f"SELECT {user_columns(database)} FROM {table} "
        f"WHERE {table}.{quote(User._meta.pk.column)} = %s"
    )


@cache
def user_columns(database: str) -> str:
    """The select list of a whole user row in `database`'s dialect, each column named
    with its table so that the list can follow a join; user_from_row reads its rows."""
    quote = connections[database].ops.quote_name
    table = quote(User._meta.db_table)
    return ", ".join(f"{table}.{quote(field.column)}" for field in User._meta.concrete_fields)


def user_from_row(database: str, row: Sequence[object]) -> User:
    """A User from a row of user_columns, converted as a query set converts it (SQLite
    returns datetimes as text, say) and made by `Model.from_db`."""
    columns, attnames = _user_fields()
    if _converts_user_rows(database):
        compiler = _compiler(database)
        row = next(compiler.apply_converters([row], compiler.get_converters(columns)))
    return User.from_db(database, attnames, row)


@cache
def _converts_user_rows(database: str) -> bool:
    """Whether the ORM converts any user column as `database`'s driver returns it: the
    same for every row, so asked once. PostgreSQL's driver returns them as they are, and
    building a compiler to find that out on every request made a User from its row in
    24.5 µs instead of 4.7 (on this project's machine, 20,000 times in one process)."""
    return bool(_compiler(database).get_converters(_user_fields()[0]))


def _compiler(database: str) -> SQLCompiler:
    connection = connections[database]
    return connection.ops.compiler("SQLCompiler")(Query(User), connection, database)


@cache
def _user_fields() -> tuple[list[Expression], list[str]]:
    """The expressions of user_columns, for the compiler's conversions, and the
    attributes they fill."""
    fields = User._meta.concrete_fields
    columns: list[Expression] = [field.get_col(User._meta.db_table) for field in fields]
    return columns, [field.attname for field in fields]
