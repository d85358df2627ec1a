"""Item 7: every other path a person or a provider hits, each against a baseline of the
same run: the sign-in POST against a bare check_password in the same process, a failed
sign-in with an unknown email against one with a wrong password and a sign-up with a
new address against one with a taken address (each pair answers alike, and should cost
alike), the live-validation endpoints and a burst of provider reports against /healthz
under the same closed-loop load, and "My messages" while 100 signed-in people poll it,
from the open-loop generator, against /healthz at the same rate. The provider's reports
go to the web restarted to send through Postmark, whose tracking URL is then the one
the site mounts; the worker keeps sending over SMTP."""

import base64
import json
import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone

from bench.harness import Rows, inside, log
from bench.inside import SUBMIT_FORM
from bench.load import OpenLoopRun, raw_requests, read_people, run_open_loop, run_wrk
from bench.report import Result
from bench.submit import CONNECTIONS, HEALTH_ANSWER, health, worker_caught_up
from contact.progress import SENDING_POLL
from tests.outbox.provider_reports import POSTMARK_URL, WEBHOOK_SECRET, postmark
from tests.system.topology import Topology, provider_environment

# What the web topology sets for this item: live validation is limited per client, which
# every wrk connection shares.
TOPOLOGY = {"VALIDATIONS_PER_MINUTE": "100000000"}
# The web, and the in-process profile, while they take the provider's reports.
POSTMARK = provider_environment("postmark")

SECONDS = 10
SIGN_INS_TIMED = 30
POLLERS = 100
POLL_SECONDS = float(SENDING_POLL.removesuffix("s"))
IDLE_POLLS = 100
# More reports than a closed-loop run can post, so none is posted twice.
REPORTS = 40_000
WEBHOOK_GOAL = 0.5
# Two answers that say the same thing take comparable time, or the time tells them apart.
ALIKE_LOW, ALIKE_HIGH = 0.67, 1.5
VALIDATIONS = {
    "message-new-validate": {**SUBMIT_FORM, "_touched": "subject"},
    "login-validate": {"username": "someone@example.org", "password": "x", "_touched": "username"},
    "register-validate": {
        "email": "someone-new@example.org",
        "password1": "a long and unusual passphrase",
        "password2": "a long and unusual passphrase",
        "_touched": "password1",
    },
}


def measure(topology: Topology, people_file: Path, folder: Path) -> tuple[list[Result], dict]:
    results: list[Result] = []
    details: dict = {}
    worker_caught_up(topology, what="the earlier items' messages")

    log(f"item 7: {SIGN_INS_TIMED} sign-ins in-process, and as many bare check_password")
    signin = inside(topology, "signin-timing", "--count", str(SIGN_INS_TIMED))
    details["sign_in"] = signin
    results.append(
        Result(
            "paths",
            f"sign-in POST in-process (vs bare check_password, {signin['hasher']})",
            "ms",
            signin["median_ms_sign_in"],
            baseline=signin["median_ms_check_password"],
            ratio=signin["median_ms_sign_in"] / signin["median_ms_check_password"],
        )
    )
    results.append(
        alike(
            f"failed sign-in in-process, unknown email (vs wrong password, {signin['hasher']})",
            signin["median_ms_unknown_email"],
            signin["median_ms_wrong_password"],
        )
    )
    log(f"item 7: {SIGN_INS_TIMED} sign-ups with new addresses in-process, and as many taken")
    signup = inside(topology, "signup-timing", "--count", str(SIGN_INS_TIMED))
    details["sign_up"] = signup
    results.append(
        alike(
            f"sign-up POST in-process, new address (vs taken, {signup['hasher']})",
            signup["median_ms_new_address"],
            signup["median_ms_taken_address"],
        )
    )

    os.sync()
    log(f"item 7: /healthz for {SECONDS} s, the baseline of the closed-loop paths")
    baseline = health(topology, people_file, seconds=SECONDS).wrk
    details["healthz"] = baseline.__dict__
    for name, form in VALIDATIONS.items():
        log(f"item 7: {name} for {SECONDS} s")
        run = run_wrk(
            topology.base_url + reverse(name),
            people_file,
            connections=CONNECTIONS,
            seconds=SECONDS,
            expect='"errors"',
            body=urlencode(form),
        )
        details[name] = run.__dict__
        results += [
            Result(
                "paths",
                f"{name} throughput (vs /healthz)",
                "req/s",
                run.per_second,
                baseline=baseline.per_second,
                ratio=run.per_second / baseline.per_second,
            ),
            Result("paths", f"{name} p50 / p99", "ms", run.p50_ms, run.p99_ms),
            good_answers(f"{name} answers", run.good, run.requests, run.bad + run.socket_errors),
        ]

    measured, details["polling"] = polling(topology, people_file)
    results += measured
    log("item 7: the web restarted to send through Postmark, for its reports")
    with topology.web_environment(**POSTMARK):
        measured, details["webhook"] = webhook_burst(topology, people_file, folder)
        results += measured
        # Last: it writes messages of its own.
        log("item 7: 200 provider reports in-process, and under cProfile")
        profile = inside(topology, "profile-report", "--count", "200", **POSTMARK)
    details["report_profile"] = profile
    results += [
        Result(
            "paths",
            "provider report in-process (vs /healthz)",
            "ms",
            profile["ms_per_report"],
            baseline=profile["ms_per_healthz"],
            ratio=profile["ms_per_report"] / profile["ms_per_healthz"],
        ),
        Result("paths", "SQL statements per provider report", "", profile["queries_per_report"]),
    ]
    return results, details


