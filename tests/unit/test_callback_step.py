"""A caller leaves a callback request: what they hear and press, what is
stored for the dialer, and how the request survives a busy or stopping
writer. Flows run through the real loader and the simulated Asterisk;
storage is a real SQLite file written by the CDR writer thread."""
from __future__ import annotations

import json
import sqlite3
import textwrap
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from agi.loading.loader import load_flows
from agi.steps.callback import CallbackNode
from agi.storage.callbacks import MemoryCallbackRequests, StoredCallbackRequests
from agi.storage.cdr_writer import CdrStore
from agi.phone import is_anonymous, spoken_digits, to_e164
from agi.services import Services
from agi.simulate import SimulationResult, simulate
from support.sample_flows import CALLBACK_FLOW as FLOW

AT = datetime(2025, 3, 10, 8, 30, tzinfo=timezone.utc)
STATUS = 'SET VARIABLE "AGIFLOW_STATUS" "{}"'



def run(tmp_path: Path, dtmf: list[str | None], caller: str = "600111222", flow: str = FLOW,
        services: Services | None = None, **options: Any) -> tuple[SimulationResult, list[dict[str, Any]]]:
    (tmp_path / "flow.yaml").write_text(textwrap.dedent(flow))
    flows, errors = load_flows([tmp_path])
    assert errors == []
    collector = MemoryCallbackRequests()
    services = services or Services(callbacks=collector, default_region="ES")
    result = simulate(flows.get("cb"), flows, caller=caller, called="912000000", at=AT, dtmf=dtmf,
                      services=services, **options)
    return result, collector.rows


def commands(result: SimulationResult) -> list[str]:
    return [e.command for e in result.exchanges]


def outcome(result: SimulationResult) -> str:
    return result.steps[0]["outcome"]


def details(result: SimulationResult) -> dict[str, Any]:
    return json.loads(result.steps[0]["details"])


# -- the caller's side ------------------------------------------------------------

def test_caller_accepts_and_confirms_their_own_number_and_the_request_is_stored_in_e164(tmp_path: Path) -> None:
    result, rows = run(tmp_path, ["1", "1"])

    assert commands(result) == [
        'GET DATA "cb-offer" "5000" "1"',
        'STREAM FILE "cb-number-is" ""',
        'SAY DIGITS "600111222" ""',
        'GET DATA "cb-confirm" "5000" "1"',
        'STREAM FILE "cb-thanks" ""',
        "HANGUP",
        STATUS.format("completed"),
    ]
    assert outcome(result) == "requested"
    assert rows == [{"requested_at": "2025-03-10T08:30:00.000Z", "call_id": result.call["call_id"],
                     "flow": "cb", "caller": "600111222", "number": "+34600111222",
                     "raw_number": "600111222", "queue": "support", "reason": "missed 912000000",
                     "arrived_at": "2025-03-10T08:30:00.000Z", "source": "keypad"}]
    assert result.call["callback"] == "+34600111222"
    assert details(result)["offer"] == "accepted"


def test_a_request_made_after_a_goto_names_the_flow_the_call_started_in(tmp_path: Path) -> None:
    """The request's flow is the call's (calls.flow), as --flow and
    --flow-version of the callbacks report read it, also when the callback
    step runs in a flow a goto reached."""
    (tmp_path / "front.yaml").write_text("version: 1\nname: front\nstart: away\nsteps:\n  away:\n    goto: cb\n")
    (tmp_path / "flow.yaml").write_text(textwrap.dedent(FLOW))
    flows, errors = load_flows([tmp_path])
    assert errors == []
    collector = MemoryCallbackRequests()
    result = simulate(flows.get("front"), flows, caller="600111222", called="912000000", at=AT, dtmf=["1", "1"],
                      services=Services(callbacks=collector, default_region="ES"))
    assert [row["flow"] for row in collector.rows] == [result.call["flow"]] == ["front"]


def test_caller_who_presses_the_decline_key_leaves_no_request(tmp_path: Path) -> None:
    result, rows = run(tmp_path, ["2"])

    assert outcome(result) == "declined"
    assert rows == []
    assert result.call.get("callback") is None
    assert not any(c.startswith("SAY DIGITS") for c in commands(result))
    assert details(result)["offer"] == "declined"


