"""Running agiflow as a service: ``agiflow serve`` with ``server.metrics``,
scraped during real calls (values read with prometheus-client's own text
parser), /health and /ready as systemd, a load balancer or Kubernetes see
them, ``agiflow status``, flow versions across reloads and in Git, and JSON
log lines that carry Asterisk's uniqueid and linkedid."""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agi.lists.admin import ListAdmin
from agi.sim import CallerScript, EverySound, SimulatedAsterisk, make_environment
from support.server_process import (HOST, REPO, HeldCall, ServerProcess, call, finished_cdr, new_uniqueid, replace_file,
                                    simulated, support_caller, write_config)

METRICS_LINE = r"metrics and health on http://127\.0\.0\.1:(\d+)/"


class Observed:
    """A running server with its metrics listener."""

    def __init__(self, process: ServerProcess) -> None:
        self.process = process
        self.base = f"http://{HOST}:{process.wait_for_log(METRICS_LINE, timeout=10).group(1)}"

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.base + path, timeout=5) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def json(self, path: str) -> tuple[int, dict[str, Any]]:
        code, body = self.get(path)
        return code, json.loads(body)

    def samples(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample of /metrics: (name, sorted labels) -> value."""
        code, body = self.get("/metrics")
        assert code == 200
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(body.decode()) for s in family.samples}

    def value(self, name: str, **labels: str) -> float:
        return self.samples().get((name, tuple(sorted(labels.items()))), 0.0)


def serve(folder: Path, log_format: str = "text", **server: Any) -> ServerProcess:
    """One worker: its metrics count every call (with several, each worker
    counts its own on a listener of its own: test_workers.py)."""
    config = write_config(folder, metrics={"port": 0}, **{"workers": 1, **server})
    document = json.loads(config.read_text(encoding="utf-8"))
    config.write_text(json.dumps({**document, "log_format": log_format}), encoding="utf-8")
    process = ServerProcess(config)
    try:
        process.wait_listening()
    except BaseException:
        process.stop()
        raise
    return process


@pytest.fixture
def observed(tmp_path: Path) -> Iterator[Observed]:
    process = serve(tmp_path)
    try:
        yield Observed(process)
    finally:
        process.stop()


def create_lists(database: Path, *names: str) -> None:
    with ListAdmin(database) as admin:
        for name in names:
            admin.create(name)


# -- metrics during real calls --------------------------------------------------------

def test_metrics_count_real_calls_by_flow_status_step_and_command(observed: Observed) -> None:
    server = observed.process
    held = HeldCall(server.port, simulated("support", new_uniqueid(), support_caller()), "support")
    pending = held.hold_at(3)
    assert observed.value("agiflow_calls_active", flow="support") == 1
    assert observed.json("/health")[1]["calls_active"] == {"support": 1}
    held.finish(pending)
    held.close()
    for flow in ("support", "closed", "no-such-flow"):
        uniqueid = new_uniqueid()
        result = call(server, simulated(flow, uniqueid, support_caller() if flow == "support" else None))
        assert result.closed_by_server
        assert finished_cdr(server.database, uniqueid)

    samples = observed.samples()
    assert samples[("agiflow_calls_started_total", (("flow", "support"),))] == 2
    assert samples[("agiflow_calls_ended_total", (("flow", "support"), ("status", "completed")))] == 2
    assert samples[("agiflow_calls_ended_total", (("flow", "(unknown)"), ("status", "unknown_flow")))] == 1
    assert samples[("agiflow_calls_active", (("flow", "support"),))] == 0
    assert samples[("agiflow_call_duration_seconds_count", (("flow", "closed"),))] == 1
    assert samples[("agiflow_step_outcomes_total", (("flow", "support"), ("outcome", "2"), ("step", "menu")))] == 2
    assert samples[("agiflow_agi_command_duration_seconds_count", (("command", "ANSWER"),))] == 3
    assert samples[("agiflow_flows_loaded", ())] == 8


def test_no_phone_number_call_id_or_requested_name_becomes_a_label(observed: Observed) -> None:
    server = observed.process
    uniqueid = new_uniqueid()
    call(server, simulated("support", uniqueid, support_caller()))
    call(server, simulated("evil\u202e/x", new_uniqueid()))
    finished_cdr(server.database, uniqueid)
    labels = {value for (_, pairs) in observed.samples() for _, value in pairs}
    assert not any(bad in value for value in labels for bad in ("600111222", uniqueid, "912345678", "evil"))


def test_list_checks_are_counted_by_list_and_result(observed: Observed) -> None:
    server = observed.process
    create_lists(server.database, "block", "vip")
    uniqueid = new_uniqueid()
    call(server, simulated("customer_care", uniqueid, support_caller()))
    finished_cdr(server.database, uniqueid)
    assert observed.value("agiflow_list_checks_total", list="block", result="miss") == 1


def test_a_number_that_is_not_a_phone_number_is_counted_as_invalid_number_for_each_list(
        observed: Observed) -> None:
    """The steps turn the number to E.164 before they ask the lists, so the
    result invalid_number was never counted: an extension as caller ID, or
    as the number a campaign leg dials, left no trace in the metrics."""
    server = observed.process
    create_lists(server.database, "block", "vip", "robinson", "supervisors")
    for flow, caller, dnid in (("customer_care", "100", "912345678"), ("campaign", "600111222", "100"),
                               ("night_mode", "100", "912345678")):
        uniqueid = new_uniqueid()
        sim = SimulatedAsterisk(make_environment(flow, uniqueid=uniqueid, callerid=caller, dnid=dnid),
                                CallerScript(sounds=EverySound(8000)))
        call(server, sim)
        finished_cdr(server.database, uniqueid)
    for name in ("block", "robinson", "do_not_call", "supervisors"):
        assert observed.value("agiflow_list_checks_total", list=name, result="invalid_number") == 1, name


def test_cdr_metrics_follow_the_writer(observed: Observed) -> None:
    server = observed.process
    uniqueid = new_uniqueid()
    call(server, simulated("closed", uniqueid))
    finished_cdr(server.database, uniqueid)
    deadline = time.monotonic() + 5
    while observed.value("agiflow_cdr_queue_depth") or not observed.value("agiflow_cdr_operations_written_total"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert observed.value("agiflow_cdr_write_errors_total") == 0


# -- health, readiness, status -----------------------------------------------------------

def test_ready_names_missing_lists_and_turns_ready_once_they_exist(observed: Observed) -> None:
    assert observed.get("/health")[0] == 200
    code, ready = observed.json("/ready")
    assert code == 503 and ready["ready"] is False
    assert "robinson (used by campaign)" in ready["checks"]["lists"]["detail"]
    assert all(ready["checks"][name]["ok"] for name in ("flows", "accepting_calls", "database"))
    create_lists(observed.process.database, "block", "do_not_call", "robinson", "supervisors", "vip")
    code, ready = observed.json("/ready")
    assert (code, ready["ready"]) == (200, True), ready


def test_ready_says_shutting_down_while_calls_drain(tmp_path: Path) -> None:
    process = serve(tmp_path)
    try:
        observed = Observed(process)
        create_lists(process.database, "block", "do_not_call", "robinson", "supervisors", "vip")
        assert observed.get("/ready")[0] == 200
        held = HeldCall(process.port, simulated("support", new_uniqueid(), support_caller()), "support")
        pending = held.hold_at(3)
        process.proc.send_signal(signal.SIGTERM)
        process.wait_for_log("draining 1 calls", timeout=5)
        code, ready = observed.json("/ready")
        assert code == 503 and ready["checks"]["accepting_calls"] == {"ok": False,
                                                                      "detail": "shutting down: no new calls"}
        assert observed.json("/health")[0] == 200
        held.finish(pending)
        held.close()
        assert process.wait_exit() == 0
    finally:
        process.stop()


def status(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from agi.cli.main import cli; cli()", "status", *args],
                          capture_output=True, text=True, timeout=30, cwd=REPO)


def test_agiflow_status_reads_health_and_ready(observed: Observed) -> None:
    done = status("--url", observed.base)
    assert done.returncode == 1, done.stderr
    assert "NOT READY" in done.stdout and "FAIL" in done.stdout and "robinson (used by campaign)" in done.stdout
    versions = observed.json("/health")[1]["flows"]
    assert re.search(rf"^support\s+{versions['support']}\s+0$", done.stdout, re.M), done.stdout
    create_lists(observed.process.database, "block", "do_not_call", "robinson", "supervisors", "vip")
    ready = status("--url", observed.base, "--format", "json")
    assert ready.returncode == 0
    assert json.loads(ready.stdout)["health"]["flows"] == versions


def test_agiflow_status_exits_3_when_nothing_answers(tmp_path: Path) -> None:
    with socket.socket() as free:
        free.bind((HOST, 0))
        port = free.getsockname()[1]
    done = status("--url", f"http://{HOST}:{port}")
    assert done.returncode == 3 and "cannot reach" in done.stderr
    config = write_config(tmp_path)
    done = status("-c", str(config))
    assert done.returncode == 3 and "no server.metrics" in done.stderr


@contextlib.contextmanager
def listening(answer: Callable[[socket.socket], None]) -> Iterator[int]:
    """A port whose every connection, on a thread of its own, has its
    request read and then ``answer(sock)`` (a peer that goes away is no
    error), then is closed."""
    listener = socket.create_server((HOST, 0))

    def handle(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.recv(65536)
            answer(conn)

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def answering(body: Any) -> contextlib.AbstractContextManager[int]:
    """A port whose every connection gets an HTTP answer with ``body(sock)``
    sent after its headers (no length: the answer ends when it closes)."""
    def answer(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{")
        body(conn)
    return listening(answer)


def endless(conn: socket.socket) -> None:
    while True:
        conn.sendall(b" " * 65536)


def a_byte_every_half_second(conn: socket.socket) -> None:
    for _ in range(120):
        conn.sendall(b" ")
        time.sleep(0.5)


def nested_deeper_than_json_reads(conn: socket.socket) -> None:
    """Within the size cap, but deeper than Python's JSON reader recurses
    (once a RecursionError traceback)."""
    conn.sendall(b'"a": ' + b"[" * 200_000 + b"]" * 200_000 + b"}")


@pytest.mark.parametrize(("body", "said"), [
    (endless, "answered more than 1048576 bytes"), (a_byte_every_half_second, "did not finish its answer within 2s"),
    (nested_deeper_than_json_reads, "did not answer JSON")])
def test_agiflow_status_gives_up_on_an_answer_that_never_ends_or_only_drips(body: Any, said: str) -> None:
    with answering(body) as port:
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-c", "from agi.cli.main import cli; cli()", "status", "--url",
                               f"http://{HOST}:{port}", "--timeout", "2"],
                              capture_output=True, text=True, timeout=20, cwd=REPO)
        assert done.returncode == 3 and said in done.stderr, done.stderr
        assert time.monotonic() - started < 10


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\n" + b"X-Slow: a\r\n" * 40,  # the headers a byte at a time
    b"HTTP/1.1 302 Found\r\nLocation: /health\r\nContent-Length: 0\r\n\r\n",  # a redirect to itself, slowly
], ids=["headers", "redirect-loop"])
def test_agiflow_status_waits_no_longer_than_its_timeout_for_the_status_line_and_headers(answer: bytes) -> None:
    """The --timeout bounded only the body: a listener that sent its
    headers a byte every half second, or a slow redirect to itself, held the
    command for minutes."""
    def drip(conn: socket.socket) -> None:
        for byte in answer:
            conn.sendall(bytes([byte]))
            time.sleep(0.5 if len(answer) > 100 else 0.02)

    with listening(drip) as port:
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-c", "from agi.cli.main import cli; cli()", "status", "--url",
                               f"http://{HOST}:{port}", "--timeout", "2"],
                              capture_output=True, text=True, timeout=60, cwd=REPO)
        assert done.returncode == 3 and done.stderr.count("\n") == 1, done.stderr
        assert time.monotonic() - started < 5


# -- flow versions --------------------------------------------------------------------

def test_a_reload_logs_old_and_new_versions_and_the_cdr_records_the_one_that_ran(observed: Observed) -> None:
    server = observed.process
    before = observed.json("/health")[1]["flows"]["closed"]
    first = new_uniqueid()
    call(server, simulated("closed", first))
    flow = server.folder / "flows" / "closed.yaml"
    since = server.mark()
    replace_file(flow, flow.read_text(encoding="utf-8").replace("agiflow/office-closed", "agiflow/closed-v2"))
    found = server.wait_for_log(r"flow closed: (\w+) -> (\w+)", since=since, timeout=5)
    assert found.group(1) == before and found.group(2) != before
    after = found.group(2)
    second = new_uniqueid()
    call(server, simulated("closed", second))
    assert [r["flow_version"] for r in finished_cdr(server.database, first)] == [before]
    assert [r["flow_version"] for r in finished_cdr(server.database, second)] == [after]
    assert observed.value("agiflow_flow_info", flow="closed", version=after, commit="") == 1
    assert observed.value("agiflow_flow_reloads_total") == 2

    replace_file(flow, "version: 1\nname: closed\n")
    deadline = time.monotonic() + 5
    while observed.value("agiflow_flow_reload_errors_total") < 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert observed.value("agiflow_flows_last_reload_successful") == 0
    assert observed.json("/health")[1]["reloads"]["last_successful"] is False
    assert observed.json("/health")[1]["flows"]["closed"] == after


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_flows_folder_in_git_reports_its_commit(tmp_path: Path) -> None:
    write_config(tmp_path)
    git = ["git", "-C", str(tmp_path / "flows"), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git[:3], "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "flows"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    blob = subprocess.run([*git, "hash-object", "closed.yaml"], check=True, capture_output=True, text=True).stdout
    process = serve(tmp_path)
    try:
        observed = Observed(process)
        health = observed.json("/health")[1]
        assert health["flows_commit"] == head[:12]
        assert health["flows"]["closed"] == blob.strip()[:12]
        assert observed.value("agiflow_flow_info", flow="closed", version=blob.strip()[:12], commit=head[:12]) == 1
        process.wait_for_log(rf"loaded 8 flows .* \(commit {head[:12]}\)")
    finally:
        process.stop()


# -- JSON logs --------------------------------------------------------------------------

def test_json_log_lines_of_a_call_carry_uniqueid_and_linkedid(tmp_path: Path) -> None:
    process = serve(tmp_path, log_format="json")
    try:
        uniqueid = new_uniqueid()
        sim = simulated("closed", uniqueid)
        sim.vars.linkedid = "1795385106.1"
        result = call(process, sim)
        assert result.commands[0] == 'GET VARIABLE "CHANNEL(linkedid)"'
        process.wait_for_log(r"call ended")
    finally:
        process.stop()
    lines = [json.loads(line) for line in process.lines]
    [ended] = [line for line in lines if line["message"].startswith("call ended")]
    assert (ended["uniqueid"], ended["linkedid"], ended["flow"]) == (uniqueid, "1795385106.1", "closed")
    assert ended["logger"] == "agiflow.call" and ended["level"] == "INFO"
    assert any(line["message"].startswith("agiflow listening on") for line in lines)


# -- the listener -----------------------------------------------------------------------

def test_a_flood_of_metrics_connections_is_capped_and_calls_go_on(observed: Observed) -> None:
    """Each connection is a file descriptor, and the calls need theirs: past
    32 the listener closes one, the oldest not being answered."""
    port = int(observed.base.rsplit(":", 1)[1])
    flood = [socket.create_connection((HOST, port), timeout=10) for _ in range(100)]
    try:
        closed = 0
        for conn in flood[:68]:
            try:
                closed += conn.recv(1) == b""
            except ConnectionResetError:
                closed += 1
        assert closed == 68
        uniqueid = new_uniqueid()
        assert call(observed.process, simulated("support", uniqueid, support_caller())).closed_by_server
        assert finished_cdr(observed.process.database, uniqueid)
    finally:
        for conn in flood:
            conn.close()
    deadline = time.monotonic() + 10
    while True:  # the places are freed as the server sees the connections close
        try:
            assert observed.get("/health")[0] == 200
            break
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.parametrize("held", [b"", b"GET /health HTTP/1.1\r\nX-Slow: "], ids=["idle", "half-sent"])
def test_connections_that_hold_every_place_do_not_keep_a_probe_out(observed: Observed, held: bytes) -> None:
    """32 connections that sent nothing (or half a request) took every
    place, and each new one was closed at once: a liveness probe, a scrape
    and agiflow status got nothing for as long as a client held them. The
    longest-waiting of them now makes way for the new one."""
    port = int(observed.base.rsplit(":", 1)[1])
    hogs = [socket.create_connection((HOST, port), timeout=10) for _ in range(32)]
    try:
        for hog in hogs:
            hog.sendall(held)
        time.sleep(0.3)
        for _ in range(3):
            assert observed.get("/health")[0] == 200
        assert status("--url", observed.base).returncode in (0, 1)
        closed = []
        for number, hog in enumerate(hogs):
            hog.settimeout(0.2)
            try:
                if hog.recv(1) == b"":
                    closed.append(number)
            except ConnectionResetError:
                closed.append(number)
            except TimeoutError:
                pass
        # The oldest first, one for each page asked at most (an answered
        # connection frees its place as it closes).
        assert closed and closed == list(range(len(closed))) and len(closed) <= 5
    finally:
        for hog in hogs:
            hog.close()


def test_pipelined_scrapes_get_one_answer_and_the_close_while_calls_go_on(observed: Observed) -> None:
    """Twisted answers every request of a read at once: 200 KB of pipelined
    scrapes held the event loop, and so the calls, for seconds."""
    port = int(observed.base.rsplit(":", 1)[1])
    with socket.create_connection((HOST, port), timeout=10) as scraper:
        scraper.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 5000)
        uniqueid = new_uniqueid()
        assert call(observed.process, simulated("support", uniqueid, support_caller())).closed_by_server
        answer = b""
        with contextlib.suppress(ConnectionResetError):
            while chunk := scraper.recv(65536):
                answer += chunk
    assert answer.count(b"HTTP/1.1 200 ") == 1
    assert finished_cdr(observed.process.database, uniqueid)


def test_serve_exits_1_saying_so_when_the_metrics_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        config = write_config(tmp_path, metrics={"port": taken.getsockname()[1]})
        process = ServerProcess(config)
        code = process.wait_exit()
    assert code == 1
    assert re.search(r"cannot listen for metrics on 127\.0\.0\.1:\d+", process.log()), process.log()


def test_serve_refuses_a_metrics_host_off_loopback_without_allow_remote(tmp_path: Path) -> None:
    config = write_config(tmp_path, metrics={"host": "0.0.0.0", "port": 0})
    process = ServerProcess(config)
    assert process.wait_exit() == 2
    assert "not a loopback address" in process.log() and "allow_remote" in process.log()


def test_serve_refuses_a_metrics_port_that_leaves_none_for_its_last_worker(tmp_path: Path) -> None:
    config = write_config(tmp_path, metrics={"port": 65535})
    run = subprocess.run([sys.executable, "-m", "agi.cli", "serve", "-c", str(config), "--workers", "2"],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert run.returncode == 1
    assert run.stderr.startswith("error: server.metrics.port 65535 leaves no port for worker 2:"), run.stderr
    assert "at most 65534" in run.stderr


@pytest.mark.parametrize("workers, metrics_port_offset", [(1, 0), (2, -1)])
def test_serve_refuses_a_metrics_port_that_is_the_fastagi_port(
        tmp_path: Path, workers: int, metrics_port_offset: int) -> None:
    """The metrics listener, bound first, took the FastAGI port (or worker
    2's took it): the start failed with 'cannot listen on ... Address
    already in use', as if something else held the port."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = probe.getsockname()[1]
    config = write_config(tmp_path, port=port, metrics={"port": port + metrics_port_offset})
    run = subprocess.run([sys.executable, "-m", "agi.cli", "serve", "-c", str(config), "--workers", str(workers)],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    assert run.returncode == 1
    assert run.stderr.startswith("error: "), run.stderr
    assert f"is server.port {port}" in run.stderr and "Address already in use" not in run.stderr, run.stderr
