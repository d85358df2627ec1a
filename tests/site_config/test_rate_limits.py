"""The address limits in the embedded mode's database cache: one count for every
process, each increment inside a transaction (on SQLite, one writer at a time)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from site_config.rate_limits import over_limit

pytestmark = pytest.mark.django_db

DATABASE_CACHE = {
    "BACKEND": "django.core.cache.backends.db.DatabaseCache",
    "LOCATION": "site_cache",
}


@pytest.fixture
def database_cache(settings):
    settings.CACHES = {**settings.CACHES, "default": DATABASE_CACHE}


def test_the_database_cache_counts_the_limit(rf, database_cache):
    request = rf.post("/", REMOTE_ADDR="192.0.2.7")

    answers = [over_limit(request, group="probe", rate="3/m") for _ in range(5)]

    assert answers == [False, False, False, True, True]
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM site_cache")
        assert cursor.fetchone()[0] == 1


def test_each_count_is_read_and_written_in_one_transaction(rf, database_cache):
    request = rf.post("/", REMOTE_ADDR="192.0.2.7")

    with CaptureQueriesContext(connection) as queries:
        over_limit(request, group="probe", rate="3/m")

    statements = [query["sql"].split()[0].upper() for query in queries]
    # Inside the test's own transaction, the block is a savepoint around the cache's work.
    assert statements[0] == "SAVEPOINT" and statements[-1] == "RELEASE"
    assert "SELECT" in statements and "INSERT" in statements
