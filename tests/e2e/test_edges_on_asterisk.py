"""Less travelled paths against a real Asterisk 22: Dial() congested, to
several destinations and with the g option; keys ended by a timeout, a *
among digits, menus out of retries; callers who hang up while talking to a
member or an agent, while the member hears the announcement, or while a
webhook is awaited (FastAGI and plain AGI); a member who hangs up during
the whisper; a queue left empty; the caller's own hangup cause after the
member hung up first; a recording with MixMonitor's b option never bridged,
one in wav49; a dial's caller ID kept to the dial; a caller in a queue when
agiflow stops; by plain AGI an unknown flow and a flow's own hangup; a
callback whose number is busy.
"""
from __future__ import annotations

import wave
from pathlib import Path

import pytest

from calls import Lab, call_log, cdr_rows, files_of
from scenarios import SCENARIOS, STEPS_CALLER

pytestmark = pytest.mark.e2e


# -- dial ---------------------------------------------------------------------------

def test_a_congested_line_gives_congestion(lab: Lab) -> None:
    call = lab.calls["dial-more"]
    assert call.path[0] == "congested:congestion"
    assert (call.details("congested")["status"], call.details("congested")["result"]) == ("CONGESTION", 0)


def test_of_two_destinations_the_agent_is_the_one_that_answered(lab: Lab) -> None:
    details = lab.calls["dial-more"].details("either")
    assert (details["status"], details["agent_interface"]) == ("ANSWER", "Local/agent-brief@lab-agents/n")


def test_with_the_g_option_the_flow_goes_on_once_the_agent_hangs_up(lab: Lab) -> None:
    call = lab.calls["dial-more"]
    assert call.path[2:] == ["go_on:answer", "mark:next", "bye:done"]
    assert call.details("go_on")["result"] == 0  # 0 with g: the caller is still there
    assert (call.cdr["status"], call.end["e2e_set"]) == ("completed", "went on")


def test_a_dial_steps_caller_id_is_the_dials_only_a_later_queue_member_sees_the_caller(lab: Lab) -> None:
    call = lab.calls["callerid-kept"]
    assert call.path == ["answer:next", "agent:busy", "queue:continue", "bye:done"]
    seen = [line.split("LAB-AGENT-SEES ", 1)[1] for line in lab.asterisk.log().splitlines()
            if "LAB-AGENT-SEES " in line]
    assert f'CALLERID="Lab Caller" <{STEPS_CALLER % 59}>' in seen
    assert 'CALLERID="Lab Desk" <+34910000059>' not in seen



def test_a_dial_with_a_caller_id_puts_back_a_caller_name_with_line_breaks_to_its_first_line(lab: Lab) -> None:
    # GET VARIABLE answers the name unescaped, over several lines: read as
    # one answer, the dial runs, and the queue after it presents "Ana"
    # (no AGI command can carry a line break back).
    call = lab.calls["name-lines-dial"]
    assert call.path == ["answer:next", "agent:busy", "queue:continue", "bye:done"]
    assert (call.cdr["status"], call.end["agiflow_status"]) == ("completed", "completed")
    seen = [line.split("LAB-AGENT-SEES ", 1)[1] for line in lab.asterisk.log().splitlines()
            if "LAB-AGENT-SEES " in line]
    assert f'CALLERID="Ana" <{STEPS_CALLER % 82}>' in seen

# -- keys ---------------------------------------------------------------------------

def test_a_star_among_digits_is_invalid_and_an_entry_ended_by_the_timeout_is_kept(lab: Lab) -> None:
    call = lab.calls["keys-edge"]
    details = call.details("account")
    assert (details["entries"], details["invalid"], details["timeouts"]) == (["*1", "12"], 1, 0)
    assert call.end["e2e_set"].split(" ")[0] == "12"


