"""A local HTTP server (127.0.0.1) for download tests: each test module gives the routes.

A handler subclass defines ``route_<path>(n)`` methods, where ``<path>`` is the URL path with
``/`` and ``.`` as ``_`` and ``n`` counts the requests for that path so far (1 for the first).
The server records every request as ``(path, Range header, full path with query)``.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse


class RouteHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
        server = self.server
        path = urlparse(self.path).path
        with server.lock:
            server.requests.append((path, self.headers.get("Range"), self.path))
            n = sum(p == path for p, _, _ in server.requests)
        route = "route_" + path.strip("/").replace(".", "_").replace("/", "_")
        getattr(self, route, self.not_found)(n)

    def not_found(self, n: int) -> None:
        self.send_error(404, "Not Found")

    def range_start(self) -> int:
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        return int(match.group(1)) if match else 0

    def send_body(self, data: bytes, *, ranges: bool = True, cut: int | None = None,
                  length: int | bool = True,
                  content_type: str = "application/octet-stream") -> None:
        """Send ``data`` (from the Range start if ``ranges``); ``cut``: die after that many
        bytes; ``length``: True for the true Content-Length, False for none (the body then
        ends when the connection closes), or a number to announce instead."""
        start = self.range_start() if ranges else 0
        body = data[start:]
        if start:
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", content_type)
        if length is True:
            self.send_header("Content-Length", str(len(body)))
        elif length is not False:
            self.send_header("Content-Length", str(length))
        if length is not True:  # a lying or missing length: this connection cannot be reused
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if cut is not None:
            body = body[:cut]
        try:
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:  # the client went away
            return
        if cut is not None or length is not True:
            self.hang_up()

    def hang_up(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def send_slowly(self, data: bytes, *, pieces: int, pause_s: float) -> None:
        """The whole body (honouring Range), in ``pieces`` writes ``pause_s`` apart."""
        start = self.range_start()
        body = data[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        step = -(-len(body) // pieces)
        try:
            for i in range(0, len(body), step):
                self.wfile.write(body[i:i + step])
                self.wfile.flush()
                if self.server.release.wait(pause_s):
                    break
        except OSError:
            return


@contextlib.contextmanager
def local_server(handler: type[RouteHandler]) -> Iterator[ThreadingHTTPServer]:
    """Serve ``handler`` on 127.0.0.1 at a free port; ``server.url`` is its base address."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    httpd.requests = []
    httpd.lock = threading.Lock()
    httpd.release = threading.Event()  # set at the end: stalled handlers give up
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield httpd
    finally:
        httpd.release.set()
        httpd.shutdown()
        httpd.server_close()


def record(url: str, **changes):
    """A catalogue record for a file on the test server (``changes``: sha256, size…)."""
    from sonicdreams.generators.catalog import StyleRecord

    base = StyleRecord(name="test style", url=url, mirrors=(), host="http", format="tf-sg2",
                       arch="sg2", resolution=(256, 256), conditional=False, licence="unknown",
                       author="tests", source_url="https://example.org")
    return replace(base, **changes)
