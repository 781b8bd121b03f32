"""On a real Asterisk 22: a queue that times out, and a caller who hangs
up in it, make callback requests by themselves (the queue's ``callback``
option), one open request per number, each carrying its call's arrival;
``agiflow callbacks dial`` writes call files that Asterisk's pbx_spool
dials, and each customer called back reaches the sales queue through the
shipped agiflow-callbacks context, which closes their request; a number on
the do-not-call list gets no call file and is never dialled.
"""
from __future__ import annotations

from typing import Any

import pytest

from calls import Lab, cdr_rows
from scenarios import ABANDON_CALLER, LISTED_LANDLINE, STEPS_CALLER, TIMEOUT_CALLER

pytestmark = pytest.mark.e2e


def requests(lab: Lab, number: str) -> list[dict[str, Any]]:
    return cdr_rows(lab.database, "SELECT * FROM callbacks WHERE number = ? ORDER BY id", (number,))


def legs(lab: Lab) -> dict[str, dict[str, Any]]:
    """The calls back, by the customer's number."""
    return {row["caller"]: row for row in cdr_rows(lab.database, "SELECT * FROM calls WHERE flow = 'callback_out'")}


# -- automatic requests ------------------------------------------------------------

@pytest.mark.parametrize("script, number, status", [("whisper-gone", STEPS_CALLER % 43, "caller_hangup"),
                                                    ("whisper-rejected", STEPS_CALLER % 44, "completed")])
def test_a_caller_and_agent_a_dial_whisper_kept_apart_leave_the_callback_request_pending(
        lab: Lab, script: str, number: str, status: str) -> None:
    """The caller (whisper-gone) or the agent (whisper-rejected) hung up while
    the agent heard Dial()'s A() whisper: DIALSTATUS is ANSWER, but Asterisk
    never connected them (no ANSWEREDTIME), so nobody reached an agent."""
    call = lab.calls[script]
    assert call.path[:2] == ["missed:joinempty", "agent:answer"] and call.cdr["status"] == status
    assert call.cdr["dial_status"] == "ANSWER" and call.cdr["talk_time"] is None
    assert "callbacks_closed_for" not in call.details("agent")
    [request] = requests(lab, number)
    assert (request["status"], request["call_id"], request["reason"]) == ("pending", call.cdr["call_id"], "joinempty")


def test_a_queue_timeout_leaves_a_callback_request_with_its_calls_arrival(lab: Lab) -> None:
    call = lab.calls["timeout-1"]
    assert call.path == ["answer:next", "wait:timeout", "bye:done"]
    assert (call.cdr["queue_status"], call.cdr["callback"]) == ("TIMEOUT", TIMEOUT_CALLER)
    [request] = requests(lab, TIMEOUT_CALLER)
    assert (request["call_id"], request["flow"], request["caller"], request["source"], request["reason"],
            request["queue"]) == (call.cdr["call_id"], "e2e_missed", TIMEOUT_CALLER, "missed", "timeout", "sales")
    # The arrival is the call's start, to the millisecond; the request came when the queue gave up (4 s).
    assert request["arrived_at"] == call.cdr["started_at"]
    assert request["arrived_at"] < request["requested_at"] < call.cdr["ended_at"]


def test_a_caller_who_hangs_up_in_the_queue_leaves_a_request_too(lab: Lab) -> None:
    call = lab.calls["abandon"]
    assert call.path == ["answer:next", "wait:hangup"]
    assert (call.cdr["status"], call.cdr["queue_status"]) == ("caller_hangup", "ABANDONED")
    assert call.end["agistatus"] == "HANGUP"
    [request] = requests(lab, ABANDON_CALLER)
    assert (request["call_id"], request["reason"], request["source"], request["arrived_at"]) == (
        call.cdr["call_id"], "abandoned", "missed", call.cdr["started_at"])
    assert [line[4] for line in lab.asterisk.queue_log() if line[1] == call.cdr["call_id"]] == [
        "ENTERQUEUE", "ABANDON"]


