"""Item 4: what the delivery counts cost as the table grows: the admin index page (its
header) and the message list, signed in as staff, with 1,000 and with 1,000,000
messages and their emails."""

import statistics
import time

from django.urls import reverse

from bench.harness import Rows, inside, log
from bench.processes import stop_worker
from bench.report import DEPARTURE_GAIN_GOAL, Result
from tests.system.topology import STAFF, Topology
from tests.system.visitor import Visitor

SMALL = 1_000
LARGE = 1_000_000
WARM_UP_REQUESTS = 5
TIMED_REQUESTS = 50
RATIO_GOAL = 1.5

# Messages numbered `first` to `last`, one every 30 seconds back from now, each with its
# email, with the status mix of a site that mostly works: 95% sent, 3% failed, 2%
# queued. Every NOT NULL column of outbox_email and contact_message is given, as the
# models' defaults would fill it. The emails are inserted first (the tally's triggers
# count them) and each message takes the id of the email created at its own moment:
# every number has a moment of its own.
INSERT_ROWS = """
WITH numbered AS (
    SELECT
        n,
        now() - n * interval '30 seconds' AS created,
        CASE WHEN n % 100 < 95 THEN 'sent' WHEN n % 100 < 98 THEN 'failed' ELSE 'queued' END
            AS status
    FROM generate_series({first}, {last}) AS n
), emails AS (
    INSERT INTO outbox_email (
        kind, "to", user_id, language, created_at, request_id, status, next_attempt_at,
        attempts, last_error, sent_at, lease_expires_at, relayed_at, provider_message_id
    )
    SELECT
        'message',
        'admin@example.org',
        NULL,
        'en',
        created,
        '',
        status,
        created,
        CASE status WHEN 'failed' THEN 5 WHEN 'queued' THEN 0 ELSE 1 END,
        CASE status WHEN 'failed' THEN 'SMTPRecipientsRefused: 550 mailbox unavailable' ELSE '' END,
        CASE status WHEN 'sent' THEN created + interval '2 seconds' END,
        NULL,
        CASE status WHEN 'queued' THEN NULL ELSE created END,
        ''
    FROM numbered
    RETURNING id, created_at
)
INSERT INTO contact_message (
    sender_email, sender_email_confirmed, subject, body, created_at, email_id,
    directory_status, directory_data, sender_id
)
SELECT
    'person' || (n % 5000) || '@example.org',
    true,
    'Message number ' || n,
    'Hello, this is message number ' || n || ' to the administrator.',
    created,
    emails.id,
    CASE status WHEN 'queued' THEN '' WHEN 'sent' THEN 'found' ELSE 'not_found' END,
    '[]'::jsonb,
    NULL
FROM numbered JOIN emails ON emails.created_at = numbered.created
"""


