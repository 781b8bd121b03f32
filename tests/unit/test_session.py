"""The per-call boundary: a bug inside a step ends that call cleanly, with a
log line naming it, its CDR and the dialplan's fallback."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from agi.storage.cdr_memory import MemoryCdr
from agi.loading.loader import load_flows
from agi.log_output import BoundedFormatter
from agi.steps.play import PlayNode
from agi.session import Fallback, SessionSettings, run_session
from agi.sim.asterisk import SimulatedAsterisk
from agi.sim.script import CallerScript, EverySound, make_environment
from support.step_runner import run
from agi.sim.transport import SimTransport, run_sync

SHIPPED_FLOWS = Path(__file__).resolve().parents[2] / "flows"


def test_a_crash_inside_a_step_sends_the_call_to_the_fallback_with_its_cdr(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    flows, errors = load_flows([SHIPPED_FLOWS])
    assert errors == []

    async def broken(self: PlayNode, ctx: object) -> str:
        raise ZeroDivisionError("a bug in a step")

    monkeypatch.setattr(PlayNode, "run", broken)
    asterisk = SimulatedAsterisk(make_environment("closed", uniqueid="1795385106.7"), CallerScript(sounds=EverySound()))
    transport = SimTransport(asterisk)
    cdr = MemoryCdr()
    settings = SessionSettings(fallback=Fallback("agiflow-fallback", "s", "1"))
    with caplog.at_level(logging.ERROR):
        status = run_sync(run_session(transport.environment(), transport, flows, cdr, settings, lambda: 1.8e9))
    assert status == "error"
    assert "[1795385106.7 closed] flow crashed" in caplog.text and "ZeroDivisionError" in caplog.text
    assert asterisk.variables["AGIFLOW_STATUS"] == "error"
    assert asterisk.continue_at == ("agiflow-fallback", "s", 1)
    [row] = cdr.calls.values()
    assert row["status"] == "error" and "ZeroDivisionError" in row["error"]
    assert row["path"] == "answer:next" and row["steps"] == 1


LEG = """\
version: 1
name: leg
direction: outbound
start: dnc
steps:
  dnc:
    robinson: {list: robinson}
    on: {clear: call}
  call:
    dial: "PJSIP/{{ call.called }}@trunk"
"""


def test_a_call_whose_do_not_call_check_failed_is_not_sent_to_the_fallback(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The fallback context places calls (a queue, an operator): after a
    failed check the dialplan's next priority decides, and the shipped
    campaign context rejects the leg with cause 21."""
    (tmp_path / "leg.yaml").write_text(LEG)
    flows, errors = load_flows([tmp_path])
    assert errors == []
    asterisk = SimulatedAsterisk(make_environment("leg", uniqueid="1795385106.8", extension="600111222"),
                                 CallerScript(sounds=EverySound()))
    transport = SimTransport(asterisk)
    settings = SessionSettings(fallback=Fallback("agiflow-fallback", "s", "1"))
    with caplog.at_level(logging.WARNING):
        status = run_sync(run_session(transport.environment(), transport, flows, MemoryCdr(), settings,
                                      lambda: 1.8e9))  # no lists at all: the check fails closed
    assert status == "error"
    assert asterisk.variables["AGIFLOW_STATUS"] == "error"
    assert asterisk.continue_at is None
    assert "not sent to the fallback context: a do-not-call check of this call blocked dialling (error)" \
        in caplog.text


def _call(flow: str, uniqueid: str) -> tuple[str, MemoryCdr]:
    flows, errors = load_flows([SHIPPED_FLOWS])
    assert errors == []
    transport = SimTransport(SimulatedAsterisk(make_environment(flow, uniqueid=uniqueid),
                                               CallerScript(sounds=EverySound())))
    cdr = MemoryCdr()
    return run_sync(run_session(transport.environment(), transport, flows, cdr, SessionSettings(), lambda: 1.8e9)), cdr


