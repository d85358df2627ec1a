"""A local stand-in for Postmark's sending API (`POST /email`), answering as Postmark
does: the accepted email's MessageID, or Postmark's error body with its HTTP status.
anymail's Postmark backend is pointed at it with ANYMAIL's POSTMARK_API_URL."""

import json
import threading
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class PostmarkStandIn:
    def __init__(self) -> None:
        # Every email posted to it, as the JSON Postmark's API receives.
        self.received: list[dict[str, Any]] = []
        # Answers to give, in order, before the default (accepted, a fresh MessageID):
        # (HTTP status, JSON body).
        self.answers: deque[tuple[int, dict[str, Any]]] = deque()
        # MessageIDs to give the next accepted emails, in order.
        self.next_ids: deque[str] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> "PostmarkStandIn":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, email: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.received.append(email)
            if self.answers:
                return self.answers.popleft()
            message_id = self.next_ids.popleft() if self.next_ids else str(uuid.uuid4())
        return 200, {
            "To": email.get("To", ""),
            "SubmittedAt": "2026-12-02T13:30:00.0000000-05:00",
            "MessageID": message_id,
            "ErrorCode": 0,
            "Message": "OK",
        }

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                email = json.loads(self.rfile.read(length))
                if self.path != "/email" or not self.headers.get("X-Postmark-Server-Token"):
                    status, answer = 401, {"ErrorCode": 10, "Message": "No token or no such API"}
                else:
                    status, answer = stand_in.answer(email)
                encoded = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(encoded)))
                self.end_headers()
                self.wfile.write(encoded)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler
