"""Webhooks and callback requests through ``agiflow serve`` over real TCP.

A real HTTP server on 127.0.0.1 (http.server in a thread) answers the
webhooks: 200, 500, or only when the test lets it (a slow CRM). The server
is started as an operator would; calls come from the Asterisk simulator.
"""
from __future__ import annotations

import base64
import json
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from agi.cli.main import cli
from agi.sim import CallerScript, EverySound, SimulatedAsterisk, make_environment
from support.server_process import ServerProcess, call, finished_cdr, new_uniqueid, query, simulated, write_config

pytestmark = pytest.mark.integration

HOOK_FLOW = """\
version: 1
name: hook
start: hook
steps:
  hook:
    webhook:
      url: "{{ params.scheme | default('http') }}://127.0.0.1:{{ params.port }}/{{ params.path }}"
      timeout: 1
      wait: {wait}
      headers: {Authorization: "Bearer {{ params.token }}"}
      data: {event: missed_call, queue: support}
    on: {ok: ok, failed: failed}
  ok:
    set: {variables: {HOOK: ok}}
  failed:
    set: {variables: {HOOK: failed}}
"""

CALLBACK_FLOW = """\
version: 1
name: cb
start: cb
steps:
  cb:
    callback: {confirm: cb-confirm, enter: cb-enter, queue: support, reason: "{{ params.why }}"}
"""


#: Answers that are not HTTP, each as an endpoint sent it (``/raw-NAME``).
RAW_ANSWERS = {
    "long-status": b"HTTP/1.1 abc " + b"x" * 15_000 + b"\r\n\r\n",
    "long-length": b"HTTP/1.1 200 OK\r\nContent-Length: " + b"1," * 7_000 + b"2\r\n\r\n",
    "long-code": b"HTTP/1.1 " + b"9" * 4_000 + b" OK\r\nContent-Length: 0\r\n\r\n",
    "signed-code": b"HTTP/1.1 +200 OK\r\nContent-Length: 0\r\n\r\n",
    "underscored-code": b"HTTP/1.1 2_00 OK\r\nContent-Length: 0\r\n\r\n",
    "four-digit-code": b"HTTP/1.1 0200 OK\r\nContent-Length: 0\r\n\r\n",
}