@pytest.mark.parametrize("flow, uniqueid", [("closed", "1795385106.%s%d%(x)s"), ("no%sflow%(x)s%", "1795385106.%")])
def test_a_percent_sign_in_the_uniqueid_or_flow_name_is_printed_as_it_is_and_the_call_still_logs_its_end(
        flow: str, uniqueid: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="agiflow.call"):
        status, _ = _call(flow, uniqueid)
    ended = [m for m in caplog.messages if "call ended" in m]
    assert len(ended) == 1 and ended[0].startswith(f"[{uniqueid} {flow}] call ended: {status}")


@pytest.mark.parametrize("flow, uniqueid", [("closed", "1795385106.1\r2026-12-07 09:00:00,000 ERROR fake"),
                                           ("no\x1b]0;title\x07flow\x1b[2J\rfake", "1795385106.2")])
def test_control_characters_in_the_uniqueid_or_the_flow_name_are_written_escaped_in_the_prefix(
        flow: str, uniqueid: str, caplog: pytest.LogCaptureFixture) -> None:
    """The prefix of a call's lines was written as it came from the
    network: a carriage return began a line of the peer's making, an escape
    sequence reached the terminal that shows the log."""
    with caplog.at_level(logging.INFO, logger="agiflow.call"):
        status, _ = _call(flow, uniqueid)
    lines = [BoundedFormatter().format(record) for record in caplog.records]
    ended = [line for line in lines if "call ended" in line]
    written = f"[{uniqueid.encode('unicode_escape').decode()} {flow.encode('unicode_escape').decode()}]"
    assert len(ended) == 1 and ended[0].split(": ", 1)[1].startswith(f"{written} call ended: {status}"), ended
    assert all(line.isprintable() for line in lines)


def test_a_call_logs_ten_warnings_then_says_the_rest_are_only_counted_in_its_end_line(
        caplog: pytest.LogCaptureFixture) -> None:
    from agi.session import CallLogAdapter
    call_log = CallLogAdapter(logging.getLogger("agiflow.call"), {"uniqueid": "1.2", "flow": "x" * 5000})
    with caplog.at_level(logging.INFO, logger="agiflow.call"):
        for n in range(25):
            call_log.warning("step menu (menu) failed: %d", n)
    assert len(caplog.messages) == 11 and caplog.messages[-1].endswith("further warnings of this call are not logged")
    assert caplog.messages[0] == f"[1.2 {'x' * 99}\u2026] step menu (menu) failed: 0"
    assert call_log.warnings.suppressed == 15


@pytest.mark.parametrize("caller, e164", [("600111222", "+34600111222"), ("0034600111222", "+34600111222"),
                                          ("+34 600 11 12 22", "+34600111222"), ("anonymous", None), ("", None)])
def test_every_call_records_its_flows_direction_and_its_caller_in_e164(tmp_path: Path, caller: str,
                                                                         e164: str | None) -> None:
    result = run(tmp_path, "version: 1\nname: out\ndirection: outbound\nstart: bye\nsteps:\n  bye: {hangup: {}}\n",
                 caller=caller)
    assert (result.call["direction"], result.call["caller_e164"]) == ("outbound", e164)
    inbound = run(tmp_path, "version: 1\nname: in\nstart: bye\nsteps:\n  bye: {hangup: {}}\n", caller=caller)
    assert inbound.call["direction"] == "inbound"


@pytest.mark.parametrize("long", ["flow", "step", "type", "outcome"])
def test_a_step_row_cuts_a_long_name_or_outcome_at_its_cap(long: str) -> None:
    from agi.db.caps import CUT, TEXT
    from agi.engine.interpreter import StepRecord
    from agi.session import step_row
    names = {"flow": "f", "step": "s", "type": "play", "outcome": "next", long: "x" * (TEXT + 5)}
    row = step_row(StepRecord(1, names["flow"], names["step"], names["type"], names["outcome"], 0.0, 1.0, {}))
    assert row[long] == "x" * (TEXT - 1) + CUT
    assert {key: row[key] for key in names if key != long} == {key: names[key] for key in names if key != long}
