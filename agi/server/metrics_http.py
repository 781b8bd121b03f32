"""The metrics and health HTTP listener (``server.metrics``): Twisted's web
server on the reactor that serves the calls, with four pages:

- ``/metrics``: the Prometheus text format (OpenMetrics when asked);
- ``/health``: 200 and a JSON body while the process serves;
- ``/ready``: 200 when a call would be served well, else 503, with the
  checks as JSON (it reads the database in a thread, never on the reactor;
  requests that arrive while a check runs share its answer);
- ``/``: the list of these pages.

No request is logged. docs/operations.md describes the pages.
"""
from __future__ import annotations

import io
import json
import logging
from typing import Any, Callable

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from twisted.application.internet import TCPServer
from twisted.internet import defer, threads
from twisted.python.failure import Failure
from twisted.web import http, pages
from twisted.web.resource import IResource, Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

from agi.config import MetricsConfig
from agi.server.health import ServerState, health, readiness
from agi.wording import endpoint

log = logging.getLogger("agiflow.server")

Runner = Callable[..., "defer.Deferred[Any]"]
#: Seconds an idle HTTP connection is kept open (Twisted's default is 12 hours).
IDLE_TIMEOUT = 30
#: The largest request body read (the pages take none); a longer one cuts the connection.
MAX_BODY = 64 * 1024
#: Seconds a request has from its first byte to its last (line, headers and
#: body); a slower one cuts the connection, however often bytes arrive.
REQUEST_TIMEOUT = 10
#: Connections open at once. Every connection is a file descriptor, and the
#: calls need theirs: one more closes the oldest that is not being answered
#: (idle, or its request still arriving), else it is closed itself.
MAX_CONNECTIONS = 32


class ListenError(Exception):
    """The metrics listener cannot bind its address."""


def _json(request: Request, code: int, body: dict[str, Any]) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"content-type", b"application/json")
    request.setHeader(b"cache-control", b"no-store")
    return json.dumps(body, indent=1, sort_keys=True).encode() + b"\n"


class Page(Resource):
    """A page answered to GET and HEAD only: any other method gets 405, and
    a path under it (``/health/ready``, ``//metrics``) 404, as any path
    that names no page."""

    isLeaf = True

    def render(self, request: Request) -> Any:
        if request.postpath:
            return _not_found().render(request)
        if request.method not in (b"GET", b"HEAD"):
            request.setResponseCode(405)
            request.setHeader(b"allow", b"GET, HEAD")
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            return b"405 method not allowed: use GET\n"
        body = super().render(request)
        if request.method == b"HEAD" and isinstance(body, bytes):  # GET's headers, no body, no log line
            request.setHeader(b"content-length", b"%d" % len(body))
            return b""
        return body


class MetricsPage(Page):
    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__()
        self.registry = registry

    def render_GET(self, request: Request) -> bytes:
        accept = _preferred((request.getHeader(b"accept") or b"").decode("latin-1"))
        try:
            encoder, content_type = choose_encoder(accept)
        except Exception:  # prometheus_client raises on some headers (version=abc): the text format
            encoder, content_type = choose_encoder("")
        request.setHeader(b"content-type", content_type.encode())
        return encoder(self.registry)


def _preferred(accept: str) -> str:
    """The entry of an Accept header with the highest quality (the first of
    them), when it is OpenMetrics, else '' (the text format).
    prometheus_client reads no quality: it gave OpenMetrics to any header
    naming it, ``q=0`` (not acceptable) or behind ``text/plain`` alike."""
    best, best_q = "", 0.0
    for entry in accept.split(","):
        q = 1.0
        for parameter in entry.split(";")[1:]:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if 0 < q <= 1 and q > best_q:
            best, best_q = entry, q
    return best if best.split(";")[0].strip().lower() == "application/openmetrics-text" else ""


class HealthPage(Page):
    def __init__(self, state: ServerState) -> None:
        super().__init__()
        self.state = state

    def render_GET(self, request: Request) -> bytes:
        return _json(request, 200, health(self.state))


class ReadyPage(Page):
    """Runs ``readiness`` with ``run`` (a thread by default); the requests
    that come while it runs get the same answer."""

    def __init__(self, state: ServerState, run: Runner) -> None:
        super().__init__()
        self.state = state
        self.run = run
        self._waiting: list[Request] | None = None

    def render_GET(self, request: Request) -> Any:
        if self._waiting is not None:
            self._waiting.append(request)
            return NOT_DONE_YET
        self._waiting = [request]
        self.run(readiness, self.state).addBoth(self._answer)
        return NOT_DONE_YET

    def _answer(self, result: Any) -> None:
        waiting, self._waiting = self._waiting or [], None
        if isinstance(result, Failure):
            log.error("readiness check failed: %s", result.getErrorMessage())
            result = {"ready": False, "checks": {"error": {"ok": False, "detail": result.getErrorMessage()}}}
        for request in waiting:
            if request.finished or getattr(request, "_disconnected", False):
                continue
            request.write(_json(request, 200 if result["ready"] else 503, result))
            request.finish()


class IndexPage(Page):
    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return b"agiflow: /metrics (Prometheus), /health, /ready\n"


