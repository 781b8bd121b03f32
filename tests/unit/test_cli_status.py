"""``agiflow status`` on answers that are not agiflow's: a listener that
speaks no HTTP, or JSON of another shape, is "cannot be asked" (exit 3),
one line on stderr, never a traceback (docs/cli.md#agiflow-status)."""
from __future__ import annotations

import http.client
import io
import json
from typing import Any

import pytest
from click.testing import CliRunner

from agi.cli import status as status_module
from agi.cli.main import cli

HEALTH = {"status": "ok", "version": "0.1.0", "pid": 1, "uptime_seconds": 3.0, "calls_active": {"support": 1},
          "cdr_backlog": 0, "flows": {"support": "15cd46f76111"}, "flows_commit": None,
          "reloads": {"total": 1, "errors": 0, "last_at": None, "last_successful": True, "loaded_at": None}}
READY = {"ready": True, "checks": {"flows": {"ok": True, "detail": "1 flow loaded"}}}


def _answering(pages: dict[str, Any]) -> Any:
    def urlopen(url: str, timeout: float) -> Any:
        page = pages[url.rsplit("/", 1)[1]]
        if isinstance(page, Exception):
            raise page
        return io.BytesIO(page if isinstance(page, bytes) else json.dumps(page).encode())
    return urlopen


def _status(monkeypatch: pytest.MonkeyPatch, health: Any, ready: Any) -> Any:
    monkeypatch.setattr(status_module.urllib.request, "urlopen", _answering({"health": health, "ready": ready}))
    return CliRunner().invoke(cli, ["status", "--url", "http://127.0.0.1:9573"])


def test_status_of_agiflows_pages_is_the_summary_and_exit_0_when_ready(monkeypatch: pytest.MonkeyPatch) -> None:
    done = _status(monkeypatch, HEALTH, READY)
    assert done.exit_code == 0 and "calls active: 1" in done.output, done.output


@pytest.mark.parametrize("health, ready", [
    (http.client.BadStatusLine('GET VARIABLE "CHANNEL(linkedid)"'), READY),  # the FastAGI port
    (http.client.RemoteDisconnected("closed"), READY),
    ({"hello": "world"}, READY),
    (HEALTH, {"ok": True}),
    (HEALTH, {"ready": True, "checks": ["flows"]}),
    ({**HEALTH, "calls_active": ["support"]}, READY),
    ({**HEALTH, "calls_active": {"support": "one"}}, READY),
    ({**HEALTH, "flows": ["support"]}, READY),
    ({**HEALTH, "reloads": "yes"}, READY),
    (HEALTH, {"ready": True, "checks": {"flows": "ok"}}),
    ({**HEALTH, "flows": {"support": 1}}, READY),
    ({**HEALTH, "flows": {"support": None}}, READY),
    (b'{"status": "ok", "uptime_seconds": 1e400}', READY),
    (b'{"status": "ok", "uptime_seconds": NaN}', READY),
    ({**HEALTH, "reloads": {"total": "many"}}, READY),
    ({**HEALTH, "reloads": {"total": 1, "errors": [1]}}, READY),
], ids=["not-http", "hung-up", "other-json", "ready-no-checks", "checks-a-list", "active-a-list",
        "active-not-a-number", "flows-a-list", "reloads-a-string", "check-not-an-object",
        "version-a-number", "version-null", "uptime-infinite", "uptime-nan", "loads-a-string", "failed-a-list"])
def test_an_answer_that_is_not_agiflows_exits_3_with_one_line(
        monkeypatch: pytest.MonkeyPatch, health: Any, ready: Any) -> None:
    done = _status(monkeypatch, health, ready)
    assert done.exit_code == 3, (done.output, done.exception)
    assert done.exception is None or isinstance(done.exception, SystemExit)
    assert done.output.startswith("agiflow status: ") and done.output.count("\n") == 1, done.output


def test_a_page_with_no_flows_and_no_calls_is_summed_up_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """A /health that lists no flow and no call (a listener that answers
    only the fields it must) once ended in a TypeError traceback, exit 1,
    which says "not ready"."""
    done = _status(monkeypatch, {"status": "ok"}, READY)
    assert done.exit_code == 0 and "calls active: 0" in done.output, (done.output, done.exception)


def test_a_metrics_port_of_0_asks_for_the_url_the_server_logged(tmp_path: Any) -> None:
    """With ``port: 0`` the server picks a free port at start: status once
    asked port 0 and said 'cannot reach http://127.0.0.1:0/health'."""
    config = tmp_path / "config.yaml"
    config.write_text("server:\n  metrics: {port: 0}\n")
    done = CliRunner().invoke(cli, ["status", "-c", str(config)])
    assert done.exit_code == 3
    assert done.stderr == (f"agiflow status: server.metrics.port is 0 in {config}: the server picked a free port "
                           "as it started and logged it ('metrics and health on http://...'); give that "
                           "address with --url\n")


def test_the_summary_puts_no_escape_sequence_from_the_pages_on_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """What answers at --url writes the text shown: a check's detail or a
    flow name with an OSC sequence once changed the terminal's title."""
    health = {**HEALTH, "flows": {"sup\x1b]0;pwned\x07port": "15cd46f76111"}, "version": "0.1.0\x9b2J"}
    ready = {"ready": False, "checks": {"lists": {"ok": False, "detail": "missing\x1b[2J number lists\r"}}}
    done = _status(monkeypatch, health, ready)
    assert done.exit_code == 1 and "missing number lists" in done.output, done.output
    assert not any(c in done.output for c in "\x1b\x07\x9b\r"), done.output


@pytest.mark.parametrize("url", ["", "127.0.0.1:9573", "localhost", "file:///etc", "ftp://127.0.0.1/"])
def test_a_url_that_is_no_http_url_is_a_usage_error_not_a_server_that_cannot_be_asked(
        url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--url 127.0.0.1:9573`` (no http://) exited 3, as for a server that
    is down, and an empty one asked the config's listener instead."""
    monkeypatch.chdir(tmp_path)
    done = CliRunner().invoke(cli, ["status", "--url", url])
    assert done.exit_code == 2, done.output
    assert "Invalid value for '--url'" in done.output and "http://127.0.0.1:9573" in done.output


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999", "http://127.0.0.1:65536", "http://127.0.0.1:abc",
                                 "http://:9573", "http://[::1", "http:// 127.0.0.1:9573", "http://127.0.0.1:-1"])
def test_a_url_with_no_host_or_a_port_out_of_range_is_a_usage_error_and_nothing_is_asked(
        url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--url http://127.0.0.1:99999`` asked port 34463 (99999 taken modulo
    65536), whatever listened there; the others exited 3 as for a server
    that is down."""
    monkeypatch.chdir(tmp_path)

    def urlopen(url: str, timeout: float) -> Any:
        raise AssertionError(f"asked {url}")
    monkeypatch.setattr(status_module.urllib.request, "urlopen", urlopen)
    done = CliRunner().invoke(cli, ["status", "--url", url])
    assert done.exit_code == 2, done.output
    assert "Invalid value for '--url'" in done.output and "\n" not in done.output.split("Error: ", 1)[1].rstrip()
