"""On a real Asterisk 22: hangups at more points of more steps (an input
waiting for keys, consent's question, VoiceMail()'s instructions, a plain
AGI call during a menu and while ``agiflow-agi`` is still starting),
recording consent that records a silent caller by the flow's default or is
withdrawn by a later consent step, and a callback request keyed on the
phone (docs/steps.md, docs/compliance.md, docs/agi-mode.md).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from calls import Lab, agi_app_runs, call_log, cdr_rows, files_of, finished_recording, seconds_of, wait_until
from scenarios import STEPS_CALLER

pytestmark = pytest.mark.e2e


# -- callback by keypad ------------------------------------------------------------

def test_a_callback_request_keyed_on_the_phone_is_stored_with_the_number_confirmed(lab: Lab) -> None:
    call = lab.calls["callback-keys"]
    assert call.path == ["answer:next", "callback:requested", "bye:done"]
    details = call.details("callback")
    assert (details["offer"], details["offered"], details["entries"]) == (
        "accepted", STEPS_CALLER % 32, ["1", "2", "911222333", "1"])
    assert (details["number"], details["raw_number"], details["queue"], details["reason"]) == (
        "+34911222333", "911222333", "keypad", "e2e keypad")
    assert (call.cdr["callback"], call.cdr["status"]) == ("+34911222333", "completed")
    [request] = cdr_rows(lab.database, "SELECT * FROM callbacks WHERE call_id = ?", (call.cdr["call_id"],))
    assert (request["number"], request["caller"], request["source"], request["status"], request["queue"]) == (
        "+34911222333", STEPS_CALLER % 32, "keypad", "pending", "keypad")
    assert request["arrived_at"] == call.cdr["started_at"]


def test_the_callback_step_says_each_number_back_digit_by_digit_as_the_caller_dials_it(lab: Lab) -> None:
    said = [found.group(1) for line in call_log(lab, "callback-keys")
            if (found := re.search(r"Playing 'digits/(\d)\.\w+'", line))]
    assert "".join(said) == "600555032" + "911222333"


# -- consent ---------------------------------------------------------------------------

def test_a_silent_caller_is_recorded_when_the_consent_default_is_accepted(lab: Lab) -> None:
    call = lab.calls["consent-silent"]
    assert call.path == ["answer:next", "consent:accepted", "talk:next", "bye:done"]
    cdr = call.cdr
    assert (cdr["consent"], cdr["consent_key"]) == ("no_answer", None)
    assert cdr["consent_at"] is not None
    assert files_of(lab, cdr["call_id"]) == [cdr["recording"]]
    wait_until(lambda: finished_recording(Path(cdr["recording"])), 10, "the recording closed")


def test_a_question_with_no_sound_in_it_records_no_silent_caller_even_with_default_accepted(lab: Lab) -> None:
    """Asterisk 22 plays a sound file with no sound in it "to its end" at
    once (STREAM FILE: endpos=0): the silent caller heard no question."""
    call = lab.calls["consent-empty"]
    assert call.path == ["answer:next", "consent:error", "bye:done"]
    cdr = call.cdr
    assert (cdr["consent"], cdr["recording"], cdr["recording_commands"]) == ("no_answer", None, 0)
    assert files_of(lab, cdr["call_id"]) == []


def test_a_caller_who_hangs_up_while_the_question_waits_is_not_recorded_whatever_the_default(lab: Lab) -> None:
    call = lab.calls["consent-gone"]
    assert call.path == ["answer:next", "consent:hangup"]
    cdr = call.cdr
    assert (cdr["status"], cdr["consent"], cdr["consent_at"], cdr["recording"]) == (
        "caller_hangup", "no_answer", None, None)
    assert (call.end["agistatus"], call.end["agiflow_status"]) == ("HANGUP", "caller_hangup")
    assert not agi_app_runs(lab, "consent-gone", "MixMonitor")
    assert files_of(lab, cdr["call_id"]) == []


def test_a_later_consent_that_withdraws_stops_the_recording_while_the_call_goes_on(lab: Lab) -> None:
    call = lab.calls["consent-withdrawn"]
    assert call.path == ["answer:next", "notice:notified", "talk:next", "withdraw:never", "more:next", "bye:done"]
    cdr = call.cdr
    assert (cdr["consent"], cdr["status"]) == ("never", "completed")
    # The CDR keeps the file's path; the step that withdrew names it.
    assert call.details("withdraw")["stopped_recording"] == cdr["recording"]
    assert files_of(lab, cdr["call_id"]) == [cdr["recording"]]
    assert agi_app_runs(lab, "consent-withdrawn", "StopMixMonitor")
    # It holds the 2 s said between the two consents, not the 4 s after.
    wait_until(lambda: finished_recording(Path(cdr["recording"])), 10, "the recording closed")
    assert 1.0 <= seconds_of(cdr["recording"]) <= 3.5


def test_a_key_pressed_while_the_recording_notice_plays_is_no_answer(lab: Lab) -> None:
    call = lab.calls["consent-early"]
    assert call.path == ["answer:next", "consent:declined", "bye:done"]
    assert (call.cdr["consent"], call.cdr["consent_key"], call.cdr["recording"]) == ("no_answer", None, None)
    assert call.details("consent")["entries"] == []
    assert not agi_app_runs(lab, "consent-early", "MixMonitor")


# -- hangups ---------------------------------------------------------------------------

def test_a_caller_who_hangs_up_while_an_input_waits_for_keys_ends_the_call_there(lab: Lab) -> None:
    call = lab.calls["input-gone"]
    assert call.path == ["account:hangup"]
    assert (call.cdr["status"], call.end["agistatus"], call.end["agiflow_status"]) == (
        "caller_hangup", "HANGUP", "caller_hangup")
    assert call.details("account")["entries"] == []


def test_a_caller_who_hangs_up_during_the_voicemail_instructions_leaves_no_message_and_is_hangup(
        lab: Lab) -> None:
    call = lab.calls["voicemail-gone"]
    assert call.path == ["message:hangup"]
    assert (call.cdr["status"], call.end["agiflow_status"]) == ("caller_hangup", "caller_hangup")
    assert call.details("message")["status"] == "FAILED"


def test_plain_agi_after_a_hangup_goes_on_with_the_dead_channel_commands_and_exits(lab: Lab) -> None:
    call = lab.calls["plain-gone"]
    assert call.path == ["menu:hangup", "note:next", "log:next", "sorry:hangup"]
    assert (call.cdr["status"], call.end["agiflow_status"]) == ("caller_hangup", "caller_hangup")
    assert call.end["e2e_set"] == "after hangup"
    assert any(f"LAB-AFTER-HANGUP {call.cdr['call_id']}" in line for line in call_log(lab, "plain-gone"))


def test_plain_agi_without_sighup_takes_a_prompt_cut_by_the_hangup_for_a_hangup_not_a_missing_sound(
        lab: Lab) -> None:
    """With AGISIGHUP=no Asterisk signals nothing: the -1 of the menu's
    GET DATA is told from a missing prompt by a command a dead channel refuses."""
    call = lab.calls["plain-quiet"]
    assert call.path == ["menu:hangup", "note:next", "log:next", "sorry:hangup"]
    details = call.details("menu")
    assert "failed_sounds" not in details and details["timeouts"] == 0, details
    assert (call.cdr["status"], call.end["agiflow_status"]) == ("caller_hangup", "caller_hangup")


def test_plain_agi_writes_the_cdr_of_a_caller_who_hangs_up_while_it_starts(lab: Lab) -> None:
    """Asterisk sends SIGHUP as soon as the caller hangs up, also while the
    process is still importing agiflow and loading its flows."""
    call = lab.calls["plain-early"]
    assert len(call.rows) == 1
    assert (call.cdr["flow"], call.cdr["status"]) == ("e2e_plain", "caller_hangup")
    assert call.end["agiflow_status"] == "caller_hangup"
    assert call.path == ["hello:hangup"]


# -- the shipped dialplan with agiflow down ------------------------------------------

def test_with_agiflow_down_an_inbound_did_goes_to_the_fallback_which_queues_the_caller(lab: Lab) -> None:
    call = lab.calls["down-inbound"]
    assert call.rows == []
    assert (call.end["agistatus"], call.end["agiflow_status"]) == ("FAILURE", "")
    lines = call_log(lab, "down-inbound")
    assert any("agiflow not reached for support (AGISTATUS=FAILURE)" in line for line in lines), lines
    ran = [found.group(1, 2) for line in lines if (found := re.search(r"Executing \[([^]]+)\] (\w+)\(", line))]
    assert ("down@agiflow-fallback:1", "Log") in ran
    assert ran[ran.index(("queue@agiflow-fallback:1", "Answer")):][:3] == [
        ("queue@agiflow-fallback:1", "Answer"), ("queue@agiflow-fallback:2", "Playback"),
        ("queue@agiflow-fallback:3", "Queue")]
    assert any(re.search(r'Queue\("[^"]+", "support,t,,,300"\)', line) for line in lines)


def test_with_agiflow_down_a_campaign_leg_is_rejected_and_never_dialled(lab: Lab) -> None:
    call = lab.calls["down-campaign"]
    assert call.rows == []
    assert (call.end["agistatus"], call.end["agiflow_status"], call.end["cause"]) == ("FAILURE", "", "21")
    lines = call_log(lab, "down-campaign")
    assert any("agiflow not reached (AGISTATUS=FAILURE): 600111222 not dialled" in line for line in lines), lines
    assert not any(re.search(r"Executing \[[^]]*\] (Dial|Queue)\(", line) for line in lines)
