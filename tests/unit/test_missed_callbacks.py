"""Automatic callbacks for missed calls: a queue the caller leaves
unanswered makes a request by itself (its ``callback`` option), at most one
open request per number, carrying the call's arrival; reaching an agent on
a later call closes the number's pending requests."""
from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from agi.cli.main import cli
from agi.db.location import Database
from agi.services import Services
from agi.session import SessionSettings, run_session
from agi.sim.asterisk import SimulatedAsterisk
from agi.sim.script import CallerScript, EverySound, make_environment
from agi.sim.transport import SimTransport, run_sync
from agi.storage.cdr_memory import MemoryCdr
from agi.storage.callbacks import MISSED_OPERATION, REACHED_OPERATION, MemoryCallbackRequests, StoredCallbackRequests
from agi.storage.cdr_direct import DirectCdr
from agi.storage.cdr_writer import CdrStore
from support import table_rows
from support.step_runner import AT, cdr, details, flow_errors, load, path, run

CALLER = "600111222"


def queue_flow(callback: str = "true", on: str = "") -> str:
    return f"""\
version: 1
name: q
timezone: Europe/Madrid
start: welcome
steps:
  welcome:
    play: agiflow/welcome
    next: support
  support:
    queue: {{name: support, timeout: 300, callback: {callback}}}
    on: {{answered: bye, timeout: bye, full: bye{on}}}
  bye:
    play: agiflow/thanks-for-calling
"""


def run_queue(tmp_path: Path, flow: str, callbacks: MemoryCallbackRequests | None = None, **options: Any) -> Any:
    services = Services(callbacks=callbacks if callbacks is not None else MemoryCallbackRequests())
    return run(tmp_path, flow, caller=options.pop("caller", CALLER), services=services, **options), services.callbacks


def test_a_caller_whose_queue_times_out_gets_a_request_without_pressing_a_key(tmp_path: Path) -> None:
    result, callbacks = run_queue(tmp_path, queue_flow(), queue_statuses=["TIMEOUT"], queue_wait=300)
    assert path(result) == ["welcome:next", "support:timeout", "bye:next"]
    assert callbacks.rows == [{
        "requested_at": "2025-03-10T08:35:00.000Z", "arrived_at": "2025-03-10T08:30:00.000Z",
        "call_id": result.call["call_id"], "flow": "q", "caller": CALLER, "number": "+34600111222",
        "raw_number": CALLER, "queue": "support", "reason": "timeout", "source": "missed"}]
    assert cdr(result, "callback") == ("+34600111222",)
    assert details(result, "support")["callback"] == "+34600111222"
    assert not any(e.command.startswith("GET DATA") for e in result.exchanges)



def test_a_missed_call_after_a_goto_names_the_flow_the_call_started_in(tmp_path: Path) -> None:
    front = "version: 1\nname: front\nstart: away\nsteps:\n  away:\n    goto: q\n"
    services = Services(callbacks=MemoryCallbackRequests())
    result = run(tmp_path, front, queue_flow(), caller=CALLER, services=services, queue_statuses=["TIMEOUT"],
                 queue_wait=300)
    assert [row["flow"] for row in services.callbacks.rows] == [result.call["flow"]] == ["front"]

def test_a_caller_who_hangs_up_while_waiting_gets_a_request(tmp_path: Path) -> None:
    result, callbacks = run_queue(tmp_path, queue_flow(), hangup_after=4)  # during EXEC Queue
    assert path(result)[-1] == "support:hangup"
    assert [(r["number"], r["reason"]) for r in callbacks.rows] == [("+34600111222", "abandoned")]
    assert cdr(result, "queue_status", "callback") == ("ABANDONED", "+34600111222")


def test_only_the_exits_the_option_names_make_a_request(tmp_path: Path) -> None:
    _, callbacks = run_queue(tmp_path, queue_flow(), queue_statuses=["FULL"])
    assert callbacks.rows == []
    _, callbacks = run_queue(tmp_path, queue_flow("{when: [full], queue: sales, reason: queue full}"),
                             queue_statuses=["FULL"])
    assert [(r["queue"], r["reason"]) for r in callbacks.rows] == [("sales", "queue full")]


def test_without_the_option_an_unanswered_queue_makes_no_request(tmp_path: Path) -> None:
    flow = queue_flow().replace(", callback: true", "")
    _, callbacks = run_queue(tmp_path, flow, queue_statuses=["TIMEOUT"])
    assert callbacks.rows == []


