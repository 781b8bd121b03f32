"""/health, /ready and /metrics: what they answer about a server (flows,
calls, the CDR writer, number lists) and how the pages serve it, without a
socket; and the metrics listener as one more child of the service tree."""
from __future__ import annotations

import json
import logging
import signal
import tempfile
import textwrap
from pathlib import Path
from typing import Any, Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import defer
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.web.test.requesthelper import DummyRequest

from agi.config import Config, MetricsConfig, ServerConfig
from agi.loading.library import FlowLibrary
from agi.metered import MeteredCdr
from agi.server.health import ServerState, health, readiness
from agi.server.metrics_http import metrics_site
from agi.server.prometheus import PrometheusMetrics, server_registry
from agi.server.service import make_service, warn_missing_lists
from agi.services import ListUnavailable
from agi.storage.stores import missing_lists
from agi.db.location import PostgresUrl
from agi.storage.cdr_writer import CdrStore

VIP_FLOW = """\
    version: 1
    name: support
    start: vip
    steps:
      vip:
        lookup: {list: vip}
        on: {found: hello, missing: hello, error: hello}
      hello:
        play: hello-world
"""


class Factory:
    accepting = True
    rejected = 3


@pytest.fixture
def sighup_kept() -> Iterator[None]:
    previous = signal.getsignal(signal.SIGHUP)
    yield
    signal.signal(signal.SIGHUP, previous)


@pytest.fixture
def state(tmp_path: Path, lists_db: Path) -> Iterator[ServerState]:
    folder = tmp_path / "flows"
    folder.mkdir()
    (folder / "support.yaml").write_text(textwrap.dedent(VIP_FLOW), encoding="utf-8")
    library = FlowLibrary(folder, clock=lambda: 1.8e9)
    assert library.reload() == []
    store = CdrStore(lists_db, flush_interval=0)
    store.open()
    store.start()
    try:
        yield ServerState(library, store, Factory(), {"support": 2}, clock=lambda: 1.8e9 + 90, started_at=1.8e9)
    finally:
        store.close()


def test_health_says_what_the_server_is_doing(state: ServerState) -> None:
    found = health(state)
    assert found["status"] == "ok" and found["uptime_seconds"] == 90
    assert found["calls_active"] == {"support": 2} and found["cdr_backlog"] == 0
    assert found["flows"] == state.library.current.versions() and found["flows_commit"] is None
    assert found["reloads"] == {"total": 1, "errors": 0, "last_at": "2027-01-15T08:00:00.000Z",
                                "last_successful": True, "loaded_at": "2027-01-15T08:00:00.000Z"}
    assert found["accepting_calls"] is True and found["started_at"] == "2027-01-15T08:00:00.000Z"


def test_ready_when_flows_are_loaded_calls_taken_the_database_writable_and_lists_present(
        state: ServerState) -> None:
    found = readiness(state)
    assert found["ready"] is True, found
    assert set(found["checks"]) == {"flows", "accepting_calls", "database", "lists"}
    assert found["checks"]["lists"]["detail"] == "1 number list present"
    count = len(state.library.current)
    assert found["checks"]["flows"]["detail"] == f"{count} flow{'' if count == 1 else 's'} loaded"


@pytest.mark.sqlite_only
def test_not_ready_names_each_missing_list_and_the_flows_that_use_it(state: ServerState, tmp_path: Path) -> None:
    state.store.path = str(tmp_path / "empty.db")
    CdrStore(state.store.path).open()
    found = readiness(state)
    assert found["ready"] is False
    assert found["checks"]["lists"] == {"ok": False, "detail": "missing number lists: vip (used by support)"}


@pytest.mark.sqlite_only
def test_lists_that_cannot_be_read_are_not_called_missing(state: ServerState, tmp_path: Path) -> None:
    """A database that could not be read made every list 'missing': /ready
    and the log sent the operator to create lists that exist."""
    state.store.path = str(tmp_path / "garbage.db")
    Path(state.store.path).write_bytes(b"not a database at all" * 100)
    lists = readiness(state)["checks"]["lists"]
    assert lists["ok"] is False and "missing" not in lists["detail"], lists
    assert lists["detail"].startswith("cannot read the number lists") and "vip (used by support)" in lists["detail"]


