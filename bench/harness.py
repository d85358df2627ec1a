"""What every measurement shares: the topology, a way into its Django side, its
database, and progress lines."""

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg

from tests.system.topology import ROOT, WORKER_NICENESS, Topology, topology_environment


def log(text: str) -> None:
    """Progress, on stderr: stdout is kept for the table."""
    print(f"[bench] {text}", file=sys.stderr, flush=True)


@contextmanager
def topology(**overrides: str) -> Iterator[Topology]:
    """The production topology of the system tests (gunicorn as site_config/gunicorn.py
    sets it up, one worker process of 1 x 4 threads with compose.yaml's share of the CPU,
    a fresh PostgreSQL database, Redis, the SMTP sink and the directory stand-in),
    stopped and its database dropped afterwards."""
    started = time.monotonic()
    start = contextmanager(topology_environment)
    with start(worker_niceness=WORKER_NICENESS, **overrides) as running:
        log(f"topology up in {time.monotonic() - started:.1f} s at {running.base_url}")
        yield running


def inside(topology: Topology, *arguments: str, **environment: str) -> dict:
    """Run `python -m bench inside ...` in the topology's environment, with
    `environment` over it; its JSON answer."""
    completed = subprocess.run(
        [sys.executable, "-m", "bench", "inside", *arguments],
        cwd=ROOT,
        env={**topology.env, **environment},
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"bench inside {arguments} failed:\n{completed.stderr}")
    return json.loads(completed.stdout)


class Rows:
    """The topology's messages, and their emails by status, counted over one connection
    kept open: the bench polls them, and a connection per poll would load the machine
    it measures."""

    def __init__(self, topology: Topology) -> None:
        self.connection = psycopg.connect(topology.database_url, autocommit=True)

    def __enter__(self) -> "Rows":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.connection.close()

    def count(self, status: str | None = None) -> int:
        """How many messages there are, or how many of their emails are in `status`."""
        if status is None:
            sql, parameters = "SELECT count(*) FROM contact_message", ()
        else:
            sql = "SELECT count(*) FROM outbox_email WHERE kind = 'message' AND status = %s"
            parameters = (status,)
        return self.connection.execute(sql, parameters).fetchone()[0]

    def execute(self, sql: str) -> None:
        self.connection.execute(sql)

    def settled_count(self, *, quiet_seconds: float = 1.0) -> int:
        """The row count once no more rows arrive: requests that wrk left in flight when
        it stopped are still answered by the server, and write their rows."""
        count = self.count()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            time.sleep(quiet_seconds)
            latest = self.count()
            if latest == count:
                break
            count = latest
        return count


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(0.02)
