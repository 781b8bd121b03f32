"""A webhook endpoint for the end-to-end suite: an HTTP server on a free
port of 127.0.0.1 that keeps every request it gets and answers ``200``
after a delay (``/slow/<seconds>``) or at once."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Endpoint:
    """The server, the requests it got (path and JSON body), in order."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, Any]] = []
        lock = threading.Lock()
        requests = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    requests.append((self.path, json.loads(body or b"null")))
                if self.path.startswith("/slow/"):
                    time.sleep(float(self.path.rsplit("/", 1)[-1]))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
