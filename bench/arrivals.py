"""Item 6: latency as people feel it. Submits arrive at a constant rate, 25 %, 50 % and
75 % of the capacity item 1 measured in the same run, from the open-loop generator
(bench/open_loop.py), which times each from the moment it was due; /healthz at the same
rates beside them. The goal compares the submit p99 at half the capacity with the
submit p50 of an idle site, one request at a time, in the same run."""

import os
from urllib.parse import urlencode

from django.urls import reverse

from bench.harness import log
from bench.inside import SUBMIT_FORM
from bench.load import OpenLoopRun, raw_requests, read_people, run_open_loop
from bench.report import Result
from bench.submit import HEALTH_ANSWER, SUBMIT_CONFIRMATION, worker_caught_up
from tests.system.topology import Topology

FRACTIONS = (0.25, 0.50, 0.75)
JUDGED_FRACTION = 0.50
SECONDS = 15
IDLE_REQUESTS = 200
GOAL = 3.0
# The generator must leave the machine to the site: at most this share of a core.
GENERATOR_CPU_LIMIT = 0.25


def measure(topology: Topology, people_file, capacity: float) -> tuple[list[Result], dict]:
    people = read_people(people_file)
    submit_url = topology.base_url + reverse("message-new")
    health_url = topology.base_url + reverse("healthz")
    submit_requests = raw_requests(submit_url, people, body=urlencode(SUBMIT_FORM))
    health_requests = raw_requests(health_url, people)

    worker_caught_up(topology, what="the earlier items' messages")
    log(f"item 6: {IDLE_REQUESTS} submits one at a time (an idle site)")
    idle = run_open_loop(
        submit_url, submit_requests, expect=SUBMIT_CONFIRMATION, sequential=IDLE_REQUESTS
    )
    runs: list[tuple[float, OpenLoopRun, OpenLoopRun]] = []
    for fraction in FRACTIONS:
        rate = capacity * fraction
        worker_caught_up(topology, what="the last run's messages")
        os.sync()
        log(f"item 6: submits at {rate:.0f}/s ({fraction:.0%} of {capacity:.0f}) for {SECONDS} s")
        submits = run_open_loop(
            submit_url, submit_requests, expect=SUBMIT_CONFIRMATION, rate=rate, seconds=SECONDS
        )
        log(f"item 6: /healthz at {rate:.0f}/s for {SECONDS} s")
        health = run_open_loop(
            health_url, health_requests, expect=HEALTH_ANSWER, rate=rate, seconds=SECONDS
        )
        runs.append((fraction, submits, health))

    results = [Result("arrivals", "submit p50, one at a time (idle site)", "ms", idle.p50_ms)]
    for fraction, submits, health in runs:
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
            answers(f"submits {at}", submits),
            answers(f"/healthz {at}", health),
        ]
    busiest = max(
        (run for _, *pair in runs for run in pair), key=lambda run: run.cpu_share_of_a_core
    )
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
        "runs": [
            {"fraction": fraction, "submits": submits.__dict__, "healthz": health.__dict__}
            for fraction, submits, health in runs
        ],
    }
    return results, details


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