def test_a_choice_of_two_keys_needs_no_hash_and_one_key_then_silence_is_invalid(lab: Lab) -> None:
    call = lab.calls["keys-edge"]
    details = call.details("menu")
    assert (details["entries"], details["choice"], details["invalid"]) == (["4", "42"], "42", 1)
    assert call.end["e2e_set"] == "12 42"


def test_menus_out_of_retries_end_invalid_or_timeout_at_once(lab: Lab) -> None:
    call = lab.calls["keys-edge"]
    assert call.path == ["account:next", "menu:42", "strict:invalid", "quiet:timeout", "bye:next"]
    assert (call.details("strict")["entries"], call.details("strict")["invalid"]) == (["9"], 1)
    assert (call.details("quiet")["entries"], call.details("quiet")["timeouts"]) == ([], 2)


# -- hangups while talking, announced, awaited ------------------------------------------

def test_a_caller_who_hangs_up_while_talking_to_a_queue_member_is_answered_then_caller_hangup(lab: Lab) -> None:
    call = lab.calls["queue-talk-gone"]
    assert call.path == ["route:else", "queue:answered", "after:hangup"]
    cdr = call.cdr
    assert (cdr["status"], cdr["queue_status"], cdr["hangup_cause"]) == ("caller_hangup", "ANSWERED", "16")
    assert cdr["agent"] in ("Ana", "Luis")
    assert 2.0 <= cdr["talk_time"] <= 6.0  # 4 s into the call, the member answered at once
    assert call.end["agiflow_status"] == "caller_hangup"


def test_a_caller_who_hangs_up_while_talking_to_a_dialled_agent_is_answer_then_caller_hangup(lab: Lab) -> None:
    call = lab.calls["dial-talk-gone"]
    assert call.path == ["route:dial", "dial:answer", "after:hangup"]
    cdr = call.cdr
    assert (cdr["status"], cdr["dial_status"], cdr["agent"]) == ("caller_hangup", "ANSWER", "Local/agent-ana@lab-agents/n")
    assert cdr["talk_time"] is None  # the caller was answered before Dial()


def test_a_caller_who_hangs_up_while_the_member_hears_the_announcement_abandoned(lab: Lab) -> None:
    call = lab.calls["announce-gone"]
    assert call.path == ["route:else", "announced:hangup", "bye:hangup"]
    cdr = call.cdr
    assert (cdr["status"], cdr["queue_status"], cdr["agent"], cdr["talk_time"]) == (
        "caller_hangup", "ABANDONED", None, None)
    [request] = cdr_rows(lab.database, "SELECT * FROM callbacks WHERE call_id = ?", (cdr["call_id"],))
    assert (request["reason"], request["queue"], request["number"]) == ("abandoned", "later", STEPS_CALLER % 51)
    assert any(line[1] == cdr["call_id"] and line[4] == "ABANDON" for line in lab.asterisk.queue_log())


def test_a_member_who_hangs_up_during_the_whisper_answered_nobody(lab: Lab) -> None:
    call = lab.calls["announce-dumped"]
    assert call.path == ["route:dumped", "dumped:timeout", "sorry:next", "bye:done"]
    assert (call.cdr["queue_status"], call.cdr["agent"]) == ("TIMEOUT", None)
    assert any(line[1] == call.cdr["call_id"] and line[4] == "AGENTDUMP" for line in lab.asterisk.queue_log())


def test_a_member_who_hung_up_during_the_whisper_is_not_the_agent_of_a_later_queue(lab: Lab) -> None:
    call = lab.calls["stale-member"]
    assert call.path == ["dumped:timeout", "plain:answered", "bye:done"]
    # the second queue sets no interface variables: no agent, not the first queue's member
    assert (call.cdr["queue"], call.cdr["agent"], call.cdr["agent_interface"]) == ("novars", None, None)