def test_caller_who_says_nothing_to_the_offer_is_asked_again_then_counted_as_declined(tmp_path: Path) -> None:
    result, rows = run(tmp_path, [None, None])

    assert commands(result)[:2] == ['GET DATA "cb-offer" "5000" "1"'] * 2
    assert outcome(result) == "declined"
    assert details(result)["offer"] == "no_answer"
    assert details(result)["reason"] == "no answer"
    assert rows == []


def test_anonymous_caller_goes_straight_to_entering_a_number_ended_by_hash(tmp_path: Path) -> None:
    result, rows = run(tmp_path, ["1", "912345678#", "1"], caller="anonymous")

    assert commands(result)[:5] == [
        'GET DATA "cb-offer" "5000" "1"',
        'GET DATA "cb-enter" "5000" "15"',
        'STREAM FILE "cb-number-is" ""',
        'SAY DIGITS "912345678" ""',
        'GET DATA "cb-confirm" "5000" "1"',
    ]
    assert outcome(result) == "requested"
    assert [(r["number"], r["raw_number"], r["caller"]) for r in rows] == [("+34912345678", "912345678", "anonymous")]


def test_caller_presses_2_to_give_another_number_which_is_read_back_and_stored(tmp_path: Path) -> None:
    result, rows = run(tmp_path, ["1", "2", "0033612345678#", "1"])

    says = [c for c in commands(result) if c.startswith("SAY DIGITS")]
    assert says == ['SAY DIGITS "600111222" ""', 'SAY DIGITS "0033612345678" ""']
    assert [(r["number"], r["raw_number"]) for r in rows] == [("+33612345678", "0033612345678")]
    assert details(result)["entries"] == ["1", "2", "0033612345678", "1"]


def test_a_foreign_caller_id_is_said_back_the_way_it_is_dialled_from_here(tmp_path: Path) -> None:
    result, rows = run(tmp_path, ["1", "1"], caller="+447400123456")

    assert 'SAY DIGITS "00447400123456" ""' in commands(result)
    assert rows[0]["number"] == "+447400123456"


def test_numbers_that_cannot_be_called_are_refused_with_the_invalid_prompt_then_invalid(tmp_path: Path) -> None:
    result, rows = run(tmp_path, ["1", "2", "123456789#", "55#"])

    assert commands(result)[4:8] == [
        'GET DATA "cb-enter" "5000" "15"',
        'STREAM FILE "cb-invalid" ""',
        'GET DATA "cb-enter" "5000" "15"',
        'HANGUP',
    ]
    assert outcome(result) == "invalid"
    assert details(result)["invalid"] == 2
    assert rows == []


def test_no_key_and_wrong_keys_are_counted_apart_so_a_question_is_asked_twice_retries_plus_one(
        tmp_path: Path) -> None:
    """retries: 1 gives one more attempt after no key and one after a wrong
    key (steps.md): a wrong number, then no key twice, is three attempts."""
    result, rows = run(tmp_path, ["1", "2", "55#", "", ""])
    assert commands(result).count('GET DATA "cb-enter" "5000" "15"') == 3
    assert outcome(result) == "declined"
    assert (details(result)["timeouts"], details(result)["invalid"]) == (2, 1)
    assert rows == []


def test_changing_the_number_more_times_than_retries_allow_ends_as_invalid(tmp_path: Path) -> None:
    result, rows = run(tmp_path, ["1", "2", "912345678", "2", "912345679", "2"])

    assert outcome(result) == "invalid"
    assert details(result)["reason"] == "too many numbers entered"
    assert rows == []


def test_wrong_key_at_the_confirmation_is_asked_again_then_the_number_is_confirmed(tmp_path: Path) -> None:
    result, rows = run(tmp_path, ["1", "7", "1"])

    assert commands(result)[3:6] == ['GET DATA "cb-confirm" "5000" "1"', 'STREAM FILE "cb-invalid" ""',
                                     'GET DATA "cb-confirm" "5000" "1"']
    assert outcome(result) == "requested" and len(rows) == 1


def test_without_an_offer_prompt_the_step_starts_by_reading_the_number_back(tmp_path: Path) -> None:
    flow = FLOW.replace("      offer: cb-offer\n", "").replace("      number_is: cb-number-is\n", "")
    result, rows = run(tmp_path, ["1"], flow=flow)

    assert commands(result)[:2] == ['SAY DIGITS "600111222" ""', 'GET DATA "cb-confirm" "5000" "1"']
    assert outcome(result) == "requested" and len(rows) == 1