def test_a_number_with_a_pending_request_gets_no_second_one(lab: Lab) -> None:
    first, second = lab.calls["timeout-1"], lab.calls["timeout-2"]
    assert second.path == ["answer:next", "wait:timeout", "bye:done"]
    assert second.cdr["started_at"] > first.cdr["ended_at"]
    assert [r["call_id"] for r in requests(lab, TIMEOUT_CALLER)] == [first.cdr["call_id"]]
    # Both were pending when the dialer ran: one line per number (of this story: the
    # steps story's whisper calls leave requests of their own, for another queue).
    numbers = [line.split()[2] for line in lab.output("callbacks list").splitlines() if "pending" in line]
    ours = (TIMEOUT_CALLER, ABANDON_CALLER, LISTED_LANDLINE)
    assert sorted(number for number in numbers if number in ours) == sorted(ours)


# -- dialled back through the spool --------------------------------------------------

def test_callbacks_dial_writes_one_call_file_per_number_in_the_order_the_calls_arrived(lab: Lab) -> None:
    pending = sorted(requests(lab, TIMEOUT_CALLER) + requests(lab, ABANDON_CALLER), key=lambda r: r["arrived_at"])
    [listed] = requests(lab, LISTED_LANDLINE)  # it arrived last
    assert lab.output("callbacks dial").splitlines() == [
        f"callback {r['id']} {r['number']} (arrived {r['arrived_at']}, attempt 1): agiflow-callback-{r['id']}.call"
        for r in pending] + [
        f"callback {listed['id']} {LISTED_LANDLINE}: skipped, in do-not-call list robinson ({LISTED_LANDLINE})",
        f"2 call files written to {lab.asterisk.spool}, 1 request skipped"]


def test_asterisk_dials_each_call_file_and_the_customer_reaches_the_sales_queue(lab: Lab) -> None:
    called = legs(lab)
    assert sorted(called) == sorted([TIMEOUT_CALLER, ABANDON_CALLER])
    for number, leg in called.items():
        digits = number.removeprefix("+")
        assert (leg["status"], leg["path"]) == ("completed", "greet:next > queue:answered > bye:done")
        assert (leg["queue"], leg["queue_status"], leg["agent"]) in [("sales", "ANSWERED", "Ana"),
                                                                    ("sales", "ANSWERED", "Luis")]
        # pbx_spool placed it, into the shipped agiflow-callbacks context, at the head of the queue.
        assert any(f"pbx_spool.c: Attempting call on Local/{digits}@lab-customers for s@agiflow-callbacks:1" in line
                   for line in lab.asterisk.log().splitlines())
        [entered] = [line for line in lab.asterisk.queue_log() if line[1] == leg["call_id"] and line[4] == "ENTERQUEUE"]
        assert (entered[2], entered[6], entered[7]) == ("sales", number, "1")
    assert lab.asterisk.call_files() == []  # Asterisk removes each file when its call ends


def test_a_customer_called_back_who_reaches_an_agent_has_their_request_closed(lab: Lab) -> None:
    called = legs(lab)
    for number in (TIMEOUT_CALLER, ABANDON_CALLER):
        [request] = requests(lab, number)
        assert (request["status"], request["note"], request["attempts"]) == (
            "done", f"reached an agent on call {called[number]['call_id']}", 1)
        assert request["dialled_at"] <= called[number]["started_at"] <= request["done_at"]


def test_a_number_on_the_do_not_call_list_is_never_called_back(lab: Lab) -> None:
    """The queue timeout of a listed number leaves a request, as any other;
    ``callbacks dial`` skips it: no call file, Asterisk never dials it, and
    it stays pending, never attempted."""
    call = lab.calls["timeout-listed"]
    assert (call.cdr["queue_status"], call.cdr["callback"]) == ("TIMEOUT", LISTED_LANDLINE)
    [request] = requests(lab, LISTED_LANDLINE)
    assert (request["status"], request["attempts"], request["dialled_at"]) == ("pending", 0, None)
    assert LISTED_LANDLINE not in legs(lab)
    assert not any(LISTED_LANDLINE.removeprefix("+") in line for line in lab.asterisk.log().splitlines()
                   if "pbx_spool.c" in line)