def test_a_number_with_a_pending_request_gets_no_second_one(tmp_path: Path) -> None:
    _, callbacks = run_queue(tmp_path, queue_flow(), MemoryCallbackRequests(["+34600111222"]),
                             queue_statuses=["TIMEOUT"])
    assert callbacks.rows == []


@pytest.mark.parametrize("caller, why", [("anonymous", "withheld caller ID"),
                                         ("12", "caller ID '12' is not a phone number")])
def test_a_caller_without_a_usable_number_gets_no_request_and_the_step_says_why(
        tmp_path: Path, caller: str, why: str) -> None:
    result, callbacks = run_queue(tmp_path, queue_flow(), queue_statuses=["TIMEOUT"], caller=caller)
    assert callbacks.rows == []
    assert details(result, "support")["callback_skipped"] == why
    assert cdr(result, "callback") == (None,)


def test_a_server_without_a_callback_store_says_so(tmp_path: Path) -> None:
    result = run(tmp_path, queue_flow(), caller=CALLER, services=Services(), queue_statuses=["TIMEOUT"])
    assert path(result)[1] == "support:timeout"
    assert details(result, "support")["callback_skipped"] == "callback requests are not available here"


def test_reaching_a_queue_agent_closes_the_callers_pending_requests(tmp_path: Path) -> None:
    result, callbacks = run_queue(tmp_path, queue_flow(), MemoryCallbackRequests(["+34600111222"]),
                                  queue_statuses=["ANSWERED"])
    assert callbacks.closed == ["+34600111222"]
    assert details(result, "support")["callbacks_closed_for"] == "+34600111222"


class _WhenReached(MemoryCallbackRequests):
    """Keeps the moment each number was said reached."""

    def __init__(self, pending: list[str]) -> None:
        super().__init__(pending)
        self.at: list[str] = []

    def reached(self, number: str, call_id: str, at: str) -> None:
        self.at.append(at)
        super().reached(number, call_id, at)


@pytest.mark.parametrize("step", ["    queue: {name: support, timeout: 300}", "    dial: {destination: PJSIP/201}"])
def test_a_request_closed_by_reaching_an_agent_is_done_when_the_agent_answered_not_when_they_hung_up(
        tmp_path: Path, step: str) -> None:
    """Its ``done_at`` ends the time to callback (reports.md): a ten-minute
    conversation once added ten minutes to it."""
    flow = f"version: 1\nname: d\nstart: agent\nsteps:\n  agent:\n{step}\n"
    callbacks = _WhenReached(["+34600111222"])
    run(tmp_path, flow, caller="+34600111222", services=Services(callbacks=callbacks), queue_statuses=["ANSWERED"], queue_wait=60.0,
        talk_time=600.0)
    [at] = callbacks.at
    assert datetime.fromisoformat(at.replace("Z", "+00:00")) - AT < timedelta(seconds=70)


def test_reaching_a_dialled_agent_closes_them_too(tmp_path: Path) -> None:
    flow = """\
version: 1
name: d
start: agent
steps:
  agent:
    dial: {destination: PJSIP/201, timeout: 15}
"""
    callbacks = MemoryCallbackRequests(["+34600111222"])
    result = run(tmp_path, flow, caller="+34600111222", services=Services(callbacks=callbacks))
    assert callbacks.closed == ["+34600111222"]
    assert details(result, "agent")["callbacks_closed_for"] == "+34600111222"
    run(tmp_path, flow, caller="+34600111222", services=Services(callbacks=callbacks), dial_statuses=["BUSY"])
    assert callbacks.closed == ["+34600111222"]


@pytest.mark.parametrize("option, message", [
    ("{when: [answered]}", "step 'support': queue"),
    ("{when: []}", "step 'support': queue"),
    ("false", "step 'support': queue"),
    ("{reason: '{{ oops'}", "callback.reason: template error"),
])
def test_bad_callback_options_are_flow_errors(tmp_path: Path, option: str, message: str) -> None:
    assert any(message in error for error in flow_errors(tmp_path, queue_flow(option)))


# -- the table: one open request per number, closed when the caller is reached ------------

def request(number: str, arrived: str, **row: Any) -> dict[str, Any]:
    return {"requested_at": arrived, "arrived_at": arrived, "call_id": f"call-{arrived}", "flow": "q",
            "caller": number, "number": number, "raw_number": number, "queue": "support",
            "reason": "timeout", "source": "missed", **row}