def test_caller_hanging_up_before_confirming_leaves_no_request(tmp_path: Path) -> None:
    result, rows = run(tmp_path, ["1"], hangup_after=2)

    assert outcome(result) == "hangup"
    assert rows == []
    assert result.call["status"] == "caller_hangup"


def test_without_a_callback_store_the_step_ends_in_error_and_says_why(tmp_path: Path) -> None:
    result, _ = run(tmp_path, ["1", "1"], services=Services())

    assert outcome(result) == "error"
    assert "not available" in details(result)["error"]
    assert commands(result) == [STATUS.format("error")]


def test_a_max_digits_below_the_default_min_digits_is_its_own_min(tmp_path: Path) -> None:
    """``max_digits: 4`` alone (internal extensions) was refused with
    'min_digits 6 is more than max_digits 4', an option not written."""
    (tmp_path / "flow.yaml").write_text(FLOW.replace("      retries: 1\n", "      retries: 1\n      max_digits: 4\n"))
    assert load_flows([tmp_path])[1] == []
    node = CallbackNode.from_config({"confirm": "c", "enter": "e", "max_digits": 4})
    assert (node.min_digits, node.max_digits) == (4, 4)
    assert CallbackNode.from_config({"confirm": "c", "enter": "e", "max_digits": 9}).min_digits == 6


def test_a_min_digits_above_the_default_max_digits_is_its_own_max(tmp_path: Path) -> None:
    """``min_digits: 17`` alone (00 and a 15-digit number) was refused with
    'min_digits 17 is more than max_digits 15', an option not written."""
    (tmp_path / "flow.yaml").write_text(FLOW.replace("      retries: 1\n", "      retries: 1\n      min_digits: 17\n"))
    assert load_flows([tmp_path])[1] == []
    node = CallbackNode.from_config({"confirm": "c", "enter": "e", "min_digits": 17})
    assert (node.min_digits, node.max_digits) == (17, 17)
    assert CallbackNode.from_config({"confirm": "c", "enter": "e", "min_digits": 9}).max_digits == 15


def test_a_short_max_digits_takes_short_numbers_of_the_region_never_an_extension(tmp_path: Path) -> None:
    """A keyed number is stored in E.164 for the dialer, so it must be a
    number of the region however short max_digits is: 4 digits are a phone
    number in Niue, never in Spain, where 1234 is a wrong entry."""
    flow = FLOW.replace("      retries: 1\n", "      retries: 1\n      max_digits: 4\n")
    result, rows = run(tmp_path, ["1", "7012#", "1"], caller="anonymous", flow=flow,
                       services=Services(callbacks=MemoryCallbackRequests(), default_region="NU"))
    assert outcome(result) == "requested" and details(result)["number"] == "+6837012"
    result, rows = run(tmp_path, ["1", "1234#", "1234#"], caller="anonymous", flow=flow)
    assert outcome(result) == "invalid" and details(result)["invalid"] == 2 and rows == []


@pytest.mark.parametrize("change, replacement, message", [
    ("      retries: 1\n", "      retries: 1\n      min_digits: 12\n      max_digits: 9\n",
     "callback.min_digits: min_digits 12 is more than max_digits 9"),
    ("      thanks: cb-thanks\n", "      thanks: cb-thanks\n      confirm_key: 2\n",
     "callback.change_key: confirm_key and change_key are both '2'"),
])
def test_contradictory_options_are_validation_errors_at_the_step(tmp_path: Path, change: str, replacement: str,
                                                                  message: str) -> None:
    (tmp_path / "flow.yaml").write_text(FLOW.replace(change, replacement))
    _, errors = load_flows([tmp_path])
    assert [(e.line, e.message) for e in errors] == [(6, f"step 'callback': {message}")]


# -- numbers --------------------------------------------------------------------------

@pytest.mark.parametrize("raw, region, e164", [
    ("600111222", "ES", "+34600111222"),
    ("600 11 12 22", "ES", "+34600111222"),
    ("0033612345678", "ES", "+33612345678"),
    ("+34600111222", "GB", "+34600111222"),
    ("07400123456", "GB", "+447400123456"),
])
def test_numbers_are_normalised_to_e164(raw: str, region: str, e164: str) -> None:
    assert to_e164(raw, region) == e164


@pytest.mark.parametrize("raw", ["", "123456789", "6001", "abc"])
def test_numbers_nobody_can_be_called_back_on_are_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        to_e164(raw, "ES")


