"""A local stand-in for the user directory (jsonplaceholder's `/users`), with the real
service's semantics: `GET /users` answers all ten users, `GET /users?email=X` those
whose email equals X exactly, case included. Faults are switched on with `mode`."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

USERS = json.loads((Path(__file__).parent / "directory_users.json").read_text())

# What the stand-in can be told to do instead of answering properly.
NORMAL = "normal"
SERVER_ERROR = "server-error"  # 500
HANG = "hang"  # answers nothing until stopped
INVALID_JSON = "invalid-json"
NOT_A_LIST = "not-a-list"  # valid JSON of the wrong shape
OVERSIZED = "oversized"  # 10 MB, with no Content-Length
SLOW_DRIP = "slow-drip"  # a valid answer, one byte at a time


class DirectoryStandIn:
    def __init__(self) -> None:
        self.mode = NORMAL
        # Every path and query asked, in order.
        self.requests: list[str] = []
        # Cleared, every request is held until it is set again; `held` counts them.
        self.gate = threading.Event()
        self.gate.set()
        self.held = 0
        # Seconds every request waits before it is answered: a slow directory.
        self.delay = 0.0
        # When set, every answer is these bytes, as they are (any shape of JSON, or none).
        self.raw_answer: bytes | None = None
        self._held_lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/users"

    def start(self) -> "DirectoryStandIn":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.gate.set()
        self._server.shutdown()
        self._server.server_close()

    def _wait_at_gate(self) -> None:
        if self.gate.is_set():
            return
        with self._held_lock:
            self.held += 1
        while not (self.gate.wait(0.05) or self._stopping.is_set()):
            pass
        with self._held_lock:
            self.held -= 1

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stand_in.requests.append(self.path)
                stand_in._wait_at_gate()
                if stand_in.delay:
                    stand_in._stopping.wait(stand_in.delay)
                url = urlsplit(self.path)
                if url.path != "/users":
                    self._answer(404, b"{}")
                    return
                emails = parse_qs(url.query).get("email")
                users = [u for u in USERS if u["email"] in emails] if emails else USERS
                body = json.dumps(users).encode()
                mode = stand_in.mode
                if stand_in.raw_answer is not None:
                    self._answer(200, stand_in.raw_answer)
                elif mode == SERVER_ERROR:
                    self._answer(500, b'{"error": "boom"}')
                elif mode == HANG:
                    stand_in._stopping.wait()
                elif mode == INVALID_JSON:
                    self._answer(200, body[: len(body) // 2])
                elif mode == NOT_A_LIST:
                    self._answer(200, b'{"users": "none"}')
                elif mode == OVERSIZED:
                    self._send_oversized()
                elif mode == SLOW_DRIP:
                    self._drip(body)
                else:
                    self._answer(200, body)

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _send_oversized(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                chunk = b'{"id": 1, "email": "x@example.org"},' * 1000
                try:
                    self.wfile.write(b"[")
                    for _ in range(10 * 1024 * 1024 // len(chunk)):
                        self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up, as it should

            def _drip(self, body: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    for byte in body:
                        if stand_in._stopping.wait(0.05):
                            return
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: object) -> None:
                pass  # keep test output clean

        return Handler
