"""``log_format: json``: one JSON object per line; a call's lines carry
Asterisk's uniqueid and linkedid, read once at the start of the call."""
from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any, Iterator

import pytest

from agi.cli.common import setup_logging
from agi.loading.loader import load_flows
from agi.log_json import JsonFormatter
from agi.log_output import MAX_MESSAGE
from agi.session import SessionSettings, run_session
from agi.sim.asterisk import SimulatedAsterisk
from agi.sim.script import CallerScript, EverySound, make_environment
from agi.sim.transport import SimTransport, run_sync
from agi.storage.cdr_memory import MemoryCdr

SHIPPED_FLOWS = Path(__file__).resolve().parents[2] / "flows"


def _record(msg: str, *args: Any, exc: bool = False, **extra: Any) -> logging.LogRecord:
    info = None
    if exc:
        try:
            raise ValueError("bad")
        except ValueError:
            import sys
            info = sys.exc_info()
    record = logging.LogRecord("agiflow.call", logging.WARNING, __file__, 1, msg, args, info)
    record.created = 1.8e9
    record.__dict__.update(extra)
    return record


def test_a_line_is_one_json_object_with_time_level_logger_and_message() -> None:
    line = JsonFormatter().format(_record("two\nlines %s", "here"))
    assert "\n" not in line
    assert json.loads(line) == {"time": "2027-01-15T08:00:00.000Z", "level": "WARNING", "logger": "agiflow.call",
                                "message": "two\nlines here"}


def test_a_call_line_has_its_ids_and_its_message_without_the_text_prefix() -> None:
    line = JsonFormatter().format(_record("[1.2 support] call ended: %s", "completed", uniqueid="1.2",
                                          linkedid="1.1", flow="support", call_prefix="[1.2 support] "))
    assert json.loads(line) == {"time": "2027-01-15T08:00:00.000Z", "level": "WARNING", "logger": "agiflow.call",
                                "uniqueid": "1.2", "linkedid": "1.1", "flow": "support",
                                "message": "call ended: completed"}


def test_a_traceback_goes_in_its_own_field() -> None:
    found = json.loads(JsonFormatter().format(_record("crashed", exc=True)))
    assert found["message"] == "crashed" and "ValueError: bad" in found["exception"]


@pytest.fixture
def call_lines() -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(logging.INFO)
    logger = logging.getLogger("agiflow.call")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(previous)


def _call(flow: str, linkedid: bool) -> tuple[list[str], SimulatedAsterisk]:
    flows, errors = load_flows([SHIPPED_FLOWS])
    assert errors == []
    asterisk = SimulatedAsterisk(make_environment(flow, uniqueid="1795385106.8"), CallerScript(sounds=EverySound()))
    asterisk.vars.linkedid = "1795385106.7"
    transport = SimTransport(asterisk)
    run_sync(run_session(transport.environment(), transport, flows, MemoryCdr(), SessionSettings(linkedid=linkedid),
                         lambda: 1.8e9))
    return [e.command for e in transport.exchanges], asterisk


@pytest.mark.parametrize("flow", ["closed", "nosuch"])
def test_with_the_json_format_every_line_of_a_call_carries_its_uniqueid_and_linkedid(
        flow: str, call_lines: list[logging.LogRecord]) -> None:
    commands, _ = _call(flow, linkedid=True)
    assert commands[0] == 'GET VARIABLE "CHANNEL(linkedid)"'
    assert call_lines
    lines = [json.loads(JsonFormatter().format(record)) for record in call_lines]
    assert all((line["uniqueid"], line["linkedid"], line["flow"]) == ("1795385106.8", "1795385106.7", flow)
               for line in lines)
    assert not any(line["message"].startswith("[") for line in lines)


def test_the_text_format_asks_asterisk_nothing_more_and_keeps_its_prefix(call_lines: list[logging.LogRecord]) -> None:
    commands, _ = _call("closed", linkedid=False)
    assert not any("linkedid" in command for command in commands)
    assert all(record.getMessage().startswith("[1795385106.8 closed] ") for record in call_lines)


def test_setup_logging_writes_json_lines_when_asked() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    kept = root.handlers[:], root.level
    root.handlers[:] = []
    try:
        setup_logging("INFO", stream=stream, fmt="json")
        logging.getLogger("agiflow.server").info("listening on %s", "127.0.0.1:4573")
    finally:
        root.handlers[:], level = kept
        root.setLevel(level)
    [line] = stream.getvalue().splitlines()
    assert json.loads(line)["message"] == "listening on 127.0.0.1:4573"


def test_a_json_message_is_cut_like_a_text_one_and_bad_arguments_still_make_a_line() -> None:
    long = json.loads(JsonFormatter().format(_record("x" * (MAX_MESSAGE + 50))))
    assert len(long["message"]) == MAX_MESSAGE and long["message"].endswith("\u2026")
    odd = json.loads(JsonFormatter().format(_record("%s and %s", "one")))
    assert odd["message"] == "%s and %s ('one',)"


def test_a_call_line_whose_linkedid_asterisk_did_not_give_has_linkedid_null(
        call_lines: list[logging.LogRecord]) -> None:
    flows, _ = load_flows([SHIPPED_FLOWS])
    asterisk = SimulatedAsterisk(make_environment("closed", uniqueid="1795385106.8"), CallerScript(sounds=EverySound()))
    asterisk.vars.linkedid = None  # type: ignore[assignment]  # Asterisk answers CHANNEL(linkedid) with no value
    transport = SimTransport(asterisk)
    run_sync(run_session(transport.environment(), transport, flows, MemoryCdr(), SessionSettings(linkedid=True),
                         lambda: 1.8e9))
    lines = [json.loads(JsonFormatter().format(record)) for record in call_lines]
    assert lines and all(line["uniqueid"] == "1795385106.8" and line["linkedid"] is None for line in lines)


def test_an_ipv6_address_is_written_in_brackets_before_its_port() -> None:
    from agi.wording import endpoint
    assert endpoint("::", 4573) == "[::]:4573"
    assert endpoint("::1", 9573) == "[::1]:9573"
    assert endpoint("127.0.0.1", 4573) == "127.0.0.1:4573"
