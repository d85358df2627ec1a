"""A real HTTP server on loopback standing in for Sentry's ingest endpoint: it accepts
the envelopes sentry-sdk posts and keeps each one's decoded text."""

import gzip
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.standins.smtp import free_port


class SentryStandIn:
    def __init__(self) -> None:
        self.port = free_port()
        self.envelopes: list[str] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def dsn(self) -> str:
        return f"http://public-key@127.0.0.1:{self.port}/1"

    def start(self) -> "SentryStandIn":
        envelopes = self.envelopes

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                envelopes.append(body.decode("utf-8", "replace"))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