class Crm:
    """An HTTP endpoint: /ok answers 200, /fail 500, /slow only once
    ``release`` is set (or after 10 s). Keeps every request it got."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.written: dict[str, int] = {}  # bytes an endless answer got out before agiflow cut it
        self.slow_started = threading.Event()
        self.release = threading.Event()
        crm = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                crm.requests.append({"path": self.path, "headers": dict(self.headers), "json": json.loads(body)})
                if self.path.startswith("/endless"):
                    self.endless()
                    return
                if self.path.startswith("/raw-"):
                    self.wfile.write(RAW_ANSWERS[self.path[len("/raw-"):]])
                    self.close_connection = True
                    return
                if self.path.startswith("/dripping"):
                    self.dripping(int(self.path.rsplit("-", 1)[1]))
                    return
                if self.path == "/slow":
                    crm.slow_started.set()
                    crm.release.wait(10)
                code = 500 if self.path == "/fail" else 200
                try:
                    self.send_response(code)
                    self.send_header("Content-Length", "4")
                    self.end_headers()
                    self.wfile.write(b"boom" if code == 500 else b"done")
                except OSError:
                    pass  # agiflow gave up and closed the connection

            def dripping(self, code: int) -> None:
                """``code`` at once, then a body of a byte every 0.1 s for 10 s."""
                try:
                    self.wfile.write(b"HTTP/1.1 %d Dripping\r\nContent-Length: 100\r\n\r\n" % code)
                    for _ in range(100):
                        self.wfile.write(b"d")
                        self.wfile.flush()
                        time.sleep(0.1)
                except OSError:
                    pass
                self.close_connection = True

            def endless(self) -> None:
                """200, then headers or body that never end (up to 200 MB)."""
                line = b"X-Junk: " + b"x" * 1000 + b"\r\n" if self.path == "/endless-headers" else b"y" * 65536
                written = 0
                try:
                    self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                    if self.path == "/endless-body":
                        self.wfile.write(b"Content-Type: text/plain\r\n\r\n")
                    if self.path == "/endless-late-headers":  # the status read alone, then more than the cap at once
                        time.sleep(0.3)
                        self.wfile.write(b"Content-Type: text/plain\r\n\r\n" + line)
                    while written < 200 << 20:
                        self.wfile.write(line * (65536 // len(line)))
                        written += 65536
                except OSError:
                    pass
                crm.written[self.path] = written
                self.close_connection = True

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.http.daemon_threads = True
        self.port = self.http.server_address[1]
        self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture(scope="module")
def crm() -> Iterator[Crm]:
    server = Crm()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("hooks")
    flows = folder / "flows"
    flows.mkdir()
    (flows / "hook.yaml").write_text(HOOK_FLOW.replace("{wait}", "true"))
    (flows / "hook_later.yaml").write_text(HOOK_FLOW.replace("{wait}", "false").replace("name: hook", "name: hook_later"))
    (flows / "cb.yaml").write_text(CALLBACK_FLOW)
    (flows / "hook_name.yaml").write_text(NAME_FLOW)
    (flows / "hook_user.yaml").write_text(NAME_FLOW.replace("name: hook_name", "name: hook_user").replace(
        "http://127.0.0.1", "http://agent:s%40cret@127.0.0.1"))
    process = ServerProcess(write_config(folder))
    try:
        process.wait_listening()
        yield process
    finally:
        process.stop()


def hook_call(server: ServerProcess, flow: str, port: int, path: str, scheme: str = "http") -> tuple[str, Any, Any]:
    uniqueid = new_uniqueid()
    sim = simulated(f"{flow}?port={port}&path={path}&token=t0k3n&scheme={scheme}", uniqueid,
                    CallerScript(sounds=EverySound()))
    result = call(server, sim, timeout=10)
    assert result.closed_by_server and not result.timed_out, result
    return uniqueid, sim, result


def hook_details(server: ServerProcess, uniqueid: str) -> dict[str, Any]:
    [row] = finished_cdr(server.database, uniqueid)
    [step] = query(server.database, "SELECT details FROM call_steps WHERE call = ? AND step = 'hook'", (row["id"],))
    return {"path": row["path"], **json.loads(step["details"])}


def test_a_2xx_answer_is_ok_and_the_endpoint_gets_the_call_as_json(server: ServerProcess, crm: Crm) -> None:
    uniqueid, sim, _ = hook_call(server, "hook", crm.port, "ok")

    assert sim.variables["HOOK"] == "ok"
    assert hook_details(server, uniqueid)["status"] == 200
    [got] = [r for r in crm.requests if r["json"]["call"]["id"] == uniqueid]
    assert got["path"] == "/ok"
    assert got["headers"]["Authorization"] == "Bearer t0k3n"
    assert got["headers"]["Content-Type"] == "application/json"
    assert got["json"]["call"]["caller"] == "+34600111222"
    assert got["json"]["flow"] == "hook" and got["json"]["step"] == "hook"
    assert got["json"]["data"] == {"event": "missed_call", "queue": "support"}


NAME_FLOW = """\
version: 1
name: hook_name
start: hook
steps:
  hook:
    webhook:
      url: "http://127.0.0.1:{{ params.port }}/ok"
      headers: {X-Caller-Name: "{{ call.caller_name }}", X-Note: "{{ params.note }}"}
    on: {ok: ok, failed: failed}
  ok:
    set: {variables: {HOOK: ok}}
  failed:
    set: {variables: {HOOK: failed}}
"""


@pytest.mark.parametrize("name", ["Иван Петров", "José Müller", "李小龍 😀", "Ana"])
def test_header_values_rendered_from_the_call_are_sent_as_utf8_in_any_script(
        server: ServerProcess, crm: Crm, name: str) -> None:
    """A caller name outside Latin-1 once failed the webhook with "cannot
    send: 'latin-1' codec can't encode characters"."""
    uniqueid = new_uniqueid()
    env = make_environment(f"hook_name?port={crm.port}&note=ok", uniqueid=uniqueid, callerid="+34600111222",
                           calleridname=name)
    sim = SimulatedAsterisk(env, CallerScript(sounds=EverySound()))
    result = call(server, sim, timeout=10)
    assert result.closed_by_server and sim.variables["HOOK"] == "ok", (result, hook_details(server, uniqueid))
    [got] = [r for r in crm.requests if r["json"]["call"]["id"] == uniqueid]
    # http.server reads header bytes as ISO-8859-1: the UTF-8 bytes come back whole.
    assert got["headers"]["X-Caller-Name"].encode("iso-8859-1").decode("utf-8") == name
    assert got["json"]["call"]["caller_name"] == name


