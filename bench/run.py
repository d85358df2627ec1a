"""`make bench`: the production topology on loopback, under load, measured.

Each measurement starts the topology of the system tests (tests/system/topology.py):
gunicorn as site_config/gunicorn.py sets it up, one `rundramatiq` worker process, a fresh PostgreSQL
database on the server DATABASE_URL names, a Redis of its own, an SMTP sink and the
directory stand-in. Load comes from wrk, a separate process in C, so that the load
generator is not what is measured. Every figure is judged against a baseline measured in
the same run, on the same machine, since absolute numbers on a shared 2-core machine
are noise; the ratios are what to compare between runs.

1. submit: 160 signed-in people, in turn on 16 wrk connections (wrk -t16 -c16; see
   bench/load.py for why a thread each), post valid messages the way htmx does
   (HX-Request, X-CSRFToken, the session cookie) for DURATION seconds. Baseline: /healthz
   under the same load, on the same server, run just before; the two take turns three
   times, each turn once the worker has delivered the last one's messages, and the turn
   with the median ratio is reported. Every answer is checked
   (status 200 and the confirmation, counted in wrk's Lua hooks), and afterwards the
   rows: one contact_message row per good answer. Reported: requests per second, p50,
   p99, and how long the machine stalled on the disk during each run. Then a
   profile: the SQL of one submit, and cProfile over 200 submits through
   django.test.Client in a process of the topology's (bench/inside.py).
2. latency: the same submits while every SMTP DATA and every directory request takes
   2 s (the worker is busy with item 1's mail meanwhile), three rounds of a run with the
   services at normal speed then a slow one; the median p99 of the slow runs against
   the median of the normal ones (item 1's p99 reported beside it). Every load run
   starts once what earlier steps wrote is on disk (os.sync).
3. drain: 2,000 messages queued with the worker stopped, then drained into the SMTP sink
   by the worker with the shipped defaults (DRAMATIQ_NPROCS x DRAMATIQ_NTHREADS of
   .env.example), then 2,000 more with 2 processes; timed from the first email's
   arrival until every row says sent. Baseline: a plain smtplib loop sending 2,000
   similar emails to the same sink, one connection each. Ratio: baseline time / drain
   time, higher is better. Also: directory requests per message.
4. admin: the admin index page and the message list, signed in as staff, with 1,000
   and with 1,000,000 delivery rows (inserted with generate_series: 95% sent, 3%
   failed, 2% queued), the median of 50 requests after 5 to warm up; SQL queries per
   page, counted in-process.
5. memory: resident memory of each gunicorn worker and of the Dramatiq worker processes
   after 1,000 submits and their delivery, then after 10,000; growth after the warm-up.
6. arrivals: submits from the open-loop generator (bench/open_loop.py) at 25, 50 and 75 %
   of item 1's submits per second, each timed from when it was due, and /healthz at the
   same rates; the p99 at 50 % against the p50 of submits one at a time, the two taking
   turns three times and the turn with the median ratio judged.
7. paths: the sign-in against a bare check_password, a failed sign-in with an unknown
   email against one with a wrong password and a sign-up with a new address against one
   with a taken address, the live-validation endpoints and a burst of provider reports
   (to the web restarted to send through Postmark) against /healthz, and My messages
   while 100 people poll it.

The table goes to stdout; bench/results.json holds the same figures, the details behind
them (the profile, the SQL, every wrk run) and the machine's description. Progress goes
to stderr. `--only submit,admin` runs some of the items.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

from bench import admin_page, arrivals, drain, memory, paths, submit
from bench.harness import log, topology
from bench.load import INSTALL_WRK, wrk_version
from bench.report import Result, machine, table, write_json

ITEMS = ("submit", "latency", "drain", "admin", "memory", "arrivals", "paths")
RESULTS_FILE = Path(__file__).with_name("results.json")
DEFAULT_DURATION = 12
# Item 2's slow SMTP server answers after 2 s; the topology's own EMAIL_TIMEOUT (2 s)
# would turn that into timeouts and retries instead of slowness.
WEB_TOPOLOGY = {"EMAIL_TIMEOUT": "10", **paths.TOPOLOGY}


def main(argv: list[str]) -> int:
    arguments = parse_arguments(argv)
    problem = missing_requirement()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    started = time.monotonic()
    machine_info = machine(os.environ["DATABASE_URL"])
    results: list[Result] = []
    details: dict = {"duration_seconds": arguments.duration, "items": arguments.only}
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        for measured, more in run_items(arguments.only, arguments.duration, Path(folder)):
            results += measured
            details.update(more)
    details["bench_seconds"] = round(time.monotonic() - started)
    print(table(results))
    if "submit" in details:
        print("\n" + submit.profile_summary(details["submit"]["profile"]))
    write_json(RESULTS_FILE, results, machine_info, details)
    log(f"wrote {RESULTS_FILE} after {details['bench_seconds']} s")
    return 0


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--only",
        type=lambda text: [item.strip() for item in text.split(",") if item.strip()],
        default=list(ITEMS),
        help=f"comma-separated items to run, of: {','.join(ITEMS)}",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=DEFAULT_DURATION,
        help="seconds of each wrk run in items 1 and 2",
    )
    arguments = parser.parse_args(argv)
    unknown = set(arguments.only) - set(ITEMS)
    if unknown:
        parser.error(f"unknown items {sorted(unknown)}; choose from {','.join(ITEMS)}")
    return arguments


def missing_requirement() -> str | None:
    """What the bench cannot run without, said plainly, or None."""
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        return (
            "The bench needs PostgreSQL: set DATABASE_URL=postgres://user:password@host:port/name"
            " (a role that may create databases)."
        )
    try:
        psycopg.connect(database_url, connect_timeout=5).close()
    except psycopg.Error as error:
        return f"Cannot connect to DATABASE_URL ({error}). Is PostgreSQL running?"
    if not (shutil.which("redis-server") and shutil.which("redis-cli")):
        return "redis-server is not installed. On Debian or Ubuntu: apt-get install -y redis-server"
    if wrk_version() is None:
        return INSTALL_WRK
    return None


def run_items(
    only: list[str], duration: float, folder: Path
) -> Iterator[tuple[list[Result], dict]]:
    """Yield (results, details) per topology: items 1 and 2 share one, since item 2
    compares with item 1's run; the others start their own, from an empty database."""
    if {"submit", "latency", "arrivals", "paths"} & set(only):
        yield web_items(only, duration, folder)
    if "drain" in only:
        with topology() as running:
            measured, details = drain.measure(running)
        yield measured, {"drain": details}
    if "admin" in only:
        with topology() as running:
            measured, details = admin_page.measure(running)
        yield measured, {"admin": details}
    if "memory" in only:
        with topology() as running:
            measured, details = memory.measure(running, folder)
        yield measured, {"memory": details}


def web_items(only: list[str], duration: float, folder: Path) -> tuple[list[Result], dict]:
    results: list[Result] = []
    details: dict = {}
    with topology(**WEB_TOPOLOGY) as running:
        people = submit.people_file(running, folder)
        if "submit" in only:
            turn, ratios = submit.median_round(running, people, seconds=duration, label="")
            submits = turn.submit
            measured, details["submit"] = submit.throughput(running, turn, ratios, duration)
            results += measured
        else:
            log(f"submits for {duration:.0f} s, the reference of items 2 and 6")
            submits = submit.submits(running, people, seconds=duration)
        if "latency" in only:
            measured, details["latency"] = submit.latency_isolation(
                running, people, duration, submits
            )
            results += measured
        if "arrivals" in only:
            measured, details["arrivals"] = arrivals.measure(
                running, people, capacity=submits.wrk.per_second
            )
            results += measured
        if "paths" in only:
            measured, details["paths"] = paths.measure(running, people, folder)
            results += measured
        # Last, so that restarting the worker disturbs no other measurement.
        if "submit" in only:
            measured, details["submit_without_worker"] = submit.without_worker(
                running, people, duration
            )
            results += measured
    return results, details
