"""Django's PostgreSQL backend, with a health check that sends no query.

Connections are kept across requests (CONN_MAX_AGE) and checked before each request's
first query (CONN_HEALTH_CHECKS), so that a connection the server has dropped (a restart,
a failover, an idle timeout) is replaced rather than failing the request. Django checks
by sending `SELECT 1`: one more round trip to the server on every request that touches
the database, a quarter of a signed-in submit's.

A server that ends a connection says so on its socket first, with a FATAL message
("terminating connection due to administrator command") or the end of the stream, and
an idle connection's socket has nothing to read otherwise. So the check looks at the
socket: nothing to read means usable, without asking. When there is something to read,
Django's `SELECT 1` decides, as before. A connection whose network vanished without a
word passes either check and fails on its first query; the old check would have waited
on its `SELECT 1` the same way.
"""

import select

from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        if self.connection is None:
            return False
        pgconn = self.connection.pgconn
        if pgconn.status != pq.ConnStatus.OK:
            return False
        if pgconn.transaction_status != pq.TransactionStatus.IDLE:
            # Mid-transaction, or in an unknown state: ask, as Django does.
            return super().is_usable()
        try:
            readable, _, _ = select.select([pgconn.socket], [], [], 0)
        except (OSError, ValueError, base.Database.Error):
            return False
        if readable:
            # The server spoke while no query was waiting: usually its goodbye, perhaps
            # a notice. Its answer to a query tells which.
            return super().is_usable()
        return True