@pytest.mark.parametrize("caller", ["", "unknown", "Anonymous", "RESTRICTED", "private", "+"])
def test_withheld_caller_ids_are_anonymous(caller: str) -> None:
    assert is_anonymous(caller)
    assert not is_anonymous("600111222")


def test_the_number_said_back_is_what_the_caller_would_dial() -> None:
    assert spoken_digits("+34600111222", "ES") == "600111222"
    assert spoken_digits("+447400123456", "GB") == "07400123456"
    assert spoken_digits("+33612345678", "ES") == "0033612345678"


# -- storage ---------------------------------------------------------------------------

def request(n: int) -> dict[str, Any]:
    return {"requested_at": f"2025-03-10T08:30:{n % 60:02d}.000Z", "call_id": f"1741595400.{n}", "flow": "cb",
            "caller": "600111222", "number": "+34600111222", "raw_number": "600111222",
            "queue": "support", "reason": None}


def test_requests_are_written_by_the_cdr_writer_as_pending_rows(tmp_path: Path) -> None:
    store = CdrStore(tmp_path / "cdr.db")
    store.open()
    store.start()
    StoredCallbackRequests(store).request({**request(1), "status": "done", "id": 99})
    assert store.close()

    [row] = sqlite_utils.Database(tmp_path / "cdr.db")["callbacks"].rows
    key = row.pop("request_key")  # the request's own key: written once, however often it is retried
    assert row == {**request(1), "id": 1, "status": "pending", "done_at": None, "note": None,
                   "arrived_at": None, "source": None, "attempts": 0, "dialled_at": None}
    assert isinstance(key, str) and len(key) == 32


def test_unknown_writer_operations_are_refused_when_queued() -> None:
    with pytest.raises(ValueError, match="unknown write operation"):
        CdrStore(":memory:").submit("insert_callbak", {})


def test_a_request_queued_while_the_database_is_locked_is_written_at_shutdown(tmp_path: Path) -> None:
    path = tmp_path / "cdr.db"
    store = CdrStore(path, retry_delay=0.05, busy_timeout=0.05)
    store.open()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    store.start()
    requests = StoredCallbackRequests(store)
    for n in range(50):
        requests.request(request(n))
    closed: list[bool] = []
    closing = threading.Thread(target=lambda: closed.append(store.close(stall_timeout=5)))
    closing.start()
    time.sleep(0.3)
    assert closing.is_alive(), "close() returned while the requests could not be written"
    blocker.execute("ROLLBACK")
    blocker.close()
    closing.join(10)

    assert closed == [True]
    rows = list(sqlite_utils.Database(path)["callbacks"].rows)
    assert [r["call_id"] for r in rows] == [f"1741595400.{n}" for n in range(50)]


def test_queueing_a_request_never_waits_for_a_locked_database(tmp_path: Path) -> None:
    path = tmp_path / "cdr.db"
    store = CdrStore(path, retry_delay=0.05, busy_timeout=0.05)
    store.open()
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    store.start()
    started = time.perf_counter()
    StoredCallbackRequests(store).request(request(1))
    took = time.perf_counter() - started
    blocker.execute("ROLLBACK")
    blocker.close()
    assert store.close()
    assert took < 0.01


def test_a_caller_who_timed_out_in_a_queue_leaves_a_request_tagged_with_that_queue(tmp_path: Path) -> None:
    flow = """\
        version: 1
        name: cb
        start: wait
        steps:
          wait:
            queue: sales
            on: {timeout: callback}
          callback:
            callback: {confirm: cb-confirm, enter: cb-enter}
        """
    result, rows = run(tmp_path, ["1"], flow=flow, queue_statuses=["TIMEOUT"])

    assert [f"{s['step']}:{s['outcome']}" for s in result.steps] == ["wait:timeout", "callback:requested"]
    assert [(r["queue"], r["number"], r["reason"]) for r in rows] == [("sales", "+34600111222", None)]



@pytest.mark.parametrize("dtmf", [["9", "9"], ["1", "7", "7"]])
def test_wrong_keys_past_the_retries_say_why_no_request_was_made(tmp_path: Path, dtmf: list[str | None]) -> None:
    """Every ending without a request has its reason in the details, as
    steps.md lists them: wrong keys too, not only silence, the decline key
    and too many numbers."""
    result, rows = run(tmp_path, dtmf)

    assert outcome(result) == "invalid"
    assert details(result)["reason"] == "wrong keys"
    assert rows == []
