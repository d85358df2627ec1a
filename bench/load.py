"""Load from wrk, a separate process that is not the bottleneck, as signed-in people.

wrk runs one thread per connection (-tN -cN) because its Lua hooks are per thread, not
per connection: that is the only way to have the connections send as different people
at any moment. Each thread takes every person in turn (bench/signed_in.lua), so that a
person's hourly count of messages, which every submit checks, stays near what people
send. The threads spend their time waiting on sockets; 16 of them cost wrk no more CPU
than 2 would.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tests.conftest import GOOD_PASSWORD
from tests.standins.directory import USERS
from tests.system.visitor import Mailbox, Visitor

LUA_SCRIPT = Path(__file__).with_name("signed_in.lua")
INSTALL_WRK = "wrk is not installed. On Debian or Ubuntu: apt-get install -y wrk (as root)"
RESULT_PREFIX = "wrk-result "
# A request still unanswered after this long counts as a socket error, not a latency.
REQUEST_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Person:
    email: str
    session: str
    csrf: str


@dataclass(frozen=True)
class WrkRun:
    """What wrk saw: the answers it counted as good and bad, and their latencies."""

    requests: int
    seconds: float
    good: int
    bad: int
    socket_errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    @classmethod
    def from_lua(cls, result: dict) -> "WrkRun":
        return cls(
            requests=result["requests"],
            seconds=result["duration_us"] / 1e6,
            good=result["good"],
            bad=result["bad"],
            socket_errors=result["socket_errors"],
            p50_ms=result["p50_us"] / 1000,
            p99_ms=result["p99_us"] / 1000,
            max_ms=result["max_us"] / 1000,
        )


def wrk_version() -> str | None:
    """wrk's first line of `wrk -v`, or None when it is not installed."""
    if shutil.which("wrk") is None:
        return None
    # `wrk -v` prints its version with the usage text and exits 1.
    output = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    return (output.stdout or output.stderr).splitlines()[0].strip()


def sign_up_people(base_url: str, count: int, mailbox: Mailbox) -> list[Person]:
    """`count` people, signed up (and so signed in) through the site itself. The first
    ten have addresses the directory stand-in knows, the rest are unknown to it.
    Two at a time, one per core: each sign-up hashes a password."""
    emails = [user["email"] for user in USERS][:count]
    emails += [f"bench-person-{number}@example.org" for number in range(len(emails), count)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda email: _sign_up(base_url, email, mailbox), emails))


def _sign_up(base_url: str, email: str, mailbox: Mailbox) -> Person:
    visitor = Visitor(base_url)
    try:
        visitor.sign_up(email, GOOD_PASSWORD, mailbox)
        cookies = visitor.http.cookies
        return Person(email, session=cookies["sessionid"], csrf=cookies["csrftoken"])
    finally:
        visitor.close()


def write_people(people: list[Person], path: Path) -> Path:
    path.write_text("".join(f"{person.session} {person.csrf}\n" for person in people))
    return path


def run_wrk(
    url: str,
    people_file: Path,
    *,
    connections: int,
    seconds: float,
    expect: str,
    body: str | None = None,
    until: Callable[[], bool] | None = None,
    bodies: tuple[Path, str] | None = None,
) -> WrkRun:
    """Load `url` for `seconds` (GET, or POST of `body`), or until `until()` holds:
    wrk stops early on SIGINT and still reports what it measured. With `bodies` (a file
    of one body per line, and an Authorization header), a different body each time."""
    env = {
        **os.environ,
        **(
            {
                "BENCH_BODIES": str(bodies[0]),
                "BENCH_AUTHORIZATION": bodies[1],
                "BENCH_CONNECTIONS": str(connections),
            }
            if bodies
            else {}
        ),
        "BENCH_PEOPLE": str(people_file),
        "BENCH_METHOD": "POST" if body is not None else "GET",
        "BENCH_EXPECT": expect,
    }
    if body is not None:
        env["BENCH_BODY"] = body
    command = [
        "wrk",
        f"-t{connections}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        f"--timeout={REQUEST_TIMEOUT_SECONDS}s",
        f"-s{LUA_SCRIPT}",
        url,
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    if until is not None:
        while process.poll() is None and not until():
            time.sleep(0.1)
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    output, _ = process.communicate()
    return WrkRun.from_lua(_result_line(output))


def _result_line(output: str) -> dict:
    for line in output.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line.removeprefix(RESULT_PREFIX))
    raise RuntimeError(f"wrk printed no result line:\n{output}")


@dataclass(frozen=True)
class OpenLoopRun:
    """What the open-loop generator saw (bench/open_loop.py): latencies from the moment
    each request was due, and what the generator itself cost."""

    rate: float
    requests: int
    good: int
    errors: dict[str, int]
    seconds: float
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    send_lag_p99_ms: float
    cpu_share_of_a_core: float

    @property
    def all_good(self) -> bool:
        return self.good == self.requests


def raw_requests(
    url: str, people: list[Person], *, body: str | None = None, headers: dict | None = None
) -> list[str]:
    """One raw HTTP/1.1 request per person, as htmx sends it (bench/signed_in.lua does
    the same for wrk); each asks the server to close the connection after answering."""
    parsed = urlsplit(url)
    method = "POST" if body is not None else "GET"
    built = []
    for person in people:
        lines = [
            f"{method} {parsed.path or '/'} HTTP/1.1",
            f"Host: {parsed.netloc}",
            f"Cookie: sessionid={person.session}; csrftoken={person.csrf}",
            f"X-CSRFToken: {person.csrf}",
            "HX-Request: true",
            "Connection: close",
            *(f"{name}: {value}" for name, value in (headers or {}).items()),
        ]
        if body is not None:
            lines += [
                "Content-Type: application/x-www-form-urlencoded",
                f"Content-Length: {len(body.encode())}",
            ]
        built.append("\r\n".join(lines) + "\r\n\r\n" + (body or ""))
    return built


def read_people(path: Path) -> list[Person]:
    people = []
    for line in path.read_text().splitlines():
        session, csrf = line.split()
        people.append(Person("", session, csrf))
    return people


def run_open_loop(
    url: str,
    requests: list[str],
    *,
    expect: str,
    rate: float | None = None,
    seconds: float = 0.0,
    sequential: int | None = None,
) -> OpenLoopRun:
    """`requests` in turn at `rate` per second for `seconds`, or `sequential` of them
    one at a time, from bench/open_loop.py in a process of its own."""
    parsed = urlsplit(url)
    config: dict = {
        "host": parsed.hostname,
        "port": parsed.port,
        "expect": expect,
        "requests": requests,
    }
    if sequential is not None:
        config["sequential"] = sequential
    else:
        config.update(rate=rate, seconds=seconds)
    with tempfile.NamedTemporaryFile("w", suffix=".json") as file:
        json.dump(config, file)
        file.flush()
        completed = subprocess.run(
            [sys.executable, "-m", "bench.open_loop", file.name],
            capture_output=True,
            text=True,
            check=True,
        )
    result = json.loads(completed.stdout)
    return OpenLoopRun(
        rate=rate or 0.0,
        **{name: result[name] for name in OpenLoopRun.__dataclass_fields__ if name != "rate"},
    )
