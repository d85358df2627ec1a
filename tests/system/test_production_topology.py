"""The production topology (tests/system/topology.py) carrying 60 messages from three
people to the administrator, with the worker killed in the middle of the second 30.
Runs when DATABASE_URL points at PostgreSQL (CI's second run does)."""

import json
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import GOOD_PASSWORD, wait_until
from tests.standins.directory import USERS
from tests.standins.smtp import SmtpSink
from tests.system.probes import probe
from tests.system.topology import STAFF, WORKER_THREADS, Topology, topology_environment
from tests.system.visitor import Visitor

# How long the messages may stand still before the test gives up on them; how fast they
# move is `make bench`'s to measure (item 3). After the worker is killed nothing moves for
# a while by design: Redis hands its unstarted tasks on after the heartbeat timeout, and
# the messages it had in flight wait for their lease (4 x EMAIL_TIMEOUT + directory
# deadline + 30 s = 43 s) and the next sweep (every 5 s).
STILL_BOUND_SECONDS = 120

# Three people: two the directory knows (one typing their address in another case),
# one it does not.
SENDERS = [
    ("sincere@april.biz", [USERS[0]]),
    ("SHANNA@melissa.tv", [USERS[1]]),
    ("someone.new@example.org", []),
]


@pytest.fixture
def topology() -> Iterator[Topology]:
    # Every attempt asks the directory, so the worker can be caught waiting on it.
    yield from topology_environment(USER_DIRECTORY_CACHE_SECONDS="0")


def send_batch(visitors: list[Visitor], batch: int, count: int, first: int = 1) -> list[str]:
    subjects = []
    for number in range(count):
        subject = f"Batch {batch}, message {first + number}"
        visitors[number % len(visitors)].send_message(subject, f"Body of {subject.lower()}")
        subjects.append(subject)
    return subjects


# The task that sends the messages' emails (outbox.tasks), on the queue of their kind.
DELIVERY_TASK = {"queue_name": "email", "actor_name": "send_email"}


def metric(exposition: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus exposition; 0 when it is absent."""
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def message_ids(sink: SmtpSink) -> Counter:
    return Counter(received.message["Message-ID"] for received in sink.received)


def test_thirty_messages_reach_the_administrator_and_survive_a_killed_worker(topology):
    visitors = [Visitor(topology.base_url) for _ in SENDERS]
    for visitor, (email, _) in zip(visitors, SENDERS, strict=True):
        visitor.sign_up(email, GOOD_PASSWORD, topology)
        visitor.sign_out()
        visitor.sign_in(email, GOOD_PASSWORD)

    # ---- first batch: 30 messages, all delivered
    started = time.monotonic()
    subjects = send_batch(visitors, batch=1, count=30)
    topology.wait_for_statuses(Counter(sent=30), still=STILL_BOUND_SECONDS)
    elapsed = time.monotonic() - started
    print(f"\n30 messages submitted and delivered in {elapsed:.1f} s")

    assert sorted(r.message["Subject"].split(": ", 1)[1] for r in topology.sink.received) == (
        sorted(subjects)
    )
    for received in topology.sink.received:
        # Replies go to the address as the site stores it: in lower case.
        sender = received.message["Reply-To"]
        expected = {email.lower(): found for email, found in SENDERS}[sender]
        attachments = list(received.message.iter_attachments())
        assert received.rcpt_tos == ["admin@example.org"]
        assert received.message["Subject"].startswith(f"Message from {sender}: Batch 1")
        assert [json.loads(a.get_content()) for a in attachments] == (
            [expected] if expected else []
        )
    assert topology.statuses() == Counter(sent=30)
    staff = Visitor(topology.base_url)
    assert staff.admin_header(*STAFF) == "Emails sent: 30 (0 not delivered) · waiting: 0"
    assert metric(topology.metrics(), "site_emails", kind="message", status="sent") == 30
    assert metric(topology.metrics(), "site_emails", kind="message", status="queued") == 0
    # The three confirmations went out too, each counted under its own kind.
    assert metric(topology.metrics(), "site_emails", kind="verify_address", status="sent") == 3
    # Every submit counted once, whichever of gunicorn's processes answered it: /metrics
    # sums them all.
    submits = {"view": "message-new", "method": "POST", "status": "200"}
    assert metric(topology.metrics(), "http_requests_total", **submits) == 30
    # Every delivery task the worker ran, as Dramatiq's own middleware counts them.
    assert wait_until(
        lambda: metric(topology.worker_metrics(), "dramatiq_messages_total", **DELIVERY_TASK) >= 30,
        timeout=STILL_BOUND_SECONDS,
    )

    # ---- second batch: the worker is killed mid-batch, while every one of its threads
    # waits on the directory (so no email is between the SMTP server and the database).
    # Ten go through; the directory then holds every lookup, and the other twenty come.
    send_batch(visitors, batch=2, count=10)
    topology.wait_for_statuses(Counter(sent=40), still=STILL_BOUND_SECONDS)
    topology.directory.gate.clear()
    send_batch(visitors, batch=2, count=20, first=11)
    assert wait_until(
        lambda: topology.directory.held == WORKER_THREADS, timeout=STILL_BOUND_SECONDS
    ), f"{topology.directory.held} of the worker's threads reached the directory"
    delivered_before_kill = len(topology.sink.received)
    topology.kill_worker()
    topology.directory.gate.set()
    print(
        f"worker killed after {delivered_before_kill - 30} of the second batch; "
        f"rows then: {dict(topology.statuses())}"
    )
    topology.start_worker()

    started = time.monotonic()
    topology.wait_for_statuses(Counter(sent=60), still=STILL_BOUND_SECONDS)
    print(f"all 60 sent {time.monotonic() - started:.1f} s after the new worker started")
    ids = message_ids(topology.sink)
    assert len(ids) == 60
    assert [message_id for message_id, times in ids.items() if times > 1] == []
    assert staff.admin_header(*STAFF) == "Emails sent: 60 (0 not delivered) · waiting: 0"
    for visitor in [*visitors, staff]:
        visitor.close()


def test_hostile_requests_get_clear_answers_and_no_server_error(topology):
    stranger = Visitor(topology.base_url)
    person = Visitor(topology.base_url)
    person.sign_up("sincere@april.biz", GOOD_PASSWORD, topology)

    # gunicorn and PostgreSQL in front of the same answers as the embedded mode's.
    assert probe(stranger) == []
    assert probe(person) == []
    stranger.close()
    person.close()
