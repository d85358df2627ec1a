"""Item 5: whether the processes' memory settles. The resident memory of each gunicorn
worker and of the Dramatiq worker processes after the first 1,000 submits (and their
delivery), then after 10,000; growth after the warm-up is the second over the first."""

from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlencode

from django.urls import reverse

from bench.harness import Rows, log, wait_for
from bench.inside import SUBMIT_FORM
from bench.load import run_wrk, sign_up_people, write_people
from bench.processes import dramatiq_workers, gunicorn_workers, rss_kib
from bench.report import Result
from bench.submit import CONNECTIONS, SUBMIT_CONFIRMATION
from tests.system.topology import Topology

WARM_UP_MESSAGES = 1_000
TOTAL_MESSAGES = 10_000
GROWTH_GOAL_PERCENT = 10.0
# Longest a phase may take: the submits, then their delivery.
PHASE_TIMEOUT = 600


@dataclass(frozen=True)
class Sample:
    messages: int
    # Resident memory in KiB, by process id.
    web_kib: dict[int, int]
    worker_kib: dict[int, int]


def measure(topology: Topology, folder: Path) -> tuple[list[Result], dict]:
    people = write_people(
        sign_up_people(topology.base_url, CONNECTIONS, topology.sink), folder / "people.txt"
    )
    warm = submit_and_deliver(topology, people, WARM_UP_MESSAGES)
    full = submit_and_deliver(topology, people, TOTAL_MESSAGES)
    results = [
        growth_result("gunicorn worker", warm.web_kib, full.web_kib),
        growth_result("dramatiq worker", warm.worker_kib, full.worker_kib),
    ]
    return results, {"after_warm_up": asdict(warm), "after_all": asdict(full)}


def submit_and_deliver(topology: Topology, people: Path, total: int) -> Sample:
    """Submit until the table holds `total` messages, wait for all to be sent, and
    sample every process's memory."""
    with Rows(topology) as rows:
        log(f"item 5: submitting up to {total:,} messages")
        run = run_wrk(
            topology.base_url + reverse("message-new"),
            people,
            connections=CONNECTIONS,
            seconds=PHASE_TIMEOUT,
            body=urlencode(SUBMIT_FORM),
            expect=SUBMIT_CONFIRMATION,
            until=lambda: rows.count() >= total,
        )
        assert run.bad == 0 and run.socket_errors == 0, run
        written = rows.settled_count()
        log(f"item 5: waiting for {written:,} messages to be delivered")
        wait_for(
            lambda: rows.count("sent") >= written,
            timeout=PHASE_TIMEOUT,
            what=f"{written:,} messages to be sent",
        )
    return Sample(
        messages=written,
        web_kib={pid: rss_kib(pid) for pid in gunicorn_workers(topology)},
        worker_kib={pid: rss_kib(pid) for pid in dramatiq_workers(topology)},
    )


def growth_result(name: str, warm: dict[int, int], full: dict[int, int]) -> Result:
    """The process that grew most (a restarted process would show up as a new id)."""
    assert warm.keys() == full.keys(), f"{name} processes changed: {warm} then {full}"
    pid = max(warm, key=lambda pid: full[pid] / warm[pid])
    growth = (full[pid] / warm[pid] - 1) * 100
    return Result(
        "memory",
        f"{name} RSS after {TOTAL_MESSAGES:,} (vs {WARM_UP_MESSAGES:,}), growth {growth:+.1f}%",
        "MiB",
        full[pid] / 1024,
        baseline=warm[pid] / 1024,
        ratio=full[pid] / warm[pid],
        goal=f"growth <= {GROWTH_GOAL_PERCENT:.0f}%",
        passed=growth <= GROWTH_GOAL_PERCENT,
    )