@pytest.mark.sqlite_only
def test_a_postgresql_database_that_cannot_be_reached_is_not_missing_its_lists(
        state: ServerState, caplog: pytest.LogCaptureFixture) -> None:
    unreachable = PostgresUrl("postgresql://postgres@127.0.0.1:1/agiflow?connect_timeout=2")
    with caplog.at_level(logging.WARNING):
        warn_missing_lists(state.library.current, unreachable)
    assert "does not exist" not in caplog.text and "cannot read the number lists" in caplog.text
    with pytest.raises(ListUnavailable):
        missing_lists(unreachable, ["vip"])


def test_not_ready_while_draining_or_when_the_cdr_writer_is_stuck_or_stopped(state: ServerState) -> None:
    state.calls.accepting = False  # type: ignore[misc]
    assert readiness(state)["checks"]["accepting_calls"] == {"ok": False, "detail": "shutting down: no new calls"}
    state.store._trouble = (0.0, 0.0, "database or disk is full")
    database = readiness(state)["checks"]["database"]
    assert database["ok"] is False and "database or disk is full" in database["detail"]
    state.store._trouble = None
    state.store.close()
    assert readiness(state)["checks"]["database"] == {"ok": False, "detail": "the CDR writer is not running"}


@pytest.mark.sqlite_only
def test_not_ready_when_the_database_file_is_gone(state: ServerState) -> None:
    Path(state.store.path).unlink()
    assert readiness(state)["checks"]["database"]["ok"] is False


# -- the pages ----------------------------------------------------------------------

def _get(site: Any, path: bytes, accept: bytes | None = None, method: bytes = b"GET") -> DummyRequest:
    request = DummyRequest([path])
    request.method = method
    if accept:
        request.requestHeaders.setRawHeaders(b"accept", [accept])
    resource = site.resource.getChildWithDefault(path, request)
    request.postpath = []
    body = resource.render(request)
    if isinstance(body, bytes):
        request.write(body)
        request.finish()
    return request


def _site(state: ServerState, run: Any = None) -> Any:
    metrics = PrometheusMetrics()
    registry = server_registry(metrics, state)
    metrics.call_started("support")
    return metrics_site(registry, state, run or (lambda fn, *args: defer.succeed(fn(*args))))


