"""The PostgreSQL database backend (DATABASES ENGINE): Django's, with a health check that
costs no round trip, and prepared statements for the statements every request runs."""

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper


def repeated_statement_cursor(connection: BaseDatabaseWrapper) -> CursorWrapper:
    """A cursor for a statement run on every request: prepared on this backend (see
    base.DatabaseWrapper.repeated_statement_cursor), Django's own cursor on others."""
    prepared = getattr(connection, "repeated_statement_cursor", None)
    return prepared() if prepared is not None else connection.cursor()