def test_a_user_and_password_in_the_url_are_sent_as_basic_authentication(server: ServerProcess, crm: Crm) -> None:
    """``http://agent:s%40cret@host/`` passed validation, then failed every
    post with "invalid hostname: agent:s%40cret@127.0.0.1"."""
    uniqueid = new_uniqueid()
    sim = SimulatedAsterisk(make_environment(f"hook_user?port={crm.port}&note=ok", uniqueid=uniqueid),
                            CallerScript(sounds=EverySound()))
    result = call(server, sim, timeout=10)
    assert result.closed_by_server and sim.variables["HOOK"] == "ok", (result, hook_details(server, uniqueid))
    [got] = [r for r in crm.requests if r["json"]["call"]["id"] == uniqueid]
    assert got["headers"]["Authorization"] == "Basic " + base64.b64encode(b"agent:s@cret").decode()


def test_a_500_answer_takes_the_failed_branch(server: ServerProcess, crm: Crm) -> None:
    uniqueid, sim, _ = hook_call(server, "hook", crm.port, "fail")

    assert sim.variables["HOOK"] == "failed"
    details = hook_details(server, uniqueid)
    assert details["status"] == 500 and details["error"] == "HTTP 500: boom"
    assert details["path"] == "hook:failed > failed:next"


def test_an_unreachable_endpoint_fails_fast(server: ServerProcess) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    started = time.monotonic()
    uniqueid, sim, _ = hook_call(server, "hook", closed_port, "ok")

    assert sim.variables["HOOK"] == "failed"
    assert time.monotonic() - started < 1.0
    assert "refused" in hook_details(server, uniqueid)["error"].lower()


def test_an_https_endpoint_with_an_untrusted_certificate_gets_no_call_data(
        server: ServerProcess, tmp_path: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    tls = Crm()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    tls.http.socket = context.wrap_socket(tls.http.socket, server_side=True)
    since = server.mark()
    try:
        uniqueid, sim, _ = hook_call(server, "hook", tls.port, "ok", scheme="https")
    finally:
        tls.close()
    assert sim.variables["HOOK"] == "failed"
    error = hook_details(server, uniqueid)["error"].lower()
    assert "certificate" in error or "ssl" in error, error
    assert tls.requests == []
    server.wait_for_log(rf"\[{re.escape(uniqueid)} hook\] call ended", since=since)
    assert "Traceback" not in server.log(since), server.log(since)  # the step's warning says it, once


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


@pytest.mark.parametrize(("name", "alt_name"), [("127.0.0.1", None), ("crm.example.com", None),
                                               ("127.0.0.1", "IP:127.0.0.1")])
def test_a_certificate_from_a_trusted_authority_but_with_no_subject_alt_name_gets_no_call_data(
        name: str, alt_name: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A certificate with no subjectAltName was sent the call whatever host
    its common name named (Twisted logged a CRITICAL traceback and went on
    as if the host matched): another host's certificate from an authority
    the system trusts got the call data and the Authorization header. One
    that names the host in its subjectAltName gets the call."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", tmp_path / "ca.key", "-out",
             tmp_path / "ca.pem", "-days", "1", "-subj", "/CN=agiflow test authority")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", tmp_path / "key.pem", "-out", tmp_path / "leaf.csr",
             "-subj", f"/CN={name}")
    (tmp_path / "leaf.ext").write_text(f"subjectAltName={alt_name}\n" if alt_name else "")
    _openssl("x509", "-req", "-in", tmp_path / "leaf.csr", "-CA", tmp_path / "ca.pem", "-CAkey", tmp_path / "ca.key",
             "-CAcreateserial", "-out", tmp_path / "cert.pem", "-days", "1", "-extfile", tmp_path / "leaf.ext")
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))  # the system's trusted authorities, for the server
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "hook.yaml").write_text(HOOK_FLOW.replace("{wait}", "true"))
    server = ServerProcess(write_config(tmp_path))
    tls = Crm()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    tls.http.socket = context.wrap_socket(tls.http.socket, server_side=True)
    try:
        server.wait_listening()
        uniqueid, sim, _ = hook_call(server, "hook", tls.port, "ok", scheme="https")
        server.wait_for_log(rf"\[{re.escape(uniqueid)} hook\] call ended")
        log = server.log()
    finally:
        tls.close()
        server.stop()
    assert "Traceback" not in log and "CRITICAL" not in log, log
    if alt_name:
        assert sim.variables["HOOK"] == "ok" and len(tls.requests) == 1
        return
    assert tls.requests == []
    assert sim.variables["HOOK"] == "failed"
    assert "subjectAltName" in hook_details(server, uniqueid)["error"]