def writer_of(database: Database, writer: str) -> Any:
    """The server's CDR writer thread, or plain AGI mode's direct writes, opened."""
    if writer == "server":
        store: Any = CdrStore(database)
        store.open()
        store.start()
    else:
        store = DirectCdr(database)
        store.open()
    return store


def stored(database: Database) -> list[tuple[Any, ...]]:
    return [(r["number"], r["arrived_at"], r["status"], r["note"])
            for r in table_rows.select(database, "SELECT * FROM callbacks ORDER BY id")]


@pytest.mark.parametrize("writer", ["server", "plain AGI"])
def test_the_database_keeps_one_open_request_per_number_and_closes_it_on_reach(database: Database,
                                                                               writer: str) -> None:
    store = writer_of(database, writer)
    requests = StoredCallbackRequests(store)
    requests.missed(request("+34600111222", "2025-03-10T08:00:00.000Z"))
    requests.missed(request("+34600111222", "2025-03-10T09:00:00.000Z"))
    requests.missed(request("+34600333444", "2025-03-10T08:30:00.000Z"))
    requests.request({**request("+34600333444", "2025-03-10T08:40:00.000Z"), "source": "keypad"})
    requests.reached("+34600333444", "1741600000.7", "2025-03-10T10:00:00.000Z")
    requests.missed(request("+34600333444", "2025-03-10T11:00:00.000Z"))
    assert store.close()
    assert stored(database) == [
        ("+34600111222", "2025-03-10T08:00:00.000Z", "pending", None),
        ("+34600333444", "2025-03-10T08:30:00.000Z", "done", "reached an agent on call 1741600000.7"),
        ("+34600333444", "2025-03-10T08:40:00.000Z", "done", "reached an agent on call 1741600000.7"),
        ("+34600333444", "2025-03-10T11:00:00.000Z", "pending", None),
    ]


@pytest.mark.parametrize("writer", ["server", "plain AGI"])
def test_a_missed_request_written_again_after_its_number_was_reached_adds_nothing(database: Database,
                                                                                  writer: str) -> None:
    store = writer_of(database, writer)
    missed = {**request("+34600111222", "2025-03-10T08:00:00.000Z"), "request_key": "k1"}
    store.submit(MISSED_OPERATION, missed)
    store.submit(REACHED_OPERATION, {"number": "+34600111222", "call_id": "c2", "at": "2025-03-10T09:00:00.000Z"})
    store.submit(MISSED_OPERATION, missed)  # a batch retried, or a journal replayed
    assert store.close()
    assert stored(database) == [("+34600111222", "2025-03-10T08:00:00.000Z", "done", "reached an agent on call c2")]


@pytest.mark.parametrize("writer", ["server", "plain AGI"])
def test_a_missed_call_after_the_last_call_back_attempt_makes_a_new_request(database: Database,
                                                                              writer: str) -> None:
    """A request stays pending after its last attempt (``--max-attempts``):
    the same caller, missed again after it, got no new request, and was
    never called back again. A missed call before an attempt, or while a
    request not yet dialled waits, still adds none."""
    number = "+34600111222"
    store = writer_of(database, writer)
    requests = StoredCallbackRequests(store)
    requests.missed(request(number, "2025-03-10T08:00:00.000Z"))
    assert store.close()
    table_rows.execute(database, "UPDATE callbacks SET attempts = 3, "  # the dialer's third and last attempt
                       "dialled_at = '2025-03-10T10:00:00.000Z'")
    store = writer_of(database, writer)
    requests = StoredCallbackRequests(store)
    requests.missed(request(number, "2025-03-10T09:59:00.000Z"))  # arrived before that attempt
    requests.missed(request(number, "2025-03-10T12:00:00.000Z"))  # after it: called back again
    requests.missed(request(number, "2025-03-10T12:30:00.000Z"))  # the new one is not dialled yet
    assert store.close()
    assert stored(database) == [(number, "2025-03-10T08:00:00.000Z", "pending", None),
                                (number, "2025-03-10T12:00:00.000Z", "pending", None)]


def test_the_writer_knows_the_new_operations() -> None:
    from agi.storage.cdr_writer import OPERATIONS
    assert {MISSED_OPERATION, REACHED_OPERATION} <= set(OPERATIONS)


