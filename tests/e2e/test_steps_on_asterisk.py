"""Step types against a real Asterisk 22, as docs/steps.md describes them:
menu keys (a lone ``#``, invalid keys, the repeat key, a timeout), a hangup
cause, missing sounds, the channel's language, a ``goto``, ``Dial()`` and
``Queue()`` statuses, and a flow reached through ``hagi://`` with a port
(dialplan/extensions_agiflow.conf).
"""
from __future__ import annotations

import re

import pytest

from calls import Lab, call_log
from scenarios import STEPS_CALLER

pytestmark = pytest.mark.e2e


# -- menu and hangup --------------------------------------------------------------

def test_menu_counts_a_lone_hash_and_a_wrong_key_as_invalid_replays_on_the_repeat_key_and_times_out(
        lab: Lab) -> None:
    call = lab.calls["menu-keys"]
    assert call.path == ["answer:next", "menu:2", "two:next", "busy:done"]
    details = call.details("menu")
    assert details["entries"] == ["", "9", "*", "2"]
    assert (details["invalid"], details["timeouts"]) == (2, 1)
    # the choice reached the channel: the set step read it back from vars
    assert call.end["e2e_set"] == "chose 2"


def test_menu_direct_dial_takes_an_extension_after_an_entry_ended_by_hash_that_was_none(lab: Lab) -> None:
    call = lab.calls["direct"]
    assert call.path == ["answer:next", "menu:direct", "keep:next", "bye:done"]
    details = call.details("menu")
    assert (details["entries"], details["invalid"], details["timeouts"]) == (["2", "234"], 1, 0)
    assert call.end["e2e_set"] == "extension 234"


def test_a_hangup_step_with_a_cause_gives_that_cause_to_the_channel_and_the_cdr(lab: Lab) -> None:
    call = lab.calls["menu-keys"]
    assert (call.cdr["status"], call.cdr["hangup_cause"]) == ("completed", "17")
    assert call.end["agiflow_status"] == "completed"
    assert call.end["cause"] == "17"


# -- prompts, languages, goto ---------------------------------------------------------

def test_a_missing_sound_is_listed_the_flow_goes_on_and_asterisk_says_failure(lab: Lab) -> None:
    call = lab.calls["prompts"]
    assert call.details("missing")["failed_sounds"] == ["e2e/no-such-sound"]
    assert call.cdr["status"] == "completed"
    assert (call.end["agistatus"], call.end["agiflow_status"]) == ("FAILURE", "completed")
    played = [line for line in call_log(lab, "prompts") if "Playing 'e2e/prompt" in line]
    assert played, "the sound after the missing one was played"


def test_a_flow_that_sets_the_channel_language_plays_its_prompts_in_that_language(lab: Lab) -> None:
    lines = call_log(lab, "prompts")
    assert any(re.search(r"Playing 'agiflow/goodbye\.\w+'.* \(language 'es'\)", line) for line in lines), lines


def test_a_menu_whose_prompt_is_missing_counts_timeouts(lab: Lab) -> None:
    call = lab.calls["prompts"]
    details = call.details("menu")
    assert (details["timeouts"], details["invalid"], details["entries"]) == (2, 0, [])
    assert "menu:timeout" in call.path


def test_goto_goes_on_in_the_other_flow_in_the_same_cdr_row(lab: Lab) -> None:
    call = lab.calls["prompts"]
    assert call.path[-3:] == ["elsewhere:transfer", "hello:next", "bye:done"]
    flows = {step["step"]: step["flow"] for step in call.steps}
    assert (flows["menu"], flows["hello"]) == ("e2e_prompts", "e2e_hello")
    assert call.cdr["status"] == "completed"


def test_goto_into_a_flow_with_a_language_plays_in_it_after_a_set_step_changed_the_channels(lab: Lab) -> None:
    # e2e_prompts set CHANNEL(language) to es; e2e_hello says en, the language the call started in
    played = [line for line in call_log(lab, "prompts") if "Playing '" in line]
    assert re.search(r"Playing 'agiflow/goodbye\.\w+'.* \(language 'es'\)", played[-2]), played
    assert re.search(r"Playing 'e2e/prompt\.\w+'.* \(language 'en'\)", played[-1]), played


# -- dial and queue statuses -------------------------------------------------------------

def test_dial_goes_on_by_busy_noanswer_and_chanunavail_and_queue_by_joinempty(lab: Lab) -> None:
    call = lab.calls["dial-statuses"]
    assert call.path == ["busy:busy", "ringing:noanswer", "nobody:chanunavail", "empty:joinempty", "bye:done"]
    assert [call.details(step)["status"] for step in ("busy", "ringing", "nobody", "empty")] == [
        "BUSY", "NOANSWER", "CHANUNAVAIL", "JOINEMPTY"]
    assert (call.cdr["queue"], call.cdr["queue_status"]) == ("empty", "JOINEMPTY")
    assert call.cdr["agent"] is None and call.cdr["talk_time"] is None