@pytest.mark.parametrize("script", ["hook-gone", "hookstdio-gone"])
def test_a_caller_who_hangs_up_while_a_webhook_is_awaited_ends_at_the_next_step(lab: Lab, script: str) -> None:
    call = lab.calls[script]
    assert call.path == ["answer:next", "tell:ok", "after:hangup"]
    assert call.details("tell")["status"] == 200
    assert (call.cdr["status"], call.end["agiflow_status"], call.cdr["hangup_cause"]) == (
        "caller_hangup", "caller_hangup", "16")
    posted = [body for path, body in lab.endpoint.requests if body["call"]["id"] == call.cdr["call_id"]]
    assert [(body["step"], body["path"], body["data"]) for body in posted] == [("tell", ["answer:next"], {"event": "e2e"})]


# -- queue left empty, hangup cause ---------------------------------------------------------

def test_a_queue_whose_only_member_is_paused_sends_the_caller_out_leaveempty(lab: Lab) -> None:
    call = lab.calls["leave-empty"]
    assert call.path == ["wait:leaveempty", "left:next", "bye:done"]
    assert (call.cdr["queue_status"], call.end["e2e_set"]) == ("LEAVEEMPTY", "left")
    assert any(line[1] == call.cdr["call_id"] and line[4] == "EXITEMPTY" for line in lab.asterisk.queue_log())


def test_a_caller_who_hangs_up_after_the_member_did_leaves_their_own_hangup_cause(lab: Lab) -> None:
    call = lab.calls["cause-later"]
    assert call.path == ["talk:continue", "menu:hangup"]
    assert call.details("talk")["hangup_cause"] == "16"  # the member hung up first
    assert call.end["cause"] == "21"  # then the caller, with their own cause
    assert (call.cdr["status"], call.cdr["hangup_cause"]) == ("caller_hangup", "21")


def test_a_flow_that_ends_by_itself_after_an_answered_queue_leaves_agistatus_success(lab: Lab) -> None:
    # Queue() returned -1 (the member hung up first) and the flow went on:
    # that -1 is no failure of the AGI for Asterisk
    call = lab.calls["after-agent"]
    assert call.path == ["talk:answered", "mark:next"]
    assert call.details("talk")["result"] == -1
    assert (call.end["agistatus"], call.end["agiflow_status"], call.end["e2e_set"]) == (
        "SUCCESS", "completed", "after the agent")


def test_a_caller_who_hangs_up_while_the_number_is_said_back_leaves_no_callback_request(lab: Lab) -> None:
    call = lab.calls["callback-digits-gone"]
    assert call.path == ["answer:next", "callback:hangup"]
    assert (call.cdr["status"], call.cdr["callback"]) == ("caller_hangup", None)
    assert call.details("callback")["offer"] == "accepted"
    assert cdr_rows(lab.database, "SELECT * FROM callbacks WHERE call_id = ?", (call.cdr["call_id"],)) == []


def test_a_caller_who_hangs_up_during_the_thanks_keeps_the_callback_request(lab: Lab) -> None:
    call = lab.calls["callback-thanks-gone"]
    number = STEPS_CALLER % 64
    assert call.path == ["answer:next", "callback:hangup"]
    assert (call.cdr["status"], call.cdr["callback"]) == ("caller_hangup", number)
    [request] = cdr_rows(lab.database, "SELECT * FROM callbacks WHERE call_id = ?", (call.cdr["call_id"],))
    assert (request["number"], request["queue"], request["source"], request["status"]) == (
        number, "keypad-gone", "keypad", "pending")


def test_a_caller_who_leaves_the_queue_with_a_key_is_no_answered_call(lab: Lab) -> None:
    call = lab.calls["queue-key"]
    assert call.path == ["wait:exitwithkey", "bye:next"]
    cdr = call.cdr
    assert (cdr["queue_status"], cdr["agent"], cdr["talk_time"]) == ("EXITWITHKEY", None, None)
    assert "callbacks_closed_for" not in call.details("wait")
    assert any(line[1] == cdr["call_id"] and line[4] == "EXITWITHKEY" for line in lab.asterisk.queue_log())
    # once the flow has ended, Asterisk goes on at the key's extension of the queue's context
    assert any("LAB-QUEUE-EXIT " in line and "AGIFLOW_STATUS=completed" in line
               for line in call_log(lab, "queue-key"))