def test_the_metrics_page_is_the_prometheus_text_format(state: ServerState) -> None:
    request = _get(_site(state), b"metrics")
    assert (request.responseHeaders.getRawHeaders(b"content-type") or [b""])[0].startswith(b"text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(b"".join(request.written).decode())}
    assert families["agiflow_calls_started"].samples[0].value == 1
    assert families["agiflow_connections_refused"].samples[0].value == 3
    assert families["agiflow_flows_loaded"].samples[0].value == 1
    [info] = families["agiflow_flow_info"].samples
    assert info.labels == {"flow": "support", "version": state.library.current.versions()["support"], "commit": ""}
    assert "process_cpu_seconds" in families and "agiflow_build_info" in families, sorted(families)


def test_the_metrics_page_speaks_openmetrics_when_asked(state: ServerState) -> None:
    request = _get(_site(state), b"metrics", b"application/openmetrics-text; version=1.0.0")
    assert (request.responseHeaders.getRawHeaders(b"content-type") or [b""])[0].startswith(
        b"application/openmetrics-text")
    assert b"".join(request.written).endswith(b"# EOF\n")


PROMETHEUS_ACCEPT = (b"application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
                     b"application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2")


@pytest.mark.parametrize(("accept", "openmetrics"), [
    (b"application/openmetrics-text;q=0, text/plain", False),
    (b"text/plain;q=1, application/openmetrics-text;q=0.1", False),
    (b"text/plain, application/openmetrics-text;q=0.5", False),
    (b"application/openmetrics-text;q=0.5, text/plain;q=0.4", True),
    (b"text/plain;q=0.4, application/openmetrics-text", True),
    (PROMETHEUS_ACCEPT, True)])
def test_the_metrics_page_speaks_openmetrics_only_when_preferred(
        state: ServerState, accept: bytes, openmetrics: bool) -> None:
    """prometheus_client gave OpenMetrics to any Accept header naming it,
    even one that said q=0 (not acceptable) or put the text format first."""
    request = _get(_site(state), b"metrics", accept)
    kind = (request.responseHeaders.getRawHeaders(b"content-type") or [b""])[0]
    assert kind.startswith(b"application/openmetrics-text" if openmetrics else b"text/plain; version=0.0.4"), kind
    assert b"".join(request.written).endswith(b"# EOF\n") == openmetrics


@pytest.mark.parametrize("accept", [b"application/openmetrics-text;version=abc",
                                    b"application/openmetrics-text; version=1.x", b"\xff\xfe;version=;q=z"])
def test_an_accept_header_that_cannot_be_read_gets_the_text_format(state: ServerState, accept: bytes) -> None:
    """prometheus_client raised on such a header: the scrape got a 500 and
    the log a CRITICAL traceback, one per request, from anyone on the port."""
    request = _get(_site(state), b"metrics", accept)
    assert request.responseCode in (None, 200)
    assert (request.responseHeaders.getRawHeaders(b"content-type") or [b""])[0].startswith(b"text/plain; version=0.0.4")
    assert b"agiflow_calls_started_total" in b"".join(request.written) or b"# TYPE agiflow_calls_started_total" in \
        b"".join(request.written)


@pytest.mark.parametrize("method", [b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS"])
@pytest.mark.parametrize("path", [b"", b"metrics", b"health", b"ready"])
def test_every_method_but_get_and_head_is_refused_with_405(state: ServerState, path: bytes, method: bytes) -> None:
    request = _get(_site(state), path, method=method)
    assert request.responseCode == 405
    assert request.responseHeaders.getRawHeaders(b"allow") == [b"GET, HEAD"]


def test_an_idle_connection_is_closed_after_30_seconds(state: ServerState) -> None:
    assert _site(state).timeOut == 30


def _connected(state: ServerState, site: Any = None) -> tuple[Any, StringTransport]:
    channel = (site or _site(state)).buildProtocol(IPv4Address("TCP", "127.0.0.1", 50000))
    transport = StringTransport()
    channel.makeConnection(transport)
    return channel, transport


def test_a_request_dripped_a_byte_at_a_time_is_cut_10_seconds_after_its_first_byte(state: ServerState) -> None:
    clock = MemoryReactorClock()
    site = _site(state)
    site.reactor = clock
    channel, transport = _connected(state, site)
    channel.dataReceived(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    for _ in range(9):  # never idle for 30 s: Twisted's own timeout never fires
        clock.advance(1)
        channel.dataReceived(b"x")
    assert not transport.disconnecting
    clock.advance(1)
    assert transport.disconnecting


def test_whole_requests_on_one_connection_each_get_their_own_10_seconds(state: ServerState) -> None:
    clock = MemoryReactorClock()
    site = _site(state)
    site.reactor = clock
    channel, transport = _connected(state, site)
    for _ in range(3):
        channel.dataReceived(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        clock.advance(9)
        channel.dataReceived(b"\r\n")
        clock.advance(9)
    assert transport.value().count(b"HTTP/1.1 200 ") == 3 and not transport.disconnecting


def test_requests_sent_before_the_first_is_answered_get_one_answer_and_the_close(state: ServerState) -> None:
    channel, transport = _connected(state)
    channel.dataReceived(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 1000)
    answer = transport.value()
    assert answer.count(b"HTTP/1.1 200 ") == 1 and b"\r\nconnection: close\r\n" in answer.lower()
    assert transport.disconnecting

    channel, transport = _connected(state)  # after a body too
    channel.dataReceived(b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhiGET /health HTTP/1.1\r\n\r\n")
    assert transport.value().count(b"HTTP/1.1 200 ") == 1 and transport.disconnecting


def test_connection_33_takes_the_place_of_the_oldest_not_being_answered(state: ServerState) -> None:
    site = _site(state)
    address = IPv4Address("TCP", "127.0.0.1", 50000)
    transports = []
    for _ in range(32):
        channel = site.buildProtocol(address)
        transports.append(StringTransport())
        channel.makeConnection(transports[-1])
    next(iter(site.open)).dataReceived(b"GET /health HTTP/1.1\r\n")  # half a request: not being answered
    assert site.buildProtocol(address) is not None
    assert transports[0].disconnecting and not any(t.disconnecting for t in transports[1:])
    assert site.connections == 32


def test_connection_33_is_closed_at_once_while_all_32_are_being_answered(state: ServerState) -> None:
    site = _site(state, run=lambda fn, *args: defer.Deferred())  # /ready's check never ends
    address = IPv4Address("TCP", "127.0.0.1", 50000)
    open_ = []
    for _ in range(32):
        channel = site.buildProtocol(address)
        channel.makeConnection(StringTransport())
        channel.dataReceived(b"GET /ready HTTP/1.1\r\n\r\n")
        open_.append(channel)
    assert site.buildProtocol(address) is None  # Twisted closes the socket
    open_.pop().connectionLost(Failure(ConnectionDone()))
    assert site.buildProtocol(address) is not None


def test_a_request_body_is_never_spooled_to_disk_and_a_long_one_cuts_the_connection(
        state: ServerState, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_file() -> Any:  # Twisted's Request spools a body of 100 KB or more to one, without limit
        raise AssertionError("a request body was spooled to a temporary file")

    monkeypatch.setattr(tempfile, "TemporaryFile", no_file)
    channel, transport = _connected(state)
    channel.dataReceived(b"POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n" % 8192 + b"x" * 8192 + b"\r\n"
    for _ in range(8):  # 64 KB: still read, in memory
        channel.dataReceived(chunk)
    assert not transport.disconnecting
    channel.dataReceived(chunk)
    assert transport.disconnecting

    channel, transport = _connected(state)
    channel.dataReceived(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000000\r\n\r\n")
    assert transport.disconnecting


def test_a_short_body_does_not_stop_the_page_from_answering(state: ServerState) -> None:
    channel, transport = _connected(state)
    channel.dataReceived(b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
    assert transport.value().startswith(b"HTTP/1.1 200 ") and not transport.disconnecting


def test_an_unknown_page_is_404(state: ServerState) -> None:
    site = _site(state)
    request = DummyRequest([b"nope"])
    page = site.resource.getChildWithDefault(b"nope", request)
    page.render(request)
    assert request.responseCode == 404


@pytest.mark.parametrize("path", [b"/health/ready", b"/health/", b"//metrics", b"/ready/../health", b"/metrics/x"])
def test_a_path_under_a_page_is_404(state: ServerState, path: bytes) -> None:
    channel, transport = _connected(state)
    channel.dataReceived(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path)
    assert transport.value().startswith(b"HTTP/1.1 404 ")


@pytest.mark.parametrize("method", [b"OPTIONS", b"GET", b"HEAD", b"DELETE"])
def test_the_path_star_names_no_page_and_is_404_whatever_the_method(state: ServerState, method: bytes) -> None:
    """``OPTIONS *`` got 200 and ``GET *`` 405 with ``Allow: OPTIONS``
    (Twisted's own answer), though only GET and HEAD are served."""
    channel, transport = _connected(state)
    channel.dataReceived(b"%s * HTTP/1.1\r\nHost: x\r\n\r\n" % method)
    assert transport.value().startswith(b"HTTP/1.1 404 "), transport.value()


@pytest.mark.parametrize("path", [b"/", b"/metrics", b"/health", b"/ready", b"/metrics?name[]=x&%ff"])
def test_each_page_answers_at_its_own_path_with_or_without_a_query(state: ServerState, path: bytes) -> None:
    channel, transport = _connected(state)
    channel.dataReceived(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path)
    assert transport.value().startswith(b"HTTP/1.1 200 ")


@pytest.mark.parametrize(("target", "code"), [
    (b"http://127.0.0.1:9573/health", 200), (b"HTTP://x/ready?full=1", 200), (b"https://x", 200),
    (b"http://x/nope", 404), (b"http://x//metrics", 404), (b"http://x/health/ready", 404)])
def test_a_target_in_absolute_form_is_the_page_its_path_names(state: ServerState, target: bytes, code: int) -> None:
    """HTTP/1.1 servers must read ``GET http://host/health`` as ``GET
    /health`` (RFC 9112, 3.2.2); it was 404, any page, so a probe written
    so saw a server that serves as a dead one."""
    channel, transport = _connected(state)
    channel.dataReceived(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % target)
    assert transport.value().startswith(b"HTTP/1.1 %d " % code), transport.value()[:40]


def test_health_is_200_and_json(state: ServerState) -> None:
    request = _get(_site(state), b"health")
    assert request.responseCode == 200
    assert json.loads(b"".join(request.written))["calls_active"] == {"support": 2}


def test_ready_is_503_with_its_checks_when_not_ready(state: ServerState) -> None:
    state.calls.accepting = False  # type: ignore[misc]
    request = _get(_site(state), b"ready")
    assert (request.responseCode, request.finished) == (503, 1)
    assert json.loads(b"".join(request.written))["ready"] is False


def test_requests_that_come_while_a_readiness_check_runs_share_its_answer(state: ServerState) -> None:
    pending: list[tuple[defer.Deferred[Any], Any]] = []

    def later(fn: Any, *args: Any) -> defer.Deferred[Any]:
        d: defer.Deferred[Any] = defer.Deferred()
        pending.append((d, lambda: fn(*args)))
        return d

    site = _site(state, later)
    first, second = _get(site, b"ready"), _get(site, b"ready")
    assert len(pending) == 1 and not first.finished and not second.finished
    d, work = pending[0]
    d.callback(work())
    assert (first.responseCode, second.responseCode, first.finished, second.finished) == (200, 200, 1, 1)
    third = _get(site, b"ready")
    assert len(pending) == 2 and not third.finished


def test_a_failing_readiness_check_answers_503(state: ServerState) -> None:
    site = _site(state, lambda fn, *args: defer.fail(RuntimeError("boom")))
    request = _get(site, b"ready")
    assert request.responseCode == 503 and b"boom" in b"".join(request.written)


# -- the service tree ----------------------------------------------------------------

def test_the_metrics_listener_is_one_more_child_started_before_the_fastagi_one(
        tmp_path: Path, sighup_kept: None) -> None:
    flows = Path(__file__).resolve().parents[2] / "flows"
    config = Config(flows=flows, database=tmp_path / "cdr.db",
                    server=ServerConfig(port=4573, metrics=MetricsConfig(port=9573)))
    library = FlowLibrary(config.flows)
    assert library.reload() == []
    store = CdrStore(config.database, flush_interval=0)
    store.open()
    reactor = MemoryReactorClock()
    server = make_service(config, library, store, reactor)
    assert [child.name for child in server] == ["log-flush", "stop-signals", "flows", "cdr-writer",
                                                "database-threads", "webhooks", "metrics", "fastagi"]
    server.privilegedStartService()
    assert [(port, host) for port, _, _, host in reactor.tcpServers] == [(9573, "127.0.0.1"), (4573, "127.0.0.1")]
    assert isinstance(server.factory.cdr, MeteredCdr) and server.factory.metrics is not None
    server.startService()
    server.stopService()
    assert not any(child.running for child in server)


@pytest.mark.parametrize("path", [b"", b"metrics", b"health", b"ready"])
def test_head_answers_the_headers_of_get_with_no_body_and_logs_nothing(state: ServerState, path: bytes) -> None:
    from twisted.logger import globalLogPublisher
    from twisted.web.server import Request
    from twisted.web.test.requesthelper import DummyChannel

    logged: list[dict[str, Any]] = []
    globalLogPublisher.addObserver(logged.append)
    site = _site(state)
    try:
        channel = DummyChannel()
        request = Request(channel, False)
        request.site = site
        request.method, request.uri, request.clientproto = b"HEAD", b"/" + path, b"HTTP/1.1"
        request.prepath, request.postpath = [], [path]
        request.render(site.getResourceFor(request))
    finally:
        globalLogPublisher.removeObserver(logged.append)
    assert request.finished and request.code in (200, 503)
    assert channel.transport.written.getvalue().endswith(b"\r\n\r\n")  # headers, no body
    assert logged == []