def test_noanswer_rings_for_the_dial_timeout(lab: Lab) -> None:
    ring_time = lab.calls["dial-statuses"].details("ringing")["ring_time"]
    assert 1.5 <= ring_time <= 3.5


# -- the shipped dialplan's hagi:// ----------------------------------------------------------

def test_hagi_with_a_port_reaches_agiflow_without_an_srv_lookup(lab: Lab) -> None:
    call = lab.calls["fleet"]
    assert (call.cdr["flow"], call.cdr["status"]) == ("e2e_hello", "completed")
    # the flow's own hangup step: the channel hung up, so Asterisk says HANGUP
    assert (call.end["agistatus"], call.end["agiflow_status"]) == ("HANGUP", "completed")
    assert any("Specifying a port number disables SRV lookups" in line for line in lab.asterisk.log().splitlines())


# -- server.fallback and the shipped agiflow-fallback context ------------------------------

def test_an_unknown_flow_goes_to_the_shipped_fallback_context_which_queues_the_caller(lab: Lab) -> None:
    call = lab.calls["fallback"]
    assert call.cdr["status"] == "unknown_flow" and call.end["agiflow_status"] == "unknown_flow"
    ran = [found.group(1, 2) for line in call_log(lab, "fallback")
           if (found := re.search(r"Executing \[([^]]+)\] (\w+)\(", line))]
    assert ran[ran.index(("no_such_flow@lab-in:7", "AGI")) + 1:][:4] == [
        ("s@agiflow-fallback:1", "Log"), ("s@agiflow-fallback:2", "Goto"), ("queue@agiflow-fallback:1", "Answer"),
        ("queue@agiflow-fallback:2", "Playback")]
    assert any(re.search(r'Queue\("[^"]+", "support,t,,,300"\)', line) for line in call_log(lab, "fallback"))


# -- input, exec, voicemail ---------------------------------------------------------------

def test_input_refuses_an_entry_shorter_than_min_digits_then_keeps_a_valid_one(lab: Lab) -> None:
    call = lab.calls["input-keys"]
    details = call.details("account")
    assert (details["entries"], details["invalid"], details["timeouts"]) == (["12", "4821"], 1, 0)
    assert call.path[0] == "account:next"


def test_exec_of_an_application_asterisk_does_not_have_ends_the_step_with_error(lab: Lab) -> None:
    call = lab.calls["input-keys"]
    assert call.path[1] == "missing_app:error"
    assert call.details("missing_app") == {"error": "Asterisk has no application 'NoSuchApplication'"}
    assert any("Could not find application (NoSuchApplication)" in line for line in call_log(lab, "input-keys"))


def test_voicemail_ended_by_the_caller_hanging_up_is_success_and_the_message_is_in_the_mailbox(lab: Lab) -> None:
    call = lab.calls["input-keys"]
    assert call.path[2] == "message:success"
    assert call.details("message")["status"] == "SUCCESS"
    inbox = lab.asterisk.run / "spool" / "voicemail" / "default" / "support" / "INBOX"
    assert sorted(p.suffix for p in inbox.glob("msg*")) == [".txt", ".wav"]


def test_voicemail_to_a_mailbox_that_does_not_exist_is_failed_and_the_flow_goes_on(lab: Lab) -> None:
    call = lab.calls["voicemail-none"]
    assert call.path == ["answer:next", "leave:failed", "bye:done"]
    assert call.details("leave")["status"] == "FAILED"
    assert any("No entry in voicemail config file for 'nobody'" in line for line in call_log(lab, "voicemail-none"))
    assert (call.cdr["status"], call.end["agiflow_status"]) == ("completed", "completed")


def test_voicemail_left_with_star_is_user_exit_and_the_dialplan_goes_on_at_a(lab: Lab) -> None:
    call = lab.calls["voicemail-star"]
    assert call.path[0] == "message:user_exit" and call.cdr["status"] == "completed"
    assert call.details("message")["status"] == "USEREXIT"
    assert any(f"LAB-VOICEMAIL-EXIT CHANNEL={call.end['channel']} VMSTATUS=USEREXIT" in line
               for line in call_log(lab, "voicemail-star"))


# -- queue c option, dial caller ID -----------------------------------------------------