def test_a_call_rejected_before_anyone_answered_it_is_completed_with_the_cause(lab: Lab) -> None:
    call = lab.calls["e2e_reject"]
    assert call.path == ["reject:done"]
    assert (call.cdr["status"], call.cdr["hangup_cause"], call.cdr["answered_at"]) == ("completed", "21", None)
    assert (call.end["agistatus"], call.end["agiflow_status"], call.end["cause"]) == ("HANGUP", "completed", "21")


def test_0_during_voicemail_leaves_to_the_operator_with_user_exit(lab: Lab) -> None:
    # with operator = yes in voicemail.conf and an o extension in the context
    call = lab.calls["voicemail-zero"]
    assert call.path[0] == "message:user_exit" and call.cdr["status"] == "completed"
    assert any(f"LAB-VOICEMAIL-OPERATOR CHANNEL={call.end['channel']} VMSTATUS=USEREXIT" in line
               for line in call_log(lab, "voicemail-zero"))


def test_a_queue_asterisk_does_not_have_ends_the_step_in_error(lab: Lab) -> None:
    call = lab.calls["no-queue"]
    assert call.path == ["wait:error", "said:next", "bye:done"]
    assert (call.cdr["queue_status"], call.details("wait")["status"], call.end["e2e_set"]) == (
        "UNKNOWN", "UNKNOWN", "no such queue")


def test_a_caller_who_leaves_a_ringing_dial_with_a_key_has_not_abandoned(lab: Lab) -> None:
    # the d option: 5 is an extension of EXITCONTEXT; Asterisk sets
    # DIALSTATUS=CANCEL with the caller still on the line
    call = lab.calls["dial-key"]
    assert call.path == ["exit:next", "agent:exitwithkey", "bye:next"]
    cdr = call.cdr
    assert (cdr["dial_status"], cdr["status"], cdr["agent"], cdr["talk_time"]) == (
        "EXITWITHKEY", "completed", None, None)
    assert call.details("agent")["result"] == ord("5")
    assert cdr["ring_time"] is not None
    # once the flow has ended, Asterisk goes on at the key's extension of EXITCONTEXT
    assert any("LAB-DIAL-EXIT " in line and "DIALSTATUS=CANCEL AGIFLOW_STATUS=completed" in line
               for line in call_log(lab, "dial-key"))


def test_a_hangup_step_without_a_cause_leaves_the_channel_without_one(lab: Lab) -> None:
    # AGI's HANGUP gives the channel no cause (unlike Hangup() without one,
    # which gives 16): HANGUPCAUSE stays 0, also in the hangup handler, and
    # the CDR's hangup_cause is NULL, as Asterisk has it
    call = lab.calls["hangup-plain"]
    assert call.path == ["bye:done"]
    assert (call.cdr["status"], call.end["agistatus"], call.end["agiflow_status"]) == (
        "completed", "HANGUP", "completed")
    assert (call.cdr["hangup_cause"], call.end["cause"]) == (None, "0")


def test_a_caller_cut_by_the_drain_timeout_while_in_a_queue_is_no_answered_call(lab: Lab) -> None:
    """agiflow stopped while the caller waited: the drain timeout closed the
    connection during Queue(), which went on without a member answering."""
    call = lab.calls["drained"]
    assert (call.cdr["status"], call.path) == ("interrupted", ["answer:next", "wait:hangup", "bye:hangup"])
    assert (call.cdr["queue"], call.cdr["queue_status"], call.cdr["agent"]) == ("prio", None, None)
    assert call.cdr["hangup_cause"] is None  # the hangup step after it could hang up nothing
    assert "callbacks_closed_for" not in call.details("wait")
    events = [line[4] for line in lab.asterisk.queue_log() if line[1] == call.cdr["call_id"]]
    assert events[0] == "ENTERQUEUE" and "CONNECT" not in events and events[-1] in ("ABANDON", "EXITWITHTIMEOUT")
    assert call.end["agiflow_status"] == ""  # the connection was closed: no status was set


