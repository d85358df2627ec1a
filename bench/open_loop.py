"""An open-loop load generator: requests go out at a constant rate whatever the server
does, and each is timed from the moment it was due, not from when it was sent, so a
server that falls behind is charged for the wait (no coordinated omission).

wrk2 does this, and no such tool is in Debian's, PyPI's or npm's registries; this is
the smallest one that does it: one asyncio task per due request, each on a connection
of its own (the site's gunicorn sync workers close every connection after one answer
anyway), read until the server closes it. It runs as its own process, started by
bench/load.py, and reports the CPU it used and how late it sent, so that it can be
seen not to be the bottleneck.

    python -m bench.open_loop CONFIG.json   prints one JSON line

CONFIG: host, port, rate (per second), seconds, expect (text of a good answer), and
requests (the raw HTTP requests, taken in turn). With "sequential": N instead of a
rate, it sends N requests one at a time, each once the last is answered: the latency
of an idle site.
"""

import asyncio
import json
import sys
import time
from dataclasses import dataclass

# A request still unanswered after this long counts as an error, not a latency.
TIMEOUT_SECONDS = 10.0


@dataclass
class Outcome:
    due: float
    sent: float = 0.0
    done: float = 0.0
    good: bool = False
    error: str = ""


async def one(host: str, port: int, request: bytes, expect: bytes, outcome: Outcome) -> None:
    outcome.sent = time.perf_counter()
    writer = None
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(request)
            answer = await reader.read(-1)
        status_line = answer.split(b"\r\n", 1)[0]
        outcome.good = status_line.split(b" ")[1:2] == [b"200"] and expect in answer
        if not outcome.good:
            outcome.error = status_line.decode("latin-1")[:80] or "no answer"
    except (OSError, TimeoutError) as error:
        outcome.error = type(error).__name__
    finally:
        outcome.done = time.perf_counter()
        if writer is not None:
            writer.close()


async def at_rate(config: dict) -> list[Outcome]:
    """Every request at its due time, start + i / rate, whether or not earlier ones are
    answered."""
    host, port, expect = config["host"], config["port"], config["expect"].encode()
    requests = [request.encode("latin-1") for request in config["requests"]]
    total = int(config["rate"] * config["seconds"])
    interval = 1.0 / config["rate"]
    outcomes = []
    tasks = set()
    start = time.perf_counter() + 0.05
    for number in range(total):
        due = start + number * interval
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        outcome = Outcome(due=due)
        outcomes.append(outcome)
        task = asyncio.create_task(
            one(host, port, requests[number % len(requests)], expect, outcome)
        )
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks)
    return outcomes


async def sequential(config: dict) -> list[Outcome]:
    """One request at a time: each is due when the last is answered."""
    host, port, expect = config["host"], config["port"], config["expect"].encode()
    requests = [request.encode("latin-1") for request in config["requests"]]
    outcomes = []
    for number in range(config["sequential"]):
        outcome = Outcome(due=time.perf_counter())
        await one(host, port, requests[number % len(requests)], expect, outcome)
        outcomes.append(outcome)
    return outcomes


def percentile(ordered: list[float], fraction: float) -> float:
    """The nearest-rank percentile of an ordered list."""
    if not ordered:
        return 0.0
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary(outcomes: list[Outcome], wall: float, cpu: float) -> dict:
    latencies = sorted((o.done - o.due) * 1000 for o in outcomes)
    send_lag = sorted((o.sent - o.due) * 1000 for o in outcomes)
    errors: dict[str, int] = {}
    for outcome in outcomes:
        if not outcome.good:
            errors[outcome.error] = errors.get(outcome.error, 0) + 1
    return {
        "requests": len(outcomes),
        "good": sum(1 for o in outcomes if o.good),
        "errors": errors,
        "seconds": wall,
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "p999_ms": percentile(latencies, 0.999),
        "max_ms": latencies[-1] if latencies else 0.0,
        # How late the generator itself sent: near zero unless it is the bottleneck.
        "send_lag_p99_ms": percentile(send_lag, 0.99),
        "cpu_seconds": cpu,
        "cpu_share_of_a_core": cpu / wall if wall else 0.0,
    }


def main(argv: list[str]) -> int:
    with open(argv[0]) as file:
        config = json.load(file)
    started, cpu_started = time.perf_counter(), time.process_time()
    run = sequential if "sequential" in config else at_rate
    outcomes = asyncio.run(run(config))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    print(json.dumps(summary(outcomes, wall, cpu)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
