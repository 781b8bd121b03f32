"""agiflow against a real Asterisk 22: the shipped flows, recording consent,
hangups and application arguments, seen where an operator would look: the
CDR database, Asterisk's log (LAB-END lines: AGISTATUS, AGIFLOW_STATUS),
queue_log and the recording files.

Each test reads one call of the ``lab`` fixture (conftest.py): the calls
run at once, so the suite takes about as long as its longest call.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from agi.protocol import appargs
from calls import Lab
from scenarios import SCENARIOS

pytestmark = pytest.mark.e2e

#: The caller name of the e2e_args call ([globals] NASTY in extensions.conf).
NASTY = 'x,1,U(evil),30|y "q" \\z'


def asterisk_lines(lab: Lab, pattern: str) -> list[str]:
    return [line for line in lab.asterisk.log().splitlines() if re.search(pattern, line)]


# -- the shipped flows ---------------------------------------------------------

def test_support_caller_who_presses_1_talks_to_a_sales_agent_and_the_flow_completes(lab: Lab) -> None:
    call = lab.calls["sales"]
    assert call.path == ["answer:next", "welcome:next", "menu:1", "sales:next", "sales_queue:answered",
                         "goodbye:next", "hangup:done"]
    assert (call.cdr["status"], call.cdr["flow"], call.cdr["caller"]) == ("completed", "support", "+34600111222")
    # the queue step's columns: the call counts as offered and answered in the reports
    assert (call.cdr["queue"], call.cdr["queue_status"]) == ("sales", "ANSWERED")
    assert call.end["agiflow_status"] == "completed" and call.end["member"] in ("Ana", "Luis")
    events = [line[4] for line in lab.asterisk.queue_log() if line[1] == call.cdr["call_id"]]
    assert events[:2] == ["ENTERQUEUE", "CONNECT"] and events[2] in ("COMPLETEAGENT", "COMPLETECALLER")


def test_customer_care_caller_who_accepts_recording_is_recorded_while_talking_to_sales(lab: Lab) -> None:
    call = lab.calls["accept"]
    # memory: the lab's calls share one caller ID, so it may be new, returning or a repeat caller.
    assert call.path[:6] == ["screen:error", "hours:open", "answer:next", "vip:error", "consent:accepted",
                             "consent_given:next"]
    assert call.path[-4:] == ["menu:1", "sales_queue:answered", "goodbye:next", "bye:done"]
    cdr = call.cdr
    assert (cdr["status"], cdr["consent"], cdr["queue"], cdr["queue_status"]) == (
        "completed", "accepted", "sales", "ANSWERED")
    assert call.end["agiflow_status"] == "completed"
    assert call.details("consent")["entries"] == ["1"]
    # The folder holds , " ( ) [ ]: MixMonitor got the file name whole.
    assert cdr["recording"].startswith(f"{lab.recordings}/")
    assert cdr["recording"].endswith(f"_{cdr['call_id']}.wav")
    assert [str(p) for p in lab.recording_files() if p.name.endswith(f"_{cdr['call_id']}.wav")] == [cdr["recording"]]
    assert Path(cdr["recording"]).stat().st_size > 8000  # a WAV header and about a second of sound, at least


def test_every_recording_file_is_at_the_path_of_a_cdr_row_or_of_a_consent_step(lab: Lab) -> None:
    """The CDR keeps the latest consent's recording; a recording the flow
    paused, before consent was given again, is named in its consent step's
    details."""
    recorded = {row["recording"] for call in lab.calls.values() for row in call.rows if row["recording"]}
    assert recorded <= {str(p) for p in lab.recording_files()}
    named = {str(json.loads(step["details"] or "{}").get("recording")) for call in lab.calls.values()
             for step in call.steps}
    assert {str(p) for p in lab.recording_files()} <= recorded | named


# -- consent that records nothing ----------------------------------------------

def test_a_declined_recording_makes_no_file_and_sends_no_mixmonitor(lab: Lab) -> None:
    call = lab.calls["decline"]
    assert "consent:declined" in call.path and call.path[-1] == "menu:hangup"
    assert (call.cdr["consent"], call.cdr["recording"], call.cdr["status"]) == ("declined", None, "caller_hangup")
    assert not any("Executing Application: (MixMonitor)" in line
                   for line in lab.asterisk.call_lines(call.end["channel"]))
    assert not any(p.name.endswith(f"_{call.cdr['call_id']}.wav") for p in lab.recording_files())


def test_a_caller_who_hangs_up_during_the_consent_notice_leaves_one_cdr_row_and_no_file(lab: Lab) -> None:
    call = lab.calls["hangup-consent"]
    assert len(call.rows) == 1
    assert call.path[-1] == "consent:hangup"
    assert (call.cdr["status"], call.cdr["consent"], call.cdr["recording"]) == ("caller_hangup", "no_answer", None)
    assert (call.end["agistatus"], call.end["agiflow_status"]) == ("HANGUP", "caller_hangup")
    assert not any(p.name.endswith(f"_{call.cdr['call_id']}.wav") for p in lab.recording_files())


# -- hangups -------------------------------------------------------------------

@pytest.mark.parametrize("script", ["hangup-menu", "decline"])
def test_a_caller_who_hangs_up_during_a_menu_leaves_one_cdr_row_with_caller_hangup(lab: Lab, script: str) -> None:
    call = lab.calls[script]
    assert len(call.rows) == 1
    assert call.path[-1] == "menu:hangup"
    assert call.cdr["status"] == "caller_hangup" and call.cdr["ended_at"]
    assert (call.end["agistatus"], call.end["agiflow_status"]) == ("HANGUP", "caller_hangup")


def test_every_call_has_exactly_one_cdr_row(lab: Lab) -> None:
    """One each; none for a call that never reached agiflow (agiflow down)."""
    assert {script: len(call.rows) for script, call in lab.calls.items()} == {
        script: int(SCENARIOS[script].reaches_agiflow) for script in lab.calls}


# -- application arguments -----------------------------------------------------

def test_caller_text_reaches_each_application_as_one_argument(lab: Lab) -> None:
    call = lab.calls["listen"]
    assert call.cdr["caller_name"] == NASTY
    assert call.path == ["answer:next", "sound:next", "keep:next", "raw_set:next", "playback:next", "verbose:next",
                         "unevaluated:next", "dial:chanunavail", "bye:done"]
    # STREAM FILE (an AGI argument): one file name, & included.
    assert asterisk_lines(lab, re.escape(f"file.c: File e2e/{NASTY}&more does not exist in any format"))
    # Playback's file (a parsed argument): the whole name, unescaped; | is no separator.
    assert asterisk_lines(lab, re.escape(f"file.c: File e2e/{NASTY} does not exist in any format"))
    # dial: one destination, the U(evil) inside it never became a Dial option.
    assert asterisk_lines(lab, re.escape(f"No such extension/context {NASTY}@lab-agents while calling Local channel"))
    assert asterisk_lines(lab, re.escape(f"app_dial.c: Couldn't call Local/{NASTY}@lab-agents"))
    assert (call.cdr["dialled"], call.cdr["dial_status"]) == (f"Local/{NASTY}@lab-agents", "CHANUNAVAIL")
    # SET VARIABLE (the set step) stores it exactly.
    assert call.end["e2e_name"] == NASTY


def test_applications_that_read_their_data_unparsed_see_the_escapes(lab: Lab) -> None:
    """What docs/steps.md says of Set (reads its data whole) and of the last
    argument an application declares (Verbose's message): the value stays
    one argument, and the backslashes agiflow added are still in it."""
    assert lab.calls["listen"].end["e2e_set"] == appargs.escape(NASTY)
    assert asterisk_lines(lab, re.escape(f"app_verbose.c: E2E-VERBOSE {appargs.escape(NASTY)}") + "$")


def test_exec_evaluates_no_variables_or_expressions_in_its_arguments(lab: Lab) -> None:
    """EXEC hands the arguments over as they are (AGIEXECFULL is not set):
    ${...} and $[...] reach Verbose unevaluated."""
    assert asterisk_lines(lab, re.escape("app_verbose.c: E2E-UNEVALUATED ${CHANNEL} $[1+1]") + "$")
