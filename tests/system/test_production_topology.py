"""The production topology as real processes on loopback: gunicorn with 2 workers, one
`manage.py rundramatiq` process, PostgreSQL, Redis, an aiosmtpd sink and the directory
stand-in. Runs when DATABASE_URL points at PostgreSQL (CI's second run does)."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
import redis

from tests.conftest import GOOD_PASSWORD, wait_until
from tests.standins.directory import USERS, DirectoryStandIn
from tests.standins.smtp import SmtpSink, free_port
from tests.system.visitor import Visitor

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
WORKER_THREADS = 4
# The stated bound: 30 messages from submit to the SMTP sink.
DELIVERY_BOUND_SECONDS = 60
# After the worker is killed: Redis hands its unstarted tasks on after the heartbeat
# timeout; the messages it had in flight wait for their lease (4 x EMAIL_TIMEOUT +
# directory deadline + 10 s = 23 s) and the next sweep (every 5 s).
RECOVERY_BOUND_SECONDS = 90

# Three people: two the directory knows (one typing their address in another case),
# one it does not.
SENDERS = [
    ("sincere@april.biz", [USERS[0]]),
    ("SHANNA@melissa.tv", [USERS[1]]),
    ("someone.new@example.org", []),
]
STAFF = ("staff@example.org", GOOD_PASSWORD)


@dataclass
class Topology:
    base_url: str
    database_url: str
    env: dict[str, str]
    sink: SmtpSink
    directory: DirectoryStandIn
    processes: list[subprocess.Popen] = field(default_factory=list)
    worker: subprocess.Popen | None = None

    def start_worker(self) -> None:
        # Its own session, so the supervisor and the processes it forks die together.
        self.worker = self.spawn(
            [
                sys.executable,
                "manage.py",
                "rundramatiq",
                "--processes",
                "1",
                "--threads",
                str(WORKER_THREADS),
            ],
            start_new_session=True,
        )

    def kill_worker(self) -> None:
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait(timeout=10)

    def spawn(self, command: list[str], **options) -> subprocess.Popen:
        process = subprocess.Popen(
            command, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, **options
        )
        self.processes.append(process)
        return process

    def statuses(self) -> Counter:
        with psycopg.connect(self.database_url) as connection:
            rows = connection.execute("SELECT status, count(*) FROM contact_message GROUP BY 1")
            return Counter(dict(rows.fetchall()))


def postgres_url_or_skip() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        pytest.skip("runs when DATABASE_URL points at PostgreSQL (CI's second run)")
    return url


def redis_url_or_skip() -> str:
    try:
        redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as error:
        reason = f"Redis not reachable at {TEST_REDIS_URL} ({error}); set TEST_REDIS_URL"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return TEST_REDIS_URL


@pytest.fixture
def topology(tmp_path) -> Iterator[Topology]:
    server_url = postgres_url_or_skip()
    redis_url = redis_url_or_skip()
    redis.Redis.from_url(redis_url).flushdb()
    database = f"system_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{database}"')
    database_url = urlunsplit(urlsplit(server_url)._replace(path=f"/{database}"))
    sink = SmtpSink().start()
    directory = DirectoryStandIn().start()
    port = free_port()
    env = {
        **os.environ,
        "SECRET_KEY": "system-test-" + "s" * 40 + "0123456789",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        # Plain HTTP on loopback: no HTTPS redirect, cookies that travel without TLS.
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(sink.port),
        "EMAIL_TIMEOUT": "2",
        "ADMIN_EMAIL": "admin@example.org",
        "DEFAULT_FROM_EMAIL": "site@example.org",
        "USER_DIRECTORY_URL": directory.url,
        "USER_DIRECTORY_TOTAL_TIMEOUT": "5",
        "DRAMATIQ_HEARTBEAT_TIMEOUT_MS": "5000",
        "MESSAGE_SWEEP_INTERVAL": "5",
        "STATIC_ROOT": str(tmp_path / "static"),
        "LOG_LEVEL": "WARNING",
        "DJANGO_SUPERUSER_EMAIL": STAFF[0],
        "DJANGO_SUPERUSER_PASSWORD": STAFF[1],
    }
    topology = Topology(f"http://127.0.0.1:{port}", database_url, env, sink, directory)
    manage = [sys.executable, "manage.py"]
    for command in (["migrate"], ["collectstatic"], ["createsuperuser"]):
        subprocess.run([*manage, *command, "--no-input", "-v0"], cwd=ROOT, env=env, check=True)
    try:
        topology.spawn(
            [
                str(BIN / "gunicorn"),
                "site_config.wsgi:application",
                "--workers",
                "2",
                "--bind",
                f"127.0.0.1:{port}",
            ]
        )
        topology.start_worker()
        assert wait_until(lambda: ready(topology.base_url), timeout=30), "web did not start"
        yield topology
    finally:
        for process in topology.processes:
            if process.poll() is None:
                if process is topology.worker:
                    os.killpg(process.pid, signal.SIGTERM)
                else:
                    process.terminate()
                process.wait(timeout=30)
        directory.stop()
        sink.stop()
        with psycopg.connect(server_url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def ready(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def send_batch(visitors: list[Visitor], batch: int, count: int) -> list[str]:
    subjects = []
    for number in range(count):
        subject = f"Batch {batch}, message {number + 1}"
        visitors[number % len(visitors)].send_message(subject, f"Body of {subject.lower()}")
        subjects.append(subject)
    return subjects


def message_ids(sink: SmtpSink) -> Counter:
    return Counter(received.message["Message-ID"] for received in sink.received)


def test_thirty_messages_reach_the_administrator_and_survive_a_killed_worker(topology):
    visitors = [Visitor(topology.base_url) for _ in SENDERS]
    for visitor, (email, _) in zip(visitors, SENDERS, strict=True):
        visitor.sign_up(email, GOOD_PASSWORD)
        visitor.sign_out()
        visitor.sign_in(email, GOOD_PASSWORD)

    # ---- first batch: 30 messages, all delivered within the bound
    started = time.monotonic()
    subjects = send_batch(visitors, batch=1, count=30)
    assert wait_until(lambda: len(topology.sink.received) >= 30, timeout=DELIVERY_BOUND_SECONDS)
    elapsed = time.monotonic() - started
    print(f"\n30 messages submitted and delivered in {elapsed:.1f} s")

    assert sorted(r.message["Subject"].split(": ", 1)[1] for r in topology.sink.received) == (
        sorted(subjects)
    )
    for received in topology.sink.received:
        sender = received.message["Reply-To"]
        expected = dict(SENDERS)[sender]
        attachments = list(received.message.iter_attachments())
        assert received.rcpt_tos == ["admin@example.org"]
        assert received.message["Subject"].startswith(f"Message from {sender}: Batch 1")
        assert [json.loads(a.get_content()) for a in attachments] == (
            [expected] if expected else []
        )
    assert topology.statuses() == Counter(sent=30)
    staff = Visitor(topology.base_url)
    assert staff.admin_header(*STAFF) == "Emails sent: 30 (0 not delivered)"

    # ---- second batch: the worker is killed mid-batch, while every one of its threads
    # waits on the directory (so no email is between the SMTP server and the database).
    send_batch(visitors, batch=2, count=30)
    assert wait_until(lambda: len(topology.sink.received) >= 40, timeout=DELIVERY_BOUND_SECONDS)
    topology.directory.gate.clear()
    assert wait_until(lambda: topology.directory.held == WORKER_THREADS, timeout=10)
    delivered_before_kill = len(topology.sink.received)
    topology.kill_worker()
    topology.directory.gate.set()
    print(
        f"worker killed after {delivered_before_kill - 30} of the second batch; "
        f"rows then: {dict(topology.statuses())}"
    )
    topology.start_worker()

    started = time.monotonic()
    recovered = wait_until(
        lambda: topology.statuses() == Counter(sent=60), timeout=RECOVERY_BOUND_SECONDS
    )
    print(f"all 60 sent {time.monotonic() - started:.1f} s after the new worker started")
    assert recovered, dict(topology.statuses())
    ids = message_ids(topology.sink)
    assert len(ids) == 60
    assert [message_id for message_id, times in ids.items() if times > 1] == []
    assert staff.admin_header(*STAFF) == "Emails sent: 60 (0 not delivered)"
    for visitor in [*visitors, staff]:
        visitor.close()