def test_queue_with_the_c_option_goes_on_when_the_member_hangs_up_first(lab: Lab) -> None:
    call = lab.calls["continue"]
    assert call.path[:3] == ["answer:next", "queue:continue", "agent:answer"]
    details = call.details("queue")
    assert (details["status"], details["agent"], details["agent_interface"], details["hangup_cause"]) == (
        "CONTINUE", "Brief", "Local/agent-brief@lab-agents/n", "16")
    assert 1.0 <= details["talk_time"] <= 3.5


def test_dial_presents_the_steps_caller_id_to_the_agent(lab: Lab) -> None:
    call = lab.calls["continue"]
    seen = [line.split("LAB-AGENT-SEES ", 1)[1] for line in lab.asterisk.log().splitlines()
            if "LAB-AGENT-SEES " in line]
    # the queue member saw the caller; the dialled agent, the step's caller ID
    assert 'CALLERID="Lab Caller" <+34600333003>' in seen and 'CALLERID="Lab Support" <+34910000000>' in seen
    assert call.details("agent")["status"] == "ANSWER"


# -- the shipped agiflow-inbound context ---------------------------------------------------

def test_a_did_of_the_shipped_inbound_context_runs_its_flow_and_logs_both_statuses_in_h(lab: Lab) -> None:
    call = lab.calls["did-sales"]
    assert (call.cdr["flow"], call.cdr["status"]) == ("support", "completed")
    assert "menu:1" in call.path and call.path[-1] == "hangup:done"
    lines = call_log(lab, "did-sales")
    assert any(re.search(r'Executing \[900123456@agiflow-inbound:4\] AGI\("[^"]+", "agi://127\.0\.0\.1:\d+/support"\)',
                         line) for line in lines)
    assert any("agiflow: support ended AGISTATUS=HANGUP AGIFLOW_STATUS=completed" in line for line in lines)


# -- consent privacy notice, dial cancelled -------------------------------------------------

def test_the_accept_key_pressed_while_the_privacy_notice_plays_is_the_answer(lab: Lab) -> None:
    call = lab.calls["privacy"]
    assert call.path == ["consent:accepted", "bye:done"]
    assert (call.cdr["consent"], call.cdr["consent_key"], call.cdr["recording"]) == ("accepted", "1", None)
    assert call.details("consent")["entries"] == ["5", "1"]
    assert not any("MixMonitor" in line for line in call_log(lab, "privacy"))


def test_a_caller_who_hangs_up_while_the_dial_rings_is_cancel(lab: Lab) -> None:
    call = lab.calls["cancel"]
    assert call.path == ["agent:hangup"]
    assert (call.cdr["status"], call.cdr["dial_status"]) == ("caller_hangup", "CANCEL")
    assert 2.0 <= call.cdr["ring_time"] <= 4.0
    assert call.cdr["talk_time"] is None and call.cdr["agent"] is None


# -- after the caller hung up ------------------------------------------------------------------

def test_after_a_hangup_the_flow_goes_on_with_set_variable_and_exec_and_a_prompt_ends_it(lab: Lab) -> None:
    call = lab.calls["gone"]
    assert call.path == ["menu:hangup", "note:next", "log:next", "sorry:hangup"]
    assert (call.cdr["status"], call.end["agiflow_status"]) == ("caller_hangup", "caller_hangup")
    assert call.end["e2e_set"] == "after hangup"  # the hangup handler reads it
    assert any(f"LAB-AFTER-HANGUP {call.cdr['call_id']}" in line for line in call_log(lab, "gone"))


# -- the shipped agiflow-campaign context -----------------------------------------------------

def test_a_campaign_leg_whose_do_not_call_list_is_missing_is_never_dialled(lab: Lab) -> None:
    call = lab.calls["campaign-leg"]
    cdr = call.cdr
    assert (cdr["flow"], cdr["status"], cdr["robinson"], cdr["robinson_list"]) == (
        "campaign", "completed", "error", "do_not_call")
    assert call.path == ["dnc:error", "unchecked:next"]
    lines = call_log(lab, "campaign-leg")
    assert not any(re.search(r"Executing \[[^]]*\] (Dial|Queue)\(", line) for line in lines)
    assert any("agiflow: campaign leg ended AGIFLOW_STATUS=completed ROBINSON=error" in line for line in lines)


# -- plain AGI --------------------------------------------------------------------------

def test_a_flow_run_by_plain_agi_writes_its_cdr_and_gets_its_arguments(lab: Lab) -> None:
    call = lab.calls["plain"]
    assert (call.cdr["flow"], call.cdr["status"], call.cdr["hangup_cause"]) == ("e2e_plain", "completed", "16")
    assert call.path == ["hello:next", "args:next", "bye:done"]
    assert call.end["e2e_set"] == "first||third"
    assert call.end["agiflow_status"] == "completed"


