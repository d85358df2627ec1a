"""The bounce reader under faults, in the production topology: people's messages go out
over SMTP from return paths that name them, their bounces come back into a real IMAP
mailbox (Dovecot), and while the worker's reader files them the worker is SIGKILLed
and the IMAP server restarted. Each bounce must land on its message exactly once, and
every mail end filed: none lost, none applied twice, nothing deleted."""

import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import GOOD_PASSWORD, wait_until
from tests.outbox.bounce_fixtures import KINDS, addressed
from tests.standins import imap
from tests.system.topology import Topology, skip_or_fail, topology_environment
from tests.system.visitor import Visitor

pytestmark = pytest.mark.faults

MESSAGES = 60
FORGED = 5


@pytest.fixture
def mailbox() -> Iterator[imap.DovecotServer]:
    if not imap.available():
        skip_or_fail("needs Dovecot: sudo apt-get install dovecot-imapd")
    root = Path(tempfile.mkdtemp(prefix="dovecot-", dir="/tmp"))
    server = imap.DovecotServer(root).start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def topology(mailbox) -> Iterator[Topology]:
    yield from topology_environment(
        BOUNCE_ADDRESS="bounces@example.org",
        BOUNCE_IMAP_URL=mailbox.url,
        BOUNCE_READ_INTERVAL="0.5",
        BOUNCE_IMAP_TIMEOUT="3",
    )


def test_bounces_filed_once_through_a_killed_worker_and_a_restarted_mailbox(
    topology, mailbox, fault_lines
):
    writer = Visitor(topology.base_url)
    writer.sign_up("someone.new@example.org", GOOD_PASSWORD, topology.sink)
    for number in range(MESSAGES):
        writer.send_message(f"Bounce test {number}", "Body")
    writer.close()

    def return_paths() -> list[str]:
        # The messages' return paths: the confirmation of the writer's address has one too.
        return [
            r.mail_from
            for r in topology.sink.received
            if r.mail_from.startswith("bounces+") and r.rcpt_tos == ["admin@example.org"]
        ]

    assert wait_until(lambda: len(return_paths()) >= MESSAGES, timeout=60)
    names = list(KINDS)
    bounces = [
        addressed(names[i % len(names)], path, message_id=f"<bounce-{i}@mx.example.net>")
        for i, path in enumerate(return_paths())
    ]
    forged = [
        addressed("postfix_01", path.replace("-", "-0", 1), message_id=f"<forged-{i}@x>")
        for i, path in enumerate(return_paths()[:FORGED])
    ]

    mailbox.deliver(*bounces[:20], *forged)
    assert wait_until(lambda: mailbox.counts()["Processed"] >= 8, timeout=30)
    topology.kill_worker()
    mailbox.deliver(*bounces[20:40])
    topology.start_worker()
    assert wait_until(lambda: mailbox.counts()["Processed"] >= 25, timeout=60)
    mailbox.stop()
    time.sleep(3)
    mailbox.start()
    mailbox.deliver(*bounces[40:])

    assert wait_until(lambda: mailbox.counts()["INBOX"] == 0, timeout=120), mailbox.counts()
    per_message = Counter(
        email_id
        for (email_id,) in topology.query(
            "SELECT email_id FROM outbox_emailevent WHERE kind = 'report'"
        )
    )
    statuses = topology.statuses()
    counts = mailbox.counts()
    twice = sum(1 for times in per_message.values() if times > 1)
    line = (
        f"bounce reader killed, IMAP restarted: bounces={len(bounces)} "
        f"recorded={len(per_message)} twice={twice} filed={counts['Processed']} "
        f"unmatched={counts['Unmatched']}"
    )
    print(f"\n{line}")
    fault_lines.append(line)

    assert (len(per_message), twice) == (MESSAGES, 0)
    deferred = sum(1 for i in range(MESSAGES) if KINDS[names[i % len(names)]] == "deferred")
    assert statuses == Counter({"bounced": MESSAGES - deferred, "deferred": deferred})
    assert counts == {"INBOX": 0, "Processed": MESSAGES, "Unmatched": FORGED}
