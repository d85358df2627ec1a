"""The topology's processes as the operating system sees them: which they are, their
resident memory and CPU time, and stopping the worker between measurements."""

import os
import resource
import signal
import threading
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
    """The web workers: the children of gunicorn's master."""
    assert topology.web is not None, "the web is not running"
    return children(topology.web.pid)


def dramatiq_workers(topology: Topology) -> list[int]:
    """The processes that run the actor. Dramatiq's main process forks them, and also
    single-threaded fork processes (the metrics exposition server); the workers are the
    children with threads (consumer, heartbeat and the worker threads)."""
    return [pid for pid in children(topology.worker.pid) if int(_status(pid)["Threads"]) > 1]


def stop_worker(topology: Topology) -> None:
    """Stop the worker as its process manager would (SIGTERM: in-flight tasks finish)."""
    os.killpg(topology.worker.pid, signal.SIGTERM)
    topology.worker.wait(timeout=60)


class DiskStalls:
    """How long every task on the machine waited on the disk at once inside the `with`
    block, in ms: the kernel's pressure stall figure for I/O ("full", from
    /proc/pressure/io), or None where the kernel does not keep it. A stall there holds up
    every commit (PostgreSQL's WAL and Redis's append-only file alike), and so every
    request in flight: on this project's machine, runs that had 0.2-0.3 s of it
    answered their p99 in 212 and 328 ms, against 60-125 ms for runs that had none."""

    PRESSURE = Path("/proc/pressure/io")

    def __init__(self) -> None:
        self.ms: float | None = None

    def __enter__(self) -> "DiskStalls":
        self._before = self._full_microseconds()
        return self

    def __exit__(self, *exc_info: object) -> None:
        after = self._full_microseconds()
        if self._before is not None and after is not None:
            self.ms = (after - self._before) / 1000

    def _full_microseconds(self) -> int | None:
        try:
            lines = self.PRESSURE.read_text().splitlines()
        except OSError:
            return None
        for line in lines:
            if line.startswith("full "):
                return int(line.rpartition("total=")[2])
        return None


# The parts of the topology whose CPU time the bench accounts for, in table order.
CPU_ROLES = ("web", "worker", "postgres", "redis", "stand-ins", "wrk")
# How often the CPU account looks at the processes meanwhile. A process that ends takes
# its CPU time with it, and PostgreSQL's backends do end: each web worker reconnects
# every DATABASE_CONN_MAX_AGE seconds, all of them within moments of each other. A
# backend's time is kept as last seen, so at most this much of it goes uncounted.
CPU_SAMPLE_SECONDS = 0.5


class CpuAccount:
    """CPU time (user + system) spent by each part of the topology inside the `with`
    block: the web (gunicorn's processes), the worker (its whole process group),
    PostgreSQL (every backend on the server), Redis, the stand-ins for the SMTP server
    and the directory (threads of this bench process, this account's sampling among
    them), and wrk (this process's children that ended meanwhile)."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.seconds: dict[str, float] = {}

    def __enter__(self) -> "CpuAccount":
        self._before = self._ticks_by_pid()
        self._last_seen = dict(self._before)
        self._children_before = _children_seconds()
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(CPU_SAMPLE_SECONDS):
            self._last_seen.update(self._ticks_by_pid())

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._sampler.join()
        self._last_seen.update(self._ticks_by_pid())
        totals = dict.fromkeys(CPU_ROLES, 0)
        for pid, (role, ticks) in self._last_seen.items():
            totals[role] += ticks - self._before.get(pid, (role, 0))[1]
        hertz = os.sysconf("SC_CLK_TCK")
        self.seconds = {role: ticks / hertz for role, ticks in totals.items()}
        self.seconds["wrk"] = _children_seconds() - self._children_before

    def ms_per(self, count: int) -> dict[str, float]:
        return {role: seconds * 1000 / count for role, seconds in self.seconds.items()}

    def _ticks_by_pid(self) -> dict[int, tuple[str, int]]:
        assert self.topology.web is not None, "the web is not running"
        web = {self.topology.web.pid, *gunicorn_workers(self.topology)}
        found = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            pid = int(stat.parent.name)
            try:
                name, fields = _stat(stat)
                role = self._role(pid, name, web)
            except (OSError, ValueError):
                continue  # gone while we looked
            if role is not None:
                found[pid] = (role, int(fields[11]) + int(fields[12]))
        return found

    def _role(self, pid: int, name: str, web: set[int]) -> str | None:
        if pid in web:
            return "web"
        if self.topology.worker is not None and os.getpgid(pid) == self.topology.worker.pid:
            return "worker"
        if name == "postgres":
            return "postgres"
        if self.topology.redis.process is not None and pid == self.topology.redis.process.pid:
            return "redis"
        if pid == os.getpid():
            return "stand-ins"
        return None


def _stat(path: Path) -> tuple[str, list[str]]:
    """A process's name and the fields of /proc/PID/stat after it (utime is the 12th)."""
    text = path.read_text()
    name = text[text.index("(") + 1 : text.rindex(")")]
    return name, text[text.rindex(")") + 2 :].split()


def _children_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