def test_a_slow_endpoint_fails_after_the_timeout_while_another_call_completes_meanwhile(
        server: ServerProcess, crm: Crm) -> None:
    crm.slow_started.clear()
    crm.release.clear()
    with ThreadPoolExecutor(max_workers=1) as pool:
        started = time.monotonic()
        slow = pool.submit(hook_call, server, "hook", crm.port, "slow")
        assert crm.slow_started.wait(5), "the slow webhook never reached the endpoint"

        quick_started = time.monotonic()
        _, quick, _ = hook_call(server, "hook", crm.port, "ok")
        quick_took = time.monotonic() - quick_started
        assert not slow.done(), "the slow call should still be waiting for its webhook"

        uniqueid, sim, _ = slow.result(timeout=10)
        slow_took = time.monotonic() - started
    crm.release.set()

    assert quick.variables["HOOK"] == "ok" and quick_took < 0.5
    assert sim.variables["HOOK"] == "failed"
    assert 1.0 <= slow_took < 3.0
    assert hook_details(server, uniqueid)["error"] == "no answer within 1s"


@pytest.mark.parametrize("path, outcome", [("endless-body", "ok"), ("endless-late-headers", "ok"),
                                           ("endless-headers", "failed")])
def test_an_endpoint_whose_answer_never_ends_is_cut_early_and_does_not_grow_the_server(
        server: ServerProcess, crm: Crm, path: str, outcome: str) -> None:
    def resident_kb() -> int:
        """Of every process of the server: the workers post the webhooks
        (once, only the supervisor, which posts none, was measured)."""
        return sum(int(Path(f"/proc/{pid}/status").read_text().split("VmRSS:")[1].split()[0])
                   for pid in server.pids())

    before = resident_kb()
    uniqueid, sim, _ = hook_call(server, "hook", crm.port, path)
    assert sim.variables["HOOK"] == outcome
    error = hook_details(server, uniqueid).get("error")
    assert "no answer within" not in str(error)  # cut, not timed out
    if outcome == "failed":  # it once said 'Connection was aborted locally using ITCPTransport.abortConnection.'
        assert error == "the answer is longer than 65536 bytes"
    deadline = time.monotonic() + 5
    while f"/{path}" not in crm.written and time.monotonic() < deadline:
        time.sleep(0.01)
    assert crm.written[f"/{path}"] < 10 << 20
    assert resident_kb() - before < 10_000


@pytest.mark.parametrize("answer", sorted(RAW_ANSWERS))
def test_an_answer_that_is_not_http_fails_with_a_short_error_and_no_status(
        server: ServerProcess, crm: Crm, answer: str) -> None:
    """The CDR keeps what an endpoint sent only as an excerpt: a status line
    or a header of 15 KB once went whole into the step's error, and a status
    of 4,000 digits into its status; '+200', '2_00' and '0200' were 200, ok."""
    uniqueid, sim, _ = hook_call(server, "hook", crm.port, f"raw-{answer}")
    assert sim.variables["HOOK"] == "failed"
    details = hook_details(server, uniqueid)
    assert details["status"] is None
    assert 0 < len(details["error"]) <= 300, details["error"]


@pytest.mark.parametrize("code, outcome, error", [(200, "ok", None), (500, "failed", "HTTP 500: d")])
def test_an_answer_whose_body_still_drips_at_the_timeout_counts_by_its_status(
        server: ServerProcess, crm: Crm, code: int, outcome: str, error: str | None) -> None:
    uniqueid, sim, _ = hook_call(server, "hook", crm.port, f"dripping-{code}")
    assert sim.variables["HOOK"] == outcome
    details = hook_details(server, uniqueid)
    assert details["status"] == code
    assert (details.get("error") or "").startswith(error or "") and ("error" in details) == (error is not None)