def test_a_request_from_an_earlier_moment_keeps_its_arrival(tmp_path: Path) -> None:
    _, callbacks = run_queue(tmp_path, queue_flow(), queue_statuses=["TIMEOUT"], queue_wait=600,
                             at=AT + timedelta(hours=1))
    [row] = callbacks.rows
    assert (row["arrived_at"], row["requested_at"]) == ("2025-03-10T09:30:00.000Z", "2025-03-10T09:40:00.000Z")


def test_a_request_arrived_when_its_calls_cdr_started_however_late_the_flow_began(tmp_path: Path) -> None:
    """The arrival is the session's own start, the CDR's ``started_at``: not
    a later reading of the clock (the flow starts after the CDR row is
    opened and Asterisk was asked for the linkedid)."""
    flows, name = load(tmp_path, queue_flow())
    script = CallerScript(queue_statuses=["TIMEOUT"], queue_wait=60, sounds=EverySound())
    transport = SimTransport(SimulatedAsterisk(make_environment(name, callerid=CALLER, uniqueid="1741595400.42"),
                                               script))
    ticks = itertools.count()
    callbacks, cdr_sink = MemoryCallbackRequests(), MemoryCdr()
    run_sync(run_session(transport.environment(), transport, flows, cdr_sink, SessionSettings(),
                         lambda: AT.timestamp() + next(ticks) * 0.25, Services(callbacks=callbacks)))
    [call] = cdr_sink.calls.values()
    [row] = callbacks.rows
    assert row["arrived_at"] == call["started_at"] == "2025-03-10T08:30:00.000Z"


def test_two_writers_of_one_missed_number_at_once_leave_one_pending_request(postgres_url: Any) -> None:
    """Two workers or nodes write missed calls of one number in transactions
    that overlap: on PostgreSQL each statement sees what was committed when it
    began, and both inserted a request. The second now waits for the first's
    transaction and finds its request."""
    import threading

    from agi.db import postgres as pg
    from agi.storage.cdr_batch import apply_batch
    DirectCdr(postgres_url).open()  # the schema
    first, second = (pg.Connection(pg.connect(postgres_url)) for _ in range(2))
    first.execute("BEGIN")
    apply_batch(first, [(MISSED_OPERATION, request("+34600111222", "2025-03-10T08:00:00.000Z"))])

    def write_second() -> None:
        second.execute("BEGIN")
        apply_batch(second, [(MISSED_OPERATION, request("+34600111222", "2025-03-10T08:00:01.000Z"))])
        second.execute("COMMIT")
    other = threading.Thread(target=write_second)
    other.start()
    other.join(1)
    first.execute("COMMIT")
    other.join(10)
    assert not other.is_alive()
    first.close()
    second.close()
    assert stored(postgres_url) == [("+34600111222", "2025-03-10T08:00:00.000Z", "pending", None)]


def test_a_simulation_lists_no_missed_request_for_a_number_the_database_has_one_pending_for(
        database: Database, tmp_path: Path) -> None:
    """``agiflow simulate`` lists the requests the call would leave: a queue's
    automatic request for a number with a pending request in the database is
    one the server would not write, as the history step of the same
    simulation says (``callback_pending``)."""
    store = writer_of(database, "server")
    StoredCallbackRequests(store).missed(request("+34600111222", "2025-03-10T08:00:00.000Z"))
    assert store.close()
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "q.yaml").write_text(queue_flow().replace("start: welcome", "start: memory").replace(
        "  welcome:\n", "  memory:\n    history:\n    on: {new: welcome, returning: welcome, repeat: welcome,"
        " abandoned_recently: welcome}\n  welcome:\n"))
    config = tmp_path / "config.yaml"
    config.write_text(f"flows: flows\ndatabase: {database}\ndefault_region: ES\n", encoding="utf-8")

    def simulated(caller: str) -> dict[str, Any]:
        result = CliRunner().invoke(cli, ["simulate", "q", "--caller", caller, "--format", "json",
                                          "-c", str(config)])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)  # type: ignore[no-any-return]

    pending = simulated("0034600111222")
    [memory] = [step for step in pending["steps"] if step["step"] == "memory"]
    assert json.loads(memory["details"])["callback_pending"] is True
    assert pending["callbacks"] == []
    assert [row["number"] for row in simulated("600333444")["callbacks"]] == ["+34600333444"]
    table_rows.execute(database, "UPDATE callbacks SET attempts = 3, dialled_at = '2025-03-10T10:00:00.000Z'")
    assert [row["number"] for row in simulated("0034600111222")["callbacks"]] == ["+34600111222"]  # tried since