def measure(topology: Topology) -> tuple[list[Result], dict]:
    # The worker's sweeper would start delivering the inserted queued rows.
    stop_worker(topology)
    staff = Visitor(topology.base_url)
    try:
        small = page_at(topology, staff, SMALL)
        large = page_at(topology, staff, LARGE)
    finally:
        staff.close()
    ratio = large["median_ms"] / small["median_ms"]
    # The same pages in-process, with the tally and with it turned off.
    with_tally = (
        large["in_process"]["median_ms_with_tally"] / small["in_process"]["median_ms_with_tally"]
    )
    without_tally = (
        large["in_process"]["median_ms_without_tally"]
        / small["in_process"]["median_ms_without_tally"]
    )
    gain = without_tally / with_tally - 1
    listed = large["changelist_median_ms"] / small["changelist_median_ms"]
    listed_with = (
        large["in_process"]["changelist_median_ms_with_tally"]
        / small["in_process"]["changelist_median_ms_with_tally"]
    )
    listed_without = (
        large["in_process"]["changelist_median_ms_without_tally"]
        / small["in_process"]["changelist_median_ms_without_tally"]
    )
    listed_gain = listed_without / listed_with - 1
    results = [
        Result("admin", f"admin index, {SMALL:,} rows", "ms", small["median_ms"]),
        Result(
            "admin",
            f"admin index, {LARGE:,} rows",
            "ms",
            large["median_ms"],
            baseline=small["median_ms"],
            ratio=ratio,
            goal=f"ratio <= {RATIO_GOAL}",
            passed=ratio <= RATIO_GOAL,
        ),
        Result(
            "admin",
            f"in-process, tally on: index at {LARGE:,} rows vs {SMALL:,}",
            "",
            with_tally,
            ratio=with_tally,
        ),
        Result(
            "admin",
            f"in-process, tally off: index at {LARGE:,} rows vs {SMALL:,}",
            "",
            without_tally,
            ratio=without_tally,
        ),
        Result(
            "admin",
            "gain of the tally triggers (ratio without / with, - 1)",
            "%",
            gain * 100,
            goal=f">= {DEPARTURE_GAIN_GOAL} %",
            passed=gain * 100 >= DEPARTURE_GAIN_GOAL,
        ),
        Result("admin", f"message list, {SMALL:,} rows", "ms", small["changelist_median_ms"]),
        Result(
            "admin",
            f"message list, {LARGE:,} rows",
            "ms",
            large["changelist_median_ms"],
            baseline=small["changelist_median_ms"],
            ratio=listed,
            goal=f"ratio <= {RATIO_GOAL}",
            passed=listed <= RATIO_GOAL,
        ),
        Result(
            "admin",
            "gain of the list counted from the tally (ratio without / with, - 1)",
            "%",
            listed_gain * 100,
            goal=f">= {DEPARTURE_GAIN_GOAL} %",
            passed=listed_gain * 100 >= DEPARTURE_GAIN_GOAL,
        ),
        Result("admin", f"SQL queries per admin page, {SMALL:,} rows", "", small["queries"]),
        Result("admin", f"SQL queries per admin page, {LARGE:,} rows", "", large["queries"]),
    ]
    return results, {"small": small, "large": large}


def page_at(topology: Topology, staff: Visitor, rows_wanted: int) -> dict:
    """Fill the table up to `rows_wanted` rows, then time the page and count its SQL."""
    with Rows(topology) as rows:
        have = rows.count()
        log(f"item 4: inserting {rows_wanted - have:,} rows")
        started = time.monotonic()
        rows.execute(INSERT_ROWS.format(first=have + 1, last=rows_wanted))
        # What autovacuum would soon do anyway, done now so that it does not run in the
        # middle of the timing: statistics for the planner, and the visibility map.
        rows.execute("VACUUM (ANALYZE) outbox_email, contact_message")
        inserted_seconds = time.monotonic() - started
    # Signs in (again: harmless) and reads the header, which must count every row.
    header = staff.admin_header(*STAFF)
    log(f"item 4: timing the admin index at {rows_wanted:,} rows ({header})")
    timings = time_page(staff, reverse("admin:index"))
    listed = time_page(staff, reverse("admin:contact_message_changelist"))
    queries = inside(topology, "admin-queries")
    in_process = inside(topology, "admin-timing")
    return {
        "in_process": in_process,
        "rows": rows_wanted,
        "insert_and_vacuum_seconds": inserted_seconds,
        "header": header,
        "median_ms": statistics.median(timings),
        "p90_ms": statistics.quantiles(timings, n=10)[-1],
        "changelist_median_ms": statistics.median(listed),
        "changelist_p90_ms": statistics.quantiles(listed, n=10)[-1],
        "queries": queries["queries_per_page"],
        "sql": queries["queries"],
    }


def time_page(staff: Visitor, path: str) -> list[float]:
    """Milliseconds per request, one request at a time, after a warm-up."""
    timings = []
    for number in range(WARM_UP_REQUESTS + TIMED_REQUESTS):
        started = time.perf_counter()
        answer = staff.http.get(path)
        elapsed = (time.perf_counter() - started) * 1000
        assert answer.status_code == 200, answer.status_code
        if number >= WARM_UP_REQUESTS:
            timings.append(elapsed)
    return timings
