"""Two agiflow nodes behind one name, without DNS: two ``agiflow serve``
processes on their own ports of 127.0.0.1 share one database, and callers
connect as Asterisk's ``hagi://`` does after its SRV lookup (the next
server when a connect fails). One node is stopped, or killed, in the middle
of the load: calls keep completing on the other, and every call leaves
exactly one CDR row."""
from __future__ import annotations

import json
import random
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Iterator

import pytest
from support.server_process import (HOST, REPO, HeldCall, ServerProcess, finished_cdr, query, simulated,
                                     support_caller)

from agi.sim import run_simulated_ha_call

pytestmark = pytest.mark.integration

_ids = iter(range(1, 1_000_000))


def uniqueid() -> str:
    return f"1795390000.{next(_ids)}"


def node(folder: Path, name: str, database: Path) -> ServerProcess:
    """``agiflow serve`` as node ``name`` with its own config and flows, on the shared database."""
    (folder / "flows").mkdir(parents=True)
    for flow in ("closed.yaml", "support.yaml"):
        (folder / "flows" / flow).write_text((REPO / "flows" / flow).read_text(encoding="utf-8"), encoding="utf-8")
    config = folder / "config.yaml"
    config.write_text(json.dumps({"server": {"host": HOST, "port": 0, "node": name, "workers": 1,
                                             "watch_interval": 0, "drain_timeout": 10},
                                  "flows": "flows", "database": str(database), "log_level": "INFO"}),
                      encoding="utf-8")
    process = ServerProcess(config)
    process.database = database
    process.wait_listening()
    return process


class Callers:
    """Threads making calls one after another, each to the nodes in a random
    order (two SRV records of equal priority and weight)."""

    def __init__(self, nodes: list[ServerProcess], threads: int = 4) -> None:
        self.servers = [(HOST, n.port) for n in nodes]
        self.calls: list[tuple[str, int | None, float, bool]] = []  # uniqueid, node index, began, completed
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run) for _ in range(threads)]
        for thread in self.threads:
            thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            order = random.sample(range(len(self.servers)), len(self.servers))
            call = uniqueid()
            sim = simulated("closed", call)
            began = time.monotonic()  # a call is counted from its connection, not its end
            result, index = run_simulated_ha_call([self.servers[i] for i in order], sim, timeout=10)
            completed = result.closed_by_server and sim.variables.get("AGIFLOW_STATUS") == "completed"
            self.calls.append((call, None if index is None else order[index], began, completed))

    def served_by(self, index: int, after: float = 0.0) -> int:
        return sum(1 for _, i, when, _ in self.calls if i == index and when > after)

    def wait_for(self, index: int, count: int, after: float = 0.0, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.served_by(index, after) < count:
            assert time.monotonic() < deadline, f"node {index} served {self.served_by(index, after)} calls"
            time.sleep(0.02)

    def finish(self) -> list[tuple[str, int | None, float, bool]]:
        self.stop.set()
        for thread in self.threads:
            thread.join(20)
        return self.calls


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[list[ServerProcess]]:
    database = tmp_path / "shared.db"
    started = [node(tmp_path / "a", "node-a", database)]
    try:
        started.append(node(tmp_path / "b", "node-b", database))
        yield started
    finally:
        for process in started:
            process.stop()


def one_row_each(database: Path, calls: list[str]) -> Counter[str]:
    """Each call's CDR statuses, checking that it has exactly one row; status -> count."""
    statuses: Counter[str] = Counter()
    for call in calls:
        rows = finished_cdr(database, call)
        assert len(rows) == 1, f"call {call} has {len(rows)} CDR rows"
        statuses[rows[0]["status"]] += 1
    return statuses


def test_a_node_stopped_under_load_drains_and_the_other_takes_every_new_call(nodes: list[ServerProcess]) -> None:
    a, b = nodes
    callers = Callers(nodes)
    try:
        callers.wait_for(0, 20)
        callers.wait_for(1, 20)
        held_id = uniqueid()
        held = HeldCall(a.port, simulated("support", held_id, support_caller()), "support")
        pending = held.hold_at(3)
        a.proc.send_signal(signal.SIGTERM)
        a.wait_for_log(r"draining \d+ calls")
        stopped = time.monotonic()
        callers.wait_for(1, 50, after=stopped)
        held.finish(pending)  # the call node a was running when it was stopped ends normally
        held.close()
        assert a.wait_exit() == 0, a.log()
    finally:
        calls = callers.finish()
    assert all(completed for *_, completed in calls), [c for c in calls if not c[3]][:5]
    assert callers.served_by(0, after=stopped + 0.5) == 0, "a stopped node took calls"
    assert one_row_each(a.database, [c[0] for c in calls] + [held_id]) == {"completed": len(calls) + 1}
    nodes_used = query(a.database, "SELECT node, worker, count(*) AS n FROM calls GROUP BY node, worker")
    assert {(row["node"], row["worker"]) for row in nodes_used} == {("node-a", 1), ("node-b", 1)}


def test_a_node_killed_under_load_loses_only_its_running_calls_and_marks_only_its_own_rows_again(
        nodes: list[ServerProcess]) -> None:
    a, b = nodes
    callers = Callers(nodes)
    ids = {n.port: uniqueid() for n in nodes}
    held = {port: HeldCall(port, simulated("support", call, support_caller()), "support") for port, call in ids.items()}
    try:
        callers.wait_for(0, 20)
        pending = {port: call.hold_at(3) for port, call in held.items()}
        finished_cdr(a.database, ids[a.port], timeout=1)  # its row is written
        a.proc.kill()
        a.wait_exit()
        killed = time.monotonic()
        assert held[a.port].next_command() is None, "a call on the killed node kept its socket"
        callers.wait_for(1, 50, after=killed)
        again = ServerProcess(a.config)  # node a starts again while node b runs a call
        again.database = a.database
        nodes.append(again)
        again.wait_listening()
        again.wait_for_log(r"marked \d+ calls? left running by the previous server as interrupted")
        held[b.port].finish(pending[b.port])  # node a's start did not touch node b's running call
    finally:
        calls = callers.finish()
        for call in held.values():
            call.close()
    assert [r["status"] for r in finished_cdr(a.database, ids[a.port])] == ["interrupted"]
    assert [r["status"] for r in finished_cdr(a.database, ids[b.port])] == ["completed"]
    # A killed process loses what it had not yet written: the rows of calls
    # that ended in its last moments (the writer batches 50 ms) and the ends
    # of the calls it was running. Every other call has its one row.
    completed = [c[0] for c in calls if c[3] and (c[1] == 1 or c[2] < killed - 0.5)]
    lost = [c for c in calls if not c[3]]
    assert one_row_each(a.database, completed) == {"completed": len(completed)}
    assert all(len(finished_cdr(a.database, c[0], timeout=0)) <= 1 for c in calls)
    assert all(when <= killed + 0.5 and index == 0 for _, index, when, _ in lost), \
        f"calls lost other than those running on the killed node as it died: {lost}"
    for call, *_ in lost:  # cut with the process: its row, if written before the kill, says so
        assert [r["status"] for r in finished_cdr(a.database, call, timeout=0)] in ([], ["interrupted"])
