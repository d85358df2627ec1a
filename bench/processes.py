"""The topology's processes as the operating system sees them: which they are, their
resident memory, and stopping the worker between measurements."""

import os
import signal
from pathlib import Path

from tests.system.topology import Topology


def _status(pid: int) -> dict[str, str]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return fields


def rss_kib(pid: int) -> int:
    return int(_status(pid)["VmRSS"].split()[0])


def children(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            if int(_status(int(status.parent.name))["PPid"]) == pid:
                found.append(int(status.parent.name))
        except (OSError, KeyError, ValueError):
            continue  # gone while we looked
    return sorted(found)


def gunicorn_workers(topology: Topology) -> list[int]:
    """The web workers: the children of gunicorn's master, the topology's first
    process."""
    return children(topology.processes[0].pid)


def dramatiq_workers(topology: Topology) -> list[int]:
    """The processes that run the actor. Dramatiq's main process forks them, and also
    single-threaded fork processes (the metrics exposition server); the workers are the
    children with threads (consumer, heartbeat and the worker threads)."""
    return [pid for pid in children(topology.worker.pid) if int(_status(pid)["Threads"]) > 1]


def stop_worker(topology: Topology) -> None:
    """Stop the worker as its process manager would (SIGTERM: in-flight tasks finish)."""
    os.killpg(topology.worker.pid, signal.SIGTERM)
    topology.worker.wait(timeout=60)
