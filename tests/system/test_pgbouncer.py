"""The production topology with the web and two worker processes reaching PostgreSQL
through PgBouncer in transaction mode: every message is delivered once, by relays and
workers side by side. Runs when DATABASE_URL points at PostgreSQL and pgbouncer is
installed (CI installs it)."""

from collections import Counter
from collections.abc import Iterator

import pytest

from tests.conftest import GOOD_PASSWORD
from tests.system.topology import STAFF, Topology, topology_environment
from tests.system.visitor import Visitor

MESSAGES = 40
# How long the messages may stand still before the test gives up on them; how fast they
# move is `make bench`'s to measure.
STILL_BOUND_SECONDS = 120


@pytest.fixture
def topology() -> Iterator[Topology]:
    yield from topology_environment(through_pgbouncer=True)


def test_behind_pgbouncer_every_message_is_delivered_once(topology):
    # Two processes: two relays and two sweepers, side by side.
    topology.kill_worker()
    topology.start_worker(processes=2)
    people = [Visitor(topology.base_url) for _ in range(2)]
    for number, person in enumerate(people):
        person.sign_up(f"pooled-{number}@example.org", GOOD_PASSWORD, topology)

    for number in range(MESSAGES):
        people[number % 2].send_message(f"Pooled {number}", "Through PgBouncer")

    topology.wait_for_statuses(Counter(sent=MESSAGES), still=STILL_BOUND_SECONDS)
    delivered = Counter(received.message["Message-ID"] for received in topology.sink.received)
    assert len(delivered) == MESSAGES
    assert max(delivered.values()) == 1
    # The web and the workers did reach the database through PgBouncer.
    assert "login attempt" in topology.pgbouncer_log()
    staff = Visitor(topology.base_url)
    assert staff.admin_header(*STAFF) == f"Emails sent: {MESSAGES} (0 not delivered) · waiting: 0"
    for visitor in [*people, staff]:
        visitor.close()
