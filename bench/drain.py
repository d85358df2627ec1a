"""Item 3: how fast the worker empties a queue of messages into the SMTP sink, against
a plain smtplib loop sending as many similar emails to the same sink."""

import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

from bench.harness import Rows, inside, log, wait_for
from bench.processes import stop_worker
from bench.report import DEPARTURE_GAIN_GOAL, Result
from tests.system.topology import ROOT, Topology

COUNT = 2_000
DRAIN_TIMEOUT = 900
RATIO_GOAL = 1.0


@dataclass(frozen=True)
class Drain:
    processes: int
    threads: int
    seconds: float
    queueing_seconds: float
    emails_received: int
    directory_requests: int
    rows_sent: int

    @property
    def per_second(self) -> float:
        return COUNT / self.seconds


# django-dramatiq's rundramatiq runs this many threads per process unless told.
RUNDRAMATIQ_THREADS = 8


def shipped_worker_defaults() -> tuple[int, int]:
    """DRAMATIQ_NPROCS and DRAMATIQ_NTHREADS as .env.example (and so compose.yaml's
    worker) sets them; where it leaves them unset, rundramatiq's own defaults (a process
    per core, 8 threads), whatever this machine's .env says."""
    text = (ROOT / ".env.example").read_text()
    values = dict(re.findall(r"(?m)^(DRAMATIQ_N(?:PROCS|THREADS))=(\d+)", text))
    processes = int(values.get("DRAMATIQ_NPROCS", os.cpu_count() or 1))
    return processes, int(values.get("DRAMATIQ_NTHREADS", RUNDRAMATIQ_THREADS))


def measure(topology: Topology) -> tuple[list[Result], dict]:
    processes, threads = shipped_worker_defaults()
    stop_worker(topology)
    log(f"item 3: smtplib loop, {COUNT} emails")
    baseline = smtplib_loop(topology)
    default = drain(topology, processes, threads, tag="defaults")
    # The kept SMTP connection turned off, to tell what it gains (docs/performance.md).
    unkept = drain(
        topology, processes, threads, tag="connection-per-email", EMAIL_KEEP_CONNECTION="false"
    )
    two = drain(topology, 2, threads, tag="two-processes")
    results = [
        drain_result(default, baseline, "shipped defaults", RATIO_GOAL),
        drain_result(unkept, baseline, "a connection per email", None),
        Result(
            "drain",
            "gain of the kept SMTP connection (drain time without / with, - 1)",
            "%",
            (unkept.seconds / default.seconds - 1) * 100,
            goal=f">= {DEPARTURE_GAIN_GOAL} %",
            passed=unkept.seconds / default.seconds - 1 >= DEPARTURE_GAIN_GOAL / 100,
        ),
        drain_result(two, baseline, "2 processes", None),
        Result(
            "drain",
            "directory requests per message",
            "",
            (default.directory_requests + two.directory_requests) / (2 * COUNT),
        ),
    ]
    details = {
        "messages": COUNT,
        "smtplib_loop_seconds": baseline,
        "defaults": asdict(default),
        "connection_per_email": asdict(unkept),
        "two_processes": asdict(two),
    }
    return results, details


def drain_result(drain: Drain, baseline: float, name: str, goal: float | None) -> Result:
    ratio = baseline / drain.seconds
    return Result(
        "drain",
        f"worker drain, {drain.processes}x{drain.threads} ({name}) vs smtplib",
        "s",
        drain.seconds,
        baseline=baseline,
        ratio=ratio,
        goal="" if goal is None else f"ratio >= {goal}",
        passed=None if goal is None else ratio >= goal,
    )


def smtplib_loop(topology: Topology) -> float:
    completed = subprocess.run(
        [sys.executable, "-m", "bench.smtp_loop", str(topology.sink.port), str(COUNT)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(completed.stdout)


def drain(
    topology: Topology, processes: int, threads: int, *, tag: str, **environment: str
) -> Drain:
    """Queue COUNT messages with the worker stopped, start it (with `environment` over the
    topology's variables), and time from the first email's arrival (so the worker's
    start-up, imports and forks, is not counted) until every row says sent."""
    with Rows(topology) as rows:
        sent_before = rows.count("sent")
        log(f"item 3: queueing {COUNT} messages")
        queued = inside(topology, "queue", "--count", str(COUNT), "--tag", tag)
        received_before = len(topology.sink.received)
        directory_before = len(topology.directory.requests)
        log(f"item 3: draining with {processes} process(es) x {threads} threads")
        topology.start_worker(processes, threads, **environment)
        wait_for(
            lambda: len(topology.sink.received) > received_before,
            timeout=60,
            what="the worker's first email",
        )
        first_email = topology.sink.received[received_before].received_at
        wait_for(
            lambda: rows.count("sent") >= sent_before + COUNT,
            timeout=DRAIN_TIMEOUT,
            what=f"{COUNT} messages to be sent",
        )
        drained = time.monotonic()
        stop_worker(topology)
        return Drain(
            processes=processes,
            threads=threads,
            seconds=drained - first_email,
            queueing_seconds=queued["seconds"],
            emails_received=len(topology.sink.received) - received_before,
            directory_requests=len(topology.directory.requests) - directory_before,
            rows_sent=rows.count("sent") - sent_before,
        )
