"""Item 6: latency as people feel it. Submits arrive at a constant rate, 25 %, 50 % and
75 % of the capacity item 1 measured in the same run, from the open-loop generator
(bench/open_loop.py), which times each from the moment it was due; /healthz at the same
rates beside them. The goal compares the submit p99 at half the capacity with the
submit p50 of an idle site, one request at a time, in the same run: the two take turns
ROUNDS times, and the turn with the median ratio is judged, as item 1 does, since one
15 s run can hold a stall of the machine's."""

import os
from dataclasses import dataclass
from urllib.parse import urlencode

from django.urls import reverse

from bench.harness import log
from bench.inside import SUBMIT_FORM
from bench.load import OpenLoopRun, raw_requests, read_people, run_open_loop
from bench.processes import DiskStalls
from bench.report import Result
from bench.submit import HEALTH_ANSWER, SUBMIT_CONFIRMATION, median_by, worker_caught_up
from tests.system.topology import Topology

FRACTIONS = (0.25, 0.50, 0.75)
JUDGED_FRACTION = 0.50
SECONDS = 15
IDLE_REQUESTS = 200
GOAL = 3.0
ROUNDS = 3
# The generator must leave the machine to the site: at most this share of a core.
GENERATOR_CPU_LIMIT = 0.25


def measure(topology: Topology, people_file, capacity: float) -> tuple[list[Result], dict]:
    people = read_people(people_file)
    submit_url = topology.base_url + reverse("message-new")
    health_url = topology.base_url + reverse("healthz")
    submit_requests = raw_requests(submit_url, people, body=urlencode(SUBMIT_FORM))
    health_requests = raw_requests(health_url, people)

    def submits_at(rate: float) -> tuple[OpenLoopRun, float | None]:
        """Submits at `rate` for SECONDS, and how long the disk stalled meanwhile."""
        with DiskStalls() as stalls:
            run = run_open_loop(
                submit_url, submit_requests, expect=SUBMIT_CONFIRMATION, rate=rate, seconds=SECONDS
            )
        return run, stalls.ms

    turns = []
    for number in range(1, ROUNDS + 1):
        worker_caught_up(topology, what="the last run's messages")
        os.sync()
        log(f"item 6: round {number} of {ROUNDS}, {IDLE_REQUESTS} submits one at a time (idle)")
        idle = run_open_loop(
            submit_url, submit_requests, expect=SUBMIT_CONFIRMATION, sequential=IDLE_REQUESTS
        )
        rate = capacity * JUDGED_FRACTION
        log(f"item 6: round {number} of {ROUNDS}, submits at {rate:.0f}/s for {SECONDS} s")
        turns.append(Turn(idle, *submits_at(rate)))
    judged = median_by(turns, key=lambda turn: turn.ratio)
    log("item 6: ratio by round " + ", ".join(f"{turn.ratio:.2f}" for turn in turns))
    idle = judged.idle

    runs: list[tuple[float, OpenLoopRun, OpenLoopRun, float | None]] = []
    for fraction in FRACTIONS:
        rate = capacity * fraction
        if fraction == JUDGED_FRACTION:
            submits, stalled = judged.submits, judged.disk_stall_ms
        else:
            worker_caught_up(topology, what="the last run's messages")
            os.sync()
            log(f"item 6: submits at {rate:.0f}/s ({fraction:.0%}) for {SECONDS} s")
            submits, stalled = submits_at(rate)
        log(f"item 6: /healthz at {rate:.0f}/s for {SECONDS} s")
        health = run_open_loop(
            health_url, health_requests, expect=HEALTH_ANSWER, rate=rate, seconds=SECONDS
        )
        runs.append((fraction, submits, health, stalled))

    results = [Result("arrivals", "submit p50, one at a time (idle site)", "ms", idle.p50_ms)]
    for fraction, submits, health, stalled in runs:
        at = f"at {fraction:.0%} of capacity ({submits.rate:.0f}/s)"
        judged = fraction == JUDGED_FRACTION
        ratio = submits.p99_ms / idle.p50_ms
        results += [
            Result("arrivals", f"submit p50 {at}", "ms", submits.p50_ms, health.p50_ms),
            Result(
                "arrivals",
                f"submit p99 {at} (vs idle submit p50)",
                "ms",
                submits.p99_ms,
                baseline=idle.p50_ms,
                ratio=ratio,
                goal=f"ratio <= {GOAL:g}" if judged else "",
                passed=ratio <= GOAL if judged else None,
            ),
            Result("arrivals", f"submit p99.9 {at}", "ms", submits.p999_ms, health.p999_ms),
            Result("arrivals", f"/healthz p50 / p99 {at}", "ms", health.p50_ms, health.p99_ms),
            *stall(f"disk stalls during submits {at}", stalled),
            answers(f"submits {at}", submits),
            answers(f"/healthz {at}", health),
        ]
    every_run = [run for _, submits, health, _ in runs for run in (submits, health)]
    busiest = max(every_run, key=lambda run: run.cpu_share_of_a_core)
    results += [
        Result(
            "arrivals",
            "generator CPU, busiest run (share of a core)",
            "",
            busiest.cpu_share_of_a_core,
            goal=f"<= {GENERATOR_CPU_LIMIT}",
            passed=busiest.cpu_share_of_a_core <= GENERATOR_CPU_LIMIT,
        ),
        # How late it sent, in the same run: near zero unless it is what falls behind.
        Result("arrivals", "generator send lag p99, busiest run", "ms", busiest.send_lag_p99_ms),
    ]
    details = {
        "capacity_per_second": capacity,
        "seconds_per_run": SECONDS,
        "idle": idle.__dict__,
        "ratio_by_round": [turn.ratio for turn in turns],
        "disk_stall_ms_by_round": [turn.disk_stall_ms for turn in turns],
        "runs": [
            {
                "fraction": fraction,
                "submits": submits.__dict__,
                "healthz": health.__dict__,
                "disk_stall_ms": stalled,
            }
            for fraction, submits, health, stalled in runs
        ],
    }
    return results, details


@dataclass(frozen=True)
class Turn:
    """An idle site's submits one at a time, then submits at half the capacity."""

    idle: OpenLoopRun
    submits: OpenLoopRun
    disk_stall_ms: float | None

    @property
    def ratio(self) -> float:
        return self.submits.p99_ms / self.idle.p50_ms


def stall(name: str, ms: float | None) -> list[Result]:
    """Said, not judged, and none where the kernel keeps no such figure."""
    return [] if ms is None else [Result("arrivals", name, "ms", ms)]


def answers(name: str, run: OpenLoopRun) -> Result:
    return Result(
        "arrivals",
        f"{name}: good answers / requests",
        "",
        run.good,
        baseline=run.requests,
        ratio=run.good / run.requests if run.requests else 0.0,
        goal="all good",
        passed=run.all_good,
    )