def test_a_background_webhook_lets_the_call_end_at_once_and_its_failure_is_logged_later(
        server: ServerProcess, crm: Crm) -> None:
    crm.release.clear()
    since = server.mark()
    started = time.monotonic()
    uniqueid, sim, _ = hook_call(server, "hook_later", crm.port, "slow")

    assert time.monotonic() - started < 0.5
    assert sim.variables["HOOK"] == "ok"
    assert hook_details(server, uniqueid)["wait"] is False
    server.wait_for_log(rf"\[{uniqueid} hook_later\] webhook to http://127.0.0.1:{crm.port}/slow failed: "
                        r"no answer within 1s", since=since, timeout=5)
    crm.release.set()


def test_a_callback_request_lands_in_the_database_and_the_cli_lists_and_closes_it_while_serving(
        server: ServerProcess) -> None:
    uniqueid = new_uniqueid()
    sim = simulated("cb?why=queue%20timeout", uniqueid, CallerScript(dtmf=["1"], sounds=EverySound()))
    result = call(server, sim)
    assert result.closed_by_server, result
    [row] = finished_cdr(server.database, uniqueid)
    assert row["callback"] == "+34600111222"
    deadline = time.monotonic() + 5
    while not (stored := query(server.database, "SELECT * FROM callbacks WHERE call_id = ?", (uniqueid,))):
        assert time.monotonic() < deadline, "the callback request was never written"
        time.sleep(0.02)
    assert [(r["number"], r["queue"], r["reason"], r["status"]) for r in stored] == [
        ("+34600111222", "support", "queue timeout", "pending")]

    config = str(server.config)
    listed = CliRunner().invoke(cli, ["callbacks", "list", "-c", config])
    done = CliRunner().invoke(cli, ["callbacks", "done", str(stored[0]["id"]), "-c", config])

    assert listed.exit_code == 0 and "+34600111222" in listed.stdout
    assert done.exit_code == 0, done.output
    assert query(server.database, "SELECT status FROM callbacks WHERE call_id = ?", (uniqueid,)) == [
        {"status": "done"}]


def test_sigterm_lets_a_background_webhook_finish_before_the_server_exits(tmp_path: Path, crm: Crm) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "hook_later.yaml").write_text(HOOK_FLOW.replace("{wait}", "false").replace("name: hook", "name: hook_later"))
    process = ServerProcess(write_config(tmp_path))
    try:
        process.wait_listening()
        crm.release.clear()
        uniqueid, _, _ = hook_call(process, "hook_later", crm.port, "slow")
        process.proc.send_signal(signal.SIGTERM)
        assert process.wait_exit() == 0
    finally:
        process.stop()
        crm.release.set()
    log = process.log()
    assert "waiting for 1 webhooks still in flight" in log
    assert f"[{uniqueid} hook_later] webhook to http://127.0.0.1:{crm.port}/slow failed: no answer within 1s" in log


def test_plain_agi_mode_posts_webhooks_and_waits_for_background_ones_before_exiting(
        tmp_path: Path, crm: Crm) -> None:
    from support.agi_process import run_agi, write_config as write_agi_config

    config = write_agi_config(tmp_path)
    (tmp_path / "flows" / "hook.yaml").write_text(HOOK_FLOW.replace("{wait}", "true"))
    (tmp_path / "flows" / "hook_later.yaml").write_text(
        HOOK_FLOW.replace("{wait}", "false").replace("name: hook", "name: hook_later"))

    before = len(crm.requests)
    waited = run_agi(tmp_path, [f"hook?port={crm.port}&path=ok&token=t0k3n"], config=config)
    assert waited.returncode == 0 and waited.sim.variables["HOOK"] == "ok", waited.log
    assert [r["path"] for r in crm.requests[before:] if r["json"]["call"]["id"] == "1795385106.7"] == ["/ok"]

    crm.release.clear()
    started = time.monotonic()
    later = run_agi(tmp_path, [f"hook_later?port={crm.port}&path=slow&token=t0k3n"], config=config)
    crm.release.set()
    assert later.returncode == 0 and later.sim.variables["HOOK"] == "ok", later.log
    assert time.monotonic() - started >= 1.0, "the process exited before its background webhook ended"
    assert "webhook to http://127.0.0.1:" in later.log and "no answer within 1s" in later.log