# -- plain AGI ------------------------------------------------------------------------------

def test_plain_agi_sends_an_unknown_flow_to_the_shipped_fallback_context(lab: Lab) -> None:
    call = lab.calls["plain-fallback"]
    assert (call.cdr["status"], call.cdr["args"]) == ("unknown_flow", '["first", "", "third"]')
    assert (call.end["agistatus"], call.end["agiflow_status"]) == ("SUCCESS", "unknown_flow")
    ran = [line for line in call_log(lab, "plain-fallback") if "Executing [" in line]
    assert any("[queue@agiflow-fallback:3] Queue(" in line for line in ran)


def test_plain_agi_a_flow_that_hangs_up_itself_is_completed_with_its_cause(lab: Lab) -> None:
    call = lab.calls["plain-hello"]
    assert call.path == ["hello:next", "bye:done"]
    assert (call.cdr["status"], call.cdr["hangup_cause"], call.cdr["node"]) == ("completed", "16", None)
    assert (call.end["agistatus"], call.end["agiflow_status"]) == ("HANGUP", "completed")



@pytest.mark.parametrize("script", ["name-lines", "plain-name-lines"])
def test_a_caller_name_with_line_breaks_neither_stops_the_call_nor_changes_the_flow_or_number(
        lab: Lab, script: str) -> None:
    # Asterisk writes CALLERID(name) into the environment as it is: here
    # "Ana", a blank line, and lines that read as agi_network_script and
    # agi_callerid. The call runs the flow it was sent to, from its own number.
    call = lab.calls[script]
    assert call.path == ["hello:next", "bye:done"]
    assert (call.cdr["status"], call.cdr["flow"], call.cdr["caller_name"]) == ("completed", "e2e_hello", "Ana")
    assert call.cdr["caller"] == SCENARIOS[script].caller
    assert (call.end["agistatus"], call.end["agiflow_status"]) == ("HANGUP", "completed")

# -- recording, callbacks ------------------------------------------------------------------

def test_a_recording_that_runs_only_while_bridged_of_a_caller_never_bridged_holds_no_sound(lab: Lab) -> None:
    cdr = lab.calls["rec-unbridged"].cdr
    assert (cdr["consent"], cdr["queue_status"]) == ("notified", "TIMEOUT")
    assert files_of(lab, cdr["call_id"]) == [cdr["recording"]]
    with wave.open(cdr["recording"], "rb") as recording:
        assert recording.getnframes() == 0


def test_a_recording_in_wav49_is_at_the_path_the_cdr_names(lab: Lab) -> None:
    cdr = lab.calls["rec-wav49"].cdr
    assert (cdr["consent"], cdr["flow"]) == ("no_answer", "e2e_consent_default")  # default: accepted
    written = [str(p) for p in lab.recording_files() if cdr["call_id"] in p.name]
    assert written == [cdr["recording"]]
    assert Path(cdr["recording"]).read_bytes()[:4] == b"RIFF" and Path(cdr["recording"]).stat().st_size > 60


def test_a_callback_whose_number_is_busy_stays_pending_and_waits_for_its_retry(lab: Lab) -> None:
    number = STEPS_CALLER % 51
    assert "1 call file written" in lab.output("callbacks dial later")
    assert "0 call files written" in lab.output("callbacks dial later again")
    [request] = cdr_rows(lab.database, "SELECT * FROM callbacks WHERE number = ?", (number,))
    assert (request["status"], request["attempts"]) == ("pending", 1)
    assert f"Local/{number[1:]}@lab-unreachable" in lab.asterisk.log()
