"""Measurements taken from inside a Django process: the runner starts
`python -m bench inside COMMAND` with the environment of the topology under test (its
database, its Redis), and reads the one JSON document printed.

    profile-submit --count N   SQL queries of one htmx submit, its time as shipped, with
                               an enqueue of its own on commit, and with cached_db
                               sessions, and a cProfile of N
    admin-queries              SQL queries of the admin index page, signed in as staff
    admin-timing --count N     the admin index page's and the message list's median
                               times, with their counts read from the tally and counted
                               from the rows
    profile-report --count N   a provider's report (a Postmark delivery of a message's
                               email) posted to the tracking webhook: its SQL, its time
                               against /healthz, and a cProfile of N; in the environment
                               of a site sending through Postmark (bench.paths.POSTMARK)
    signin-timing --count N    a sign-in POST's median time, against a bare
                               check_password of the same password; and a failed
                               sign-in with an unknown email against one with a wrong
                               password
    signup-timing --count N    a sign-up POST's median time with a new address, against
                               one with a taken address
    bounce-timing --count N    reading a crafted bounce of BOUNCE_MAIL_MAX_BYTES, named
                               and unnamed, against flufl.bounce on one crafted line
    queue --count N            N messages written as people do (message_create), for
                               the worker's relay to enqueue

Requests go through django.test.Client: the whole middleware stack and view, without
the network and gunicorn in the way.
"""

import argparse
import cProfile
import email
import json
import pstats
import statistics
import time
import uuid
from functools import partial
from pathlib import Path
from unittest import mock

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.hashers import check_password, get_hasher
from django.db import connection, transaction
from django.db.models import Count
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from flufl.bounce import all_failures

from contact.models import Message
from contact.selectors import MessageCounts
from contact.services import message_create
from outbox.bounces import read_bounce
from outbox.models import Email
from outbox.return_path import return_path
from outbox.smtp import provider
from outbox.tasks import enqueue
from tests.conftest import GOOD_PASSWORD
from tests.outbox.bounce_fixtures import crafted
from tests.outbox.provider_reports import AUTH, POSTMARK_URL, WEBHOOK_SECRET, postmark
from tests.standins.directory import USERS
from tests.system.topology import STAFF
from users.addresses import normalize_email
from users.models import User