def polling(topology: Topology, people_file: Path) -> tuple[list[Result], dict]:
    """POLLERS people each asking for their list every POLL_SECONDS, as htmx does while
    a message is on its way: the list's latency as requests arrive, against /healthz at
    the same rate, and the list one request at a time."""
    people = read_people(people_file)[:POLLERS]
    list_url = topology.base_url + reverse("message-list")
    polls = raw_requests(list_url, people)
    rate = POLLERS / POLL_SECONDS
    idle = run_open_loop(list_url, polls, expect='id="message-list"', sequential=IDLE_POLLS)
    os.sync()
    log(f"item 7: {POLLERS} people polling their lists, {rate:.0f}/s for {SECONDS * 2} s")
    polled = run_open_loop(
        list_url, polls, expect='id="message-list"', rate=rate, seconds=SECONDS * 2
    )
    health_url = topology.base_url + reverse("healthz")
    healthz = run_open_loop(
        health_url,
        raw_requests(health_url, people),
        expect=HEALTH_ANSWER,
        rate=rate,
        seconds=SECONDS * 2,
    )
    at = f"{POLLERS} people polling ({rate:.0f}/s)"
    results = [
        Result("paths", "My messages p50, one at a time", "ms", idle.p50_ms),
        Result(
            "paths",
            f"My messages p99, {at} (vs idle p50)",
            "ms",
            polled.p99_ms,
            baseline=idle.p50_ms,
            ratio=polled.p99_ms / idle.p50_ms,
        ),
        Result(
            "paths",
            f"My messages p50 / p99.9, {at}",
            "ms",
            polled.p50_ms,
            polled.p999_ms,
        ),
        Result(
            "paths", f"/healthz p50 / p99 at {rate:.0f}/s", "ms", healthz.p50_ms, healthz.p99_ms
        ),
        open_loop_answers(f"My messages, {at}", polled),
    ]
    return results, {"idle": idle.__dict__, "polled": polled.__dict__, "healthz": healthz.__dict__}


def webhook_burst(topology: Topology, people_file: Path, folder: Path) -> tuple[list[Result], dict]:
    """Provider reports as fast as 16 connections post them, each a new report (a
    Postmark delivery, then an open, for the site's sent emails in turn), against
    /healthz under the same load run just before; then every good answer must be one
    report on a timeline."""
    with Rows(topology) as rows:
        # As if a provider had taken them: each under an id of the provider's.
        ids = [
            row[0]
            for row in rows.connection.execute(
                "UPDATE outbox_email SET provider_message_id = 'bench-' || id"
                " WHERE status = 'sent' RETURNING id"
            ).fetchall()
        ]
        before = rows.connection.execute(
            "SELECT count(*) FROM outbox_emailevent WHERE kind = 'report'"
        ).fetchone()[0]
    start = timezone.now()
    bodies = folder / "reports.jsonl"
    with bodies.open("w") as file:
        for number in range(REPORTS):
            email = ids[number % len(ids)]
            kind = "delivery" if number < len(ids) else "open"
            report = postmark(
                kind,
                f"bench-{email}",
                site_email=email,
                at=start + timedelta(microseconds=number),
            )
            file.write(json.dumps(report) + "\n")
    authorization = "Basic " + base64.b64encode(WEBHOOK_SECRET.encode()).decode()
    os.sync()
    log(f"item 7: /healthz for {SECONDS} s, then provider reports for {SECONDS} s")
    baseline = health(topology, people_file, seconds=SECONDS).wrk
    burst = run_wrk(
        topology.base_url + POSTMARK_URL,
        people_file,
        connections=CONNECTIONS,
        seconds=SECONDS,
        expect="",
        bodies=(bodies, authorization),
    )
    with Rows(topology) as rows:
        after = rows.connection.execute(
            "SELECT count(*) FROM outbox_emailevent WHERE kind = 'report'"
        ).fetchone()[0]
    recorded = after - before
    ratio = burst.per_second / baseline.per_second
    results = [
        Result(
            "paths",
            "provider reports per second (vs /healthz)",
            "req/s",
            burst.per_second,
            baseline=baseline.per_second,
            ratio=ratio,
            goal=f"ratio >= {WEBHOOK_GOAL}",
            passed=ratio >= WEBHOOK_GOAL,
        ),
        Result("paths", "provider reports p50 / p99", "ms", burst.p50_ms, burst.p99_ms),
        good_answers(
            "provider reports answered", burst.good, burst.requests, burst.bad + burst.socket_errors
        ),
        Result(
            "paths",
            "provider reports: recorded / good answers",
            "",
            recorded,
            baseline=burst.good,
            ratio=recorded / burst.good if burst.good else 0.0,
            goal=f"1 each (+<= {CONNECTIONS} in flight)",
            passed=0 <= recorded - burst.good <= CONNECTIONS and burst.requests < REPORTS,
        ),
    ]
    return results, {
        "healthz": baseline.__dict__,
        "reports": burst.__dict__,
        "recorded": recorded,
        "emails_reported_on": len(ids),
    }


def alike(name: str, value: float, baseline: float) -> Result:
    """A pair of answers that say the same thing, judged by how alike their times are."""
    ratio = value / baseline
    return Result(
        "paths",
        name,
        "ms",
        value,
        baseline=baseline,
        ratio=ratio,
        goal=f"{ALIKE_LOW} to {ALIKE_HIGH}",
        passed=ALIKE_LOW < ratio < ALIKE_HIGH,
    )


def good_answers(name: str, good: int, requests: int, failures: int) -> Result:
    return Result(
        "paths",
        f"{name}: good / requests",
        "",
        good,
        baseline=requests,
        ratio=good / requests if requests else 0.0,
        goal="all good",
        passed=failures == 0 and good == requests,
    )


def open_loop_answers(name: str, run: OpenLoopRun) -> Result:
    return good_answers(name, run.good, run.requests, run.requests - run.good)
