"""The PostgreSQL backend (site_config/postgresql): a kept connection is used without a
round trip while the server has said nothing, and replaced once the server has ended
it; the statements every request runs are prepared, and no others."""

import select
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import close_old_connections, connection
from django.db.backends.postgresql.base import DatabaseWrapper as DjangoDatabaseWrapper
from psycopg import pq

from contact.services import message_create
from site_config.postgresql import repeated_statement_cursor
from site_config.postgresql.base import PREPARE_THRESHOLD, DatabaseWrapper
from users.models import User
from users.sessions import SessionStore

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def postgresql_only() -> Iterator[None]:
    if connection.vendor != "postgresql":
        pytest.skip("the PostgreSQL backend's own check")
    yield
    # Some tests end the connection on the server's side; the teardown needs a live one.
    connection.close()


@pytest.fixture
def wire(tmp_path: Path) -> Iterator[Path]:
    """A file that libpq writes every protocol message of the connection to."""
    connection.ensure_connection()
    path = tmp_path / "wire.log"
    with path.open("w") as trace:
        connection.connection.pgconn.trace(trace.fileno())
        connection.connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            yield path
        finally:
            connection.connection.pgconn.untrace()


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def from_another_connection(statement: str, params: list[object]) -> None:
    other = connection.copy()
    try:
        with other.cursor() as cursor:
            cursor.execute(statement, params)
    finally:
        other.close()


def test_a_quiet_connection_is_usable_without_a_round_trip(wire):
    assert connection.is_usable()

    assert wire.read_text() == ""


def test_djangos_own_check_makes_a_round_trip(wire):
    # What the check above saves; also shows the wire file sees queries.
    assert DjangoDatabaseWrapper.is_usable(connection)

    assert "SELECT 1" in wire.read_text()


def test_a_connection_the_server_ended_is_not_usable():
    from_another_connection("SELECT pg_terminate_backend(%s, 5000)", [backend_pid()])

    assert not connection.is_usable()


def test_a_connection_the_server_spoke_on_is_asked(wire):
    # A notification arrives unprompted, on a connection that is fine: the check asks
    # the server rather than guess from the socket.
    with connection.cursor() as cursor:
        cursor.execute("LISTEN site_test")
    from_another_connection("NOTIFY site_test", [])
    # The server delivers the notification on its own time; wait until it is here, or
    # the check below would find a quiet socket and (rightly) not ask.
    readable, _, _ = select.select([connection.connection.pgconn.socket], [], [], 10)
    assert readable, "the notification never reached the connection"

    assert connection.is_usable()
    assert "SELECT 1" in wire.read_text()


def test_the_request_after_a_restart_gets_a_new_connection():
    ended = backend_pid()
    from_another_connection("SELECT pg_terminate_backend(%s, 5000)", [ended])

    # What every request starts with (request_started), then its first query.
    close_old_connections()

    assert backend_pid() != ended


def prepared_statements() -> list[str]:
    """The statements prepared on this connection (the view is per connection)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [statement for (statement,) in cursor.fetchall()]


def test_a_repeated_statement_is_prepared_once_it_has_run_a_few_times():
    statement = "SELECT %s::integer + 1"
    for run in range(PREPARE_THRESHOLD + 1):
        with repeated_statement_cursor(connection) as cursor:
            cursor.execute(statement, [run])
            assert cursor.fetchone() == (run + 1,)

    assert any("$1::integer + 1" in prepared for prepared in prepared_statements())


def test_djangos_own_statements_are_never_prepared():
    for _ in range(PREPARE_THRESHOLD * 2):
        list(User.objects.filter(email="nobody@example.org"))

    assert prepared_statements() == []


def test_a_signed_in_request_and_a_submit_use_prepared_statements(signed_in_key, user):
    for _ in range(PREPARE_THRESHOLD + 1):
        SessionStore(signed_in_key).load()
        message_create(sender=user, subject="Hello", body="Hi")

    prepared = prepared_statements()
    assert any("users_session" in statement for statement in prepared)
    assert any(statement.startswith("INSERT INTO") for statement in prepared)


def test_prepared_statements_can_be_turned_off_for_a_pooler():
    settings_dict = {**connection.settings_dict, "OPTIONS": {"prepare_threshold": None}}
    off = DatabaseWrapper(settings_dict)

    assert off.get_connection_params()["prepare_threshold"] is None
    assert connection.get_connection_params()["prepare_threshold"] == PREPARE_THRESHOLD