# Enough of each statement to tell which query it is.
SQL_SHOWN = 200
PROFILE_ENTRIES = 40
SUBMIT_FORM = {
    "subject": "Benchmark message",
    "body": "Hello,\n\n" + "I am writing about the benchmark of this site. " * 8,
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench inside")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("profile-submit").add_argument("--count", type=int, default=200)
    commands.add_parser("admin-queries")
    commands.add_parser("admin-timing").add_argument("--count", type=int, default=30)
    commands.add_parser("profile-report").add_argument("--count", type=int, default=200)
    commands.add_parser("signin-timing").add_argument("--count", type=int, default=30)
    commands.add_parser("signup-timing").add_argument("--count", type=int, default=30)
    commands.add_parser("bounce-timing").add_argument("--count", type=int, default=10)
    queue = commands.add_parser("queue")
    queue.add_argument("--count", type=int, required=True)
    queue.add_argument("--senders", type=int, default=20)
    queue.add_argument("--tag", default="bench")
    arguments = parser.parse_args(argv)
    if arguments.command == "profile-submit":
        result = profile_submit(arguments.count)
    elif arguments.command == "admin-queries":
        result = admin_queries()
    elif arguments.command == "admin-timing":
        result = admin_timing(arguments.count)
    elif arguments.command == "profile-report":
        result = profile_report(arguments.count)
    elif arguments.command == "signin-timing":
        result = signin_timing(arguments.count)
    elif arguments.command == "signup-timing":
        result = signup_timing(arguments.count)
    elif arguments.command == "bounce-timing":
        result = bounce_timing(arguments.count)
    else:
        result = queue_messages(arguments.count, arguments.senders, arguments.tag)
    print(json.dumps(result))
    return 0


def signed_in_client(user: User) -> Client:
    # The topology's ALLOWED_HOSTS names 127.0.0.1 only; the test client's default host
    # ("testserver") would be refused.
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    return client


def profile_submit(count: int) -> dict:
    """Where one submit spends its time: its SQL, and a profile of `count` of them."""
    user, _ = User.objects.get_or_create(
        email="profiled-person@example.org", defaults={"email_verified_at": timezone.now()}
    )
    client = signed_in_client(user)
    url = reverse("message-new")

    def submit() -> None:
        answer = client.post(url, SUBMIT_FORM, HTTP_HX_REQUEST="true")
        assert answer.status_code == 200 and b"is on its way" in answer.content, answer

    submit()  # warm: templates compiled, connections open
    with CaptureQueriesContext(connection) as capture:
        submit()
    # Copied now: the context reads the connection's log, which each request clears.
    queries = [query["sql"][:SQL_SHOWN] for query in capture.captured_queries]
    # Without the profiler, against /healthz through the same client: the framework's
    # own floor in this process, with no network or gunicorn in either figure.
    ms_per_submit = _ms_per_call(submit, count)
    ms_per_healthz = _ms_per_call(lambda: client.get(reverse("healthz")), count)
    # The alternative to the relay: the submit enqueues its own delivery once committed.
    with mock.patch("contact.views.message_create", _create_and_enqueue_on_commit):
        ms_per_submit_enqueueing = _ms_per_call(submit, count)
    # The alternative session engine: sessions read from Redis, written through to the
    # database. A client of its own, whose handler loads the engine anew.
    with override_settings(SESSION_ENGINE="django.contrib.sessions.backends.cached_db"):
        cached_client = signed_in_client(user)

        def submit_cached() -> None:
            answer = cached_client.post(url, SUBMIT_FORM, HTTP_HX_REQUEST="true")
            assert answer.status_code == 200 and b"is on its way" in answer.content, answer

        submit_cached()
        ms_per_submit_cached_db = _ms_per_call(submit_cached, count)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for _ in range(count):
        submit()
    profiler.disable()
    elapsed = time.perf_counter() - started
    stats = pstats.Stats(profiler)
    return {
        "submits_profiled": count,
        "ms_per_submit": ms_per_submit,
        "ms_per_healthz": ms_per_healthz,
        "ms_per_submit_enqueueing_on_commit": ms_per_submit_enqueueing,
        "ms_per_submit_cached_db_sessions": ms_per_submit_cached_db,
        "ms_per_submit_profiled": elapsed * 1000 / count,
        "queries_per_submit": len(queries),
        "queries": queries,
        "ms_per_submit_by_package": _time_by_package(stats, count),
        "top_own_time": _top_entries(stats, "tottime", count),
        "top_cumulative_time": _top_entries(stats, "cumulative", count),
    }


def profile_report(count: int) -> dict:
    """Where one provider report spends its time: a Postmark delivery for the sent
    email of a message, posted as Postmark posts it, each one new."""
    if provider() != "postmark" or WEBHOOK_SECRET not in settings.ANYMAIL.get("WEBHOOK_SECRET", []):
        raise SystemExit(
            "profile-report posts Postmark's reports, which the site takes only when it sends"
            " through Postmark: run it with EMAIL_BACKEND=anymail.backends.postmark.EmailBackend"
            f" and ANYMAIL_WEBHOOK_SECRET={WEBHOOK_SECRET}, as bench/paths.py does."
        )
    user, _ = User.objects.get_or_create(
        email="reported-person@example.org", defaults={"email_verified_at": timezone.now()}
    )
    emails = Email.objects.bulk_create(
        Email(
            kind=Message.EMAIL_KIND,
            to=settings.ADMIN_EMAIL,
            language=settings.LANGUAGE_CODE,
            status=Email.Status.SENT,
            attempts=1,
            sent_at=timezone.now(),
            # Taken by the provider under an id of its own, which its reports name.
            provider_message_id=f"profiled-{uuid.uuid4()}",
        )
        for _ in range(count * 3 + 2)
    )
    Message.objects.bulk_create(
        Message(
            sender=user,
            sender_email=user.email,
            sender_email_confirmed=True,
            subject=f"Reported {number}",
            body="Body",
            email=email,
        )
        for number, email in enumerate(emails)
    )
    client = Client(HTTP_HOST="127.0.0.1")
    posted = iter(emails)
    start = timezone.now()

    def post() -> None:
        email = next(posted)
        body = postmark("delivery", email.provider_message_id, site_email=email.pk, at=start)
        answer = client.post(
            POSTMARK_URL, json.dumps(body), content_type="application/json", **AUTH
        )
        assert answer.status_code == 200, answer

    post()
    with CaptureQueriesContext(connection) as capture:
        post()
    queries = [query["sql"][:SQL_SHOWN] for query in capture.captured_queries]
    ms_per_report = _ms_per_call(post, count)
    ms_per_healthz = _ms_per_call(lambda: client.get(reverse("healthz")), count)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(count):
        post()
    profiler.disable()
    stats = pstats.Stats(profiler)
    return {
        "ms_per_report": ms_per_report,
        "ms_per_healthz": ms_per_healthz,
        "queries_per_report": len(queries),
        "queries": queries,
        "ms_per_report_by_package": _time_by_package(stats, count),
        "top_own_time": _top_entries(stats, "tottime", count),
        "top_cumulative_time": _top_entries(stats, "cumulative", count),
    }


def _create_and_enqueue_on_commit(**fields) -> Message:
    message = message_create(**fields)
    transaction.on_commit(partial(enqueue, message.email_id, Message.EMAIL_KIND))
    return message


def _ms_per_call(call, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        call()
    return (time.perf_counter() - started) * 1000 / count


def admin_queries() -> dict:
    """The SQL of one admin index page, after a first visit has warmed it."""
    staff = User.objects.get(email=STAFF[0])
    client = signed_in_client(staff)
    url = reverse("admin:index")
    assert client.get(url).status_code == 200
    with CaptureQueriesContext(connection) as capture:
        assert client.get(url).status_code == 200
    queries = [query["sql"][:SQL_SHOWN] for query in capture.captured_queries]
    return {"queries_per_page": len(queries), "queries": queries}


def admin_timing(count: int) -> dict:
    """The admin index page and the message list, `count` times each way after a
    warm-up: with their counts from the tally (as shipped) and with the tally turned
    off, the header's counts taken by the plain aggregate the tally stands in for and
    the list counted by Django's own paginator."""
    staff = User.objects.get(email=STAFF[0])
    client = signed_in_client(staff)

    def timed(url: str) -> float:
        def page() -> None:
            assert client.get(url).status_code == 200

        page()
        return statistics.median(_ms_per_call(page, 1) for _ in range(count))

    def counted_from_rows() -> MessageCounts:
        emails = Email.objects.filter(kind=Message.EMAIL_KIND).order_by()
        rows = emails.values("status").annotate(count=Count("pk"))
        by_status = {row["status"]: row["count"] for row in rows}
        waiting = sum(by_status.get(status, 0) for status in Email.IN_PROGRESS)
        return MessageCounts(
            sent=sum(by_status.values()) - waiting,
            not_delivered=sum(by_status.get(status, 0) for status in Email.NOT_DELIVERED),
            waiting=waiting,
        )

    index, changelist = reverse("admin:index"), reverse("admin:contact_message_changelist")
    result = {
        "median_ms_with_tally": timed(index),
        "changelist_median_ms_with_tally": timed(changelist),
    }
    with mock.patch("site_config.admin.message_counts", counted_from_rows):
        result["median_ms_without_tally"] = timed(index)
        # Django's own paginator, which counts the rows, in place of the tally's.
        message_admin = type(admin.site.get_model_admin(Message))
        with mock.patch.object(message_admin, "get_paginator", admin.ModelAdmin.get_paginator):
            result["changelist_median_ms_without_tally"] = timed(changelist)
    return result


def signin_timing(count: int) -> dict:
    """A sign-in as htmx posts it, through the whole middleware stack and view, against
    a bare check_password of the same password on the same hash: with Argon2, what the
    rest of the sign-in costs beside the hash."""
    user, _ = User.objects.get_or_create(
        email="signing-in-person@example.org", defaults={"email_verified_at": timezone.now()}
    )
    user.set_password(GOOD_PASSWORD)
    user.save(update_fields=["password"])
    url = reverse("login")
    form = {"username": user.email, "password": GOOD_PASSWORD}

    def sign_in() -> None:
        client = Client(HTTP_HOST="127.0.0.1")
        answer = client.post(url, form, HTTP_HX_REQUEST="true")
        assert answer.headers.get("HX-Redirect") == "/", answer

    def bare() -> None:
        assert check_password(GOOD_PASSWORD, user.password)

    sign_in()
    bare()
    # Failures, which the lockout would stop counting once it locks the account: the
    # two answers a guesser compares, timed in turn.
    with override_settings(AXES_ENABLED=False):
        unknown, wrong_password = _in_turn(
            partial(_failed_sign_in, "nobody-at-all@example.org"),
            partial(_failed_sign_in, user.email),
            count,
        )
    return {
        "hasher": user.password.split("$", 1)[0],
        "median_ms_sign_in": statistics.median(_ms_per_call(sign_in, 1) for _ in range(count)),
        "median_ms_check_password": statistics.median(_ms_per_call(bare, 1) for _ in range(count)),
        "median_ms_unknown_email": unknown,
        "median_ms_wrong_password": wrong_password,
    }


def _failed_sign_in(email: str) -> None:
    client = Client(HTTP_HOST="127.0.0.1")
    form = {"username": email, "password": "not-" + GOOD_PASSWORD}
    answer = client.post(reverse("login"), form, HTTP_HX_REQUEST="true")
    assert answer.status_code == 200 and "HX-Redirect" not in answer, answer


@override_settings(SIGNUPS_PER_HOUR=10**9)
def signup_timing(count: int) -> dict:
    """A sign-up as htmx posts it with a new address, against one with an address that
    has an account: both answer alike, and should cost alike (one hash each)."""
    taken, _ = User.objects.get_or_create(
        email="signed-up-person@example.org", defaults={"email_verified_at": timezone.now()}
    )
    run = uuid.uuid4().hex[:8]
    numbers = iter(range(10**9))

    def sign_up(email: str) -> None:
        client = Client(HTTP_HOST="127.0.0.1")
        form = {"email": email, "password1": GOOD_PASSWORD, "password2": GOOD_PASSWORD}
        answer = client.post(reverse("register"), form, HTTP_HX_REQUEST="true")
        assert answer.headers.get("HX-Redirect") == "/accounts/register/done/", answer

    new, taken_ms = _in_turn(
        lambda: sign_up(f"new-{run}-{next(numbers)}@example.org"),
        partial(sign_up, taken.email),
        count,
    )
    return {
        "hasher": get_hasher().algorithm,
        "median_ms_new_address": new,
        "median_ms_taken_address": taken_ms,
    }


def _in_turn(first, second, count: int) -> tuple[float, float]:
    """The median ms of each of two calls, after a warm-up of each, taking turns so that
    a change in the machine's load falls on both alike."""
    first(), second()
    firsts, seconds = [], []
    for _ in range(count):
        firsts.append(_ms_per_call(first, 1))
        seconds.append(_ms_per_call(second, 1))
    return statistics.median(firsts), statistics.median(seconds)


@override_settings(BOUNCE_ADDRESS="bounces@example.org")
def bounce_timing(count: int) -> dict:
    """What a crafted bounce as large as the reader fetches costs to read, named by a
    signed return path and naming nothing, against what flufl.bounce's heuristics take
    over one of its lines as they are (998 characters) without the bounds."""
    line = "<" * 998
    size = settings.BOUNCE_MAIL_MAX_BYTES
    # Base64 takes four bytes for three, and a line break every 76.
    lines = size * 7 // 10 // (len(line) + 1)
    named = crafted(return_path(31), line=line, lines=lines)
    unnamed = crafted("bounces@example.org", line=line, lines=lines)
    one_line = email.message_from_bytes(crafted("bounces@example.org", line=line, lines=1))

    def median_ms(call, times: int) -> float:
        return statistics.median(_ms_per_call(call, 1) for _ in range(times))

    raw_line_ms = median_ms(partial(all_failures, one_line), 3)
    named_ms = median_ms(partial(read_bounce, named), count)
    unnamed_ms = median_ms(partial(read_bounce, unnamed), count)
    return {
        "mail_bytes": len(named),
        "flufl_one_raw_line_ms": round(raw_line_ms, 1),
        "named_ms": round(named_ms, 1),
        "unnamed_ms": round(unnamed_ms, 2),
        "named_vs_one_raw_line": round(named_ms / raw_line_ms, 3),
        "unnamed_vs_one_raw_line": round(unnamed_ms / raw_line_ms, 4),
    }


def queue_messages(count: int, senders: int, tag: str) -> dict:
    """`count` messages from `senders` people (those the directory knows first), written
    by the service the view calls; the worker's outbox relay enqueues them once it runs."""
    emails = [user["email"] for user in USERS][:senders]
    emails += [f"{tag}-sender-{number}@example.org" for number in range(len(emails), senders)]
    confirmed = {"email_verified_at": timezone.now()}
    people = [
        User.objects.get_or_create(email=normalize_email(email), defaults=confirmed)[0]
        for email in emails
    ]
    started = time.perf_counter()
    for number in range(count):
        message_create(
            sender=people[number % senders],
            subject=f"{tag} message {number + 1}",
            body=SUBMIT_FORM["body"],
        )
    return {"queued": count, "seconds": time.perf_counter() - started}


def _top_entries(stats: pstats.Stats, key: str, calls_profiled: int) -> list[dict]:
    """The heaviest functions by `key` (tottime: own time; cumulative: with callees),
    as milliseconds per submit."""
    entries = stats.stats
    column = {"tottime": 2, "cumulative": 3}[key]
    heaviest = sorted(entries.items(), key=lambda item: item[1][column], reverse=True)
    return [
        {
            "function": _describe(function),
            "ms_per_submit": timing[column] * 1000 / calls_profiled,
            "calls_per_submit": timing[1] / calls_profiled,
        }
        for function, timing in heaviest[:PROFILE_ENTRIES]
    ]


def _time_by_package(stats: pstats.Stats, calls_profiled: int) -> dict[str, float]:
    """Own time summed per package: a coarse map of where a submit goes."""
    totals: dict[str, float] = {}
    for (filename, _, _), timing in stats.stats.items():
        package = _package_of(filename)
        totals[package] = totals.get(package, 0.0) + timing[2]
    ordered = sorted(totals.items(), key=lambda item: item[1], reverse=True)
    return {package: seconds * 1000 / calls_profiled for package, seconds in ordered}


def _package_of(filename: str) -> str:
    """django.db, django.template, psycopg, redis, the site's own apps, ...; C functions
    (socket waits among them) are reported together, as cProfile cannot place them."""
    if filename == "~":
        return "C functions (socket waits, builtins)"
    parts = Path(filename).parts
    if "site-packages" in parts:
        inside = parts[parts.index("site-packages") + 1 :]
        if inside[0] == "django" and len(inside) > 2:
            depth = 3 if inside[1] == "contrib" and len(inside) > 3 else 2
            return ".".join(inside[:depth])
        return inside[0].removesuffix(".py")
    if Path(filename).is_relative_to(settings.BASE_DIR):
        return f"site: {Path(filename).relative_to(settings.BASE_DIR).parts[0]}"
    return "Python standard library"


def _describe(function: tuple[str, int, str]) -> str:
    filename, line, name = function
    if filename == "~":
        return name
    parts = Path(filename).parts
    if "site-packages" in parts:
        filename = "/".join(parts[parts.index("site-packages") + 1 :])
    elif Path(filename).is_relative_to(settings.BASE_DIR):
        filename = str(Path(filename).relative_to(settings.BASE_DIR))
    else:
        filename = Path(filename).name
    return f"{filename}:{line}({name})"
