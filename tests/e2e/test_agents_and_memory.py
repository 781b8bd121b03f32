"""On a real Asterisk 22: what Queue() and Dial() leave of the agent who
answered, as the CDR records it (name, interface, wait, talk and ring
times, against queue_log), and caller memory through the real server: a
caller's first call is new, the second returning, and the third rings the
agent who took the second before any queue; a caller who hung up in the
queue calls again and goes ahead of the caller waiting there.
"""
from __future__ import annotations

import re

import pytest

from calls import Call, Lab
from scenarios import BACK_CALLER, WAITING_CALLER

pytestmark = pytest.mark.e2e


def applications(lab: Lab, call: Call) -> list[str]:
    """The applications agiflow ran in the call, with their arguments."""
    return [found.group(1) for line in lab.asterisk.call_lines(call.end["channel"])
            if (found := re.search(r"AGI Script Executing Application: (\(\w+\) Options: \(.*\))$", line))]


def queue_events(lab: Lab, call: Call) -> dict[str, list[str]]:
    """queue_log's events of the call, by name: the event's data."""
    return {line[4]: line[5:] for line in lab.asterisk.queue_log() if line[1] == call.cdr["call_id"]}


# -- agent variables -------------------------------------------------------------

def test_the_queue_member_who_answered_is_the_agent_with_asterisks_own_wait_and_talk_time(lab: Lab) -> None:
    call = lab.calls["accept"]  # customer_care's sales queue
    cdr = call.cdr
    events = queue_events(lab, call)
    [member] = [line[3] for line in lab.asterisk.queue_log() if line[1] == cdr["call_id"] and line[4] == "CONNECT"]
    assert cdr["agent"] == member == call.end["member"]
    assert cdr["agent_interface"] == f"Local/agent-{member.lower()}@lab-agents/n"
    # queue_log: CONNECT holdtime|bridged|ringtime; COMPLETE* holdtime|calltime|position. The hold
    # time includes the whisper the member hears before the caller is put through.
    complete = events.get("COMPLETEAGENT") or events["COMPLETECALLER"]
    assert cdr["queue_wait"] == float(events["CONNECT"][0]) == float(complete[0])
    assert abs(cdr["talk_time"] - float(complete[1])) <= 1.0
    assert 0.5 <= cdr["talk_time"] <= 8.0  # the member hangs up 8 s after answering ([lab-agents])
    found = call.details("sales_queue")
    assert (found["agent"], found["agent_interface"], found["wait"], found["talk_time"]) == (
        cdr["agent"], cdr["agent_interface"], cdr["queue_wait"], cdr["talk_time"])


def test_a_dial_that_answers_the_caller_records_the_agent_and_its_ring_and_talk_time(lab: Lab) -> None:
    call = lab.calls["e2e_dial"]
    cdr = call.cdr
    assert call.path == ["agent:answer", "bye:done"] and cdr["status"] == "completed"
    assert (cdr["dialled"], cdr["dial_status"]) == ("Local/agent-slow@lab-agents/n", "ANSWER")
    assert cdr["agent"] == cdr["agent_interface"] == "Local/agent-slow@lab-agents/n"
    # agent-slow rings 2 s and talks 3 s; ANSWEREDTIME is whole seconds.
    assert cdr["talk_time"] == 3.0
    assert 1.8 <= cdr["ring_time"] <= 3.0
    assert cdr["answered_at"] is None  # Dial() answered the caller, not the flow


def test_a_dial_after_the_flow_answered_records_the_agent_but_no_talk_or_ring_time(lab: Lab) -> None:
    call = lab.calls["memory-3"]
    assert call.cdr["agent_interface"] == call.cdr["dialled"]
    assert (call.cdr["talk_time"], call.cdr["ring_time"]) == (None, None)


@pytest.mark.parametrize("script", ["dial-up", "e2e_dial_played"])
def test_a_dial_to_a_caller_answered_before_it_by_the_dialplan_or_an_application_has_no_talk_or_ring_time(
        lab: Lab, script: str) -> None:
    """Answered just before the flow (dial-up) or by an exec of Playback
    (e2e_dial_played): ANSWEREDTIME counts from that answer, so it holds the
    2 s of ringing too, and the Dial() took about as long."""
    call = lab.calls[script]
    assert call.path[-2:] == ["agent:answer", "bye:done"] and call.cdr["status"] == "completed"
    assert call.cdr["agent_interface"] == "Local/agent-slow@lab-agents/n"
    assert (call.cdr["talk_time"], call.cdr["ring_time"]) == (None, None)
    assert call.details("agent")["talk_time"] is None