class BodylessRequest(Request):
    """A request whose body no page reads: kept in memory up to MAX_BODY
    bytes, and the connection cut past that. Twisted's own Request spools
    a body of 100 KB or more to a temporary file without limit, so a
    client could fill the disk through any page (a 300 MB POST did)."""

    def gotLength(self, length: int | None) -> None:
        self.content = self._body = io.BytesIO()
        if length is not None and length > MAX_BODY:
            self._cut()

    def handleContentChunk(self, data: bytes) -> None:
        if self._body.tell() + len(data) > MAX_BODY:
            self._cut()
            return
        self._body.write(data)

    def _cut(self) -> None:
        transport: Any = self.channel.transport
        transport.abortConnection()

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        """A target in absolute form (``http://host:port/health``) is the
        page its path names, as HTTP/1.1 has it (RFC 9112, 3.2.2)."""
        scheme, sep, rest = path.partition(b"://")
        if sep and scheme.lower() in (b"http", b"https"):
            authority_end = min((i for i in (rest.find(b"/"), rest.find(b"?")) if i >= 0), default=len(rest))
            target = rest[authority_end:]
            path = target if target.startswith(b"/") else b"/" + target
        super().requestReceived(command, path, version)

    def _handleStar(self) -> None:
        """``*`` names no page: 404, whatever the method (Twisted answered
        ``OPTIONS *`` with 200 and any other method with 405)."""
        self.render(_not_found())


class BoundedChannel(http.HTTPChannel):
    """An HTTP connection whose each request must arrive whole within
    REQUEST_TIMEOUT seconds of its first byte. Twisted's idle timeout starts
    again at every byte received, so a client sending a header a byte at a
    time kept its connection, and its file descriptor, for ever. Requests
    sent before the previous one was answered are not served (below)."""

    site: Any
    _late: Any = None
    #: Its request came whole and its answer is not yet written.
    answering = False

    def dataReceived(self, data: bytes) -> None:
        if self._late is None and data:
            self._late = self.callLater(REQUEST_TIMEOUT, self._too_slow)
        super().dataReceived(data)

    def allContentReceived(self) -> None:
        self._stop_clock()
        self.answering = True
        if self._buffer or any(self._dataBuffer):  # the bytes after this request
            # More requests were sent before this one was answered: Twisted
            # would answer them all in this turn of the event loop (a read of
            # pipelined scrapes held the calls for seconds, their answers
            # piling up in memory). This one is answered, then the
            # connection closed; a client sends the others again.
            self.persistent = False
            self.requests[-1].responseHeaders.setRawHeaders(b"connection", [b"close"])
        super().allContentReceived()

    def requestDone(self, request: Any) -> None:
        self.answering = False
        super().requestDone(request)

    def connectionLost(self, reason: Failure) -> None:  # type: ignore[override]
        self._stop_clock()
        self.site.open.pop(self, None)
        super().connectionLost(reason)

    def make_way(self) -> None:
        """Closed for a newer connection: at once, whatever is still unsent."""
        self._stop_clock()
        self.transport.abortConnection()  # type: ignore[union-attr]

    def _stop_clock(self) -> None:
        if self._late is not None and self._late.active():
            self._late.cancel()
        self._late = None

    def _too_slow(self) -> None:
        self._late = None
        transport: Any = self.transport
        transport.abortConnection()


class QuietSite(Site):
    """A Site that logs no request and no start or stop, keeps no request
    body beyond MAX_BODY bytes, gives a request REQUEST_TIMEOUT seconds and
    keeps at most MAX_CONNECTIONS connections open. When they are all open,
    a new one takes the place of the oldest not being answered: 32 clients
    that sent nothing, or half a request, once kept every probe out."""

    noisy = False
    protocol = BoundedChannel  # type: ignore[assignment]  # plain HTTP/1.1: no TLS, so no HTTP/2 to negotiate
    requestFactory = BodylessRequest

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.open: dict[BoundedChannel, None] = {}  # oldest first

    @property
    def connections(self) -> int:
        return len(self.open)

    def buildProtocol(self, addr: Any) -> Any:
        if len(self.open) >= MAX_CONNECTIONS:
            oldest = next((channel for channel in self.open if not channel.answering), None)
            if oldest is None:
                return None  # every place is being answered: this one is closed at once
            del self.open[oldest]
            oldest.make_way()
        channel = super().buildProtocol(addr)
        self.open[channel] = None
        return channel

    def log(self, request: http.Request) -> None:
        pass


def _not_found() -> IResource:
    return pages.notFound("No such page", "agiflow serves /metrics, /health and /ready.")


class Root(Resource):
    """The pages by name; any other path is 404."""

    def getChild(self, path: bytes, request: Request) -> IResource:
        return _not_found()


def metrics_site(registry: CollectorRegistry, state: ServerState, run: Runner) -> QuietSite:
    root = Root()
    root.putChild(b"", IndexPage())
    root.putChild(b"metrics", MetricsPage(registry))
    root.putChild(b"health", HealthPage(state))
    root.putChild(b"ready", ReadyPage(state, run))
    return QuietSite(root, timeout=IDLE_TIMEOUT)


def in_thread(reactor: Any) -> Runner:
    """Run a function in the reactor's thread pool."""
    def run(fn: Callable[..., Any], *args: Any) -> "defer.Deferred[Any]":
        return threads.deferToThreadPool(reactor, reactor.getThreadPool(), fn, *args)
    return run


class MetricsService(TCPServer):
    """The metrics listener, a child of the server's service tree."""

    def __init__(self, config: MetricsConfig, site: Site, reactor: Any) -> None:
        super().__init__(config.port, site, interface=config.host, reactor=reactor)
        self.setName("metrics")
        self.config = config

    def privilegedStartService(self) -> None:
        try:
            super().privilegedStartService()
        except Exception as exc:
            raise ListenError(f"cannot listen for metrics on {endpoint(self.config.host, self.config.port)}: {exc}") from exc

    @property
    def address(self) -> Any:
        """The address it listens on (the port the system picked for port 0)."""
        port: Any = self._port
        return port.getHost()