# -- a full queue -----------------------------------------------------------------------------

def test_a_caller_who_finds_the_queue_at_its_maxlen_is_full_and_the_one_waiting_times_out(lab: Lab) -> None:
    first, second = lab.calls["full-1"], lab.calls["full-2"]
    assert (first.path[1], first.cdr["queue_status"]) == ("wait:timeout", "TIMEOUT")
    assert (second.path[1], second.cdr["queue_status"]) == ("wait:full", "FULL")
    assert second.details("wait")["wait"] < 1.0
    assert [line[4] for line in lab.asterisk.queue_log() if line[1] == second.cdr["call_id"]] == []


def test_a_caller_withdrawn_through_ami_leaves_the_queue_with_withdraw(lab: Lab) -> None:
    call = lab.calls["withdrawn"]
    assert (call.path[1], call.cdr["queue_status"], call.cdr["status"]) == ("wait:withdraw", "WITHDRAW", "completed")


def test_a_caller_the_member_transfers_leaves_the_queue_answered_and_the_flow_as_a_hangup(lab: Lab) -> None:
    """Asterisk moves the caller to the transfer's target and tells the AGI
    the channel hung up: the flow ends at its next step, caller_hangup, and
    the caller arrives at the target with that status (steps.md, queue)."""
    call = lab.calls["transferred"]
    assert call.path == ["answer:next", "wait:answered", "bye:hangup"] and call.cdr["status"] == "caller_hangup"
    assert (call.cdr["queue_status"], call.cdr["agent"]) == ("ANSWERED", "Handover")
    assert call.details("wait")["result"] == 0
    events = [line[4:] for line in lab.asterisk.queue_log() if line[1] == call.cdr["call_id"]]
    assert [event[0] for event in events] == ["ENTERQUEUE", "CONNECT", "BLINDTRANSFER"]
    assert events[-1][1:3] == ["target", "lab-transfer"]
    [arrived] = [line for line in call_log(lab, "transferred") if "app_verbose.c: LAB-TRANSFERRED" in line]
    assert "AGISTATUS=HANGUP AGIFLOW_STATUS=caller_hangup" in arrived


# -- the shipped closed flow ----------------------------------------------------------------------

def test_the_shipped_closed_flow_says_the_number_digit_by_digit_and_hangs_up(lab: Lab) -> None:
    call = lab.calls["closed"]
    assert call.path == ["answer:next", "message:next", "bye:done"]
    assert call.cdr["status"] == "completed" and "failed_sounds" not in call.details("message")
    said = [found.group(1) for line in call_log(lab, "closed")
            if (found := re.search(r"Playing '(digits/\d)\.\w+'", line))]
    assert said == [f"digits/{d}" for d in "900123456"]
    assert (call.end["agistatus"], call.end["agiflow_status"]) == ("HANGUP", "completed")


def test_a_queue_whose_only_member_is_unavailable_is_joinempty_never_joinunavail(lab: Lab) -> None:
    call = lab.calls["queue-unavail"]
    assert call.path == ["queue:joinempty", "empty:next", "bye:done"]
    assert (call.cdr["queue_status"], call.details("queue")["status"]) == ("JOINEMPTY", "JOINEMPTY")
    assert "(Invalid)" in lab.output("queue show unavail")


def test_a_withheld_caller_id_said_back_is_skipped_keys_after_a_star_are_said_and_the_flow_goes_on(
        lab: Lab) -> None:
    call = lab.calls["say-back"]
    assert call.cdr["caller"] == "anonymous"
    assert call.path == ["answer:next", "say:next", "bye:done"]
    assert (call.cdr["status"], call.end["agiflow_status"]) == ("completed", "completed")
    assert call.details("say")["unsaid"] == [{"digits": "anonymous"}, {"number": "3.5"}]
    played = [found.group(1) for line in call_log(lab, "say-back")
              if (found := re.search(r"Playing '([^']+)\.\w+'", line))]
    assert played == ["digits/star", "digits/2", "digits/1", "digits/pound", "e2e/prompt"]


def test_a_call_whose_do_not_call_check_failed_is_not_sent_to_the_fallback(lab: Lab) -> None:
    call = lab.calls["dnc-error"]
    assert call.path == ["dnc:error"]
    assert (call.cdr["status"], call.cdr["robinson"], call.end["agiflow_status"]) == ("error", "error", "error")
    ran = [found.group(1) for line in call_log(lab, "dnc-error")
           if (found := re.search(r"Executing \[([^]]+)\] ", line))]
    assert not any("agiflow-fallback" in where for where in ran)
    assert ran[ran.index("e2e_dnc_error@lab-in:7") + 1] == "e2e_dnc_error@lab-in:8"  # the next priority: Hangup()


