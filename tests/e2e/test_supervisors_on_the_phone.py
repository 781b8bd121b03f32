"""On a real Asterisk 22, supervisors on the phone: a supervisor (caller ID
in the list, PIN) listens to an agent's call with ChanSpy, switches by
DTMF to whisper and to barge and leaves with ``#``; every mode is checked
by ear (the supervisor plays a tone of its own in each, tones.py) and in
the CDR and audit log. A supervisor who keys an agent on no call, and a
caller not in the list, are refused. Night mode: a supervisor closes the
campaign hours by phone, hears the new state, and ``agiflow schedule``
shows it.
"""
from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from calls import Call, Lab
from scenarios import IDLE_SUPERVISOR, NIGHT_SUPERVISOR, SUPERVISOR
from tones import heard

pytestmark = pytest.mark.e2e


def recording(lab: Lab, name: str) -> Path:
    return lab.asterisk.recordings / f"{name}.wav"


def spy_options(lab: Lab, call: Call) -> list[str]:
    """ChanSpy's arguments, each time agiflow ran it in the call."""
    return [found.group(1) for line in lab.asterisk.call_lines(call.end["channel"])
            if (found := re.search(r"Executing Application: \(ChanSpy\) Options: \((.*)\)$", line))]


def prompts(lab: Lab, call: Call) -> list[str]:
    """The sounds Asterisk played, or tried to play, in the call, in order
    (the lab has only Asterisk's English digits)."""
    return [found.group(1) or found.group(2) for line in lab.asterisk.call_lines(call.end["channel"])
            if (found := re.search(r"Playing '([^']+)\.\w+'|File (\S+) does not exist in any format", line))]


# -- supervise ------------------------------------------------------------------------

def test_a_supervisor_listens_then_whispers_then_barges_in_switching_by_dtmf(lab: Lab) -> None:
    call = lab.calls["supervisor"]
    assert call.path == ["answer:next", "listen:done", "bye:done"]
    assert call.cdr["supervisor"] == SUPERVISOR
    assert spy_options(lab, call) == ["Local/agent-spied@lab-agents-,bqESx(#)", "Local/agent-spied@lab-agents-,bqESwx(#)",
                                      "Local/agent-spied@lab-agents-,bqESBx(#)"]
    found = call.details("listen")
    assert (found["supervisor"], found["agent"], found["modes"], found["entries"], found["ended"]) == (
        SUPERVISOR, "Local/agent-spied@lab-agents/n", ["listen", "whisper", "barge"], ["7", "5", "6", "*"],
        "supervisor left")
    seconds = [stretch["seconds"] for stretch in found["stretches"]]
    assert [stretch["mode"] for stretch in found["stretches"]] == ["listen", "whisper", "barge"]
    assert all(2.5 <= s <= 6.0 for s in seconds), seconds  # # pressed about 3.5 s into each mode
    assert sum(seconds) < found["duration"] < sum(seconds) + 20


def test_each_mode_is_heard_by_whom_it_should(lab: Lab) -> None:
    """Listen: the supervisor hears the call, nobody hears the supervisor.
    Whisper: the agent hears the supervisor, the caller does not. Barge:
    both do."""
    supervisor, agent, caller = (recording(lab, name) for name in ("caller-supervisor", "agent-spied", "caller-spied"))
    assert heard(supervisor, "e2e/agent")  # the agent's voice, heard by listening
    assert (heard(agent, "e2e/spy-listen"), heard(caller, "e2e/spy-listen")) == (False, False)
    assert (heard(agent, "e2e/spy-whisper"), heard(caller, "e2e/spy-whisper")) == (True, False)
    assert (heard(agent, "e2e/spy-barge"), heard(caller, "e2e/spy-barge")) == (True, True)


def test_leaving_with_hash_ends_the_session_but_not_the_call(lab: Lab) -> None:
    supervisor, spied = lab.calls["supervisor"], lab.calls["spied"]
    assert supervisor.cdr["ended_at"] < spied.cdr["ended_at"]
    assert (spied.cdr["status"], spied.cdr["queue_status"], spied.cdr["agent"]) == ("completed", "ANSWERED", "Spied")
    assert spied.cdr["talk_time"] > 25  # the agent talked on: 4 s, then 26 s of voice


