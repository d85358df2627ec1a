"""The open-loop generator of make bench (bench/open_loop.py), against a real HTTP
server on loopback that answers one request at a time: requests go out at the rate
asked whatever the server does, and each is timed from when it was due."""

import http.server
import threading
import time
from collections.abc import Iterator

import pytest

from bench.load import OpenLoopRun, run_open_loop

REQUEST = "GET /{path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


class SlowHandler(http.server.BaseHTTPRequestHandler):
    # How long the server takes per answer; with one thread, the most it can answer
    # is 1 / seconds per second.
    seconds = 0.0

    def do_GET(self) -> None:
        time.sleep(self.seconds)
        status, body = (200, b"all good") if self.path == "/good" else (500, b"broken")
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, type[SlowHandler]]]:
    handler = type("Handler", (SlowHandler,), {})
    httpd = http.server.HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", handler
    httpd.shutdown()
    httpd.server_close()


def at_rate(url: str, path: str, rate: float, seconds: float) -> OpenLoopRun:
    return run_open_loop(
        url, [REQUEST.format(path=path)], expect="all good", rate=rate, seconds=seconds
    )


def test_a_server_within_its_capacity_answers_every_request(server):
    # How soon is the machine's to say: only lower bounds on latency hold however busy
    # it is, so this test counts and the next one charges the queue.
    url, handler = server
    handler.seconds = 0.005

    run = at_rate(url, "good", rate=40, seconds=1)

    assert (run.requests, run.good, run.errors) == (40, 40, {})
    assert run.p50_ms >= 5


def test_a_server_past_its_capacity_is_charged_for_the_queue(server):
    # 50 ms an answer is 20 a second; 40 a second for a second leaves the last ones
    # waiting about a second. A closed loop would have waited with them and seen 50 ms.
    url, handler = server
    handler.seconds = 0.05

    run = at_rate(url, "good", rate=40, seconds=1)

    assert run.requests == run.good == 40
    assert run.p99_ms > 800
    assert run.p50_ms > 300


def test_wrong_answers_are_counted_by_kind(server):
    url, _ = server

    run = at_rate(url, "broken", rate=20, seconds=0.5)

    assert run.good == 0
    assert run.errors == {"HTTP/1.0 500 Internal Server Error": 10}


def test_one_at_a_time_is_the_latency_of_an_idle_server(server):
    url, handler = server
    handler.seconds = 0.02

    run = run_open_loop(url, [REQUEST.format(path="good")], expect="all good", sequential=10)

    assert run.requests == run.good == 10
    assert run.p50_ms >= 20


def test_a_server_that_is_not_there_is_an_error_not_a_latency():
    run = at_rate("http://127.0.0.1:9/", "good", rate=10, seconds=0.5)

    assert run.good == 0
    assert run.errors == {"ConnectionRefusedError": 5}