# -- a consent withdrawn after two recordings --------------------------------------

_LOGGED_AT = re.compile(r"^\[(\w+ +\d+ [\d:]+)\]")


def _second(line: str) -> str:
    found = _LOGGED_AT.search(line)
    assert found, line
    return found.group(1)


def test_a_withdrawn_consent_stops_the_consent_s_recording_and_an_exec_s_and_a_second_consent_adds_none(
        lab: Lab) -> None:
    """StopMixMonitor without an id stops one recording of the channel
    (Asterisk 22.11): with one sent, the other went on recording to the end
    of the call after the caller's consent was withdrawn."""
    call = lab.calls["rerecord"]
    assert call.path == ["answer:next", "notice:notified", "again:notified", "second:next", "withdraw:never",
                         "wait:next", "bye:done"]
    assert call.details("again")["already_recording"] is True
    assert call.cdr["recording_commands"] == 2
    log = call_log(lab, "rerecord")
    assert len([line for line in log if "Begin MixMonitor Recording" in line]) == 2
    # StopMixMonitor closes the file at once, in the call's own thread; the
    # recording's thread says it ended a moment later (a second on a loaded machine)
    closed = [line for line in log if "MixMonitor close filestream" in line]
    ended = [line for line in log if "End MixMonitor Recording" in line]
    assert (len(closed), len(ended)) == (2, 2)
    waited = next(line for line in log if "Executing Application: (Wait)" in line)
    hung_up = next(line for line in log if "Executing Application: (Hangup)" in line)
    # both stop as the consent is withdrawn, two seconds before the call ends
    assert all(_second(line) <= _second(waited) < _second(hung_up) for line in closed)
    assert all(_second(line) < _second(hung_up) for line in ended)


# -- numbers written with punctuation, after a do-not-call check ----------------------

def test_a_listed_number_written_with_dots_or_brackets_is_never_dialled_after_a_clear_check(lab: Lab) -> None:
    """A check of 600111222 says clear; the landline 91.123.45.67 (on the
    list robinson as +34911234567) is refused both as a dial step's
    destination and as an exec of Dial written ``(91) 123-45-67``, so
    Asterisk never runs Dial() to it; 600.111.222, the number checked, is
    dialled and answered. A check of the dotted landline finds it listed."""
    call = lab.calls["dnc-dots"]
    assert call.path == ["check:clear", "dotted:error", "bracketed:error", "covered:answer", "landline:listed",
                         "bye:done"]
    assert [call.details(step)["error"] for step in ("dotted", "bracketed")] == [
        "Dial refused: it calls 911234567, which no do-not-call check of this call covered; "
        "dial the number you checked"] * 2
    dialled = [found.group(1) for line in call_log(lab, "dnc-dots")
               if (found := re.search(r"Executing Application: \(Dial\) Options: \(([^)]*)\)", line))]
    assert dialled == ["Local/600.111.222@lab-agents,5"]
    cdr = call.cdr
    assert (cdr["refused_commands"], cdr["dial_status"], cdr["agent_interface"]) == (
        "Dial (do-not-call), Dial (do-not-call)", "ANSWER", "Local/600.111.222@lab-agents")
    assert (cdr["robinson"], cdr["robinson_list"], cdr["dialled"]) == ("listed", "robinson", "+34911234567")
    assert call.details("landline")["entry"] == "+34911234567"


# -- a queue's subroutine on the member's channel ---------------------------------------

def test_a_queue_gosub_runs_on_the_member_with_its_arguments_and_a_caller_name_that_would_split_is_refused(
        lab: Lab) -> None:
    """Queue() runs ``lab-member-sub,<caller>,fixed`` as
    Gosub(lab-member-sub,s,1(<caller>,fixed)) on the member's channel; a
    caller name with commas and brackets in the gosub is refused before
    Queue() is sent (it would have been four arguments)."""
    call = lab.calls["member-sub"]
    assert call.path == ["answer:next", "member:continue", "named:error", "bye:done"]
    log = call_log(lab, "member-sub")
    assert [line.split("LAB-MEMBER-SUB ", 1)[1] for line in log if "app_verbose.c: LAB-MEMBER-SUB" in line] == [
        f"ARG1={STEPS_CALLER % 38} ARG2=fixed ARG3="]
    assert sum("Executing Application: (Queue)" in line for line in log) == 1
    assert call.details("named")["error"].startswith("gosub: the inserted value 'x,1,U(evil),30|y ")