def test_the_session_is_in_the_supervisors_audit_log(lab: Lab) -> None:
    call = lab.calls["supervisor"]
    stretches = call.details("listen")["stretches"]
    entries = [line.split(None, 5) for line in lab.output("supervisors audit").splitlines()]
    assert [entry[1:5] for entry in entries] == [[SUPERVISOR, "set_pin", "ok", "-"],
                                                 [SUPERVISOR, "pin", "ok", call.cdr["call_id"]],
                                                 [SUPERVISOR, "supervise", "ok", call.cdr["call_id"]]]
    assert entries[-1][5] == "Local/agent-spied@lab-agents/n: " + ", ".join(
        f"{s['mode']} {int(s['seconds'] + 0.5)}s" for s in stretches)  # whole seconds


def test_an_agent_on_no_call_is_refused_and_nothing_is_spied(lab: Lab) -> None:
    call = lab.calls["not-on-call"]
    assert call.path == ["answer:next", "listen:not_on_call", "bye:done"]
    found = call.details("listen")
    assert (found["supervisor"], found["agent"], found["refused"]) == (
        IDLE_SUPERVISOR, "Local/agent-idle@lab-agents/n", "the agent is not on a call")
    assert spy_options(lab, call) == []
    assert prompts(lab, call)[-1] == "agiflow/agent-not-on-call"


def test_a_caller_not_in_the_supervisor_list_is_refused_before_any_pin(lab: Lab) -> None:
    call = lab.calls["not-authorised"]
    assert call.path == ["answer:next", "listen:refused", "bye:done"]
    assert call.cdr["supervisor"] is None
    assert call.details("listen") == {"refused": "caller ID not in the supervisor list"}
    assert prompts(lab, call) == ["agiflow/not-authorised"]
    assert spy_options(lab, call) == []


# -- night mode ------------------------------------------------------------------------

def test_a_supervisor_closes_the_campaign_hours_by_phone_and_hears_the_new_state(lab: Lab) -> None:
    call = lab.calls["night-mode"]
    assert call.path == ["answer:next", "change:set", "bye:next", "hangup:done"]
    assert call.cdr["supervisor"] == NIGHT_SUPERVISOR
    found = call.details("change")
    assert (found["schedule"], found["action"], found["state"], found["entries"], found["pin_attempts"]) == (
        "campaign_hours", "closed", "closed", ["2", "2", "2"], 1)
    until = datetime.fromisoformat(found["until"]).astimezone(ZoneInfo("Europe/Madrid"))
    started = datetime.fromisoformat(call.cdr["started_at"].replace("Z", "+00:00"))
    assert 7190 < (until - started).total_seconds() < 7230  # 2 hours keyed
    # Heard: the questions, then the state now, then "until" and the end said by SAY DATETIME.
    heard_prompts = prompts(lab, call)
    assert heard_prompts[:4] == ["agiflow/enter-pin", "agiflow/pick-schedule", "agiflow/open-close-clear",
                                 "agiflow/enter-hours"]
    assert heard_prompts[4:6] == ["agiflow/now-closed", "agiflow/until"]
    said = heard_prompts[6:-1]  # weekday, "at", the hour, the minutes (in Spanish)
    assert said[:3] == [f"digits/day-{until.isoweekday() % 7}", "digits/at", f"digits/{until.hour}"]
    assert heard_prompts[-1] == "agiflow/goodbye"


def test_agiflow_schedule_shows_the_override_set_by_phone(lab: Lab) -> None:
    show = lab.output("schedule show")
    assert show.splitlines()[0].endswith(": closed")
    assert "(night mode by phone), set by +34600444001 by phone at" in show
    entries = [line.split(None, 5) for line in lab.output("night mode audit").splitlines()]
    call_id = lab.calls["night-mode"].cdr["call_id"]
    assert [entry[1:5] for entry in entries[1:]] == [[NIGHT_SUPERVISOR, "pin", "ok", call_id],
                                                     [NIGHT_SUPERVISOR, "override", "ok", call_id]]
    assert entries[-1][5].startswith("campaign_hours: closed until ")


def test_a_supervisor_who_hangs_up_while_listening_ends_the_session_with_a_hangup(lab: Lab) -> None:
    # ChanSpy returns when the supervisor hangs up: the session is recorded
    # with its one stretch, and the step ends with hangup, as steps.md says.
    call = lab.calls["supervisor-gone"]
    assert call.path == ["answer:next", "listen:hangup"]
    assert (call.cdr["status"], call.cdr["supervisor"]) == ("caller_hangup", IDLE_SUPERVISOR)
    found = call.details("listen")
    assert (found["agent"], found["ended"], found["modes"]) == (
        "Local/agent-spied@lab-agents/n", "supervisor hung up", ["listen"])
    [stretch] = found["stretches"]
    assert stretch["mode"] == "listen" and 2 < stretch["seconds"] < 7
    assert abs(found["duration"] - stretch["seconds"]) < 0.5