# -- caller memory ---------------------------------------------------------------

def test_a_callers_first_call_is_new_and_the_second_returning(lab: Lab) -> None:
    first, second = lab.calls["memory-1"], lab.calls["memory-2"]
    assert first.path == ["answer:next", "memory:new", "queue:answered", "bye:done"]
    assert second.path == ["answer:next", "memory:returning", "queue:answered", "bye:done"]
    assert (first.cdr["history"], second.cdr["history"]) == ("new", "returning")
    assert first.details("memory")["calls"] == 0
    found = second.details("memory")
    assert (found["number"], found["calls"], found["last_call"], found["last_outcome"], found["last_queue"],
            found["last_agent"]) == ("+34600222001", 1, first.cdr["started_at"], "answered", "memory",
                                     first.cdr["agent"])


def test_a_third_call_rings_the_agent_who_took_the_last_one_before_any_queue(lab: Lab) -> None:
    second, third = lab.calls["memory-2"], lab.calls["memory-3"]
    assert third.path == ["answer:next", "memory:repeat", "known_agent:known", "last_agent:answer", "bye:done"]
    assert third.cdr["history"] == "repeat"
    found = third.details("memory")
    assert (found["calls"], found["last_call"], found["last_agent"]) == (2, second.cdr["started_at"],
                                                                         second.cdr["agent"])
    last_agent = second.cdr["agent_interface"]
    assert last_agent in ("Local/agent-mem-a@lab-agents/n", "Local/agent-mem-b@lab-agents/n")
    assert (third.cdr["dialled"], third.cdr["dial_status"], third.cdr["agent_interface"]) == (
        last_agent, "ANSWER", last_agent)
    # What Asterisk ran: Dial() to that agent, and never Queue().
    assert [app for app in applications(lab, third) if not app.startswith("(Hangup)")] == [
        f"(Dial) Options: ({last_agent},10)"]
    assert queue_events(lab, third) == {}


# -- back first in line: history and priority ----------------------------------------

def test_a_caller_who_hung_up_in_the_queue_calls_again_and_goes_ahead_of_the_caller_waiting(lab: Lab) -> None:
    """The first call is abandoned in the queue; the second, within the
    hour, is abandoned_recently and gets priority 20: Queue() puts it at
    the head, ahead of a caller who already waited there, who is second
    when they leave."""
    first, waiting, again = lab.calls["back-1"], lab.calls["back-waiting"], lab.calls["back-2"]
    assert first.path == ["answer:next", "memory:new", "queue:hangup"]
    assert (first.cdr["queue_status"], queue_events(lab, first)["ABANDON"][:2]) == ("ABANDONED", ["1", "1"])
    assert again.path == ["answer:next", "memory:abandoned_recently", "first:next", "queue:timeout", "bye:done"]
    assert (again.cdr["history"], again.cdr["priority"], again.cdr["vip"]) == ("abandoned_recently", 20, 1)
    found = again.details("memory")
    assert (found["calls"], found["last_call"], found["last_outcome"], found["last_queue"]) == (
        1, first.cdr["started_at"], "abandoned", "prio")
    assert waiting.path == ["answer:next", "memory:new", "queue:timeout", "bye:done"]
    # ENTERQUEUE: url, caller, position; EXITWITHTIMEOUT: position, position on entering, wait
    waited, went_ahead = queue_events(lab, waiting), queue_events(lab, again)
    assert waited["ENTERQUEUE"][1:] == [WAITING_CALLER, "1"]
    assert went_ahead["ENTERQUEUE"][1:] == [BACK_CALLER, "1"]
    assert waited["EXITWITHTIMEOUT"][:2] == ["2", "1"]  # moved back by the caller who came later
    assert went_ahead["EXITWITHTIMEOUT"][:2] == ["1", "1"]
